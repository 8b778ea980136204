"""Where a new user stumbled (issue 17), checked in a real browser: JupyterLab at 1400x900 and its sidebar.

Real local jobs are made through the REST API (the `jobs` fixture of conftest.py): one finished
PyTorchJob with output files, one TFJob still running, one MPIJob. Then, in the main tab: no status or kind cell is cut (each
cell's content fits its box) and a finished job's status says "Succeeded" once; the pods have a
Name column of selectable text; the output page names the folder, previews the first file at once,
its file table fits its box, a file's Download link downloads it whole in one click (a file longer
than the server's output_read_limit, set low for this module, included), and its Open link shows a
text file in a JupyterLab tab instead of downloading it; the running job's log follows by itself,
its controls read as separate things, and its Download link downloads the text in one click; the
delete confirmation names the pods, logs and output folder that go; the select-all checkbox,
reached by the keyboard, ticks and unticks every row. In the sidebar, the columns kept are
whole, the header names exactly them, and the file list fits. Screenshots of each view, light and dark, go to
test-artifacts/screens/friction-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser_fixtures import LabServer, run_lab, screenshot
from tests.e2e.panel_helpers import (LONG_BYTES, LONG_FILE, MAIN, ODD_FILE, PANEL_TIMEOUT_MS, SIDEBAR, THEMES,
                                     assert_no_horizontal_overflow, panel_ready, set_theme)
from tests.e2e.panel_helpers import row as _row
from tests.e2e.panel_helpers import tab as _tab

pytestmark = pytest.mark.browser

# The most one plain read of an output file returns here: below LONG_FILE's size, so its Download
# shows that a download is not cut there.
OUTPUT_READ_LIMIT = 16 * 1024


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """The module's JupyterLab, its output reads capped at OUTPUT_READ_LIMIT."""
    assert len(LONG_BYTES) > OUTPUT_READ_LIMIT
    with run_lab(tmp_path_factory.mktemp("jupyterlab"), f"--DTrain.output_read_limit={OUTPUT_READ_LIMIT}") as server:
        yield server

# Each cell under `sel` that is shown and whose content does not fit its box: cut, or ellipsised.
CUT_CELLS_JS = """
(sel) => [...document.querySelectorAll(sel)]
  .filter((el) => el.offsetParent !== null && el.clientWidth > 0)
  .filter((el) => el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight)
  .map((el) => `${el.className} "${el.textContent}": ${el.scrollWidth}x${el.scrollHeight} `
               + `in ${el.clientWidth}x${el.clientHeight}`)
"""


def _assert_nothing_cut(page: Any, selector: str) -> None:
    page.wait_for_selector(selector)
    cut = page.evaluate(CUT_CELLS_JS, selector)
    assert cut == [], "cells cut:\n" + "\n".join(cut)


def _download(page: Any, link: Any) -> tuple[str, bytes]:
    """Click `link` once; the browser's download (name, bytes)."""
    with page.expect_download() as info:
        link.click()
    download = info.value
    return download.suggested_filename, Path(download.path()).read_bytes()


def _check_list(page: Any, jobs: dict[str, str]) -> None:
    for name in jobs.values():
        _row(page, MAIN, name).wait_for(timeout=PANEL_TIMEOUT_MS)
    _row(page, MAIN, jobs["done"]).locator(".dtrain-phase-Succeeded").wait_for(timeout=PANEL_TIMEOUT_MS)
    _assert_nothing_cut(page, f"{MAIN} .dtrain-job-list .dtrain-grid .dtrain-cell")
    status = _row(page, MAIN, jobs["done"]).locator(".dtrain-col-status")
    # The phase once; the operator's "PyTorchJobSucceeded" only in the tooltip.
    assert status.inner_text() == "Succeeded"
    assert "PyTorchJobSucceeded" in status.get_attribute("title")
    kind = _row(page, MAIN, jobs["mpi"]).locator(".dtrain-col-kind")
    assert kind.inner_text() == "MPI (Horovod)" and kind.get_attribute("title").startswith("Horovod/MPIJob")


def _check_select_all(page: Any) -> None:
    every = page.locator(f"{MAIN} .dtrain-job .dtrain-select input")
    select_all = page.locator(f"{MAIN} .dtrain-select-all input")
    assert select_all.get_attribute("title") == "Select every job shown"  # its accessible name
    select_all.focus()  # an <input>: in the Tab order
    page.keyboard.press("Space")
    page.wait_for_function("sel => [...document.querySelectorAll(sel)].every((box) => box.checked)",
                           arg=f"{MAIN} .dtrain-job .dtrain-select input")
    assert every.count() >= 3
    page.keyboard.press("Space")
    page.wait_for_function("sel => [...document.querySelectorAll(sel)].every((box) => !box.checked)",
                           arg=f"{MAIN} .dtrain-job .dtrain-select input")
    every.first.check()
    # The kernel has taken the tick once it marks the row; by then it has set the header box too.
    page.locator(f"{MAIN} .dtrain-job.dtrain-row-selected").wait_for()
    assert not select_all.is_checked(), "only some are ticked: the header box stays unticked"
    every.first.uncheck()
    page.locator(f"{MAIN} .dtrain-job.dtrain-row-selected").wait_for(state="detached")


