"""End to end in a real browser: JupyterLab with a token, Debian Chromium, the installed extension.

One person's session, step by step: open the launcher card; create a local PyTorchJob with two
workers through the wizard, see it succeed, expand its pods, read the DDP output in its log,
open its output, delete it; then the same for a TFJob written in the YAML editor. The TFJob
carries `<img src=x onerror=alert(1)>` in an annotation, an env value, its printed output and
the editor text: the page must run none of it (no dialog, no such element). Every step leaves a
screenshot in test-artifacts/screens/, in the light theme and the dark one.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import set_theme

pytestmark = pytest.mark.browser

PANEL = "#dtrain-main .dtrain-panel"
PAYLOAD = "<img src=x onerror=alert(1)>"
JOB_TIMEOUT_MS = 150_000
PANEL_TIMEOUT_MS = 120_000

TF_YAML = f"""\
apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: {{name}}
  annotations:
    note: "{PAYLOAD}"
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 2
      restartPolicy: Never
      template:
        spec:
          containers:
            - name: tensorflow
              image: python:3.11
              env:
                - name: NOTE
                  value: "{PAYLOAD}"
              command:
                - python
                - -c
                - |
                  import json, os
                  task = json.loads(os.environ["TF_CONFIG"])["task"]
                  print("tf worker", task["index"], "note:", os.environ["NOTE"], flush=True)
