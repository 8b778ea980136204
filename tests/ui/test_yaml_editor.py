"""The YAML editor: starters per framework, errors with line numbers, server dry run, create."""

from __future__ import annotations

import pytest

from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.model.templates import available
from dtrain_jupyter.ui.app import DTrainApp

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


def test_prefilled_with_a_template_per_framework(app: DTrainApp) -> None:
    editor = app.pages.yaml_editor
    kinds = set()
    for _label, value in editor.template.options:
        editor.template.value = value
        editor.load_button.click()
        kinds.add(value.split("|")[1])
        assert f"kind: {value.split('|')[1]}" in editor.area.value
    assert kinds == {kind for _api, kind, _title in available()} == {"PyTorchJob", "TFJob", "MPIJob"}


@pytest.mark.parametrize("text, line", [
    ("apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata: {name: x\n", 4),
    ("apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata:\n\tname: x\n", 4),
], ids=["unclosed-bracket", "tab"])
def test_syntax_errors_come_with_their_line(app: DTrainApp, text: str, line: int) -> None:
    editor = app.pages.yaml_editor
    editor.area.value = text
    editor.validate_button.click()
    assert app.error == ""
    assert editor.issues and editor.issues[0].line is not None
    assert abs(editor.issues[0].line - line) <= 1
    assert f"line {editor.issues[0].line}, column" in editor.result.value


def test_field_errors_point_at_the_field(app: DTrainApp) -> None:
    editor = app.pages.yaml_editor
    editor.area.value = TF_JOB.format(name="Bad_Name")
    editor.validate_button.click()
    issue = next(i for i in editor.issues if i.path == "metadata.name")
    assert issue.line == 4
    editor.create_button.click()
    assert "metadata.name" in app.error or "name" in app.error
    assert not any(j.name == "Bad_Name" for j in app.jobs)


def test_valid_text_passes_the_server_dry_run(app: DTrainApp, client) -> None:
    editor = app.pages.yaml_editor
    name = unique("dry")
    editor.area.value = TF_JOB.format(name=name)
    editor.validate_button.click()
    assert editor.issues == ()
    assert "Valid" in editor.verdict and "dry run" in editor.verdict
    assert not any(j.name == name for j in client.list(all_namespaces=True))


def test_create_a_tfjob_from_yaml(app: DTrainApp, client) -> None:
    editor = app.pages.yaml_editor
    name = unique("yaml")
    editor.area.value = TF_JOB.format(name=name)
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
    editor.area.value = TF_JOB.format(name=name)
    editor.create_button.click()
    assert app.error == ""
    editor.create_button.click()
    assert "already exists" in app.error
    client.delete(name, kind="TFJob")
