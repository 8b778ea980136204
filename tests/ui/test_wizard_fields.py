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
