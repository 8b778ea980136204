"""The YAML editor: starters per framework, errors with line numbers and markers, the server's checks
and a dry run where the backend offers one,
create, Ctrl-Enter, and the plain text box where the code editor cannot render.

Typing is simulated as the code editor's view reports it (see tests/ui/test_code_editor.py).
"""

from __future__ import annotations

import pytest

from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.model.templates import available
from dtrain_jupyter.ui.app import DTrainApp
from dtrain_jupyter.ui.code_editor import FALLBACK_NOTE
from dtrain_jupyter.ui.yaml_editor import YamlEditor

from .conftest import finished, unique, until

TF_JOB = """\
apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: {name}
  annotations:
    note: "<img src=x onerror=alert(1)>"
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 2
      restartPolicy: Never
      template:
        spec:
          containers:
            - name: tensorflow
              image: python:3.11
              command: [python, -c, "import json, os; print(json.loads(os.environ['TF_CONFIG'])['task'])"]
"""


def type_text(editor: YamlEditor, text: str) -> None:
    """Replace the text as a person typing in the browser's code editor does."""
    code = editor.editor_box.code
    code._handle_custom_msg({"event": "edit", "value": text, "cursor": [1, 1],
                             "revision": code.get_state()["_revision"]}, [])


def press_ctrl_enter(editor: YamlEditor) -> None:
    editor.editor_box.code._handle_custom_msg({"event": "submit"}, [])


def test_prefilled_with_a_template_per_framework(app: DTrainApp) -> None:
    editor = app.pages.yaml_editor
    kinds = set()
    for _label, value in editor.template.options:
        editor.template.value = value
        editor.load_button.click()
        kinds.add(value.split("|")[1])
        assert f"kind: {value.split('|')[1]}" in editor.editor_box.code.value
    assert kinds == {kind for _api, kind, _title in available()} == {"PyTorchJob", "TFJob", "MPIJob"}


@pytest.mark.parametrize("text, line", [
    ("apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {name: x\n", 4),
    ("apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata:\n\tname: x\n", 4),
], ids=["unclosed-bracket", "tab"])
def test_syntax_errors_come_with_their_line(app: DTrainApp, text: str, line: int) -> None:
    editor = app.pages.yaml_editor
    type_text(editor, text)
    editor.validate_button.click()
    assert app.error == ""
    assert editor.issues and editor.issues[0].line is not None
    assert abs(editor.issues[0].line - line) <= 1
    assert editor.issue_buttons[0].description == f"line {editor.issues[0].line}, column {editor.issues[0].column}"
    assert editor.editor_box.markers[0]["line"] == editor.issues[0].line


def test_field_errors_point_at_the_field(app: DTrainApp) -> None:
    editor = app.pages.yaml_editor
    type_text(editor, TF_JOB.format(name="Bad_Name"))
    editor.validate_button.click()
    issue = next(i for i in editor.issues if i.path == "metadata.name")
    assert issue.line == 4
    editor.create_button.click()
    assert "metadata.name" in app.error or "name" in app.error
    assert not any(j.name == "Bad_Name" for j in app.jobs)


def test_valid_text_passes_the_servers_checks(app: DTrainApp, client) -> None:
    editor = app.pages.yaml_editor
    name = unique("dry")
    type_text(editor, TF_JOB.format(name=name))
    editor.validate_button.click()
    assert editor.issues == ()
    # The local backend has no dry run of its own (it lists no "dry-run"): none is claimed.
    assert editor.verdict == "Valid: the text parses and passes the schema rules."
    assert not any(j.name == name for j in client.list(all_namespaces=True))


class DryRuns:
    """A client whose server checks pass and whose dry-run create answers as told."""

    def __init__(self, refusal: Exception | None = None) -> None:
        self.refusal = refusal
        self.dry_runs: list[str | None] = []

    def validate(self, text: str) -> list:
        return []

    def create(self, text: str, dry_run: bool = False, backend: str | None = None) -> None:
        assert dry_run, "Validate must never create"
        self.dry_runs.append(backend)
        if self.refusal is not None:
            raise self.refusal


KUBE = {"backend": "kubernetes", "ready": True, "capabilities": ["dry-run", "events", "previous-logs"]}
LOCAL = {"backend": "local", "ready": True, "default": True, "capabilities": ["events", "outputs", "previous-logs"]}


@pytest.mark.parametrize("chosen, backends, dry_runs", [
    ("kubernetes", (LOCAL, KUBE), ["kubernetes"]),
    ("", ({**LOCAL, "default": False}, {**KUBE, "default": True}), [None]),  # the default backend offers one
    ("", (LOCAL, KUBE), []),
    ("local", (LOCAL, KUBE), []),
], ids=["kubernetes-chosen", "kubernetes-by-default", "local-by-default", "local-chosen"])
def test_validate_asks_for_a_dry_run_only_where_the_backend_offers_one(chosen, backends, dry_runs) -> None:
    client = DryRuns()
    editor = YamlEditor(client, on_created=lambda job: None)
    editor.set_backends(backends)
    editor.backend.value = chosen
    type_text(editor, TF_JOB.format(name="dry"))
    editor.validate_button.click()
    assert editor.last_error is None and editor.issues == ()
    assert client.dry_runs == dry_runs
    assert ("kubernetes backend's dry run" in editor.verdict) == bool(dry_runs), editor.verdict


