"""Form pieces: a field's own error line, number parsing, a role's resources."""

from __future__ import annotations

import ipywidgets as widgets
import pytest

from dtrain_jupyter.ui.wizard_fields import Field, RoleEditor, optional_int


def test_field_error_is_escaped_text_under_the_input() -> None:
    field = Field("Name", widgets.Text("x"), hint="a hint")
    field.error = "bad <b>name</b>"
    assert field.error_line.value == "bad &lt;b&gt;name&lt;/b&gt;"
    field.value = "y"
    assert field.control.value == "y"


@pytest.mark.parametrize("text, value", [("", None), (" 3 ", 3), ("0", 0)], ids=["blank", "spaces", "zero"])
def test_optional_int(text: str, value) -> None:
    assert optional_int(text, "TTL") == value


@pytest.mark.parametrize("text", ["x", "1.5", "-2"], ids=["word", "fraction", "negative"])
def test_optional_int_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="TTL"):
        optional_int(text, "TTL")


def test_role_resources_treat_blanks_and_zero_gpus_as_unset() -> None:
    role = RoleEditor("Launcher", 1, fixed=True, gpu_allowed=False)
    assert role.count.disabled and role.gpu.disabled
    assert role.resources() == {"cpu": None, "memory": None, "gpu": None}
    worker = RoleEditor("Worker", 2)
    worker.cpu.value, worker.memory.value, worker.gpu.value = " 2 ", "4Gi", 1
    assert worker.resources() == {"cpu": "2", "memory": "4Gi", "gpu": 1}
    assert "dtrain-role-Worker" in worker._dom_classes


@pytest.mark.parametrize("role, maximum, typed", [
    ("Worker", 64, -3), ("PS", 64, -1), ("Chief", 1, 2),
], ids=["negative-workers", "negative-ps", "two-chiefs"])
def test_a_replica_count_out_of_range_is_kept_and_explained(role: str, maximum: int, typed: int) -> None:
    editor = RoleEditor(role, 1, maximum=maximum)
    editor.count.value = typed
    # What the person typed stays in the box (nothing silently becomes 0 or 1) ...
    assert editor.count.value == typed
    # ... and the role's error line says what is allowed.
    assert editor.count_problem()
    assert editor.error == editor.count_problem()
    assert str(typed) in editor.error and role in editor.error
    editor.count.value = 1
    assert editor.count_problem() == "" and editor.error == ""


def test_a_count_back_in_range_keeps_an_issue_shown_for_another_field() -> None:
    editor = RoleEditor("Worker", 1)
    editor.error = "cpu: '2x' is not a quantity"
    editor.count.value = 2
    assert editor.error == "cpu: '2x' is not a quantity"


def test_a_negative_gpu_count_is_kept_and_explained() -> None:
    editor = RoleEditor("Worker", 1)
    editor.gpu.value = -1
    assert editor.gpu.value == -1
    assert editor.count_problem() == "" and editor.problem()
    assert editor.error == editor.problem()


def test_a_field_shows_its_plain_label_and_its_yaml_path_quietly() -> None:
    field = Field("Retries before the job fails", widgets.Text(""), hint="Restarts allowed <first>.",
                  yaml_path="spec.runPolicy.backoffLimit")
    assert field.label_text == "Retries before the job fails"
    assert "Retries before the job fails" in field.label.value
    assert "Restarts allowed &lt;first&gt;." in field.hint.value
    assert "<code class='dtrain-yaml-path'" in field.hint.value and "spec.runPolicy.backoffLimit" in field.hint.value
    # The kind decides the path (spec.pytorchReplicaSpecs... vs spec.mpiReplicaSpecs...): it can change.
    field.yaml_path = "spec.mpiReplicaSpecs.*.restartPolicy"
    field.hint_text = "Another hint"
    assert "spec.mpiReplicaSpecs.*.restartPolicy" in field.hint.value and "backoffLimit" not in field.hint.value
    assert "Another hint" in field.hint.value


def test_a_field_outside_the_yaml_shows_no_path() -> None:
    field = Field("Run on", widgets.Dropdown(options=("local",)), hint="Not part of the YAML.")
    assert field.yaml_path == "" and "dtrain-yaml-path" not in field.hint.value


def test_a_role_says_what_it_does_and_where_its_numbers_go() -> None:
    paths = {"replicas": "spec.tfReplicaSpecs.PS.replicas",
             "cpu": "spec.tfReplicaSpecs.PS.template.spec.containers[0].resources.limits.cpu"}
    editor = RoleEditor("PS", 1, gpu_allowed=False, words="parameter servers <hold> variables", yaml_paths=paths)
    assert editor.yaml_paths == paths
    assert "parameter servers &lt;hold&gt; variables" in editor.hint.value
    assert "spec.tfReplicaSpecs.PS.replicas" in editor.hint.value
    assert "spec.tfReplicaSpecs.PS.template.spec.containers[0].resources.limits." in editor.hint.value
    assert [w.description for w in (editor.count, editor.cpu, editor.memory, editor.gpu)] == [
        "Replicas", "CPU each", "Memory each", "GPUs each"]
