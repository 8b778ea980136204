"""Small form pieces the wizard is built from: a field with its own error line, a role editor.

Errors appear next to the field they concern: each `Field` owns an error line under its input,
and `RoleEditor` owns one per replica role, so the wizard can route a validation issue's path
(`spec.pytorchReplicaSpecs.Worker.replicas`) to the place a person typed the value.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from ipywidgets.widgets.widget_description import DescriptionWidget

from .assistive import name_only
from .callbacks import ErrorForwarder, guarded
from .words import esc

# Wide enough for most plain labels on one or two lines; a narrow panel wraps the input under it.
LABEL_WIDTH = "190px"


class _WithErrorLine:
    """An `error_line` under the inputs, and an `error` property that escapes what it shows."""

    error_line: widgets.HTML

    def _make_error_line(self) -> widgets.HTML:
        self.error_line = widgets.HTML("")
        self.error_line.add_class("dtrain-field-error")
        return self.error_line

    @property
    def error(self) -> str:
        """The error text shown under the inputs ("" when there is none)."""
        return getattr(self, "_error", "")

    @error.setter
    def error(self, message: str) -> None:
        self._error = message
        self.error_line.value = esc(message)


class Field(_WithErrorLine, widgets.VBox):
    """An input with a plain label, a hint line naming its YAML field, and an error line under it.

    The label says what the field does in a person's words; the hint adds a short explanation
    and, quietly, the exact YAML path (`spec.runPolicy.backoffLimit`) the value is written to.
    """

    def __init__(self, label: str, control: widgets.Widget, hint: str = "", yaml_path: str = "",
                 **kwargs: Any) -> None:
        self.control = control
        self._label_text = label
        self._hint_text = hint
        self._yaml_path = yaml_path
        self.label = widgets.HTML(esc(label), layout=widgets.Layout(width=LABEL_WIDTH, min_width=LABEL_WIDTH))
        self.label.add_class("dtrain-field-label")
        self.hint = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.hint.add_class("dtrain-field-hint")
        self._render_hint()
        self._make_error_line()
        if isinstance(control, DescriptionWidget) and not control.description:
            # The label above is an HTML widget, which no input can point at: the control's own
            # description, out of sight, carries the same words to screen readers.
            name_only(control, label)
        control.layout.flex = "1 1 auto"
        control.layout.width = "auto"
        # A dropdown is as wide as its longest option unless allowed to shrink; in the ~300 px
        # sidebar "OnFailure: a failed replica is restarted in place" would scroll sideways.
        control.layout.min_width = "0"
        row = widgets.HBox([self.label, control], layout=widgets.Layout(width="100%", flex_flow="row wrap"))
        super().__init__(children=(row, self.hint, self.error_line), layout=widgets.Layout(width="100%"), **kwargs)

    @property
    def value(self) -> Any:
        return self.control.value

    @value.setter
    def value(self, new: Any) -> None:
        self.control.value = new

    @property
    def label_text(self) -> str:
        """The plain label, as text."""
        return self._label_text

    @property
    def hint_text(self) -> str:
        """The hint's words, as text (without the YAML path)."""
        return self._hint_text

    @hint_text.setter
    def hint_text(self, words: str) -> None:
        self._hint_text = words
        self._render_hint()

    @property
    def yaml_path(self) -> str:
        """The YAML path the field writes ("" for a field that is not in the YAML)."""
        return self._yaml_path

    @yaml_path.setter
    def yaml_path(self, path: str) -> None:
        self._yaml_path = path
        self._render_hint()

    def _render_hint(self) -> None:
        self.hint.value = hint_html(self._hint_text, self._yaml_path)


def hint_html(words: str, *paths: str) -> str:
    """A hint line: muted words, then each YAML path as quiet code (all escaped)."""
    parts = [f"<span class='dtrain-muted'>{esc(words)}</span>"] if words else []
    parts += [f"<code class='dtrain-yaml-path' title='YAML field'>{esc(p)}</code>" for p in paths if p]
    return " ".join(parts)


