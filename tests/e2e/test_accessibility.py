"""Every view of the Distributed Training panel, audited by axe-core, in the light and the dark theme.

With a running and a finished local job (the `jobs` fixture), one page walks every view a
person can reach: the Jobs list, a job expanded into its pods, the running job's log (following),
the finished job's output files, the delete confirmation, the error line, the job history's controls
(Show, dates, the buttons of a ticked job, a wrong date), the wizard's four steps
for PyTorch and for Horovod/MPI, a wizard validation error, the YAML editor with an error marker,
the sidebar's list, the inline `%dtrain` panel of a notebook, and the outage banner of a panel
whose server cannot be reached. Each is audited on its panel's root for serious and critical
WCAG 2.x A/AA and best-practice violations (tests/e2e/accessibility.py), and saved as
test-artifacts/screens/view-<nn>-<name>-<theme>.png. Every view's findings are collected and
reported together. That the audit sees the panel at all (axe skips what it thinks is off
screen) is checked on the list: colour contrast must have looked at its text.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Callable

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.accessibility import examined, problems
from tests.e2e.panel_helpers import (MAIN, NOTEBOOK_PANEL, PANEL_TIMEOUT_MS, SIDEBAR, THEMES, each_theme,
                                     open_notebook_panel, open_sidebar, panel_ready, replace_editor_text, row,
                                     set_theme, tab)
from tests.e2e.test_yaml_code_editor import BAD_NAME_YAML

pytestmark = pytest.mark.browser

OUTAGE_PANEL = ".jp-NotebookPanel .dtrain-panel.a11y-outage"
# A second panel in the notebook, on a server that is not there (nothing listens on port 9):
# its change feed fails and the panel shows its outage banner, as it would for a server gone.
OUTAGE_CELL = ("from dtrain_jupyter.client import Client\n"
               "from dtrain_jupyter.ui.app import DTrainApp\n"
               "DTrainApp(Client('http://127.0.0.1:9/', token='none'), _dom_classes=('dtrain-panel', 'a11y-outage'))")


# An element only each wizard step shows.
STEP_MARKS = {1: ".dtrain-platform", 2: ".dtrain-field-name", 3: ".dtrain-role-Worker", 4: ".dtrain-summary"}


class Walk:
    """The page, the jobs and what the walk has opened so far (the sidebar, the notebook)."""

    def __init__(self, page: Any, lab_server: LabServer, jobs: dict[str, str]) -> None:
        self.page = page
        self.lab_server = lab_server
        self.jobs = jobs
        self.name = f"a11y-{uuid.uuid4().hex[:6]}"
        self.notebook_open = False

    @property
    def panel(self) -> Any:
        return self.page.locator(MAIN)

    def main_tab(self) -> None:
        """The Distributed Training tab to the front, on its Jobs page with every row folded."""
        self.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Distributed Training").click()
        tab(self.page, MAIN, "Jobs")
        for name in self.jobs.values():
            folded = row(self.page, MAIN, name)
            if folded.locator(".dtrain-pods").is_visible():
                folded.locator(".dtrain-name").click()
                folded.locator(".dtrain-pods").wait_for(state="hidden")

    def wizard_step(self, step: int, platform: str) -> None:
        """The New page's wizard on `step` (1-4) for `platform` (its radio button's words)."""
        page, panel = self.page, self.panel
        tab(page, MAIN, "New")
        panel.locator(".dtrain-mode button", has_text="Wizard").click()
        # Back to the first step, from wherever the last view left the wizard: the step line
        # shows the step in bold ("3 Resources").
        shown = panel.locator(".dtrain-wizard b", has_text=re.compile(r"^\d \w+$")).first
        shown.wait_for(timeout=PANEL_TIMEOUT_MS)
        for step_now in range(int(shown.inner_text()[0]), 1, -1):
            panel.locator("button.dtrain-back").click()
            panel.locator(".dtrain-wizard b", has_text=re.compile(rf"^{step_now - 1} ")).wait_for()
        panel.locator(".dtrain-wizard .dtrain-platform").wait_for(timeout=30_000)
        panel.locator(".dtrain-platform label", has_text=platform).click()
        page.locator(f"{MAIN} .dtrain-platform input:checked").wait_for()
        for reached in range(2, step + 1):
            panel.locator("button.dtrain-next").click()
            panel.locator(f".dtrain-wizard {STEP_MARKS[reached]}").wait_for()
            if reached == 2:
                panel.locator(".dtrain-field-name input").fill(self.name)


def _list(walk: Walk) -> str:
    walk.main_tab()
    row(walk.page, MAIN, walk.jobs["run"]).locator(".dtrain-phase-Running").wait_for(timeout=PANEL_TIMEOUT_MS)
    row(walk.page, MAIN, walk.jobs["done"]).locator(".dtrain-phase-Succeeded").wait_for(timeout=PANEL_TIMEOUT_MS)
    return MAIN


def _pods(walk: Walk) -> str:
    walk.main_tab()
    done = row(walk.page, MAIN, walk.jobs["done"])
    done.locator(".dtrain-name").click()
    done.locator(".dtrain-pod-name").nth(1).wait_for()
    return MAIN


def _log(walk: Walk) -> str:
    walk.main_tab()
    row(walk.page, MAIN, walk.jobs["run"]).locator("button.dtrain-row-log").click()
    view = walk.panel.locator(".dtrain-log-view")
    view.locator(".widget-label", has_text="following new lines").wait_for(timeout=60_000)
    view.locator("pre.dtrain-log.dtrain-log-follow", has_text="tick 3").wait_for(timeout=60_000)
    return MAIN


def _output(walk: Walk) -> str:
    walk.main_tab()
    row(walk.page, MAIN, walk.jobs["done"]).locator("button.dtrain-row-output").click()
    walk.panel.locator(".dtrain-output-view table.dtrain-file-table").wait_for()
    return MAIN


def _delete_confirmation(walk: Walk) -> str:
    walk.main_tab()
    row(walk.page, MAIN, walk.jobs["done"]).locator(".dtrain-select input").check()
    walk.panel.locator("button.dtrain-delete").click()
    walk.panel.locator(".dtrain-confirm").wait_for()
    return MAIN


def _error_line(walk: Walk) -> str:
    walk.panel.locator("button.dtrain-confirm-no").click()
    row(walk.page, MAIN, walk.jobs["done"]).locator(".dtrain-select input").uncheck()
    walk.panel.locator(".dtrain-job.dtrain-row-selected").wait_for(state="detached")
    walk.panel.locator("button.dtrain-delete").click()  # with nothing ticked
    walk.panel.locator(".dtrain-error-line", has_text="Tick the jobs to delete first").wait_for()
    return MAIN


def _history_controls(walk: Walk) -> str:
    """The job history's controls: the Show choice and date range, the buttons a ticked job gets
    (Re-run, Edit and re-run, Forget/Suspend where they apply), and a wrong date said at its field."""
    walk.main_tab()
    row(walk.page, MAIN, walk.jobs["done"]).locator(".dtrain-select input").check()
    walk.panel.locator("button.dtrain-rerun").wait_for()
    since = walk.panel.locator(".dtrain-since input")
    since.fill("soon")
    since.press("Enter")
    walk.panel.locator(".dtrain-field-error", has_text="is not a date").wait_for()
    return MAIN


def _history_controls_cleared(walk: Walk) -> str:
    """The same list with the date cleared and nothing ticked (the next views start from there)."""
    since = walk.panel.locator(".dtrain-since input")
    since.fill("")
    since.press("Enter")
    walk.panel.locator(".dtrain-field-error").wait_for(state="hidden")
    row(walk.page, MAIN, walk.jobs["done"]).locator(".dtrain-select input").uncheck()
    walk.panel.locator("button.dtrain-rerun").wait_for(state="hidden")
    return MAIN


def _wizard(step: int, platform: str) -> Callable[[Walk], str]:
    def show(walk: Walk) -> str:
        dismiss = walk.panel.locator("button.dtrain-dismiss")
        if dismiss.is_visible():
            dismiss.click()
        walk.wizard_step(step, platform)
        return MAIN
    return show


def _wizard_code(choice: str) -> Callable[[Walk], str]:
    """The wizard's Details step for a Code choice ("Command" last, so the other views find it)."""
    def show(walk: Walk) -> str:
        walk.wizard_step(1, "PyTorch")
        walk.panel.locator(".dtrain-code-choice label", has_text=choice).click()
        walk.page.locator(f"{MAIN} .dtrain-code-choice input:checked").wait_for()
        walk.panel.locator("button.dtrain-next").click()
        walk.panel.locator(".dtrain-wizard .dtrain-field-name").wait_for()
        return MAIN
    return show