def test_what_the_clusters_dry_run_refuses_is_listed_like_any_issue() -> None:
    from dtrain_jupyter.errors import InvalidJob, ValidationIssue

    refusal = InvalidJob([ValidationIssue("spec.tfReplicaSpecs.Worker.replicas", "exceeded quota: team-quota")])
    editor = YamlEditor(DryRuns(refusal), on_created=lambda job: None)
    editor.set_backends((KUBE,))
    editor.backend.value = "kubernetes"
    type_text(editor, TF_JOB.format(name="dry"))
    editor.validate_button.click()
    assert [i.message for i in editor.issues] == ["exceeded quota: team-quota"]
    assert editor.verdict == "1 problem found by the kubernetes backend's dry run"


def test_create_a_tfjob_from_yaml(app: DTrainApp, client) -> None:
    editor = app.pages.yaml_editor
    name = unique("yaml")
    type_text(editor, TF_JOB.format(name=name))
    editor.create_button.click()
    assert app.error == ""
    job = until(app, lambda: finished(app, name), what=name)
    assert job.phase == Phase.SUCCEEDED
    assert job.manifest["metadata"]["annotations"]["note"] == "<img src=x onerror=alert(1)>"
    lines = [e.line for e in client.logs(name, kind="TFJob")]
    assert any("'type': 'worker'" in line for line in lines)
    client.delete(name, kind="TFJob")


def test_create_twice_reports_that_the_name_is_taken(app: DTrainApp, client) -> None:
    editor = app.pages.yaml_editor
    name = unique("twice")
    type_text(editor, TF_JOB.format(name=name))
    editor.create_button.click()
    assert app.error == ""
    editor.create_button.click()
    assert "already exists" in app.error
    client.delete(name, kind="TFJob")


def test_each_issue_is_marked_and_its_button_puts_the_cursor_there(app: DTrainApp) -> None:
    editor = app.pages.yaml_editor
    type_text(editor, TF_JOB.format(name="Bad_Name"))
    editor.validate_button.click()
    assert len(editor.issues) == 1
    marker, = editor.editor_box.markers
    assert (marker["line"], marker["column"]) == (4, 3)
    assert marker["message"].startswith("metadata.name: ") and "Bad_Name" in marker["message"]
    button, = editor.issue_buttons
    assert button.description == "line 4, column 3"
    button.click()
    assert editor.editor_box.code.cursor == (4, 3)
    assert app.error == ""


def test_issue_text_is_escaped(app: DTrainApp) -> None:
    editor = app.pages.yaml_editor
    type_text(editor, TF_JOB.format(name="'<img src=x onerror=alert(1)>'"))
    editor.validate_button.click()
    row_html = "".join(part.value for row in editor.result.children[1:] for part in row.children
                       if hasattr(part, "value"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in row_html
    assert "<img" not in row_html


def test_typing_clears_the_verdict_the_issues_and_the_markers(app: DTrainApp) -> None:
    editor = app.pages.yaml_editor
    type_text(editor, TF_JOB.format(name="Bad_Name"))
    editor.validate_button.click()
    assert editor.issues and editor.editor_box.markers
    type_text(editor, TF_JOB.format(name="Bad_Name2"))
    assert editor.issues == () and editor.verdict == "" and editor.editor_box.markers == ()
    assert editor.result.children == (editor.verdict_line,) and editor.verdict_line.value == ""


def test_ctrl_enter_validates_the_text_it_was_pressed_on(app: DTrainApp, client) -> None:
    editor = app.pages.yaml_editor
    name = unique("keys")
    type_text(editor, TF_JOB.format(name=name))
    press_ctrl_enter(editor)
    assert app.error == ""
    assert editor.issues == () and editor.verdict.startswith("Valid")
    type_text(editor, TF_JOB.format(name="Bad_Name"))
    press_ctrl_enter(editor)
    assert [i.path for i in editor.issues] == ["metadata.name"]
    assert not any(j.name == name for j in client.list(all_namespaces=True))


def test_without_the_code_editor_the_plain_text_box_does_the_same_work(app: DTrainApp, client) -> None:
    editor = app.pages.yaml_editor
    # No view ever reported that it rendered (no browser here): what the kernel loop would do.
    editor.editor_box.fall_back_unless_rendered()
    box = editor.editor_box
    assert box.plain and box.children == (box.note, box.textarea) and box.note.value == FALLBACK_NOTE
    assert box.textarea.value == editor.text
    box.textarea.value = TF_JOB.format(name="Bad_Name")
    editor.validate_button.click()
    assert [i.path for i in editor.issues] == ["metadata.name"]
    editor.issue_buttons[0].click()  # the plain box cannot place a cursor; it is focused instead
    assert app.error == ""
    editor.load_button.click()
    assert box.textarea.value == editor.text and "kind: " in editor.text
    name = unique("plain")
    box.textarea.value = TF_JOB.format(name=name)
    editor.create_button.click()
    assert app.error == ""
    assert any(j.name == name for j in client.list(all_namespaces=True))
    client.delete(name, kind="TFJob")


def test_validating_the_same_problems_again_sends_their_markers_again(app: DTrainApp, monkeypatch) -> None:
    # Text pasted over the whole text takes the markers out of the browser's editor while the
    # kernel's issues stay the same: a second Validate must send them again.
    editor = app.pages.yaml_editor
    type_text(editor, TF_JOB.format(name="Bad_Name"))
    editor.validate_button.click()
    marked = editor.editor_box.markers
    assert marked
    sent: list[tuple] = []
    monkeypatch.setattr(editor.editor_box.code, "_send",
                        lambda msg, buffers=None: sent.append(msg["state"].get("markers")))
    editor.validate_button.click()
    assert [tuple(m) if m is not None else None for m in sent] == [(), marked]
    assert editor.editor_box.markers == marked