def _check_pods(page: Any, name: str) -> None:
    row = _row(page, MAIN, name)
    row.locator(".dtrain-name").click()
    names = row.locator(".dtrain-pod .dtrain-pod-name")
    names.nth(1).wait_for()
    assert names.all_inner_texts() == [f"{name}-master-0", f"{name}-worker-0"]
    assert row.locator(".dtrain-pods .dtrain-header .dtrain-cell").first.inner_text() == "Name"
    assert names.first.evaluate("el => getComputedStyle(el).userSelect") != "none"
    _assert_nothing_cut(page, f"{MAIN} .dtrain-pod-name")


def _check_output(page: Any, name: str, server: LabServer) -> None:
    _tab(page, MAIN, "Jobs")
    _row(page, MAIN, name).locator("button.dtrain-row-output").click()
    view = page.locator(f"{MAIN} .dtrain-output-view")
    table = view.locator("table.dtrain-file-table")
    table.wait_for()
    location = view.locator(".dtrain-output-location").inner_text()
    assert location.startswith("Output location: folder /") and location.endswith("/output"), location
    # The first file is previewed at once: the Preview choice is never blank.
    view.locator("pre.dtrain-preview", has_text="friction notes").wait_for()
    assert view.locator(".dtrain-files select").input_value() == "notes.txt (15 B)"
    # The table's right edge stays inside its box (it was clipped).
    inside = table.evaluate("t => t.getBoundingClientRect().right <= t.parentElement.getBoundingClientRect().right")
    assert inside
    assert_no_horizontal_overflow(page, "#dtrain-main")
    notes = table.locator("tr", has_text="notes.txt")
    assert _download(page, notes.locator("a.dtrain-download")) == ("notes.txt", b"friction notes\n")
    odd = table.locator("tr", has_text=ODD_FILE)
    assert _download(page, odd.locator("a.dtrain-download")) == ("a b&c #1.txt", b"odd one\n")
    # Whole, though longer than one read of the server may be.
    long = table.locator("tr", has_text=LONG_FILE)
    assert _download(page, long.locator("a.dtrain-download")) == (LONG_FILE, LONG_BYTES)
    capped = server.api("GET", f"dtrain/api/local/namespaces/default/pytorchjobs/{name}/outputs/{LONG_FILE}")
    assert len(capped.content) == OUTPUT_READ_LIMIT and capped.headers["x-dtrain-truncated"] == "true"
    opener = notes.locator("a.dtrain-open-in-lab")
    assert opener.get_attribute("data-dtrain-title") == f"{name}/notes.txt"
    assert opener.get_attribute("target") == "_blank" and opener.get_attribute("rel") == "noopener"
    download_href = notes.locator("a.dtrain-download").get_attribute("href")
    assert download_href.endswith("/notes.txt?download=true")
    assert opener.get_attribute("href") == download_href.replace("?download=true", "?view=true")
    _check_open_shows_text(page, opener)


def _check_open_shows_text(page: Any, opener: Any) -> None:
    """Open on a text file shows it in a JupyterLab tab, as text, and downloads nothing."""
    downloads: list[Any] = []

    def saw(download: Any) -> None:
        downloads.append(download)

    page.on("download", saw)
    try:
        opener.click()
        tab = page.locator(".dtrain-open-in-lab-tab")
        tab.wait_for()
        content = page.frame_locator(".dtrain-open-in-lab-tab iframe")
        content.locator("text=friction notes").wait_for()
        assert downloads == []
    finally:
        page.remove_listener("download", saw)
    # The tab closed, and the panel in front again for the views that follow.
    page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=opener.get_attribute("data-dtrain-title")).locator(
        ".lm-TabBar-tabCloseIcon").click()
    tab.wait_for(state="detached")
    page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text="Distributed Training").click()


def _check_log(page: Any, name: str) -> None:
    _tab(page, MAIN, "Jobs")
    _row(page, MAIN, name).locator("button.dtrain-row-log").click()
    view = page.locator(f"{MAIN} .dtrain-log-view")
    # A running job's log follows by itself (the box is drawn first, then ticked by the kernel).
    expect(view.locator(".dtrain-follow input")).to_be_checked()
    view.locator(".widget-label", has_text="following new lines").wait_for(timeout=60_000)
    # New lines arrive while the view is open, without a click.
    page.wait_for_function(
        "sel => ((document.querySelector(sel) || {}).textContent || '').includes('tick 6')",
        arg=f"{MAIN} .dtrain-log-view pre.dtrain-log", timeout=60_000)
    assert view.locator(".dtrain-tail").inner_text().split() == ["Last", "lines"]
    view.locator(".dtrain-log-pod select").select_option(value=f"{name}-worker-0")
    link = view.locator(".dtrain-log-download a.dtrain-download")
    expect(link).to_have_text("Download")  # the pod's one link, where all pods had one each
    filename, body = _download(page, link)
    assert filename == f"{name}-worker-0.log"
    assert body.decode().startswith("tick 0\ntick 1\n")
    # One pod's lines need no pod prefix.
    page.wait_for_function(
        "sel => ((document.querySelector(sel) || {}).textContent || '').startsWith('tick 0')",
        arg=f"{MAIN} .dtrain-log-view pre.dtrain-log", timeout=60_000)