def _wizard_error(walk: Walk) -> str:
    walk.wizard_step(2, "Horovod")
    walk.panel.locator(".dtrain-field-name input").fill("Bad_Name")
    walk.panel.locator("button.dtrain-next").click()  # refused: the name says why
    walk.panel.locator(".dtrain-field-name .dtrain-field-error", has_text="lower-case").wait_for()
    return MAIN


def _yaml_error(walk: Walk) -> str:
    tab(walk.page, MAIN, "New")
    walk.panel.locator(".dtrain-mode button", has_text="YAML").click()
    editor = f"{MAIN} .dtrain-yaml-editor .dtrain-code-editor"
    walk.page.locator(f"{editor} .cm-editor").wait_for(timeout=60_000)
    replace_editor_text(walk.page, editor, BAD_NAME_YAML)
    walk.panel.locator("button.dtrain-validate").click()
    walk.page.locator(f"{editor} .dtrain-cm-problems .dtrain-cm-problem").wait_for(timeout=30_000)
    return MAIN


def _sidebar(walk: Walk) -> str:
    open_sidebar(walk.page)
    row(walk.page, SIDEBAR, walk.jobs["done"]).locator(".dtrain-phase-Succeeded").wait_for(timeout=PANEL_TIMEOUT_MS)
    return SIDEBAR


