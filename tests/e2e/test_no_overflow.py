"""No stray horizontal scrollbars: the panel fits its box in every place it is shown (issue 17, B5).

The panel is opened where a person meets it -- the main tab (1400x900 window), the sidebar at
its default width, the inline `%dtrain` panel in a notebook, and the Jobs page with the delete
confirmation showing -- in the light theme and the dark one. In each, every element from the
host's root down through the panel whose `overflow-x` would show a bar (auto or scroll) must
have scrollWidth <= clientWidth: content even a few pixels too wide leaves a permanent bar.
A screenshot of each view goes to test-artifacts/screens/no-overflow-*.png.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, Iterator

import pytest

from tests.browser_fixtures import LabServer, screenshot

pytestmark = pytest.mark.browser

PANEL_TIMEOUT_MS = 120_000
JOB_TIMEOUT_MS = 150_000
# A layout settles over a few frames after the last widget message; a real overflow stays.
SETTLE_MS = 10_000
THEMES = ("JupyterLab Light", "JupyterLab Dark")

# Every element under `root` (root included) and every ancestor of root up to `top`, whose
# overflow-x shows a scrollbar when its content is wider than its box, and whose content is.
OVERFLOWING_JS = """
([root, top]) => {
  const start = document.querySelector(root);
  if (!start) return [`no element matches ${root}`];
  const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map((c) => '.' + c).join('');
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) parts.unshift(name(e));
    return parts.join(' > ');
  };
  const candidates = [start, ...start.querySelectorAll('*')];
  const stop = top ? start.closest(top) : null;
  for (let e = start.parentElement; stop && e && e !== stop.parentElement; e = e.parentElement) candidates.push(e);
  return candidates
    .filter((el) => el.clientWidth > 0 && scrolls(el) && el.scrollWidth > el.clientWidth)
    .map((el) => `${path(el)}: scrollWidth ${el.scrollWidth} > clientWidth ${el.clientWidth}`);
}
"""


def _overflowing(page: Any, root: str, top: str | None) -> list[str]:
    return page.evaluate(OVERFLOWING_JS, [root, top])


def assert_no_horizontal_overflow(page: Any, root: str, top: str | None = None) -> None:
    """Fail, naming each element, when anything under `root` (or above it, up to `top`) would
    show a horizontal scrollbar once the layout has settled."""
    try:
        page.wait_for_function(f"(args) => ({OVERFLOWING_JS})(args).length === 0", arg=[root, top],
                               timeout=SETTLE_MS)
    except Exception:  # noqa: BLE001 - a timeout here is the failure; report what overflows
        offenders = _overflowing(page, root, top)
        if offenders:
            pytest.fail(f"horizontal overflow in {root}:\n" + "\n".join(offenders))


def set_theme(page: Any, theme: str) -> None:
    """Pick `theme` from Settings > Theme unless it is already on."""
    dark = "Dark" in theme
    wanted = str(not dark).lower()
    if page.evaluate("document.body.dataset.jpThemeLight") == wanted:
        return
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Theme$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{theme}$")).click()
    page.wait_for_function(f"document.body.dataset.jpThemeLight === '{wanted}'")
    # JupyterLab covers the page with its splash while the theme's CSS loads; measure after.
    page.locator("#jupyterlab-splash").wait_for(state="detached")


def each_theme(page: Any) -> Iterator[str]:
    """Yield 'light' then 'dark' with that theme on. The theme is a server-wide setting, so each
    test starts by putting the light one on itself."""
    for theme in THEMES:
        set_theme(page, theme)
        yield "dark" if "Dark" in theme else "light"


def _ready(page: Any, panel: str) -> None:
    try:
        page.wait_for_selector(f"{panel} .dtrain-job-list", timeout=PANEL_TIMEOUT_MS)
        page.wait_for_selector(f"{panel} :text('Talking to')", timeout=PANEL_TIMEOUT_MS)
    except Exception:
        screenshot(page, "no-overflow-not-ready")
        raise


def _local_job(lab_server: LabServer, prefix: str) -> str:
    """Create a short local TFJob through the REST API; return its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    manifest = {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob",
        "metadata": {"name": name},
        "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {
            "containers": [{"name": "tensorflow", "image": "python:3.11",
                            "command": ["python", "-c", "print('fits')"]}]}}}}},
    }
    created = lab_server.api("POST", "dtrain/api/jobs", json={"manifest": manifest})
    assert created.status_code == 201, created.text
    return name


