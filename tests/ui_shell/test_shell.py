"""Browser smoke tests of the labextension shell (labextension/src): the ways in to the panel.

A real JupyterLab serves the installed prebuilt extension; Debian's Chromium opens it. Each
test checks what a person sees (card, palette entry, sidebar icon, the rendered panel root
`.dtrain-panel`) and, through the REST API, the kernel behind it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, open_lab, run_lab, screenshot

pytestmark = pytest.mark.browser

MAIN = "#dtrain-main"
SIDEBAR = "#dtrain-sidebar"
MAIN_SESSION_PATH = "dtrain-panel"
SIDEBAR_SESSION_PATH = "dtrain-sidebar"
PANEL_TIMEOUT_MS = 90_000


def wait_for_session(server: LabServer, path: str, timeout_s: float = 60) -> dict[str, Any]:
    """The kernel session whose path is `path`, once the server has it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for session in server.sessions():
            if session["path"] == path and session.get("kernel"):
                return session
        time.sleep(0.25)
    raise AssertionError(f"no kernel session at {path!r}; sessions: {server.sessions()}")


def wait_for_no_session(server: LabServer, path: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(s["path"] == path for s in server.sessions()):
            return
        time.sleep(0.25)
    raise AssertionError(f"session at {path!r} still open: {server.sessions()}")


def wait_for_panel(page: Any, root: str) -> Any:
    """Wait until the bootstrap in `root` is over; check it rendered one panel; return its output.

    The shell marks its node `data-dtrain-bootstrap="done"` once the kernel replied and every
    output arrived, so the count below sees the final DOM.
    """
    done = '[data-dtrain-bootstrap="done"]'
    page.wait_for_selector(f"{root}{done}, {root} {done}", timeout=PANEL_TIMEOUT_MS)
    # One panel: the app is displayed once, not again as the cell's result.
    assert page.locator(f"{root} .dtrain-shell-output .dtrain-panel").count() == 1
    return page.locator(f"{root} .dtrain-shell-output .jp-OutputArea-output").first.element_handle()


def open_from_launcher(page: Any) -> Any:
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    return wait_for_panel(page, MAIN)


def test_launcher_card_opens_the_panel_in_its_own_kernel(lab_page: Any, lab_server: LabServer) -> None:
    card = lab_page.locator(".jp-LauncherCard", has_text="Distributed Training")
    assert card.count() == 1
    # The card shows the extension's drawn icon, not a blank square.
    assert card.locator("svg").count() >= 1

    open_from_launcher(lab_page)

    tab = lab_page.locator('.lm-TabBar-tab[data-id="dtrain-main"]')
    assert tab.inner_text().strip() == "Distributed Training"
    session = wait_for_session(lab_server, MAIN_SESSION_PATH)
    assert session["kernel"]["name"] == "python3"
    # The panel renders as live widgets, not as the widget's text repr.
    assert "VBox(" not in lab_page.locator(MAIN).inner_text()
    screenshot(lab_page, "shell-main-tab")
    assert lab_page.page_errors == []
    assert lab_page.console_errors == []


def test_the_panel_kernel_is_warm_before_the_first_click(lab_page: Any, lab_server: LabServer) -> None:
    # Once the page is idle the main panel's kernel starts and imports the panel's Python, so
    # the click only builds and shows the panel.
    lab_page.wait_for_function("document.body.dataset.dtrainWarm === 'ready'", timeout=PANEL_TIMEOUT_MS)
    kernel_id = wait_for_session(lab_server, MAIN_SESSION_PATH)["kernel"]["id"]
    # Warming renders nothing on screen and opens no tab.
    assert lab_page.locator(MAIN).count() == 0
    open_from_launcher(lab_page)
    assert wait_for_session(lab_server, MAIN_SESSION_PATH)["kernel"]["id"] == kernel_id
    # The warm-up's sample widgets are gone; only the panel is in the output area.
    assert lab_page.locator(f"{MAIN} .dtrain-shell-output .jp-OutputArea-output").count() == 1
    assert lab_page.page_errors == [] and lab_page.console_errors == []


def test_warm_kernel_can_be_turned_off(tmp_path, browser: Any) -> None:
    settings = tmp_path / "settings" / "dtrain-jupyter" / "plugin.jupyterlab-settings"
    settings.parent.mkdir(parents=True)
    settings.write_text('{"warmKernel": false}')
    with run_lab(tmp_path) as server:
        page = open_lab(browser, server)
        try:
            page.wait_for_function("document.body.dataset.dtrainWarm === 'off'", timeout=PANEL_TIMEOUT_MS)
            assert not any(s["path"] == MAIN_SESSION_PATH for s in server.sessions())
            open_from_launcher(page)  # the kernel starts on the click instead
            wait_for_session(server, MAIN_SESSION_PATH)
        finally:
            page.context.close()


def test_palette_lists_the_open_command(lab_page: Any, lab_server: LabServer) -> None:
    lab_page.keyboard.press("Control+Shift+C")
    lab_page.locator(".lm-CommandPalette-input").fill("Distributed Training")
    item = lab_page.locator(".lm-CommandPalette-item", has_text="Distributed Training: Open")
    assert item.count() == 1
    screenshot(lab_page, "shell-palette")

    item.click()
    wait_for_panel(lab_page, MAIN)
    wait_for_session(lab_server, MAIN_SESSION_PATH)


def test_sidebar_icon_opens_the_compact_panel(lab_page: Any, lab_server: LabServer) -> None:
    icon = lab_page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="dtrain-sidebar"]')
    assert icon.count() == 1
    # The sidebar kernel starts when the panel is first shown, not at page load.
    assert not any(s["path"] == SIDEBAR_SESSION_PATH for s in lab_server.sessions())

    icon.click()
    wait_for_panel(lab_page, SIDEBAR)
    wait_for_session(lab_server, SIDEBAR_SESSION_PATH)
    box = lab_page.locator(SIDEBAR).bounding_box()
    assert box is not None and box["width"] >= 300  # the compact layout's width
    screenshot(lab_page, "shell-sidebar")


