"""Metrics in the browser: a real job's Metrics view draws its curves (SVG paths, not pixels),
smoothing and the log scale redraw them, Compare names both jobs in its legend, a running job's
row shows its progress and ETA, and `job.show()` puts the run details in a notebook cell.
Each view is screenshot and checked with axe-core as tests/e2e/test_accessibility.py does.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.accessibility import problems
from tests.e2e.panel_helpers import (MAIN, PANEL_TIMEOUT_MS, local_jobs, local_manifest, open_main, row, tab,
                                     wait_for_notebook_kernel, wait_phase)

pytestmark = pytest.mark.browser

LOSS_PROGRAM = ("for step in range(40):\n"
                "    print(f'step {step} loss={1.0 / (step + 1) - 0.03:.4f} accuracy={step / 40:.3f}', flush=True)\n")
PROGRESS_PROGRAM = ("import time\n"
                    "from dtrain_jupyter import report\n"
                    "for step in range(2400):\n"
                    "    report(step=step, loss=1.0 / (step + 1), progress=step / 2400)\n"
                    "    time.sleep(0.25)\n")
# Per chart: the number of drawn lines, the first and last one's path ("" when none) and the
# first one's points. Smoothed, each curve is two lines: its raw one first, then the smoothed one.
LINES_JS = """
(selector) => [...document.querySelectorAll(selector + ' .dtrain-chart')].map((chart) => {
  const paths = [...chart.querySelectorAll('g.curve path.line')].map((p) => p.getAttribute('d') || '')
    .filter((d) => d.length > 0);
  return {lines: paths.length, first: paths[0] || '', last: paths[paths.length - 1] || '',
          points: paths.length ? paths[0].split('L').length : 0};
})
"""


@pytest.fixture(scope="module")
def metric_jobs(lab_server: LabServer) -> Iterator[dict[str, str]]:
    """Two finished jobs that printed 40 `loss=` lines each, and one running job reporting progress."""
    tag = uuid.uuid4().hex[:6]
    names = {"a": f"mx-a-{tag}", "b": f"mx-b-{tag}", "run": f"mx-run-{tag}"}
    with local_jobs(lab_server, [
            local_manifest("PyTorchJob", names["a"], {"Master": (1, LOSS_PROGRAM)}),
            local_manifest("PyTorchJob", names["b"], {"Master": (1, LOSS_PROGRAM.replace("1.0 /", "2.0 /"))}),
            local_manifest("PyTorchJob", names["run"], {"Master": (1, PROGRESS_PROGRAM)})]):
        for key in ("a", "b"):
            wait_phase(lab_server, "pytorchjobs", names[key], {"Succeeded"})
        wait_phase(lab_server, "pytorchjobs", names["run"], {"Running"})
        yield names


def charts(page: Any, root: str) -> list[dict[str, Any]]:
    return page.evaluate(LINES_JS, root)


def wait_lines(page: Any, root: str, test: str) -> None:
    """Until `test` (JS over the first chart's {lines, first, points}) holds."""
    page.wait_for_function(f"(root) => {{ const c = ({LINES_JS})(root)[0]; return !!c && ({test}); }}", arg=root,
                           timeout=PANEL_TIMEOUT_MS)


def test_metrics_view_smoothing_log_scale_compare_and_progress(lab_page: Any, lab_server: LabServer,
                                                               metric_jobs: dict[str, str]) -> None:
    page = lab_page
    open_main(page)
    # The row's Metrics button: one job's charts.
    row(page, MAIN, metric_jobs["a"]).locator("button.dtrain-row-metrics").click()
    view = f"{MAIN} .dtrain-metrics-view"
    # Smoothed by default: the raw curve (faint) and the smoothed one, each with all 40 points.
    wait_lines(page, view, "c.lines === 2 && c.points === 40")
    assert [c["lines"] for c in charts(page, view)] == [2, 2]  # loss, accuracy
    page.locator(f"{view} .dtrain-legend", has_text="master-0").first.wait_for()
    smoothed = charts(page, view)[0]["last"]
    screenshot(page, "metrics-view")
    found = [problems(page, f"{MAIN} .dtrain-metrics-page", "metrics view")]

    # Smoothing 0: only the raw curve stays.
    weight = page.locator(f"{view} .dtrain-chart").first.locator(".dtrain-chart-smoothing input")
    weight.fill("0")
    weight.press("Enter")
    wait_lines(page, view, "c.lines === 1")
    raw = charts(page, view)[0]["first"]
    assert raw != smoothed

    # Log scale: the same points on another y scale, so the path changes; the loss goes below 0
    # at its end (1/(step+1) - 0.03), which the chart says it leaves out.
    first_chart = page.locator(f"{view} .dtrain-chart").first
    first_chart.locator(".dtrain-chart-log input").check()
    page.wait_for_function(f"(root) => ({LINES_JS})(root)[0].first !== {raw!r}", arg=view, timeout=PANEL_TIMEOUT_MS)
    first_chart.locator(".dtrain-chart-note", has_text="Log scale leaves out 7 points").wait_for()
    # A log axis: its ticks go down by decades (a linear 0..1 axis has no 0.01 tick).
    first_chart.locator("g.axis .tick text", has_text=re.compile(r"^0\.01$")).wait_for()
    screenshot(page, "metrics-view-log-scale")

    # Two jobs ticked -> Compare: one curve per job, both names in the legend.
    tab(page, MAIN, "Jobs")
    for key in ("a", "b"):
        row(page, MAIN, metric_jobs[key]).locator(".dtrain-select input").check()
    page.locator(f"{MAIN} button.dtrain-metrics").click()
    compare = f"{MAIN} .dtrain-compare-view"
    legend = page.locator(f"{compare} .dtrain-legend").first
    for key in ("a", "b"):
        legend.locator("li", has_text=f"{metric_jobs[key]} (master-0)").wait_for(timeout=PANEL_TIMEOUT_MS)
    wait_lines(page, compare, "c.lines === 4")  # two jobs, each raw and smoothed
    screenshot(page, "metrics-compare")
    found.append(problems(page, f"{MAIN} .dtrain-metrics-page", "compare view"))

    # A running job's row: its progress bar and ETA, named for screen readers.
    tab(page, MAIN, "Jobs")
    running = row(page, MAIN, metric_jobs["run"])
    running.locator(".dtrain-progress-text", has_text="ETA").wait_for(timeout=PANEL_TIMEOUT_MS)
    label = running.locator("progress").get_attribute("aria-label") or ""
    assert label.startswith(f"Progress of {metric_jobs['run']}: ") and "% done" in label
    screenshot(page, "metrics-row-progress")
    found.append(problems(page, f"{MAIN} .dtrain-job-list", "job list with progress"))
    found = [f for f in found if f]
    assert not found, "\n\n".join(found)


def test_job_show_puts_live_run_details_in_a_notebook_cell(lab_page: Any, lab_server: LabServer,
                                                          metric_jobs: dict[str, str]) -> None:
    page = lab_page
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click()
    editor = page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".cm-content")
    editor.wait_for(timeout=PANEL_TIMEOUT_MS)
    wait_for_notebook_kernel(page, lab_server)
    editor.click()
    page.keyboard.insert_text(f"from dtrain_jupyter.client import Client\nClient().get({metric_jobs['a']!r}).show()")
    page.keyboard.press("Shift+Enter")
    details = ".jp-NotebookPanel .jp-OutputArea-output .dtrain-run-details"
    page.locator(f"{details} .dtrain-run-header", has_text="Succeeded").wait_for(timeout=PANEL_TIMEOUT_MS)
    page.locator(f"{details} .dtrain-run-pods", has_text="master-0").wait_for()
    page.locator(f"{details} pre.dtrain-run-log", has_text="step 39 loss=").wait_for()
    wait_lines(page, details, "c.lines === 2 && c.points === 40")
    page.locator(details).scroll_into_view_if_needed()
    screenshot(page, "metrics-run-details-notebook")
    found = problems(page, details, "run details in a notebook")
    assert not found, found
