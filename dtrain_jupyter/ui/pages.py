"""The New, Log and Output tabs of the panel, each built the first time it is opened.

Opening the panel pays only for the Jobs tab (see lazy_page.py for why). What these pages need
from the panel's state (the backends, the names already taken) is kept here as it arrives and
handed to a page when it is built, so a page opened late knows what one built early would.
Their modules are imported on first use too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as widgets

from ..model.job import Job
from .callbacks import guarded
from .lazy_page import LazyPage
from .styles import PanelLook

if TYPE_CHECKING:
    from .log_view import LogView
    from .output_view import OutputView
    from .wizard import Wizard
    from .yaml_editor import YamlEditor

MODES = ("Wizard", "YAML")


class LaterPages:
    """The three pages' boxes for the panel's Tab, and their parts once built.

    Args:
        client: the panel's `Client`.
        on_created: called with the Job the wizard or the YAML editor created.
        report_error: where a built part's failures go (the panel's error line).
        look: the panel's shared layouts.
        report_create_error: where the New page's failures go (default `report_error`): they
            belong to creating a job, so the panel lets them replace its "Created ..." line.
    """

    def __init__(self, client: Any, on_created: Callable[[Job], None],
                 report_error: Callable[[BaseException], None], look: PanelLook,
                 report_create_error: Callable[[BaseException], None] | None = None) -> None:
        self.client = client
        self._on_created = on_created
        self._report_error = report_error
        self._report_create_error = report_create_error or report_error
        self._backends: tuple[dict[str, Any], ...] = ()
        self._taken: frozenset[tuple[str, str, str]] = frozenset()
        self.new = LazyPage(self._build_new, "dtrain-new-page", look.full)
        self.yaml = LazyPage(self._build_yaml_editor, layout=look.full)
        self.log = LazyPage(self._build_log_view, "dtrain-log-page", look.full)
        self.output = LazyPage(self._build_output_view, "dtrain-output-page", look.full)

    def boxes(self) -> tuple[widgets.VBox, widgets.VBox, widgets.VBox]:
        """The New, Log and Output boxes, in tab order."""
        return self.new.box, self.log.box, self.output.box

    def open(self, title: str) -> None:
        """Build the page of the tab titled `title` (New, Log, Output) if it is not yet."""
        page = {"New": self.new, "Log": self.log, "Output": self.output}.get(title)
        if page is not None:
            page.get()

    # ------------------------------------------------------------------ the parts (built on use)
    @property
    def wizard(self) -> Wizard:
        self.new.get()
        return self._wizard

    @property
    def mode(self) -> widgets.ToggleButtons:
        self.new.get()
        return self._mode

    @property
    def new_stack(self) -> widgets.Stack:
        self.new.get()
        return self._new_stack

    @property
    def yaml_editor(self) -> YamlEditor:
        self.new.get()
        return self.yaml.get()

    @property
    def log_view(self) -> LogView:
        return self.log.get()

    @property
    def output_view(self) -> OutputView:
        return self.output.get()

    # ------------------------------------------------------------------ state handed to built parts
    def set_backends(self, backends: tuple[dict[str, Any], ...]) -> None:
        """The backends as last read: the forms' choices, and what each view offers (capabilities.py)."""
        self._backends = backends
        if self.new.built:
            self._wizard.backends = backends
        if self.yaml.part is not None:
            self.yaml.part.set_backends(backends)
        for view in (self.log.part, self.output.part):
            if view is not None:
                view.backends = backends

    def set_jobs(self, jobs: tuple[Job, ...]) -> None:
        """The panel's jobs changed: the names taken, and the shown log's and output's job."""
        self._taken = frozenset((j.backend, j.namespace, j.name) for j in jobs)
        if self.new.built:
            self._wizard.taken = self._taken
        by_uid = {j.uid: j for j in jobs}
        for view in (self.log.part, self.output.part):
            if view is not None and view.job is not None and by_uid.get(view.job.uid, view.job) is not view.job:
                view.job = by_uid[view.job.uid]

    def edit_as_yaml(self, text: str) -> None:
        """Put `text` in the YAML editor and show it (the wizard's "Edit as YAML")."""
        self.yaml_editor.text = text
        self.mode.value = "YAML"

    def open_in_wizard(self, manifest: dict[str, Any]) -> list[str]:
        """Fill the wizard from a manifest (the YAML editor's "Open in wizard") and show it; returns
        the field paths kept from the YAML as they are."""
        kept = self.wizard.open_manifest(manifest)
        self.mode.value = "Wizard"
        return kept

    def flush_log(self) -> None:
        if self.log.part is not None:
            self.log.part.flush()

    def stop(self) -> None:
        if self.log.part is not None:
            self.log.part.stop()

    # ------------------------------------------------------------------ builders
    def _build_new(self) -> widgets.VBox:
        from .wizard import Wizard

        self._wizard = Wizard(self.client, self._on_created, self.edit_as_yaml)
        self._wizard.on_error = self._report_create_error
        self._wizard.backends = self._backends
        self._wizard.taken = self._taken
        self._mode = widgets.ToggleButtons(options=MODES, value=MODES[0], _dom_classes=("dtrain-mode",))
        self._mode.style.button_width = "auto"
        self._mode.observe(self._on_mode, "value")
        self._new_stack = widgets.Stack([self._wizard, self.yaml.box], selected_index=0)
        return widgets.VBox([self._mode, self._new_stack], layout=widgets.Layout(width="100%"))

    def report_error(self, exc: BaseException) -> None:
        self._report_error(exc)

    @guarded
    def _on_mode(self, change: dict[str, Any]) -> None:
        if change["new"] == "YAML":
            self.yaml.get()
        self._new_stack.selected_index = MODES.index(change["new"])

    def _build_yaml_editor(self) -> YamlEditor:
        from .yaml_editor import YamlEditor

        editor = YamlEditor(self.client, self._on_created, on_open_wizard=self.open_in_wizard)
        editor.on_error = self._report_create_error
        editor.set_backends(self._backends)
        return editor

    def _build_log_view(self) -> LogView:
        from .log_view import LogView

        view = LogView(self.client)
        view.on_error = self._report_error
        view.backends = self._backends
        return view

    def _build_output_view(self) -> OutputView:
        from .output_view import OutputView

        view = OutputView(self.client)
        view.on_error = self._report_error
        view.backends = self._backends
        return view
