"""The Jobs toolbar's TensorBoard button on a live server: real local jobs, one writing event files
with torch.utils.tensorboard, a real TensorBoard process behind the server's proxy."""

from __future__ import annotations

import re
import sys
from typing import Any

import httpx
import pytest

from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.app import DTrainApp
from dtrain_jupyter.ui.tensorboard_action import LINK_CLASS, NO_LIVE_JOB, link_html, url_path

from .conftest import finished, python_job, unique, until

pytest.importorskip("torch.utils.tensorboard")

WRITES_SCALARS = ("import os; from torch.utils.tensorboard import SummaryWriter; "
                  "w = SummaryWriter(os.environ['DTRAIN_OUTPUT_DIR']); "
                  "[w.add_scalar('train/loss', 1.0 / (step + 1), step) for step in range(10)]; w.close()")
LINK = re.compile(rf'<a class="{LINK_CLASS}" href="([^"]+)" target="_blank" rel="noopener" '
                  r'data-dtrain-title="TensorBoard" data-dtrain-autoopen="([0-9a-f]{32})">Open TensorBoard</a>')


def one_replica_job(name: str, program: str) -> dict[str, Any]:
    manifest = python_job(name, program)
    replicas = manifest["spec"]["pytorchReplicaSpecs"]
    del replicas["Worker"]
    # This interpreter: the one with torch.
    replicas["Master"]["template"]["spec"]["containers"][0]["command"][0] = sys.executable
    return manifest


def ended(app: DTrainApp, client: Any, name: str, program: str) -> Any:
    client.create(one_replica_job(name, program))
    job = until(app, lambda: finished(app, name), timeout=120, what=f"{name} to finish")
    assert job.phase == Phase.SUCCEEDED, list(client.logs(name))
    return job


def test_the_path_alone_goes_in_the_link_and_the_words_are_escaped() -> None:
    assert url_path("http://127.0.0.1:8888/user/a%40b/dtrain/tensorboard/") == "/user/a%40b/dtrain/tensorboard/"
    assert url_path("https://h/dtrain/tensorboard/?x=1#f") == "/dtrain/tensorboard/?x=1"
    html = link_html('/p/"x"/', "TensorBoard over <b>", "t0")
    assert html.startswith("TensorBoard over &lt;b&gt;: ") and 'href="/p/&quot;x&quot;/"' in html


def test_a_click_opens_tensorboard_and_links_to_its_path(app: DTrainApp, client: Any,
                                                           dtrain_server: Any) -> None:
    job = ended(app, client, unique("tb"), WRITES_SCALARS)
    assert app.actions.tensorboard.button.layout.display == "none"  # nothing ticked yet
    app.selected = (job.uid,)
    assert app.actions.tensorboard.button.layout.display == ""
    app.actions.tensorboard.button.click()
    assert app.error == ""
    first = LINK.search(app.info_line.value)
    assert first, app.info_line.value
    assert app.info_line.value.startswith(f"TensorBoard over {job.name}: ")
    assert first.group(1) == url_path(client.url) + "dtrain/tensorboard/"
    # The link works in the browser's page: TensorBoard answers there with the job's run.
    runs = httpx.get(dtrain_server.url.rstrip("/") + first.group(1) + "data/runs", headers=dtrain_server.headers,
                     timeout=30)
    assert runs.status_code == 200 and any(run.startswith(job.name) for run in runs.json()), runs.text
    # Each click is news to the browser: a new token, so the tab opens (reloads) again.
    app.actions.tensorboard.button.click()
    second = LINK.search(app.info_line.value)
    assert second and second.group(2) != first.group(2)
    assert app.busy is False


def test_a_job_without_event_files_gets_the_servers_words(app: DTrainApp, client: Any) -> None:
    job = ended(app, client, unique("tb-none"), "print('no event files')")
    app.selected = (job.uid,)
    app.actions.tensorboard.button.click()
    assert f"{job.name!r} has no TensorBoard event files" in app.error
    assert "DTRAIN_OUTPUT_DIR" in app.error and "SummaryWriter" in app.error
    assert LINK_CLASS not in app.info_line.value


def test_past_jobs_are_not_offered_and_said_when_asked(app: DTrainApp, client: Any) -> None:
    job = ended(app, client, unique("tb-gone"), "print('done')")
    client.delete(job.name, kind=job.kind)
    past = until(app, lambda: next((j for j in app.job_list.everything().values()
                                    if j.name == job.name and j.removed), None), what=f"{job.name} as a past job")
    app.selected = (past.uid,)
    assert app.actions.tensorboard.button.layout.display == "none"
    assert app.actions.tensorboard.open([past]) is None
    assert app.error == NO_LIVE_JOB