def _notebook(walk: Walk) -> str:
    # The sidebar closes again: the notebook and, next time round, the main tab get the width.
    walk.page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="dtrain-sidebar"]').click()
    if not walk.notebook_open:
        open_notebook_panel(walk.page, walk.lab_server)
        walk.notebook_open = True
    else:
        walk.page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=".ipynb").click()
        panel_ready(walk.page, NOTEBOOK_PANEL)
    # A notebook's panel assumes no labextension: its rows are core widgets (row_line.WidgetLine).
    row(walk.page, NOTEBOOK_PANEL, walk.jobs["done"]).wait_for(timeout=PANEL_TIMEOUT_MS)
    assert walk.page.locator(f"{NOTEBOOK_PANEL} .dtrain-line").count() == 0
    return NOTEBOOK_PANEL


def _outage_banner(walk: Walk) -> str:
    page = walk.page
    if page.locator(OUTAGE_PANEL).count() == 0:
        # Shift+Enter left a new cell in edit mode under the %dtrain one; pasted, not typed, so
        # the editor adds no indentation or brackets of its own.
        page.keyboard.insert_text(OUTAGE_CELL)
        page.keyboard.press("Shift+Enter")
    page.locator(f"{OUTAGE_PANEL} .dtrain-banner", has_text="retrying by itself").wait_for(timeout=PANEL_TIMEOUT_MS)
    page.locator(OUTAGE_PANEL).scroll_into_view_if_needed()
    return OUTAGE_PANEL


VIEWS: tuple[tuple[str, Callable[[Walk], str]], ...] = (
    ("jobs", _list),
    ("pods", _pods),
    ("log-following", _log),
    ("output", _output),
    ("delete-confirmation", _delete_confirmation),
    ("error-line", _error_line),
    ("history-controls", _history_controls),
    ("history-controls-cleared", _history_controls_cleared),
    ("wizard-pytorch-1-platform", _wizard(1, "PyTorch")),
    ("wizard-pytorch-2-details", _wizard(2, "PyTorch")),
    ("wizard-pytorch-3-resources", _wizard(3, "PyTorch")),
    ("wizard-pytorch-4-review", _wizard(4, "PyTorch")),
    ("wizard-mpi-1-platform", _wizard(1, "Horovod")),
    ("wizard-mpi-2-details", _wizard(2, "Horovod")),
    ("wizard-mpi-3-resources", _wizard(3, "Horovod")),
    ("wizard-mpi-4-review", _wizard(4, "Horovod")),
    ("wizard-validation-error", _wizard_error),
    ("wizard-code-function", _wizard_code("Notebook function")),
    ("wizard-code-folder", _wizard_code("Code from a folder")),
    ("wizard-code-command", _wizard_code("Command")),
    ("yaml-error-marker", _yaml_error),
    ("sidebar", _sidebar),
    ("notebook", _notebook),
    ("outage-banner", _outage_banner),
)


def test_every_view_passes_axe_in_light_and_dark(lab_page: Any, lab_server: LabServer,
                                                 jobs: dict[str, str]) -> None:
    page = lab_page
    set_theme(page, THEMES[0])
    # The file browser folds away, as the sidebar view leaves the left area: both themes' shots
    # then show the main tab at the same width.
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="filebrowser"]').click()
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    panel_ready(page, MAIN)
    walk = Walk(page, lab_server, jobs)
    found = []
    for theme in each_theme(page):
        for number, (name, show) in enumerate(VIEWS, start=1):
            root = show(walk)
            if number == 1:
                # The audit sees the list: contrast was judged on its cells, not skipped.
                assert examined(page, root, "color-contrast") >= 20
            screenshot(page, f"view-{number:02d}-{name}-{theme}")
            found.append(problems(page, root, f"{name} ({theme})"))
    found = [f for f in found if f]
    assert not found, "\n\n".join(found)
    assert page.page_errors == []
