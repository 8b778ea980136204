"""The YAML mode of New: a text area prefilled with a starter per framework, Validate, Create.

Validate checks the text here first (syntax, schema rules of `model.validation`, each issue
with its line and column), then asks the server for a dry run, which on Kubernetes includes
the API server's own `dryRun=All`. Create sends the text as written: the manifest is the
source of truth, so nothing the person typed is dropped on the way.
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets
from traitlets import Tuple, Unicode, observe

from ..errors import InvalidJob, ValidationIssue
from ..model.templates import available, starter_yaml
from ..model.validation import validate_text
from .callbacks import ErrorForwarder, guarded
from .words import esc


def _template_options() -> tuple[tuple[str, str], ...]:
    # (label, "apiVersion|kind") for each starter the model ships.
    return tuple((title if kind != "MPIJob" else f"Horovod/MPIJob ({api.split('/')[1]})", f"{api}|{kind}")
                 for api, kind, title in available())


class YamlEditor(widgets.VBox, ErrorForwarder):
    """Edit `text`; Validate fills `issues`; Create calls `on_created(job)`."""

    text = Unicode("", help="The YAML text being edited")
    issues = Tuple(help="ValidationIssue list of the last Validate or Create; empty when it was valid")
    verdict = Unicode("", help="What the last Validate concluded, in words")

    def __init__(self, client: Any, on_created: Callable[[Any], None], **kwargs: Any) -> None:
        self.client = client
        self._on_created = on_created
        options = _template_options()
        self.template = widgets.Dropdown(options=options, value=options[0][1], description="Template",
                                         layout=widgets.Layout(width="auto"))
        self.template.style.description_width = "initial"
        self.load_button = widgets.Button(description="Load template", layout=widgets.Layout(width="auto"))
        self.backend = widgets.Dropdown(options=(("default backend", ""),), value="", description="Backend",
                                        layout=widgets.Layout(width="auto"))
        self.backend.style.description_width = "initial"
        self.area = widgets.Textarea("", rows=26, layout=widgets.Layout(width="100%"))
        self.area.add_class("dtrain-yaml")
        self.validate_button = widgets.Button(description="Validate", icon="check-circle",
                                              layout=widgets.Layout(width="auto"))
        self.create_button = widgets.Button(description="Create", button_style="success", icon="check",
                                            layout=widgets.Layout(width="auto"))
        self.result = widgets.HTML("")
        self.result.add_class("dtrain-verdict")
        super().__init__(children=(widgets.HBox([self.template, self.load_button, self.backend],
                                                layout=widgets.Layout(flex_flow="row wrap")),
                                   self.area, widgets.HBox([self.validate_button, self.create_button]), self.result),
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.add_class("dtrain-yaml-editor")
        self.validate_button.add_class("dtrain-validate")
        self.create_button.add_class("dtrain-create")
        self.area.observe(self._on_area, "value")
        self.load_button.on_click(self._on_load)
        self.validate_button.on_click(self._on_validate)
        self.create_button.on_click(self._on_create)
        self.text = self._starter()

    def set_backends(self, backends: tuple[dict[str, Any], ...]) -> None:
        """Offer the configured backends (the default one is used when none is picked)."""
        names = [str(b["backend"]) for b in backends if b.get("backend")]
        current = self.backend.value
        self.backend.options = (("default backend", ""), *((n, n) for n in names))
        self.backend.value = current if current in names else ""

    # ------------------------------------------------------------------ actions
    def validate(self) -> list[ValidationIssue]:
        """Check the text here, then with the server (dry run); show and return every issue."""
        _docs, issues = validate_text(self.text)
        where = "in the text"
        if not issues:
            where = "by the server"
            try:
                issues = list(self.client.validate(self.text))
            except InvalidJob as e:
                issues = list(e.issues) or [ValidationIssue("", e.message)]
        self.issues = tuple(issues)
        self.verdict = f"{len(issues)} problem{'s' if len(issues) != 1 else ''} found {where}" if issues \
            else "Valid: the text parses, passes the schema rules and the server's dry run."
        return issues

    def create(self) -> Any:
        """Create the job(s) in the text; raises InvalidJob with every issue when it is not valid."""
        _docs, issues = validate_text(self.text)
        if issues:
            self.issues = tuple(issues)
            self.verdict = f"{len(issues)} problem{'s' if len(issues) != 1 else ''} found in the text"
            raise InvalidJob(issues)
        try:
            job = self.client.create(self.text, backend=self.backend.value or None)
        except InvalidJob as e:
            self.issues = tuple(e.issues)
            self.verdict = "The server refused the job"
            raise
        self.issues = ()
        self.verdict = ""
        self._on_created(job)
        return job

    # ------------------------------------------------------------------ reactions
    @observe("text")
    @guarded
    def _on_text(self, change: dict[str, Any]) -> None:
        if self.area.value != self.text:
            self.area.value = self.text
        self.issues = ()
        self.verdict = ""

    @observe("issues", "verdict")
    @guarded
    def _on_issues(self, change: dict[str, Any]) -> None:
        if not self.verdict:
            self.result.value = ""
            return
        css = "dtrain-error" if self.issues else "dtrain-muted"
        items = "".join(
            f"<li>{'line ' + esc(i.line) + ', column ' + esc(i.column) + ': ' if i.line is not None else ''}"
            f"{'<code>' + esc(i.path) + '</code>: ' if i.path else ''}{esc(i.message)}"
            f"{' (document ' + esc(i.document + 1) + ')' if i.document else ''}</li>"
            for i in self.issues)
        self.result.value = f"<div class='{css}'><b>{esc(self.verdict)}</b><ul>{items}</ul></div>"

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_area(self, change: dict[str, Any]) -> None:
        self.text = change["new"]

    @guarded
    def _on_load(self, _button: widgets.Button) -> None:
        self.text = self._starter()

    @guarded
    def _on_validate(self, _button: widgets.Button) -> None:
        self.validate()

    @guarded
    def _on_create(self, _button: widgets.Button) -> None:
        self.create()

    def _starter(self) -> str:
        api_version, kind = self.template.value.split("|")
        return starter_yaml(kind, api_version.split("/")[1])
