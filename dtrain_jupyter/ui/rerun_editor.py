"""Edit and re-run as YAML: a job's manifest in a code editor, run again through `Client.rerun`.

The wizard shows a manifest as a form where it can (`Wizard.edit_rerun`); this editor is the
path that always works, for any manifest the server accepts: the text is the old job's manifest
made ready to run again (`model.rerun.rerun_manifest`: a new name, nothing the cluster wrote),
and "Re-run" sends the edited text as written to `Client.rerun(old name, manifest=text)`, so the
server re-runs the old job (its script folder's code, kept by the cluster or the job history,
comes along) with the edits. Problems are listed with their line, as the YAML editor does.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import ipywidgets as widgets
import yaml
from traitlets import Instance, Tuple, Unicode, observe

from ..errors import InvalidJob, ValidationIssue
from ..model.job import Job
from ..model.rerun import next_run_name, rerun_manifest
from ..model.validation import validate_text
from .callbacks import ErrorForwarder, guarded
from .code_editor import CodeEditorBox, Marker
from .words import esc, job_ref


def _issue_html(issue: ValidationIssue) -> str:
    where = f"line {issue.line}, column {issue.column or 1}: " if issue.line is not None else ""
    path = f"<code>{esc(issue.path)}</code>: " if issue.path else ""
    return f"<div class='dtrain-error dtrain-issue'>{esc(where)}{path}{esc(issue.message)}</div>"


class RerunEditor(widgets.VBox, ErrorForwarder):
    """The YAML of a re-run of `job`; "Re-run" creates it, "Cancel" closes the editor.

    Args:
        client: the panel's `Client`.
        on_rerun: called with (old job, new job) once the re-run was created.
        on_close: called when the editor should hide (Cancel, or after a re-run).
    """

    job = Instance(Job, allow_none=True, help="The job re-run; None while the editor is closed")
    text = Unicode("", help="The manifest of the re-run, as YAML being edited")
    issues = Tuple(help="ValidationIssue list of the last try; empty when there was none")

    def __init__(self, client: Any, on_rerun: Callable[[Job, Job], None], on_close: Callable[[], None],
                 **kwargs: Any) -> None:
        self.client = client
        self._on_rerun = on_rerun
        self._on_close = on_close
        self.heading = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.editor_box = CodeEditorBox("", language="yaml", rows=20, label="YAML of the re-run")
        self.editor_box.on_error = self.report_error
        self.run_button = widgets.Button(description="Re-run", button_style="success", icon="repeat",
                                         tooltip="Create the job in this YAML as a re-run of the old one",
                                         layout=widgets.Layout(width="auto"), _dom_classes=("dtrain-rerun-yaml",))
        self.cancel_button = widgets.Button(description="Cancel", tooltip="Close the editor; nothing is created",
                                            layout=widgets.Layout(width="auto"),
                                            _dom_classes=("dtrain-rerun-cancel",))
        self.issue_lines = widgets.HTML("", layout=widgets.Layout(width="100%"))
        kwargs.setdefault("layout", widgets.Layout(width="100%"))
        kwargs.setdefault("_dom_classes", ("dtrain-rerun-editor",))
        super().__init__(children=(self.heading, self.editor_box,
                                   widgets.HBox([self.run_button, self.cancel_button]), self.issue_lines), **kwargs)
        self.editor_box.observe(self._on_box_text, "value")
        self.run_button.on_click(self._on_run)
        self.cancel_button.on_click(self._on_cancel)

    def fill(self, job: Job, taken: Iterable[str] = (), note: str = "") -> None:
        """Fill the editor with a re-run of `job` named "<name>-runN" (the first N not in `taken`).

        Args:
            job: the job to run again (live or past).
            taken: names already used by jobs of its kind where it runs.
            note: a sentence shown under the heading (why the YAML and not the wizard).
        """
        fresh = rerun_manifest(job.manifest, next_run_name(job.name, taken))
        with self.hold_sync():
            self.job = job
            self.text = yaml.safe_dump(fresh, sort_keys=False, allow_unicode=True)
            self.heading.value = (f"<b>Edit and re-run {esc(job_ref(job))}</b>"
                                  f"<div class='dtrain-muted'>Change what you need, then press Re-run. "
                                  f"{esc(note)}</div>")
        self.editor_box.value = self.text

    def reveal_name(self) -> None:
        """Focus the editor with the cursor on the new job's name, the line a re-run most often changes."""
        at = next((i for i, line in enumerate(self.text.splitlines()) if line.startswith("  name:")), None)
        if at is None:
            self.editor_box.reveal(1, 1)
        else:
            self.editor_box.reveal(at + 1, len("  name: ") + 1)

    def run(self) -> Job | None:
        """Re-run the job with the YAML as edited; returns the new job, or None when the text has
        problems (listed under the editor, each with its line). Raises what `Client.rerun` raises
        besides InvalidJob (the panel's error line shows it)."""
        if self.job is None:
            return None
        _docs, problems = validate_text(self.text)
        if problems:
            self.issues = tuple(problems)
            return None
        old = self.job
        try:
            new = self.client.rerun(old.name, kind=old.kind, namespace=old.namespace, backend=old.backend,
                                    manifest=self.text)
        except InvalidJob as exc:
            self.issues = tuple(exc.issues) or (ValidationIssue("", exc.message),)
            return None
        self.issues = ()
        self.job = None
        self._on_rerun(old, new)
        self._on_close()
        return new

    # ------------------------------------------------------------------ reactions
    @observe("issues")
    @guarded
    def _on_issues(self, change: dict[str, Any]) -> None:
        count = len(self.issues)
        head = (f"<div class='dtrain-error'><b>{count} problem{'s' if count != 1 else ''}: nothing was "
                f"created</b></div>" if count else "")
        with self.hold_sync():
            self.issue_lines.value = head + "".join(_issue_html(i) for i in self.issues)
            self.editor_box.markers = tuple(Marker(i.line, i.column or 1, i.message) for i in self.issues
                                            if i.line is not None)

    @guarded
    def _on_box_text(self, change: dict[str, Any]) -> None:
        self.text = change["new"]

    @guarded
    def _on_run(self, _button: widgets.Button) -> None:
        self.run()

    @guarded
    def _on_cancel(self, _button: widgets.Button) -> None:
        self.job = None
        self.issues = ()
        self._on_close()
