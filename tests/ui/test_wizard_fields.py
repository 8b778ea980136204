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