def optional_int(text: str, what: str) -> int | None:
    """'' -> None, '3' -> 3; anything else raises ValueError with a sentence naming the field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{what} must be a whole number, got {text!r}") from None
    if value < 0:
        raise ValueError(f"{what} cannot be negative, got {value}")
    return value


class RoleEditor(_WithErrorLine, ErrorForwarder, widgets.VBox):
    """Count, CPU, memory and GPU for one replica role, with one error line for the role.

    The counts are plain `IntText`s, not `BoundedIntText`s: a bounded box clamps what a person
    types without a word (issue 17: -3 Worker replicas silently became another count), so the
    range is checked here instead and an out-of-range number stays in the box, explained on
    the role's error line, until it is fixed.

    Args:
        role: the replica type (Master, Worker, PS, Chief, Evaluator, Launcher).
        count: the starting replica count.
        fixed: True when the operator requires exactly this count (Master, Launcher).
        maximum: the most replicas the role may have.
        gpu_allowed: False for roles that never get GPUs (the MPI Launcher, TF parameter servers).
        words: what the role does, in plain words ("the training replicas").
        yaml_paths: the YAML paths of `replicas`, `cpu`, `memory` and `gpu` for this role
            (`wizard_words.role_paths`); shown quietly under the role.
    """

    MINIMUM = 0  # 0 replicas leaves the role out of the job
    MAX_GPUS = 64

    def __init__(self, role: str, count: int, fixed: bool = False, maximum: int = 64,
                 gpu_allowed: bool = True, words: str = "", yaml_paths: dict[str, str] | None = None,
                 **kwargs: Any) -> None:
        self.role = role
        self.maximum = maximum
        self.words = words
        self.yaml_paths = dict(yaml_paths or {})
        self._shown_problem = ""
        self.title = widgets.HTML(f"<b>{esc(role)}</b>", layout=widgets.Layout(width="90px"))
        self.count = widgets.IntText(count, description="Replicas", disabled=fixed,
                                     layout=widgets.Layout(width="150px"))
        self.cpu = widgets.Text("", placeholder="e.g. 2 or 500m", description="CPU each",
                                layout=widgets.Layout(width="190px"))
        self.memory = widgets.Text("", placeholder="e.g. 4Gi", description="Memory each",
                                   layout=widgets.Layout(width="200px"))
        self.gpu = widgets.IntText(0, description="GPUs each", disabled=not gpu_allowed,
                                   layout=widgets.Layout(width="150px"))
        for w in (self.count, self.cpu, self.memory, self.gpu):
            w.style.description_width = "initial"
        self.hint = widgets.HTML(self._hint(), layout=widgets.Layout(width="100%"))
        self.hint.add_class("dtrain-field-hint")
        self._make_error_line()
        row = widgets.HBox([self.title, self.count, self.cpu, self.memory, self.gpu],
                           layout=widgets.Layout(flex_flow="row wrap", width="100%"))
        super().__init__(children=(row, self.hint, self.error_line), layout=widgets.Layout(width="100%"),
                         **kwargs)
        self.add_class("dtrain-role")
        self.add_class(f"dtrain-role-{role}")
        self.count.add_class("dtrain-count")
        self.gpu.add_class("dtrain-gpu")
        self.count.observe(self._on_number, "value")
        self.gpu.observe(self._on_number, "value")

    def count_problem(self) -> str:
        """Why the replica count cannot be used, or "" when it can."""
        count = self.count.value
        if count < self.MINIMUM:
            return (f"{self.role} replicas cannot be below {self.MINIMUM} (got {count}); "
                    f"{self.MINIMUM} leaves the {self.role} role out.")
        if count > self.maximum:
            return f"At most {self.maximum} {self.role} replica{'s' if self.maximum > 1 else ''} (got {count})."
        return ""

    def problem(self) -> str:
        """Why the role's numbers (replicas, GPUs) cannot be used, or "" when they can."""
        problems = [self.count_problem()]
        if not 0 <= self.gpu.value <= self.MAX_GPUS:
            problems.append(f"GPUs per {self.role} replica must be 0 to {self.MAX_GPUS} (got {self.gpu.value}).")
        return " ".join(p for p in problems if p)

    def show_problem(self) -> bool:
        """Show `problem()` on the role's error line; True when there is one."""
        problem = self.problem()
        # Only the number check's own text is replaced: an issue shown for another field stays.
        if problem or self.error == self._shown_problem:
            self.error = problem
        self._shown_problem = problem
        return bool(problem)

    @guarded
    def _on_number(self, change: dict[str, Any]) -> None:
        self.show_problem()

    def _hint(self) -> str:
        paths = self.yaml_paths
        # One path for the count, one for the resources: `…limits` covers cpu, memory and GPUs.
        limits = paths.get("cpu", "").rpartition(".")[0]
        shown = [paths.get("replicas", ""), f"{limits}.{{cpu, memory, nvidia.com/gpu}}" if limits else ""]
        return hint_html(self.words, *shown)

    def resources(self) -> dict[str, Any]:
        """cpu, memory, gpu as RoleSpec wants them: blanks and zero GPUs are "not set"."""
        return {"cpu": self.cpu.value.strip() or None, "memory": self.memory.value.strip() or None,
                "gpu": int(self.gpu.value) or None}
