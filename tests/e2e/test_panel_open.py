"""Opening the panel with the warm kernel: the panel was drawn off screen, the click only shows it.

While JupyterLab is idle the labextension starts the main panel's kernel and runs the panel's
bootstrap into the still detached tab (labextension/src/shell.ts, warm()), so a click sends the
kernel nothing: the widget models and their views exist already (issue 18). The panel drawn
early is live: a job created after the warm-up but before the click is listed.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import DONE_PROGRAM, MAIN, PANEL_TIMEOUT_MS, local_jobs, local_manifest, panel_ready, row

pytestmark = pytest.mark.browser

SHELL = "#dtrain-main"


def test_the_click_shows_the_panel_the_warm_kernel_drew_and_it_is_live(browser: Any,
                                                                        lab_server: LabServer) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sent: list[bool] = []  # per message the page sent to a kernel: whether it asks to run code

    def on_ws(ws: Any) -> None:
        if "/api/kernels/" in ws.url:
            # The header's msg_type is plain JSON text in both the JSON and the v1 binary frames.
            ws.on("framesent", lambda payload: sent.append(
                "execute_request" in (payload if isinstance(payload, str) else bytes(payload).decode("latin-1"))))

    page.on("websocket", on_ws)  # before the page loads, so the warm kernel's socket is seen
    name = f"open-{uuid.uuid4().hex[:6]}"
    try:
        page.goto(lab_server.lab_url(workspace=f"o{uuid.uuid4().hex[:10]}"))
        page.wait_for_function("document.body.dataset.dtrainWarm === 'ready'", timeout=PANEL_TIMEOUT_MS)
        assert sum(sent) == 1, f"the warm-up ran {sum(sent)} executes, not the bootstrap alone"
        assert page.locator(MAIN).count() == 0  # drawn, but not on screen
        with local_jobs(lab_server, [local_manifest("PyTorchJob", name, {"Master": (1, DONE_PROGRAM)})]):
            before_click = len(sent)
            page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
            panel_ready(page, MAIN, shot="panel-open-not-ready")
            row(page, MAIN, name).wait_for(timeout=PANEL_TIMEOUT_MS)
            assert not any(sent[before_click:]), "the click ran the bootstrap again"
            # One output in the tab: the panel, shown once.
            assert page.locator(f"{SHELL} .dtrain-shell-output .jp-OutputArea-output").count() == 1
            assert page.locator(MAIN).count() == 1
            screenshot(page, "panel-open-warm")
        assert errors == []
    finally:
        context.close()
        for session in lab_server.sessions():
            lab_server.api("DELETE", f"api/sessions/{session['id']}")
