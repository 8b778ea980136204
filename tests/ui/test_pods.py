"""Pods under a job: role, index, status and the reason a person needs (exit code, events)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from dtrain_jupyter.errors import ClusterError, Forbidden, JobNotFound
from dtrain_jupyter.model.job import Event, Job, JobStatus, Pod
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui import pods as pods_module
from dtrain_jupyter.ui import words
from dtrain_jupyter.ui.job_row import JobRow
from dtrain_jupyter.ui.pods import AGE, NAME, REASON, STATUS, PodLine, PodsView
from dtrain_jupyter.ui.styles import PHASE_WIDTH

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
    assert worker.name_cell.value == f"{name}-worker-0"
    assert "Failed" in worker.status.value
    assert job.phase.value == "Failed"
    client.delete(name, kind="PyTorchJob")


def test_events_sit_under_the_pod_they_concern(client) -> None:
    pod = Pod(name="p-worker-0", namespace="default", job_name="p", replica_type="Worker", replica_index=0,
              phase="Pending", reason="waiting: ImagePullBackOff — image not found or not pullable")
    line = PodLine(pod, lambda name: None)
    line.events = (Event(type="Warning", reason="Failed", message="pull <b>denied</b>", object_kind="Pod",
                         object_name="p-worker-0", count=3),)
    assert "ImagePullBackOff" in line.cells[REASON].value
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


# ---------------------------------------------------------------- the name column (issue 17)
def _pod(name: str = "p-worker-0", reason: str = "") -> Pod:
    return Pod(name=name, namespace="default", job_name="p", replica_type="Worker", replica_index=0,
               phase="Failed", reason=reason)


def test_each_pod_line_names_its_pod_in_a_selectable_cell() -> None:
    line = PodLine(_pod(), lambda name: None)
    assert line.cells[NAME] is line.name_cell
    assert line.name_cell.value == "p-worker-0" and line.name_cell.tooltip == "p-worker-0"
    # A Label (text, not a button): it can be selected and copied; the class keeps it whole.
    assert type(line.name_cell).__name__ == "Label" and "dtrain-pod-name" in line.name_cell._dom_classes


def test_the_header_starts_with_name() -> None:
    view = PodsView(_NoEvents([]), _job(), lambda *a: None)
    assert [cell.value for cell in view.header.children][:5] == ["Name", "Role", "#", "Status", "Reason"]


def test_compact_keeps_name_and_status_and_puts_the_reason_under_the_pod() -> None:
    line = PodLine(_pod(reason="exit code 3"), lambda name: None, compact=True)
    shown = [i for i, cell in enumerate(line.cells) if cell.layout.display != "none"]
    assert shown == [NAME, STATUS]
    assert line.cells[STATUS].layout.width == PHASE_WIDTH  # room for "Restarting": never cut
    assert "exit code 3" in line.event_lines.value


# ---------------------------------------------------------------- failures are said, not swallowed
def _job() -> Job:
    return Job(backend="kubernetes", kind="PyTorchJob", api_version="kubeflow.org/v1", name="p", namespace="team",
               uid="uid-p", created="", manifest={}, status=JobStatus(phase=Phase.RUNNING))


class _NoEvents:
    """A client whose pods answer and whose events fail with `error` (or answer when None)."""

    def __init__(self, pods: list[Pod], error: BaseException | None = None, pods_error: BaseException | None = None):
        self._pods, self._error, self._pods_error = pods, error, pods_error

    def pods(self, name: str, **ref: Any) -> list[Pod]:
        if self._pods_error is not None:
            raise self._pods_error
        return self._pods

    def events(self, name: str, **ref: Any) -> list[Event]:
        if self._error is not None:
            raise self._error
        return []


def test_a_refused_pod_list_is_said_in_the_pods_area() -> None:
    refusal = Forbidden('pods is forbidden: User "me" cannot list resource "pods" in namespace "team"',
                        verb="list", resource="pods", namespace="team")
    view = PodsView(_NoEvents([], pods_error=refusal), _job(), lambda *a: None)
    view.refresh()
    assert view.pods == () and view.last_error is None
    assert view.notice.startswith("The pods cannot be shown: pods is forbidden")
    assert view.notice_line in view.children and view.empty not in view.children
    assert "&quot;me&quot;" in view.notice_line.value  # user text, escaped


def test_a_job_deleted_meanwhile_says_so() -> None:
    view = PodsView(_NoEvents([], pods_error=JobNotFound("PyTorchJob", "p", "team", "kubernetes")), _job(),
                    lambda *a: None)
    view.refresh()
    assert view.notice == "The job is gone (deleted)." and view.pods == ()


def test_refused_events_leave_the_pods_and_say_why() -> None:
    view = PodsView(_NoEvents([_pod()], error=Forbidden("events is forbidden")), _job(), lambda *a: None)
    view.refresh()
    assert [p.name for p in view.pods] == ["p-worker-0"]
    assert view.notice == "Events cannot be shown: events is forbidden"
    assert view.line("p-worker-0") in view.children and view.notice_line in view.children


def test_an_unexpected_events_failure_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    view = PodsView(_NoEvents([_pod()], error=KeyError("items")), _job(), lambda *a: None)
    with caplog.at_level(logging.ERROR, logger="dtrain_jupyter.ui.pods"):
        view.refresh()
    assert [p.name for p in view.pods] == ["p-worker-0"]
    assert "Unexpected error (KeyError)" in view.notice
    record = next(r for r in caplog.records if r.name == "dtrain_jupyter.ui.pods")
    assert record.exc_info is not None and "events of PyTorchJob/p" in record.getMessage()


def test_any_other_failure_to_list_pods_reaches_the_error_line() -> None:
    # Not a refusal: the cluster answered with an error. The row's guard shows it (and logs it).
    client = _NoEvents([], pods_error=ClusterError("etcdserver: request timed out", reason="InternalError", code=500))
    row = JobRow(_job(), client, lambda *a: None)
    row.line.click("name")
    assert isinstance(row.last_error, ClusterError)
    assert row.pods is not None and row.pods.notice == ""


def test_a_later_good_read_clears_the_notice() -> None:
    client = _NoEvents([_pod()], error=Forbidden("events is forbidden"))
    view = PodsView(client, _job(), lambda *a: None)
    view.refresh()
    client._error = None
    view.refresh()
    assert view.notice == "" and view.notice_line not in view.children
