"""The wizard's Code choice in a real browser: the three choices seen, then a job made from a
script folder on the local backend, which succeeds and whose detail says where its code came from.

The folder and a notebook are written into the Lab server's root, which is the panel kernel's
working folder (JupyterLab starts the panel's kernel there), so the wizard finds them as a person's
own project. Screenshots: test-artifacts/screens/wizard-code-*.png.
"""

from __future__ import annotations

import uuid
from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import MAIN, PANEL_TIMEOUT_MS, open_main, row, tab

pytestmark = pytest.mark.browser

JOB_TIMEOUT_MS = 150_000
TRAIN = """\
import os
import sys
import helper
print("rank", os.environ["RANK"], "says", helper.WORD, *sys.argv[1:], flush=True)
"""


def _project(lab_server: LabServer) -> str:
    """A script folder and a notebook in the Lab root; the folder's name."""
    folder = f"wizproj-{uuid.uuid4().hex[:6]}"
    (lab_server.root_dir / folder).mkdir()
    (lab_server.root_dir / folder / "train.py").write_text(TRAIN)
    (lab_server.root_dir / folder / "helper.py").write_text("WORD = 'hello'\n")
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(c) for c in ("RATE = 0.1", "def fit(lr, epochs=2):\n    return lr * RATE")]
    nbformat.write(book, str(lab_server.root_dir / folder / "analysis.ipynb"))
    return folder


def test_a_folder_job_from_the_wizard_succeeds_and_shows_its_code(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    folder = _project(lab_server)
    open_main(page)
    panel = page.locator(MAIN)
    panel.locator("button.dtrain-new").click()
    wizard = panel.locator(".dtrain-wizard")
    choice = wizard.locator(".dtrain-code-choice")
    choice.wait_for()
    screenshot(page, "wizard-code-1-command")

    # Notebook function: its fields on the Details step, the notebook found under the root.
    choice.locator("label", has_text="Notebook function").click()
    wizard.locator("button.dtrain-next").click()
    notebook = wizard.locator(".dtrain-field-notebook select")
    notebook.wait_for()
    notebook.select_option(f"{folder}/analysis.ipynb")
    wizard.locator(".dtrain-field-function select option", has_text="fit(lr, epochs=2)").wait_for(state="attached")
    wizard.locator(".dtrain-field-call-args", has_text="fit takes: lr, epochs=2.").wait_for()
    assert wizard.locator(".dtrain-field-command").is_hidden()
    screenshot(page, "wizard-code-2-function")

    # Code from a folder.
    wizard.locator("button.dtrain-back").click()
    choice.locator("label", has_text="Code from a folder").click()
    wizard.locator("button.dtrain-next").click()
    folder_box = wizard.locator(".dtrain-field-folder input")
    folder_box.fill(folder)
    folder_box.press("Enter")
    entry = wizard.locator(".dtrain-field-entry select")
    # The list is the folder's own once the kernel has read it ("." listed the whole root first).
    expect(entry).to_have_value("train.py")
    assert entry.locator("option").all_inner_texts() == ["helper.py", "train.py"]
    wizard.locator(".dtrain-field-script-args input").fill("--epochs 3")
    name = f"wizfolder-{uuid.uuid4().hex[:6]}"
    wizard.locator(".dtrain-field-name input").fill(name)
    screenshot(page, "wizard-code-3-folder")
    wizard.locator("button.dtrain-next").click()
    wizard.locator("button.dtrain-next").click()
    summary = wizard.locator(".dtrain-summary")
    summary.wait_for()
    code_line = summary.locator(".dtrain-summary-line", has_text="train.py from")
    assert folder in code_line.inner_text() and "(3 files," in code_line.inner_text()
    assert "configMap" in wizard.locator("pre.dtrain-preview").inner_text()
    to_yaml = wizard.locator("button.dtrain-to-yaml")
    assert to_yaml.is_disabled() and "ConfigMap" in (to_yaml.get_attribute("title") or "")
    screenshot(page, "wizard-code-4-folder-review")
    wizard.locator("button.dtrain-create").click()

    job = row(page, MAIN, name)
    job.wait_for(timeout=60_000)
    job.locator(".dtrain-phase-Succeeded").wait_for(timeout=JOB_TIMEOUT_MS)
    job.locator(".dtrain-name").click()
    origin = job.locator(".dtrain-code-origin")
    origin.wait_for(timeout=PANEL_TIMEOUT_MS)
    text = origin.inner_text()
    assert text.startswith("Code") and f"train.py from {lab_server.root_dir / folder} (3 files," in text
    screenshot(page, "wizard-code-5-job-detail")
    job.locator("button.dtrain-row-log").click()
    panel.locator(".dtrain-log-view pre.dtrain-log", has_text="says hello --epochs 3").wait_for(timeout=60_000)
    tab(page, MAIN, "Jobs")
    assert page.page_errors == []
