"""The job history in a real browser: a finished job deleted from the panel stays listed as
removed, its archived log opens, and Re-run from its row's tick makes a new job that succeeds.

The past row is also audited by axe-core (its muted look must keep its text readable, and its
"Removed" mark is words). Screenshots: test-artifacts/screens/history-*.png.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.accessibility import problems
from tests.e2e.panel_helpers import JOB_TIMEOUT_S, local_manifest, open_main, row, tab, wait_phase

pytestmark = pytest.mark.browser

JOB_TIMEOUT_MS = JOB_TIMEOUT_S * 1000


def _archived(lab_server: LabServer, name: str) -> None:
    """Until the job history holds the job's whole log."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while True:
        items = lab_server.api("GET", "dtrain/api/history", params={"q": name}).json()["items"]
        record = next((item["record"] for item in items if item["name"] == name), None)
        if record and record["log_bytes"] > 0 and not record["incomplete_logs"] and not record["archiving"]:
            return
        assert time.monotonic() < deadline, f"{name} was not archived: {items}"
        time.sleep(0.5)


def test_delete_then_read_the_archived_log_then_rerun(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    name = f"hist-{uuid.uuid4().hex[:6]}"
    manifest = local_manifest("PyTorchJob", name, {"Master": (1, "print('kept after delete', flush=True)")})
    created = lab_server.api("POST", "dtrain/api/jobs", json={"manifest": manifest})
    assert created.status_code == 201, created.text
    try:
        wait_phase(lab_server, "pytorchjobs", name, {"Succeeded"})
        _archived(lab_server, name)
        panel = open_main(page)
        job = row(page, panel, name)
        job.locator(".dtrain-phase-Succeeded").wait_for(timeout=JOB_TIMEOUT_MS)
        # Delete it from the panel, as a person would.
        job.locator(".dtrain-select input").check()
        page.locator(f"{panel} button.dtrain-delete").click()
        page.locator(f"{panel} button.dtrain-confirm-yes").click()
        # It stays, as a past job: muted, and marked "Removed" in words.
        page.locator(f"{panel} .dtrain-job.dtrain-row-past",
                     has=page.locator(".dtrain-name", has_text=name)).wait_for(timeout=JOB_TIMEOUT_MS)
        mark = job.locator(".dtrain-removed-mark")
        assert mark.inner_text() == "Removed"
        assert "Removed from the cluster at" in (mark.get_attribute("title") or "")
        assert page.locator(f"{panel} .dtrain-history-filters").is_visible()
        screenshot(page, "history-past-row")
        found = problems(page, panel, "history past row")
        assert not found, found
        # Its archived log.
        job.locator("button.dtrain-row-log").click()
        page.locator(f"{panel} pre.dtrain-log", has_text="kept after delete").wait_for(timeout=JOB_TIMEOUT_MS)
        screenshot(page, "history-archived-log")
        # Re-run it: the new job is listed, ticked, and succeeds.
        tab(page, panel, "Jobs")
        job.locator(".dtrain-select input").check()
        page.locator(f"{panel} button.dtrain-rerun").click()
        page.locator(f"{panel} .dtrain-info", has_text=f"created as {name}-run2").wait_for(timeout=JOB_TIMEOUT_MS)
        rerun = row(page, panel, f"{name}-run2")
        rerun.locator(".dtrain-phase-Succeeded").wait_for(timeout=JOB_TIMEOUT_MS)
        assert rerun.locator(".dtrain-select input").is_checked()
        screenshot(page, "history-rerun-succeeded")
        assert page.page_errors == []
    finally:
        lab_server.api("DELETE", f"dtrain/api/local/namespaces/default/pytorchjobs/{name}-run2")
        lab_server.api("DELETE", f"dtrain/api/local/namespaces/default/pytorchjobs/{name}")
