"""The wizard in plain words, in a real browser: an MPIJob on the local backend (issue 17).

A person picks Horovod, names the job, sees the Kubernetes-only fields hidden for the local
backend, raises Workers and watches the Launcher's `mpirun -np` follow, reads the review's
summary (light and dark: test-artifacts/screens/wizard-review-*.png), and creates the job,
which runs its mpi4py allreduce over one process per slot to success.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import assert_no_horizontal_overflow, set_theme

pytestmark = pytest.mark.browser

PANEL = "#dtrain-main .dtrain-panel"
PANEL_TIMEOUT_MS = 120_000
JOB_TIMEOUT_MS = 150_000


def test_mpi_job_through_the_wizard_in_plain_words(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    set_theme(page, "JupyterLab Light")
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    page.wait_for_selector(f"{PANEL} :text('Talking to')", timeout=PANEL_TIMEOUT_MS)
    panel = page.locator(PANEL)
    wizard = panel.locator(".dtrain-wizard")
    name = f"mpi-words-{uuid.uuid4().hex[:6]}"

    panel.locator("button.dtrain-new").click()
    panel.locator(".dtrain-platform label", has_text="Horovod").click()
    wizard.locator(".dtrain-field-mpi-version .dtrain-field-label", has_text="MPI operator").wait_for()
    panel.locator("button.dtrain-next").click()

    # Details: plain labels with their YAML path; Kubernetes-only fields hidden for local.
    wizard.locator(".dtrain-field-name input").fill(name)
    args = wizard.locator(".dtrain-field-args")
    args.wait_for()
    assert args.locator(".dtrain-field-label").inner_text().strip() == "Arguments"
    assert "spec.mpiReplicaSpecs.Launcher.template.spec.containers[0].args" in args.locator(".dtrain-yaml-path").inner_text()
    for hidden in ("namespace", "output", "output-path"):
        assert wizard.locator(f".dtrain-field-{hidden}").is_hidden(), hidden
    assert wizard.locator(":text('hidden for the local backend')").is_visible()
    assert re.match(r"-np 2 ", args.locator("textarea").input_value())
    screenshot(page, "wizard-details-mpi")
    panel.locator("button.dtrain-next").click()

    # Resources: Workers 2 -> 3, and mpirun -np follows.
    workers = wizard.locator(".dtrain-role-Worker .dtrain-count input")
    workers.fill("3")
    workers.press("Enter")
    note = wizard.locator(".dtrain-np-note")
    note.locator(":text('mpirun -np 3 follows Workers × slots per worker (3 × 1)')").wait_for()
    assert wizard.locator(".dtrain-field-slots .dtrain-field-label").inner_text().strip() == "Slots per worker"
    assert wizard.locator(".dtrain-field-ttl").is_hidden()
    assert wizard.locator(".dtrain-field-backoff .dtrain-field-label").inner_text().strip() == \
        "Retries before the job fails"
    screenshot(page, "wizard-resources-mpi")
    panel.locator("button.dtrain-back").click()
    # The Details page is drawn again when shown: wait for its textarea, then for the new count.
    page.wait_for_function("sel => /^-np 3 /.test((document.querySelector(sel) || {}).value || '')",
                           arg=f"{PANEL} .dtrain-field-args textarea")
    panel.locator("button.dtrain-next").click()
    panel.locator("button.dtrain-next").click()

    # Review: the summary in words first, the YAML under it.
    summary = wizard.locator(".dtrain-summary")
    summary.wait_for()
    text = summary.inner_text()
    assert "Horovod / MPI (MPIJob v2beta1)" in text and name in text
    assert "processes on this machine (local backend)" in text
    assert "mpirun starts 3 processes, one per slot (3 Workers × 1 slot per worker)" in text
    total = summary.locator("tr.dtrain-summary-total").inner_text()
    assert re.match(r"Total\s+4\s", total), total  # 1 Launcher + 3 Workers
    assert "stop the running ones (cleanPodPolicy Running)" in text  # the MPI starter's policy
    assert "the job stays until you delete it" in text
    yaml = wizard.locator("pre.dtrain-preview")
    assert re.search(r"Worker:\s+replicas: 3", yaml.inner_text())
    assert wizard.locator(":text('The YAML that will be sent')").is_visible()
    summary.scroll_into_view_if_needed()
    assert_no_horizontal_overflow(page, "#dtrain-main")
    screenshot(page, "wizard-review-light")
    set_theme(page, "JupyterLab Dark")
    summary.scroll_into_view_if_needed()
    screenshot(page, "wizard-review-dark")
    set_theme(page, "JupyterLab Light")

    wizard.locator("button.dtrain-create").click()
    row = panel.locator(".dtrain-job", has=page.locator(".dtrain-name", has_text=name))
    row.locator(".dtrain-phase-Succeeded").wait_for(timeout=JOB_TIMEOUT_MS)
    assert not panel.locator(".dtrain-error-line").is_visible(), panel.locator(".dtrain-error-line").inner_text()
    assert lab_server.api("DELETE", f"dtrain/api/local/namespaces/default/mpijobs/{name}").status_code in (200, 202)

    # The same steps fit the ~300 px sidebar: long labels wrap, YAML paths break, nothing scrolls sideways.
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="dtrain-sidebar"]').click()
    side = page.locator("#dtrain-sidebar .dtrain-panel")
    side.locator(".dtrain-job-list").wait_for(timeout=PANEL_TIMEOUT_MS)
    side.locator("button.dtrain-new").click()
    side.locator(".dtrain-platform label", has_text="Horovod").click()
    side.locator(".dtrain-field-mpi-version").wait_for()
    side.locator("button.dtrain-next").click()
    side.locator(".dtrain-field-name input").fill(f"{name}-side")
    assert_no_horizontal_overflow(page, "#dtrain-sidebar")
    screenshot(page, "wizard-sidebar-details")
    side.locator("button.dtrain-next").click()
    side.locator(".dtrain-np-note", has_text="follows Workers × slots per worker").wait_for()
    assert_no_horizontal_overflow(page, "#dtrain-sidebar")
    screenshot(page, "wizard-sidebar-resources")
    assert page.page_errors == []
