"""Keeps an MPIJob's `mpirun -np N` in step with Workers × slots per worker, and says so.

The operators give mpirun a hostfile with one line per Worker and `slotsPerWorker` slots each
(operator-contract §4, §5), so N should be Workers × slots. Without help a person changing
Workers from 2 to 4 must also find `-np 2` in the Launcher's arguments (issue 17). This part
rewrites N whenever Workers or slots change, until the person types another N themselves:
from then on N is theirs, the line under the roles says so, and one click makes it follow again.
Reading and rewriting N is `model/mpi_command.py`, which changes only the digits.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import ipywidgets as widgets
from traitlets import Bool, observe

from ..model.mpi_command import MpiLaunch, find_launch, set_process_count
from .callbacks import ErrorForwarder, guarded
from .wizard_fields import Field
from .words import esc


class ProcessCount(widgets.VBox, ErrorForwarder):
    """The "mpirun starts N processes" line of the Resources step, and the rule behind it.

    Args:
        command: the wizard's Command field (the Launcher's command for an MPIJob).
        args: the wizard's Arguments field.
        slots: the wizard's slots-per-worker field (an IntText inside).
        max_slots: the most slots per worker the wizard accepts.
    """

    active = Bool(False, help="Whether the job is an MPIJob: only then is the line shown and N kept in step")
    follows = Bool(True, help="Whether N follows Workers × slots per worker; False once the person typed "
                              "another number after -np")

    def __init__(self, command: Field, args: Field, slots: Field, max_slots: int, **kwargs: Any) -> None:
        self.command = command
        self.args = args
        self.slots = slots
        self.max_slots = max_slots
        self._workers: widgets.IntText | None = None
        self._writing = False
        self.note = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.note.add_class("dtrain-np-note")
        self.follow_button = widgets.Button(description="Follow Workers × slots", icon="link",
                                            layout=widgets.Layout(width="auto", display="none"))
        self.follow_button.add_class("dtrain-np-follow")
        super().__init__(children=(self.note, self.follow_button), layout=widgets.Layout(width="100%", display="none"),
                         **kwargs)
        self.add_class("dtrain-np")
        command.control.observe(self._on_text, "value")
        args.control.observe(self._on_text, "value")
        slots.control.observe(self._on_size, "value")
        self.follow_button.on_click(self._on_follow)

    # ------------------------------------------------------------------ what the wizard calls
    def watch_workers(self, count: widgets.IntText | None) -> None:
        """Follow this Worker replica count (None: the job has no Workers)."""
        self._workers = count
        if count is not None:
            count.observe(self._on_size, "value")

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Text changes made inside are the wizard's own (a template loaded), not the person's."""
        before, self._writing = self._writing, True
        try:
            yield
        finally:
            self._writing = before

    def start_over(self, active: bool) -> None:
        """A new job was loaded: N follows again, and is written now when it differs."""
        self.active = active
        self.follows = True
        self._keep_in_step()
        self.render()

    def expected(self) -> int | None:
        """Workers × slots per worker; None when either is out of range (its field says why)."""
        if not self.active or self._workers is None:
            return None
        workers, slots = self._workers.value, self.slots.value
        if workers < 1 or not 1 <= slots <= self.max_slots:
            return None
        return workers * slots

    def launch(self) -> MpiLaunch | None:
        """The mpirun (mpiexec, horovodrun) in the command and its -np, or None."""
        return find_launch(self.command.value, self.args.value)

    # ------------------------------------------------------------------ reactions
    @guarded
    def _on_text(self, change: dict[str, Any]) -> None:
        if self._writing or not self.active:
            return
        launch, expected = self.launch(), self.expected()
        # Typing another N makes it the person's; typing Workers × slots back hands it back.
        if launch is not None and launch.option is not None and expected is not None:
            self.follows = launch.count == expected
        self.render()

    @guarded
    def _on_size(self, change: dict[str, Any]) -> None:
        self._keep_in_step()
        self.render()

    @guarded
    def _on_follow(self, _button: widgets.Button) -> None:
        self.follows = True
        self._keep_in_step()
        self.render()

    @observe("active", "follows")
    @guarded
    def _on_state(self, change: dict[str, Any]) -> None:
        self.render()

    def _keep_in_step(self) -> None:
        expected = self.expected()
        if not self.follows or expected is None:
            return
        command, args = set_process_count(self.command.value, self.args.value, expected)
        with self.writing():
            self.command.value, self.args.value = command, args

    # ------------------------------------------------------------------ the line
    def render(self) -> None:
        """Show what mpirun will start against the slots, and the way back when N is the person's."""
        self.layout.display = "" if self.active else "none"
        if not self.active:
            return
        launch, expected = self.launch(), self.expected()
        can_follow = False
        if launch is None:
            text = "The command runs no mpirun: there is no -np to keep in step with the Workers."
        elif launch.option is None:
            text = f"{launch.launcher} has no -np: it starts one process per slot ({expected or '?'})."
        elif expected is None:
            text = f"{launch.launcher} {launch.option} {launch.value}: fix the counts above to compare it with the slots."
        elif self.follows and launch.count == expected:
            workers = self._workers.value if self._workers is not None else 0
            text = (f"{launch.launcher} {launch.option} {launch.count} follows Workers × slots per worker "
                    f"({workers} × {self.slots.value}).")
        else:
            text = (f"{launch.launcher} {launch.option} {launch.value} is your own number; "
                    f"Workers × slots per worker is {expected}.")
            can_follow = launch.span is not None
        self.note.value = f"<span class='dtrain-muted'>{esc(text)}</span>"
        self.follow_button.description = f"Use {expected} (Workers × slots)" if can_follow else "Follow"
        self.follow_button.layout.display = "" if can_follow else "none"