"""


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _open_panel(page: Any) -> Any:
    page.locator(".jp-LauncherCard", has_text="Distributed Training").click()
    page.wait_for_selector(f"{PANEL} .dtrain-job-list", timeout=PANEL_TIMEOUT_MS)
    page.wait_for_selector(f"{PANEL} :text('Talking to')", timeout=PANEL_TIMEOUT_MS)
    return page.locator(PANEL)


def _tab(panel: Any, title: str) -> None:
    panel.locator(".lm-TabBar-tab", has_text=re.compile(f"^{title}$")).first.click()


def _row(panel: Any, name: str) -> Any:
    # The inner locator is matched inside each row, so it must not repeat the panel prefix.
    return panel.locator(".dtrain-job", has=panel.page.locator(".dtrain-name", has_text=name))


def _wait_succeeded(page: Any, panel: Any, name: str) -> None:
    _row(panel, name).locator(".dtrain-phase-Succeeded").wait_for(timeout=JOB_TIMEOUT_MS)


def _delete(page: Any, panel: Any, name: str, shot: str) -> None:
    _tab(panel, "Jobs")
    row = _row(panel, name)
    row.locator(".dtrain-select input").check()
    panel.locator("button.dtrain-delete").click()
    confirm = panel.locator(".dtrain-confirm")
    confirm.wait_for()
    assert name in confirm.inner_text()
    screenshot(page, shot)
    panel.locator("button.dtrain-confirm-yes").click()
    # Gone from the cluster, the row stays as a past job (the job history keeps it).
    panel.locator(".dtrain-job.dtrain-row-past", has=panel.page.locator(".dtrain-name", has_text=name)).wait_for(
        timeout=60_000)


def test_wizard_pytorch_and_yaml_tfjob_end_to_end(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    panel = _open_panel(page)
    screenshot(page, "e2e-01-panel-light")

    # --- PyTorchJob through the wizard -------------------------------------------------------
    pt = _name("ddp")
    panel.locator("button.dtrain-new").click()
    panel.locator(".dtrain-platform label", has_text="PyTorch").click()
    screenshot(page, "e2e-01b-wizard-platform")
    panel.locator("button.dtrain-next").click()
    panel.locator(".dtrain-field-name input").fill(pt)
    panel.locator(".dtrain-field-env textarea").fill(f"NOTE={PAYLOAD}")
    assert panel.locator(":text('the image is not used there')").count() == 1
    screenshot(page, "e2e-02-wizard-details")
    panel.locator("button.dtrain-next").click()
    workers = panel.locator(".dtrain-role-Worker .dtrain-count input")
    workers.fill("2")
    workers.press("Enter")
    screenshot(page, "e2e-03-wizard-resources")
    panel.locator("button.dtrain-next").click()
    review = panel.locator(".dtrain-wizard pre.dtrain-preview")
    review.wait_for()
    assert re.search(r"Worker:\s+replicas: 2", review.inner_text())
    screenshot(page, "e2e-04-wizard-review")
    panel.locator(".dtrain-wizard button.dtrain-create").click()

    _row(panel, pt).wait_for(timeout=60_000)
    _wait_succeeded(page, panel, pt)
    screenshot(page, "e2e-05-pytorch-succeeded")
    # The panel the labextension opened draws each row's line from one model (row_line.ts).
    assert _row(panel, pt).locator(".dtrain-line").count() == 1

    _row(panel, pt).locator(".dtrain-name").click()
    pods = _row(panel, pt).locator(".dtrain-pod")
    pods.nth(2).wait_for()
    assert pods.count() == 3
    text = _row(panel, pt).locator(".dtrain-pods").inner_text()
    assert "Master" in text and text.count("Worker") >= 2
    screenshot(page, "e2e-06-pytorch-pods")

    _row(panel, pt).locator("button.dtrain-row-log").click()
    log = panel.locator(".dtrain-log-view pre.dtrain-log")
    # Each flush replaces the <pre>, so look it up afresh on every check.
    page.wait_for_function(
        "sel => ((document.querySelector(sel) || {}).textContent || '')"
        "  .split('all_reduce sum 6 (expected 6)').length >= 4",
        arg="#dtrain-main .dtrain-log-view pre.dtrain-log", timeout=60_000)
    assert re.search(rf"\[{pt}-worker-1\] rank 2 of 3", log.inner_text())
    screenshot(page, "e2e-07-pytorch-log")

    _tab(panel, "Jobs")
    _row(panel, pt).locator("button.dtrain-row-output").click()
    out = panel.locator(".dtrain-output-view")
    out.locator(":text('Exit code')").wait_for()
    files = out.locator(".dtrain-files select")
    labels = files.locator("option").all_inner_texts()
    assert any(label.startswith("allreduce.txt") for label in labels), labels
    files.select_option(label=next(label for label in labels if label.startswith("allreduce.txt")))
    out.locator("pre.dtrain-preview", has_text="6").wait_for()
    screenshot(page, "e2e-08-pytorch-output")

    _delete(page, panel, pt, "e2e-09-pytorch-delete-confirm")

    # --- TFJob through the YAML editor ------------------------------------------------------
    tf = _name("tfy")
    panel.locator("button.dtrain-new").click()
    panel.locator(".dtrain-mode button", has_text="YAML").click()
    # The editor is CodeMirror: select all, then put the text in as a paste does (typing it
    # key by key would add the editor's auto-indent to every new line).
    panel.locator(".dtrain-yaml-editor .cm-content").click()
    page.keyboard.press("ControlOrMeta+A")
    page.keyboard.insert_text(TF_YAML.format(name=tf))
    panel.locator("button.dtrain-validate").click()
    panel.locator(".dtrain-verdict", has_text="Valid: the text parses").wait_for(timeout=30_000)
    screenshot(page, "e2e-10-yaml-valid")
    panel.locator(".dtrain-yaml-editor button.dtrain-create").click()
    _wait_succeeded(page, panel, tf)
    screenshot(page, "e2e-11-tfjob-succeeded")

    _row(panel, tf).locator("button.dtrain-row-log").click()
    log = panel.locator(".dtrain-log-view pre.dtrain-log")
    log.locator(f"text=tf worker 1 note: {PAYLOAD}").wait_for(timeout=60_000)
    screenshot(page, "e2e-12-tfjob-log")

    # The payload is shown as text everywhere and never became an element or ran.
    assert page.locator("img[src='x']").count() == 0
    assert dialogs == []

    set_theme(page, "JupyterLab Dark")
    _tab(panel, "Jobs")
    screenshot(page, "e2e-13-jobs-dark")
    _row(panel, tf).locator("button.dtrain-row-output").click()
    panel.locator(".dtrain-output-view :text('Exit code')").wait_for()
    screenshot(page, "e2e-14-output-dark")
    set_theme(page, "JupyterLab Light")

    _delete(page, panel, tf, "e2e-15-tfjob-delete-confirm")
    # Nothing the person did went wrong, so the panel's error line never showed.
    assert not panel.locator(".dtrain-error-line").is_visible(), panel.locator(".dtrain-error-line").inner_text()
    assert page.locator("img[src='x']").count() == 0
    assert dialogs == []
    assert page.page_errors == []


def test_sidebar_panel_is_compact_and_live(lab_page: Any, lab_server: LabServer) -> None:
    """The ~300 px sidebar panel: a job created elsewhere appears, expands, and opens its log."""
    page = lab_page
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="dtrain-sidebar"]').click()
    panel = page.locator("#dtrain-sidebar .dtrain-panel")
    panel.locator(".dtrain-job-list").wait_for(timeout=PANEL_TIMEOUT_MS)
    name = _name("side")
    manifest = {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob",
        "metadata": {"name": name, "labels": {"note": "sidebar"}},
        "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {
            "containers": [{"name": "tensorflow", "image": "python:3.11",
                            "command": ["python", "-c", f"print({PAYLOAD!r})"]}]}}}}},
    }
    created = lab_server.api("POST", "dtrain/api/jobs", json={"manifest": manifest})
    assert created.status_code == 201, created.text
    row = _row(panel, name)
    row.locator(".dtrain-phase-Succeeded").wait_for(timeout=JOB_TIMEOUT_MS)
    assert row.locator("button.dtrain-row-log").count() == 0 or not row.locator("button.dtrain-row-log").is_visible()
    row.locator(".dtrain-name").click()
    row.locator(".dtrain-pod").first.wait_for()
    screenshot(page, "e2e-20-sidebar-expanded")
    row.locator("button.dtrain-row-log").click()
    panel.locator(f".dtrain-log-view pre.dtrain-log >> text={PAYLOAD}").wait_for(timeout=60_000)
    screenshot(page, "e2e-21-sidebar-log")
    assert page.locator("img[src='x']").count() == 0
    assert lab_server.api("DELETE", f"dtrain/api/local/namespaces/default/tfjobs/{name}").status_code in (200, 202)
