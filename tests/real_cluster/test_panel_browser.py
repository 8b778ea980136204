"""The panel in a real browser on the Kubernetes backend, against the real control plane.

JupyterLab (a subprocess, `c.DTrain.backend = "kubernetes"` on the cluster's admin kubeconfig)
and Debian's Chromium under Playwright: a person makes a PyTorchJob with the wizard, sees it
Running, expands its pods, reads its log (the node agent's `$ <command>` and `step N` lines),
deletes it and sees it go. The wizard cannot set `dtrain.test/*` annotations, so the pods run
until the job is deleted.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Iterator

import pytest

from tests.browser_fixtures import (  # noqa: F401 - fixtures are registered by name
    LabServer, browser, jp_asyncio_loop, jp_server_cleanup, page_on, run_lab, screenshot,
)

pytestmark = pytest.mark.browser

PANEL = "#dtrain-main .dtrain-panel"
PANEL_TIMEOUT_MS = 120_000
# Generous: two slow shared cores run the control plane, the operator, JupyterLab and Chromium.
JOB_TIMEOUT_MS = 150_000


@pytest.fixture(scope="module")
def kube_lab(tmp_path_factory: pytest.TempPathFactory, cluster: Any) -> Iterator[LabServer]:
    """JupyterLab whose dtrain extension serves the real cluster only."""
    args = ("--DTrain.backend=kubernetes", f"--DTrain.kubeconfig={cluster.kubeconfig_path}")
    with run_lab(tmp_path_factory.mktemp("jupyterlab-kube"), *args) as server:
        yield server


@pytest.fixture
def kube_page(browser: Any, kube_lab: LabServer) -> Iterator[Any]:  # noqa: F811
    """A page with JupyterLab loaded; every kernel session it left is shut down afterwards."""
    with page_on(browser, kube_lab) as page:
        yield page


def _row(panel: Any, name: str) -> Any:
    return panel.locator(".dtrain-job", has=panel.page.locator(".dtrain-name", has_text=name))


def _tab(panel: Any, title: str) -> None:
    panel.locator(".lm-TabBar-tab", has_text=re.compile(f"^{title}$")).first.click()


def _log_text(page: Any) -> str:
    # Each flush replaces the <pre>: read it afresh.
    return page.evaluate("() => (document.querySelector('#dtrain-main .dtrain-log-view pre.dtrain-log') || {})"
                         ".textContent || ''")


def _in_cluster(cluster: Any, name: str) -> bool:
    obj = cluster.api("GET", f"/apis/kubeflow.org/v1/namespaces/default/pytorchjobs/{name}", ok=(200, 404))
    return obj.get("kind") == "PyTorchJob"


@pytest.mark.timeout(900)
def test_wizard_job_runs_shows_pods_and_log_then_deletes(kube_page: Any, kube_lab: LabServer, cluster: Any) -> None:
    page = kube_page
    name = f"wiz-{uuid.uuid4().hex[:6]}"
    try:
        page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
        page.wait_for_selector(f"{PANEL} .dtrain-job-list", timeout=PANEL_TIMEOUT_MS)
        page.wait_for_selector(f"{PANEL} :text('Talking to')", timeout=PANEL_TIMEOUT_MS)
        panel = page.locator(PANEL)

        panel.locator("button.dtrain-new").click()
        panel.locator(".dtrain-platform label", has_text="PyTorch").click()
        panel.locator("button.dtrain-next").click()
        panel.locator(".dtrain-field-name input").fill(name)
        # Only the Kubernetes backend is configured: the wizard offers it and hides the local note.
        assert panel.locator(":text('the image is not used there')").is_hidden()
        panel.locator("button.dtrain-next").click()
        panel.locator("button.dtrain-next").click()
        review = panel.locator(".dtrain-wizard pre.dtrain-preview")
        review.wait_for()
        assert f"name: {name}" in review.inner_text()
        panel.locator(".dtrain-wizard button.dtrain-create").click()

        row = _row(panel, name)
        row.wait_for(timeout=60_000)
        assert _in_cluster(cluster, name)
        row.locator(".dtrain-phase-Running").wait_for(timeout=JOB_TIMEOUT_MS)

        row.locator(".dtrain-name").click()
        pods = row.locator(".dtrain-pod")
        pods.nth(1).wait_for(timeout=60_000)
        assert pods.count() == 2
        text = row.locator(".dtrain-pods").inner_text()
        assert f"{name}-master-0" in text and f"{name}-worker-0" in text, text
        assert "Running" in text, text
        screenshot(page, "real-cluster-01-running-pods")

        row.locator("button.dtrain-row-log").click()
        log_view = panel.locator(".dtrain-log-view")
        log_view.locator(".widget-checkbox", has_text="Follow").locator("input").check()
        page.wait_for_function(
            "sel => ((document.querySelector(sel) || {}).textContent || '').split('step 3').length >= 3",
            arg="#dtrain-main .dtrain-log-view pre.dtrain-log", timeout=JOB_TIMEOUT_MS)
        log = _log_text(page)
        for pod in (f"{name}-master-0", f"{name}-worker-0"):
            assert re.search(rf"\[{pod}\] \$ python -c ", log), log[:2000]
            assert re.search(rf"\[{pod}\] step 2\b", log), log[:2000]
        # The newest lines are at the bottom of the scrolled <pre>: show them.
        page.evaluate("() => { const pre = document.querySelector('#dtrain-main .dtrain-log-view pre.dtrain-log');"
                      " pre.scrollTop = pre.scrollHeight; }")
        screenshot(page, "real-cluster-02-running-log")

        # Delete while Running: the pods drain (foreground deletion), then the job is gone.
        _tab(panel, "Jobs")
        row.locator(".dtrain-select input").check()
        panel.locator("button.dtrain-delete").click()
        confirm = panel.locator(".dtrain-confirm")
        confirm.wait_for()
        assert name in confirm.inner_text()
        panel.locator("button.dtrain-confirm-yes").click()
        # Gone from the cluster, the row stays as a past job (the job history keeps it).
        panel.locator(".dtrain-job.dtrain-row-past", has=page.locator(".dtrain-name", has_text=name)).wait_for(
            timeout=JOB_TIMEOUT_MS)
        assert not _in_cluster(cluster, name)
        screenshot(page, "real-cluster-03-deleted")

        assert not panel.locator(".dtrain-error-line").is_visible(), panel.locator(".dtrain-error-line").inner_text()
        assert page.page_errors == []
    finally:
        # A failed step must not leave pods running for the tests after this one.
        kube_lab.api("DELETE", f"dtrain/api/kubernetes/namespaces/default/pytorchjobs/{name}")