def _check_delete(page: Any, name: str, theme: str) -> None:
    _tab(page, MAIN, "Jobs")
    box = _row(page, MAIN, name).locator(".dtrain-select input")
    box.check()
    page.locator(f"{MAIN} button.dtrain-delete").click()
    confirm = page.locator(f"{MAIN} .dtrain-confirm")
    confirm.wait_for()
    text = confirm.inner_text()
    assert f"PyTorchJob/{name} (local/default): its 2 pods, their logs and its output folder with every file in it" \
        in text, text
    screenshot(page, f"friction-delete-{theme}")
    page.locator(f"{MAIN} button.dtrain-confirm-no").click()
    box.uncheck()


def test_the_main_tab_at_1400_px(lab_page: Any, lab_server: LabServer, jobs: dict[str, str]) -> None:
    page = lab_page
    set_theme(page, THEMES[0])
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    panel_ready(page, MAIN)
    _check_list(page, jobs)
    _check_select_all(page)
    screenshot(page, "friction-list-light")
    _check_pods(page, jobs["done"])
    screenshot(page, "friction-pods-light")
    _check_output(page, jobs["done"], lab_server)
    screenshot(page, "friction-output-light")
    _check_log(page, jobs["run"])
    screenshot(page, "friction-log-light")
    _check_delete(page, jobs["done"], "light")

    set_theme(page, THEMES[1])
    try:
        _tab(page, MAIN, "Jobs")
        done = _row(page, MAIN, jobs["done"])
        done.locator(".dtrain-name").click()  # folded: the list alone
        done.locator(".dtrain-pods").wait_for(state="hidden")
        _assert_nothing_cut(page, f"{MAIN} .dtrain-job-list .dtrain-grid .dtrain-cell")
        screenshot(page, "friction-list-dark")
        done.locator(".dtrain-name").click()
        done.locator(".dtrain-pod-name").first.wait_for()
        screenshot(page, "friction-pods-dark")
        _tab(page, MAIN, "Output")
        screenshot(page, "friction-output-dark")
        _tab(page, MAIN, "Log")
        screenshot(page, "friction-log-dark")
        _check_delete(page, jobs["done"], "dark")
    finally:
        set_theme(page, THEMES[0])
    assert page.page_errors == []


def test_the_sidebar_keeps_whole_columns_under_a_matching_header(lab_page: Any, jobs: dict[str, str]) -> None:
    page = lab_page
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="dtrain-sidebar"]').click()
    panel_ready(page, SIDEBAR)
    row = _row(page, SIDEBAR, jobs["done"])
    row.locator(".dtrain-phase-Succeeded").wait_for(timeout=PANEL_TIMEOUT_MS)
    header = page.locator(f"{SIDEBAR} .dtrain-job-list > .dtrain-header")
    # The header's column titles (its select-all box has a name for screen readers only).
    assert header.locator(".dtrain-cell").all_inner_texts() == ["Name", "Status"]
    _assert_nothing_cut(page, f"{SIDEBAR} .dtrain-job-list .dtrain-grid .dtrain-cell")
    assert row.locator(".dtrain-col-status").inner_text() == "Succeeded"
    row.locator(".dtrain-name").click()
    row.locator(".dtrain-pod-name").nth(1).wait_for()
    _assert_nothing_cut(page, f"{SIDEBAR} .dtrain-pod .dtrain-cell")  # the hidden ones are skipped
    for theme in ("light", "dark"):
        set_theme(page, THEMES[0] if theme == "light" else THEMES[1])
        _tab(page, SIDEBAR, "Jobs")
        assert_no_horizontal_overflow(page, "#dtrain-sidebar")
        screenshot(page, f"friction-sidebar-{theme}")
        # The file list at 300 px: whole, its right border inside the panel.
        row.locator("button.dtrain-row-output").click()
        table = page.locator(f"{SIDEBAR} table.dtrain-file-table")
        table.wait_for()
        screenshot(page, f"friction-sidebar-output-{theme}")
        assert table.evaluate("t => t.getBoundingClientRect().right <= t.parentElement.getBoundingClientRect().right")
        assert_no_horizontal_overflow(page, "#dtrain-sidebar")
    set_theme(page, THEMES[0])
    assert page.page_errors == []