def _delete_job(lab_server: LabServer, name: str) -> None:
    lab_server.api("DELETE", f"dtrain/api/local/namespaces/default/tfjobs/{name}")


def _open_main(page: Any) -> str:
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    panel = "#dtrain-main .dtrain-panel"
    _ready(page, panel)
    return panel


def test_main_tab_fits(lab_page: Any) -> None:
    page = lab_page
    _open_main(page)
    for theme in each_theme(page):
        assert_no_horizontal_overflow(page, "#dtrain-main")
        screenshot(page, f"no-overflow-main-{theme}")
    assert page.page_errors == []


def test_delete_confirmation_fits(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    name = _local_job(lab_server, "fit")
    try:
        panel = _open_main(page)
        row = page.locator(f"{panel} .dtrain-job", has=page.locator(".dtrain-name", has_text=name))
        row.wait_for(timeout=JOB_TIMEOUT_MS)
        row.locator(".dtrain-select input").check()
        page.locator(f"{panel} button.dtrain-delete").click()
        confirm = page.locator(f"{panel} .dtrain-confirm")
        confirm.wait_for()
        assert name in confirm.inner_text()
        for theme in each_theme(page):
            assert confirm.is_visible()
            assert_no_horizontal_overflow(page, "#dtrain-main")
            screenshot(page, f"no-overflow-delete-confirm-{theme}")
        page.locator(f"{panel} button.dtrain-confirm-no").click()
        assert page.page_errors == []
    finally:
        _delete_job(lab_server, name)


def test_sidebar_fits_at_its_default_width(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    name = _local_job(lab_server, "side-fit")
    try:
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="dtrain-sidebar"]').click()
        panel = "#dtrain-sidebar .dtrain-panel"
        _ready(page, panel)
        page.locator(f"{panel} .dtrain-job", has=page.locator(".dtrain-name", has_text=name)).wait_for(
            timeout=JOB_TIMEOUT_MS)
        for theme in each_theme(page):
            assert_no_horizontal_overflow(page, "#dtrain-sidebar")
            screenshot(page, f"no-overflow-sidebar-{theme}")
        assert page.page_errors == []
    finally:
        _delete_job(lab_server, name)


def _wait_for_notebook_kernel(page: Any, lab_server: LabServer) -> None:
    """Until the new notebook's kernel is up on the server and the page says so: a cell run
    before the page is connected to it is dropped without a word."""
    deadline = time.monotonic() + PANEL_TIMEOUT_MS / 1000
    while not any(s["path"].endswith(".ipynb") and (s.get("kernel") or {}).get("execution_state") == "idle"
                  for s in lab_server.sessions()):
        assert time.monotonic() < deadline, f"no idle notebook kernel: {lab_server.sessions()}"
        time.sleep(0.25)
    # Not the toolbar's execution indicator: it says "Idle" before the kernel is even started.
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"^Python 3 \(ipykernel\) \| Idle$")).wait_for(
        timeout=PANEL_TIMEOUT_MS)


def test_inline_notebook_panel_fits(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    set_theme(page, THEMES[0])
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click()
    editor = page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".cm-content")
    editor.wait_for(timeout=PANEL_TIMEOUT_MS)
    _wait_for_notebook_kernel(page, lab_server)
    editor.click()
    page.keyboard.type("%load_ext dtrain_jupyter")
    page.keyboard.press("Enter")
    page.keyboard.type("%dtrain")
    page.keyboard.press("Shift+Enter")
    panel = ".jp-NotebookPanel .jp-OutputArea-output .dtrain-panel"
    _ready(page, panel)
    for theme in each_theme(page):
        assert_no_horizontal_overflow(page, panel, top=".jp-NotebookPanel")
        screenshot(page, f"no-overflow-notebook-{theme}")
    assert page.page_errors == []
