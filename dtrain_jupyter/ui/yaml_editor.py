"""The YAML mode of New: a code editor prefilled with a starter per framework, Validate, Create.

Validate (the button, or Ctrl/Cmd-Enter in the editor) checks the text here first (syntax,
schema rules of `model.validation`, each issue with its line and column), then asks the server to
check it by the same rules; where the backend it would go to lists `dry-run` (capabilities.py: a
Kubernetes cluster), it is also sent there as a dry run, so the API server's own admission,
schema and quota checks (`dryRun=All`) speak before Create. Each issue with a position is marked
in the editor's gutter and listed with a button that moves the cursor there.
Create sends the text as written: the manifest is the source of truth, so nothing the person
typed is dropped on the way. "Open in wizard" (where the panel gives a way to the wizard) reads
the text and fills the wizard from it (`wizard_from_manifest.py`); text that does not read, or
a job the wizard does not make, is shown here with its line, as Validate shows it.

The editor is JupyterLab's own (see code_editor.py); a front end without the labextension gets
a plain text box instead, which says so.
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets
from traitlets import Tuple, Unicode, observe

from ..errors import InvalidJob, ValidationIssue
from ..model.paths import parse_path
from ..model.templates import available, starter_yaml
from ..model.validation import validate_text
from ..model.yaml_text import load_documents
from .assistive import FOCUS_HERE
from .callbacks import ErrorForwarder, guarded
from .capabilities import DRY_RUN, default_backend, offers
from .code_editor import CodeEditorBox, Marker
from .words import esc


def _template_options() -> tuple[tuple[str, str], ...]:
    # (label, "apiVersion|kind") for each starter the model ships.
    return tuple((title if kind != "MPIJob" else f"Horovod/MPIJob ({api.split('/')[1]})", f"{api}|{kind}")
                 for api, kind, title in available())


def _where(issue: ValidationIssue) -> str:
    """The issue's position in words, as its button says it."""
    return f"line {issue.line}, column {issue.column or 1}"


def _issue_html(issue: ValidationIssue) -> str:
    """The issue's field, message and document, escaped: the text may quote anything typed."""
    return (f"{'<code>' + esc(issue.path) + '</code>: ' if issue.path else ''}{esc(issue.message)}"
            f"{' (document ' + esc(issue.document + 1) + ')' if issue.document else ''}")


