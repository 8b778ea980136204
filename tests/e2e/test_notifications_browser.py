"""JupyterLab notifications of jobs created from this JupyterLab: the toast's words and "Open logs".

Jobs are created through the Python client against the lab's server (as a notebook would); the
page was never told about them, so every toast comes from the server's notification feed.
"""

from __future__ import annotations

import uuid
from typing import Any

from dtrain_jupyter.client import Client
from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import MAIN, local_manifest, wait_phase

PAYLOAD = "notified-from-the-job"
TOAST_TIMEOUT_MS = 150_000
# Toasts slide in from the right; the screenshot waits until every one is wholly on the page.
SLID_IN_JS = """() => [...document.querySelectorAll('.Toastify__toast')]
  .every((toast) => toast.getBoundingClientRect().right <= window.innerWidth)"""


def test_a_finished_job_is_announced_and_open_logs_shows_its_log(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    # The page knows the feed's cursor: from now on every ending is announced.
    page.wait_for_selector("body[data-dtrain-notifications='on']", state="attached", timeout=60_000)
    tag = uuid.uuid4().hex[:6]
    ok, bad = f"note-ok-{tag}", f"note-bad-{tag}"
    client = Client(url=lab_server.base_url, token=lab_server.token)
    try:
        client.create(local_manifest("PyTorchJob", ok, {"Master": (1, f"print({PAYLOAD!r})")}))
        client.create(local_manifest("PyTorchJob", bad, {"Master": (1, "import sys; sys.exit(3)")}))

        success = page.locator(".jp-Notification-Toast-success", has_text=f"Job {ok} succeeded (PyTorchJob, local)")
        success.wait_for(timeout=TOAST_TIMEOUT_MS)
        failed_job = wait_phase(lab_server, "pytorchjobs", bad, {"Failed"})
        failure = page.locator(".jp-Notification-Toast-error", has_text=f"Job {bad} failed: ")
        failure.wait_for(timeout=TOAST_TIMEOUT_MS)
        assert failed_job["status"]["reason"] in failure.inner_text()
        assert failure.locator("button", has_text="Open logs").is_visible()
        page.wait_for_function(SLID_IN_JS)
        screenshot(page, "notify-01-toasts")

        success.locator("button", has_text="Open logs").click()
        log = page.locator(f"{MAIN} .dtrain-log-view pre.dtrain-log")
        log.locator(f"text={PAYLOAD}").wait_for(timeout=120_000)
        assert page.locator(f"{MAIN} .lm-TabBar-tab.lm-mod-current", has_text="Log").count() == 1
        screenshot(page, "notify-02-open-logs")
        assert page.page_errors == []
    finally:
        for name in (ok, bad):
            lab_server.api("DELETE", f"dtrain/api/local/namespaces/default/pytorchjobs/{name}")
        client.close()