def test_closing_the_tab_shuts_its_kernel_down(lab_page: Any, lab_server: LabServer) -> None:
    open_from_launcher(lab_page)
    kernel_id = wait_for_session(lab_server, MAIN_SESSION_PATH)["kernel"]["id"]

    lab_page.locator('.lm-TabBar-tab[data-id="dtrain-main"] .lm-TabBar-tabCloseIcon').click()

    wait_for_no_session(lab_server, MAIN_SESSION_PATH)
    assert kernel_id not in lab_server.kernel_ids()


def test_reload_restores_the_tab_on_the_same_kernel(lab_page: Any, lab_server: LabServer) -> None:
    open_from_launcher(lab_page)
    kernel_id = wait_for_session(lab_server, MAIN_SESSION_PATH)["kernel"]["id"]
    # JupyterLab saves the layout a moment after it changes; a reload before that restores nothing.
    deadline = time.monotonic() + 30
    while "dtrain:dtrain" not in lab_server.api("GET", f"lab/api/workspaces/{lab_page.workspace}").text:
        assert time.monotonic() < deadline, "the workspace never recorded the open tab"
        time.sleep(0.25)

    lab_page.reload()

    wait_for_panel(lab_page, MAIN)
    sessions = [s for s in lab_server.sessions() if s["path"] == MAIN_SESSION_PATH]
    assert [s["kernel"]["id"] for s in sessions] == [kernel_id]
    screenshot(lab_page, "shell-after-reload")


def test_kernel_restart_runs_the_bootstrap_again(lab_page: Any, lab_server: LabServer) -> None:
    before = open_from_launcher(lab_page)
    kernel_id = wait_for_session(lab_server, MAIN_SESSION_PATH)["kernel"]["id"]

    lab_page.locator(f'{MAIN} .jp-Toolbar [data-jp-item-name="restart"] button, '
                     f'{MAIN} .jp-Toolbar [data-jp-item-name="restart"]').first.click()

    # The old output leaves the DOM with the old Python app, and the bootstrap renders anew.
    lab_page.wait_for_function("el => !el.isConnected", arg=before, timeout=PANEL_TIMEOUT_MS)
    wait_for_panel(lab_page, MAIN)
    assert wait_for_session(lab_server, MAIN_SESSION_PATH)["kernel"]["id"] == kernel_id


def test_banner_shows_why_when_the_server_extension_is_off(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    disabled = "--ServerApp.jpserver_extensions=dtrain_jupyter=False"
    with run_lab(tmp_path_factory.mktemp("lab-no-dtrain"), disabled) as server:
        page = open_lab(browser, server)
        try:
            page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
            banner = page.locator(f"{MAIN} .dtrain-shell-banner.dtrain-shell-error")
            banner.wait_for(timeout=PANEL_TIMEOUT_MS)
            assert banner.inner_text() == "The dtrain server extension did not answer: 404 Not Found"
            screenshot(page, "shell-no-server-extension")
        finally:
            page.context.close()
