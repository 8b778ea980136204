"""Names without labels and the classes the labextension's keyboard.ts reads (ui/assistive.py)."""

from __future__ import annotations

import re
from pathlib import Path

import ipywidgets as widgets
import pytest

from dtrain_jupyter.ui import assistive
from dtrain_jupyter.ui.assistive import NAME_ONLY, name_only
from dtrain_jupyter.ui.job_list import JobList
from dtrain_jupyter.ui.log_view import LogView
from dtrain_jupyter.ui.wizard_fields import Field


KEYBOARD_TS = Path(__file__).resolve().parents[2] / "labextension" / "src" / "keyboard.ts"


def test_keyboard_ts_reads_the_classes_the_panel_writes() -> None:
    declared = dict(re.findall(r"export const (\w+) = '([\w-]+)';", KEYBOARD_TS.read_text()))
    for name in ("FOCUS_HERE", "BUSY", "EXPANDER", "EXPANDED"):
        assert declared[name] == getattr(assistive, name), name


@pytest.mark.parametrize("control", [widgets.Text(), widgets.Dropdown(options=("a",)), widgets.Checkbox(),
                                     widgets.Textarea()], ids=["text", "dropdown", "checkbox", "textarea"])
def test_name_only_puts_the_name_in_the_description_as_text(control: widgets.DescriptionWidget) -> None:
    name_only(control, "Job <b>name</b>")
    assert control.description == "Job <b>name</b>"
    assert control.description_allow_html is False  # shown as the words typed, never as markup
    assert NAME_ONLY in control._dom_classes


def test_a_field_names_its_control_with_its_label() -> None:
    # The label beside the input is an HTML widget no input can point at.
    field = Field("Retries before the job fails", widgets.Text())
    assert field.control.description == "Retries before the job fails"
    assert NAME_ONLY in field.control._dom_classes
    own = Field("Name", widgets.IntText(description="Replicas"))
    assert own.control.description == "Replicas" and NAME_ONLY not in own.control._dom_classes


def test_the_list_filters_and_the_log_filter_have_names(client) -> None:
    job_list = JobList(client, lambda action, job, pod: None)
    assert (job_list.text.description, job_list.select_all.description) == ("Filter jobs", "Select every job shown")
    assert NAME_ONLY in job_list.text._dom_classes and NAME_ONLY in job_list.select_all._dom_classes
    view = LogView(client)
    assert view.filter_box.description == "Filter lines" and NAME_ONLY in view.filter_box._dom_classes