class YamlEditor(widgets.VBox, ErrorForwarder):
    """Edit `text`; Validate fills `issues`; Create calls `on_created(job)`.

    `on_open_wizard(manifest)` fills the wizard from one manifest and shows it, returning the
    paths kept from the YAML (raising InvalidJob for a job the wizard does not make); without
    it there is no "Open in wizard" button.
    """

    text = Unicode("", help="The YAML text being edited")
    issues = Tuple(help="ValidationIssue list of the last Validate or Create; empty when it was valid")
    verdict = Unicode("", help="What the last Validate concluded, in words")

    def __init__(self, client: Any, on_created: Callable[[Any], None],
                 on_open_wizard: Callable[[dict[str, Any]], list[str]] | None = None, **kwargs: Any) -> None:
        self.client = client
        self._on_created = on_created
        self._on_open_wizard = on_open_wizard
        self._backends: tuple[dict[str, Any], ...] = ()  # Client.backends(), for the picker and the dry run
        options = _template_options()
        self.template = widgets.Dropdown(options=options, value=options[0][1], description="Template",
                                         layout=widgets.Layout(width="auto"))
        self.template.style.description_width = "initial"
        self.load_button = widgets.Button(description="Load template", layout=widgets.Layout(width="auto"))
        self.backend = widgets.Dropdown(options=(("default backend", ""),), value="", description="Backend",
                                        layout=widgets.Layout(width="auto"))
        self.backend.style.description_width = "initial"
        self.editor_box = CodeEditorBox(self._starter(), language="yaml", rows=26, label="Job YAML")
        self.editor_box.add_class("dtrain-yaml")
        # Where focus lands when the YAML mode is shown under it (assistive.py).
        self.editor_box.add_class(FOCUS_HERE)
        self.editor_box.on_error = self.report_error
        self.validate_button = widgets.Button(description="Validate", icon="check-circle",
                                              tooltip="Validate (Ctrl+Enter or Cmd+Enter in the editor)",
                                              layout=widgets.Layout(width="auto"))
        self.create_button = widgets.Button(description="Create", button_style="success", icon="check",
                                            layout=widgets.Layout(width="auto"))
        self.wizard_button = widgets.Button(description="Open in wizard", icon="list",
                                            tooltip="Fill the wizard from this YAML; what it has no field for is kept",
                                            layout=widgets.Layout(width="auto",
                                                                  display="" if on_open_wizard else "none"))
        self.verdict_line = widgets.HTML("")
        # One row per issue, replaced as a whole on each Validate; the issue buttons share these.
        self._row_layout = widgets.Layout(width="100%", align_items="baseline")
        self._at_layout = widgets.Layout(width="auto", flex="0 0 auto")
        self._text_layout = widgets.Layout(flex="1 1 auto", min_width="0")
        self.result = widgets.VBox([self.verdict_line], layout=widgets.Layout(width="100%"))
        self.result.add_class("dtrain-verdict")
        super().__init__(children=(widgets.HBox([self.template, self.load_button, self.backend],
                                                layout=widgets.Layout(flex_flow="row wrap")),
                                   self.editor_box,
                                   widgets.HBox([self.validate_button, self.create_button, self.wizard_button],
                                                layout=widgets.Layout(flex_flow="row wrap")),
                                   self.result),
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.add_class("dtrain-yaml-editor")
        self.validate_button.add_class("dtrain-validate")
        self.create_button.add_class("dtrain-create")
        self.wizard_button.add_class("dtrain-to-wizard")
        self.editor_box.observe(self._on_box_text, "value")
        self.editor_box.on_submit(self._on_submit)
        self.load_button.on_click(self._on_load)
        self.validate_button.on_click(self._on_validate)
        self.create_button.on_click(self._on_create)
        self.wizard_button.on_click(self._on_wizard)
        self.text = self.editor_box.value

    def set_backends(self, backends: tuple[dict[str, Any], ...]) -> None:
        """Offer the configured backends (the default one is used when none is picked)."""
        self._backends = tuple(backends)
        names = [str(b["backend"]) for b in backends if b.get("backend")]
        current = self.backend.value
        self.backend.options = (("default backend", ""), *((n, n) for n in names))
        self.backend.value = current if current in names else ""

    @property
    def issue_buttons(self) -> tuple[widgets.Button, ...]:
        """The "line L, column C" button of each listed issue that has a position, in list order."""
        return tuple(row.children[0] for row in self.result.children[1:]
                     if isinstance(row.children[0], widgets.Button))

    # ------------------------------------------------------------------ actions
    def validate(self) -> list[ValidationIssue]:
        """Check the text here, then with the server, then (where the backend offers one) by a dry
        run on the backend; show and return every issue. Creates nothing."""
        _docs, issues = validate_text(self.text)
        where = "in the text"
        if not issues:
            where = "by the server"
            try:
                issues = list(self.client.validate(self.text))
            except InvalidJob as e:
                issues = list(e.issues) or [ValidationIssue("", e.message)]
        target = self.backend.value or default_backend(self._backends)
        dry_run = offers(self._backends, target, DRY_RUN)
        if not issues and dry_run:
            where = f"by the {target} backend's dry run"
            try:
                self.client.create(self.text, dry_run=True, backend=self.backend.value or None)
            except InvalidJob as e:
                issues = list(e.issues) or [ValidationIssue("", e.message)]
        self._report(issues)
        checks = (f"the schema rules and the {target} backend's dry run (its API server's own checks)" if dry_run
                  else "the schema rules")
        self.verdict = f"{len(issues)} problem{'s' if len(issues) != 1 else ''} found {where}" if issues \
            else f"Valid: the text parses and passes {checks}."
        return issues

    def create(self) -> Any:
        """Create the job(s) in the text; raises InvalidJob with every issue when it is not valid."""
        _docs, issues = validate_text(self.text)
        if issues:
            self._report(issues)
            self.verdict = f"{len(issues)} problem{'s' if len(issues) != 1 else ''} found in the text"
            raise InvalidJob(issues)
        try:
            job = self.client.create(self.text, backend=self.backend.value or None)
        except InvalidJob as e:
            self._report(e.issues)
            self.verdict = "The server refused the job"
            raise
        self.issues = ()
        self.verdict = ""
        self._on_created(job)
        return job

    def open_in_wizard(self) -> list[str]:
        """Fill the wizard from the text's one manifest; return the paths kept from the YAML.

        Raises:
            InvalidJob: the text does not read, holds other than one manifest, or holds a job
                the wizard does not make; each issue is listed here with its line, as Validate
                lists it.
        """
        if self._on_open_wizard is None:
            raise InvalidJob([ValidationIssue("", "this panel has no wizard to open the YAML in")])
        try:
            documents = [d for d in load_documents(self.text) if d.data is not None]
        except InvalidJob as e:
            self._refuse(list(e.issues), "The text cannot be read")
            raise
        if len(documents) != 1:
            issue = ValidationIssue("", f"the wizard opens one manifest; the text holds {len(documents)}",
                                    line=1, column=1)
            self._refuse([issue], "Not opened in the wizard")
            raise InvalidJob([issue])
        document = documents[0]
        try:
            kept = self._on_open_wizard(document.data)
        except InvalidJob as e:
            placed = []
            for issue in e.issues:
                position = document.nearest_position(parse_path(issue.path)) if issue.path else None
                line, column = position if position is not None else (issue.line, issue.column)
                placed.append(ValidationIssue(issue.path, issue.message, line=line, column=column))
            self._refuse(placed, "Not opened in the wizard")
            raise InvalidJob(placed) from None
        self.issues = ()
        self.verdict = ""
        return kept

    def _refuse(self, issues: list[ValidationIssue], why: str) -> None:
        self._report(issues)
        self.verdict = f"{why}: {len(issues)} problem{'s' if len(issues) != 1 else ''}"

    def _report(self, issues: list[ValidationIssue] | tuple[ValidationIssue, ...]) -> None:
        """Show `issues`; when they are the ones already shown, their markers are drawn again.

        An edit in the browser can take the markers away while the issues stay the same: text
        pasted over the whole text, even the same text, maps them out of the editor, and the
        kernel sees no change. A Validate that finds the same problems must still mark them.
        """
        issues = tuple(issues)
        if issues == self.issues:
            # Two messages: the view sees the list change, so it draws the markers anew.
            self.editor_box.markers = ()
            self.editor_box.markers = self._markers()
        self.issues = issues

    def _markers(self) -> tuple[Marker, ...]:
        """A marker for each issue with a position."""
        return tuple(Marker(i.line, i.column or 1, f"{i.path}: {i.message}" if i.path else i.message)
                     for i in self.issues if i.line is not None)

    def go_to(self, issue: ValidationIssue) -> None:
        """Put the editor's cursor at the issue's line and column, and focus the editor."""
        if issue.line is not None:
            self.editor_box.reveal(issue.line, issue.column or 1)

    # ------------------------------------------------------------------ reactions
    @observe("text")
    @guarded
    def _on_text(self, change: dict[str, Any]) -> None:
        if self.editor_box.value != self.text:
            self.editor_box.value = self.text
        self.issues = ()
        self.verdict = ""

    @observe("verdict")
    @guarded
    def _on_verdict(self, change: dict[str, Any]) -> None:
        css = "dtrain-error" if self.issues else "dtrain-muted"
        self.verdict_line.value = f"<div class='{css}'><b>{esc(self.verdict)}</b></div>" if self.verdict else ""

    @observe("issues")
    @guarded
    def _on_issues(self, change: dict[str, Any]) -> None:
        old_rows = self.result.children[1:]
        with self.hold_sync():
            self.result.children = (self.verdict_line, *(self._issue_row(issue) for issue in self.issues))
            self.editor_box.markers = self._markers()
        # Each row is three widget models; the replaced ones are closed, not left behind.
        for row in old_rows:
            for part in row.children:
                part.close()
            row.close()

    def _issue_row(self, issue: ValidationIssue) -> widgets.HBox:
        """The issue's words, after a button to its position when it has one."""
        text = widgets.HTML(_issue_html(issue), layout=self._text_layout)
        text.add_class("dtrain-error")
        if issue.line is None:
            return widgets.HBox([text], layout=self._row_layout, _dom_classes=("dtrain-issue",))
        at = widgets.Button(description=_where(issue), tooltip="Move the cursor there", layout=self._at_layout,
                            _dom_classes=("dtrain-issue-at",))
        at.on_click(lambda _button, issue=issue: self._on_issue_click(issue))
        return widgets.HBox([at, text], layout=self._row_layout, _dom_classes=("dtrain-issue",))

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_box_text(self, change: dict[str, Any]) -> None:
        self.text = change["new"]

    @guarded
    def _on_issue_click(self, issue: ValidationIssue) -> None:
        self.go_to(issue)

    @guarded
    def _on_load(self, _button: widgets.Button) -> None:
        self.text = self._starter()

    @guarded
    def _on_submit(self, _editor: Any) -> None:
        self.validate()

    @guarded
    def _on_validate(self, _button: widgets.Button) -> None:
        self.validate()

    @guarded
    def _on_create(self, _button: widgets.Button) -> None:
        self.create()

    @guarded
    def _on_wizard(self, _button: widgets.Button) -> None:
        try:
            self.open_in_wizard()
        except InvalidJob:
            return  # its issues are listed under the text already, with their lines

    def _starter(self) -> str:
        api_version, kind = self.template.value.split("|")
        return starter_yaml(kind, api_version.split("/")[1])
