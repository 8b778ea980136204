"""Pods under a job: role, index, status and the reason a person needs (exit code, events)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from dtrain_jupyter.model.job import Event, Pod
from dtrain_jupyter.ui import pods as pods_module
from dtrain_jupyter.ui import words
from dtrain_jupyter.ui.pods import AGE, PodLine, PodsView

from .conftest import python_job, unique


def test_a_failed_replica_says_its_exit_code(client) -> None:
    name = unique("fail")
    # The Master outlives the Worker, so the Worker's failure (not the Master's success) ends the job.
    client.create(python_job(name, "import os, sys, time\nif os.environ['RANK'] == '1':\n    sys.exit(1)\ntime.sleep(20)"))
    job = client.wait(name, kind="PyTorchJob", timeout=90, progress=False)
    view = PodsView(client, job, lambda *a: None)
    view.refresh()
    worker = view.line(f"{name}-worker-0")
    texts = [cell.value for cell in worker.cells if hasattr(cell, "value")]
    assert "exit code 1" in texts
    assert "Failed" in worker.status.value
    assert job.phase.value == "Failed"
    client.delete(name, kind="PyTorchJob")


def test_events_sit_under_the_pod_they_concern(client) -> None:
    pod = Pod(name="p-worker-0", namespace="default", job_name="p", replica_type="Worker", replica_index=0,
              phase="Pending", reason="waiting: ImagePullBackOff — image not found or not pullable")
    line = PodLine(pod, lambda name: None)
    line.events = (Event(type="Warning", reason="Failed", message="pull <b>denied</b>", object_kind="Pod",
                         object_name="p-worker-0", count=3),)
    assert "ImagePullBackOff" in line.cells[3].value
    assert "pull &lt;b&gt;denied&lt;/b&gt;" in line.event_lines.value
    assert "(×3)" in line.event_lines.value


def test_refreshing_the_age_sends_only_the_age_cell_once(monkeypatch) -> None:
    started = datetime.now(timezone.utc) - timedelta(minutes=2)
    pod = Pod(name="p-worker-0", namespace="default", job_name="p", replica_type="Worker", replica_index=0,
              phase="Running", started=started.isoformat())
    line = PodLine(pod, lambda name: None)
    assert line.cells[AGE].value.startswith("2m")
    sent: list[tuple[int, dict]] = []
    for i, cell in enumerate(line.cells):
        monkeypatch.setattr(cell, "_send", lambda msg, buffers=None, i=i: sent.append((i, msg["state"])))
    # A minute passes: the clock moves, the pod does not change.
    monkeypatch.setattr(pods_module, "age", lambda when: words.age(when, now=started + timedelta(minutes=3)))
    line.refresh_age()
    assert sent == [(AGE, {"value": "3m", "tooltip": "3m"})]
    line.refresh_age()
    assert len(sent) == 1, "an unchanged age sends nothing"


def test_a_compact_line_leaves_its_hidden_age_alone() -> None:
    pod = Pod(name="p-worker-0", namespace="default", job_name="p", replica_type="Worker", replica_index=0,
              phase="Running", started="2020-01-01T00:00:00Z")
    line = PodLine(pod, lambda name: None, compact=True)
    line.cells[AGE].value = "stale"
    line.refresh_age()
    assert line.cells[AGE].value == "stale"
