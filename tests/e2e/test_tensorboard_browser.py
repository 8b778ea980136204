"""TensorBoard in the browser: a real local job writes scalars with torch.utils.tensorboard; ticked in
the panel, the TensorBoard button opens the one "TensorBoard" tab, whose frame (this server's
proxied TensorBoard, scripts allowed) shows the scalars dashboard with the job's tag. A job without
event files gets the server's words in the panel's error line and no tab.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import MAIN, PANEL_TIMEOUT_MS, local_jobs, local_manifest, open_main, row, wait_phase

pytestmark = pytest.mark.browser
pytest.importorskip("torch.utils.tensorboard")

TAG = "dtrain_e2e/loss"
SCALARS_PROGRAM = ("import os\n"
                   "from torch.utils.tensorboard import SummaryWriter\n"
                   "writer = SummaryWriter(os.environ['DTRAIN_OUTPUT_DIR'])\n"
                   "for step in range(30):\n"
                   f"    writer.add_scalar('{TAG}', 1.0 / (step + 1), step)\n"
                   "writer.close()\n")
TENSORBOARD_TAB = "#dtrain-tensorboard"
# How long the screenshot waits for TensorBoard's worker to draw the curve (the picture only).
SETTLE_MS = 3000


@pytest.fixture(scope="module")
def tb_jobs(lab_server: LabServer) -> Iterator[dict[str, str]]:
    """A finished job that wrote TensorBoard scalars, and one that wrote none."""
    tag = uuid.uuid4().hex[:6]
    names = {"scalars": f"tb-scalars-{tag}", "none": f"tb-none-{tag}"}
    with local_jobs(lab_server, [local_manifest("PyTorchJob", names["scalars"], {"Master": (1, SCALARS_PROGRAM)}),
                                 local_manifest("PyTorchJob", names["none"], {"Master": (1, "print('no events')")})]):
        for name in names.values():
            wait_phase(lab_server, "pytorchjobs", name, {"Succeeded"})
        yield names


def tick_only(page: Any, name: str) -> None:
    """Tick `name`'s row and untick every other."""
    for checked in page.locator(f"{MAIN} .dtrain-job .dtrain-select input:checked").all():
        checked.uncheck()
    row(page, MAIN, name).locator(".dtrain-select input").check()


def test_the_tensorboard_tab_shows_the_jobs_scalars(lab_page: Any, tb_jobs: dict[str, str]) -> None:
    page = lab_page
    open_main(page)
    tick_only(page, tb_jobs["scalars"])
    page.locator(f"{MAIN} button.dtrain-tensorboard").click()
    # The panel's line links to the path of the proxied TensorBoard, and the tab opens by itself
    # (in front: the panel, and so the link, are hidden behind it).
    link = page.locator(f"{MAIN} .dtrain-info a.dtrain-open-tensorboard")
    link.wait_for(state="attached", timeout=PANEL_TIMEOUT_MS)
    assert link.get_attribute("href") == "/dtrain/tensorboard/"
    tab = page.locator(TENSORBOARD_TAB)
    tab.wait_for(timeout=PANEL_TIMEOUT_MS)
    frame = page.locator(f"{TENSORBOARD_TAB} iframe")
    assert frame.get_attribute("sandbox") == "allow-scripts allow-same-origin"
    board = page.frame_locator(f"{TENSORBOARD_TAB} iframe")
    try:
        board.locator("tb-webapp").wait_for(timeout=PANEL_TIMEOUT_MS)
        card = board.locator("scalar-card", has_text=TAG).first
        card.wait_for(timeout=PANEL_TIMEOUT_MS)
        # The run is the job's output folder, named after the job.
        board.get_by_text(tb_jobs["scalars"]).first.wait_for(timeout=PANEL_TIMEOUT_MS)
        # Its data table has the run's last point: step 29 of the 30 the job wrote.
        last = card.locator("tb-data-table-content-row", has_text=tb_jobs["scalars"])
        last.locator("tb-data-table-content-cell").filter(has_text=re.compile(r"^\s*29\s*$")).wait_for(
            timeout=PANEL_TIMEOUT_MS)
        # The line itself is drawn off the main thread (TensorBoard renders charts in a worker), so
        # nothing in the DOM says when it is done: a moment for it before the picture.
        page.wait_for_timeout(SETTLE_MS)
    finally:
        screenshot(page, "tensorboard-tab")
    assert page.locator(".lm-TabBar-tab.lm-mod-current", has_text="TensorBoard").count() == 1
    # The tab is the one TensorBoard tab: the button again brings it back to the front, reloaded,
    # with no second tab.
    page.locator(".lm-TabBar-tab", has_text="Distributed Training").first.click()
    board.locator("tb-webapp").evaluate("node => { window.dtrainBeforeReload = true; }")
    page.locator(f"{MAIN} button.dtrain-tensorboard").click()
    page.locator(".lm-TabBar-tab.lm-mod-current", has_text="TensorBoard").wait_for(timeout=PANEL_TIMEOUT_MS)
    assert page.locator(TENSORBOARD_TAB).count() == 1
    page.wait_for_function("() => !document.querySelector('#dtrain-tensorboard iframe').contentWindow"
                           ".dtrainBeforeReload", timeout=PANEL_TIMEOUT_MS)
    board.locator("scalar-card", has_text=TAG).first.wait_for(timeout=PANEL_TIMEOUT_MS)


def test_a_job_without_event_files_is_refused_in_the_panel(lab_page: Any, tb_jobs: dict[str, str]) -> None:
    page = lab_page
    open_main(page)
    tick_only(page, tb_jobs["none"])
    page.locator(f"{MAIN} button.dtrain-tensorboard").click()
    error = page.locator(f"{MAIN} .dtrain-error-line", has_text="has no TensorBoard event files")
    error.wait_for(timeout=PANEL_TIMEOUT_MS)
    assert tb_jobs["none"] in error.inner_text() and "DTRAIN_OUTPUT_DIR" in error.inner_text()
    assert page.locator(TENSORBOARD_TAB).count() == 0
    # A TensorBoard link to any other address gets no tab (and so no scripts), whether it appears
    # or is clicked: another origin, or this one outside the proxied TensorBoard's path.
    answer = page.evaluate(FOREIGN_LINKS_JS, MAIN)
    assert answer == {"tabs": 0, "handled": [False, False]}


# Puts two such links in the panel as the panel would (autoopen) and clicks each; a listener
# after the plugin's records whether the plugin took the click (and keeps the page from leaving).
FOREIGN_LINKS_JS = """
async (panel) => {
  const handled = [];
  const record = event => { handled.push(event.defaultPrevented); event.preventDefault(); };
  window.addEventListener('click', record);
  const hrefs = ['https://example.invalid/dtrain/tensorboard/', '/dtrain/tensorboard/../api/contents'];
  for (const [i, href] of hrefs.entries()) {
    const a = document.createElement('a');
    a.className = 'dtrain-open-tensorboard';
    a.href = href;
    a.dataset.dtrainAutoopen = 'foreign-' + i;
    document.querySelector(panel).appendChild(a);
    await new Promise(resolve => setTimeout(resolve, 200));
    a.click();
  }
  window.removeEventListener('click', record);
  return {tabs: document.querySelectorAll('#dtrain-tensorboard').length, handled};
}
"""
