"""Job-end notifications: the watch list and feed (notifications.py), and over REST with real local jobs."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.server.notifications import KEEP_ENDED_SECONDS, MAX_ANNOUNCED, JobNotifications

from .conftest import Call, job_path, pytorch_manifest, unique, wait_finished


def _job(uid: str, phase: Phase = Phase.PENDING, reason: str = "", message: str = "") -> Job:
    return Job(backend="local", kind="PyTorchJob", api_version="kubeflow.org/v1", name=f"job-{uid}",
               namespace="default", uid=uid, created="", manifest={},
               status=JobStatus(phase=phase, reason=reason, message=message,
                                completion_time="2030-01-02T03:04:05Z" if phase.finished else None))


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def _names(answer: dict[str, Any]) -> list[str]:
    return [item["job"]["name"] for item in answer["items"]]


# -- the feed -------------------------------------------------------------------------------


def test_a_recorded_job_is_announced_once_when_it_ends() -> None:
    feed = JobNotifications(None)
    start = feed.cursor
    feed.record(_job("a"))
    feed.hear("MODIFIED", _job("a", Phase.RUNNING))
    assert feed.since(start)["items"] == []
    feed.hear("MODIFIED", _job("a", Phase.FAILED, "BackoffLimitExceeded", "Master exited with code 3"))
    feed.hear("MODIFIED", _job("a", Phase.FAILED, "BackoffLimitExceeded", "again"))
    feed.hear("ADDED", _job("a", Phase.FAILED))  # as a backend reports it again after a restart
    answer = feed.since(start)
    assert answer["items"] == [{
        "cursor": start + 1,
        "job": {"backend": "local", "namespace": "default", "kind": "PyTorchJob", "name": "job-a", "uid": "a"},
        "phase": "Failed", "reason": "BackoffLimitExceeded", "message": "Master exited with code 3",
        "finished": "2030-01-02T03:04:05Z"}]
    assert answer["cursor"] == start + 1
    assert feed.since(answer["cursor"])["items"] == []


def test_jobs_not_recorded_are_never_announced() -> None:
    feed = JobNotifications(None)
    start = feed.cursor
    feed.hear("MODIFIED", _job("other", Phase.SUCCEEDED))
    feed.record(_job("mine"))
    feed.hear("MODIFIED", _job("mine", Phase.SUCCEEDED))
    assert _names(feed.since(start)) == ["job-mine"]


def test_an_end_heard_before_the_record_call_is_announced() -> None:
    # The backend's thread may report the end before the create handler records the job.
    feed = JobNotifications(None)
    start = feed.cursor
    feed.hear("MODIFIED", _job("fast", Phase.SUCCEEDED))
    feed.record(_job("fast"))
    assert [i["phase"] for i in feed.since(start)["items"]] == ["Succeeded"]


def test_a_job_deleted_before_it_ended_is_not_announced() -> None:
    feed = JobNotifications(None)
    start = feed.cursor
    feed.record(_job("gone"))
    feed.hear("DELETED", _job("gone", Phase.DELETING))
    feed.hear("MODIFIED", _job("gone", Phase.FAILED))
    assert feed.since(start)["items"] == []


def test_a_first_reader_starts_now_and_a_foreign_cursor_is_moved_back() -> None:
    feed = JobNotifications(None)
    feed.record(_job("old"))
    feed.hear("MODIFIED", _job("old", Phase.SUCCEEDED))
    assert feed.since(None) == {"cursor": feed.cursor, "items": []}
    assert feed.since(feed.cursor + 50) == {"cursor": feed.cursor, "items": []}


def test_the_file_keeps_watches_and_announcements_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "notifications.json"
    first = JobNotifications(path)
    start = first.cursor
    first.record(_job("done"))
    first.hear("MODIFIED", _job("done", Phase.SUCCEEDED))
    first.record(_job("running"))

    second = JobNotifications(path)  # the server again, on the same state folder
    assert second.cursor == first.cursor
    second.hear("ADDED", _job("done", Phase.SUCCEEDED))          # reloaded: already announced
    second.hear("ADDED", _job("running", Phase.FAILED, "Error"))  # ended while the server was down
    assert _names(second.since(start)) == ["job-done", "job-running"]


def test_ended_jobs_are_forgotten_after_a_while_and_the_feed_is_bounded(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "notifications.json"
    feed = JobNotifications(path, clock=clock)
    feed.record(_job("old"))
    feed.hear("MODIFIED", _job("old", Phase.SUCCEEDED))
    feed.record(_job("still-running"))
    clock.now += KEEP_ENDED_SECONDS + 1
    feed.record(_job("new"))
    kept = json.loads(path.read_text())
    assert sorted(w["uid"] for w in kept["watched"]) == ["new", "still-running"]
    assert kept["announced"] == []

    for i in range(MAX_ANNOUNCED + 5):
        feed.record(_job(f"n{i}"))
        feed.hear("MODIFIED", _job(f"n{i}", Phase.SUCCEEDED))
    assert len(json.loads(path.read_text())["announced"]) == MAX_ANNOUNCED


def test_an_unreadable_file_starts_afresh(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "notifications.json"
    path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="dtrain_jupyter"):
        feed = JobNotifications(path)
    assert "cannot read" in caplog.text
    feed.record(_job("a"))
    assert json.loads(path.read_text())["watched"][0]["uid"] == "a"


def test_a_long_poll_wakes_when_a_backend_thread_reports_the_end() -> None:
    async def scenario() -> dict[str, Any]:
        feed = JobNotifications(None)
        feed.bind(asyncio.get_running_loop())
        start = feed.cursor
        feed.record(_job("t"))
        threading.Timer(0.2, feed.hear, ("MODIFIED", _job("t", Phase.SUCCEEDED))).start()
        return await feed.wait(start, timeout=30)

    assert _names(asyncio.run(scenario())) == ["job-t"]


# -- over REST, real local jobs -------------------------------------------------------------


async def _announced(api: Call, since: int, names: set[str], rounds: int = 12) -> tuple[list[dict[str, Any]], int]:
    """Long-poll from `since` until every name in `names` was announced; returns items and the cursor."""
    items: list[dict[str, Any]] = []
    cursor = since
    for _ in range(rounds):
        code, answer, _ = await api("notifications", params={"since": cursor, "wait": 10})
        assert code == 200, answer
        items += answer["items"]
        cursor = answer["cursor"]
        if names <= {i["job"]["name"] for i in items}:
            return items, cursor
    raise AssertionError(f"announced only {[i['job']['name'] for i in items]}, waited for {names}")


async def test_created_jobs_are_announced_when_they_succeed_or_fail(api: Call, jp_serverapp: Any) -> None:
    code, first, _ = await api("notifications")
    assert code == 200 and first["items"] == []

    ok, bad, outsider = unique("ok"), unique("bad"), unique("outsider")
    code, created, _ = await api("jobs", method="POST",
                                 body={"manifest": pytorch_manifest(ok, script="print('fine')")})
    assert code == 201, created
    code, failing, _ = await api("jobs", method="POST",
                                 body={"manifest": pytorch_manifest(bad, script="import sys; sys.exit(3)")})
    assert code == 201, failing
    # Created on the same backend, but not through this server's API: it must stay silent.
    backend = await jp_serverapp.web_app.settings["dtrain_service"].backend("local")
    await backend.create(pytorch_manifest(outsider, script="print('quiet')", namespace="default"))
    await wait_finished(api, ("local", "namespaces", "default", "pytorchjobs", outsider))
    # A dry run creates nothing, so nothing is watched.
    code, _, _ = await api("jobs", method="POST", params={"dry_run": "true"},
                           body={"manifest": pytorch_manifest(unique("dry"), script="print(1)")})
    assert code == 201

    items, cursor = await _announced(api, first["cursor"], {ok, bad})
    by_name = {i["job"]["name"]: i for i in items}
    assert set(by_name) == {ok, bad}, "the outsider was announced, or a job twice"
    assert by_name[ok]["phase"] == "Succeeded" and by_name[ok]["job"]["uid"] == created["uid"]
    assert by_name[ok]["job"] == {"backend": "local", "namespace": "default", "kind": "PyTorchJob",
                                  "name": ok, "uid": created["uid"]}
    assert by_name[bad]["phase"] == "Failed" and by_name[bad]["reason"]
    assert by_name[bad]["finished"]

    # A re-run is a job created through this server too; the first job is not announced again.
    code, rerun, _ = await api(*job_path(created), "rerun", method="POST", body={})
    assert code == 201, rerun
    items, _ = await _announced(api, cursor, {rerun["name"]})
    assert [i["job"]["name"] for i in items] == [rerun["name"]]


@pytest.mark.parametrize("query, argument", [({"since": "x"}, "since"), ({"since": "-1"}, "since"),
                                             ({"since": "1", "wait": "soon"}, "wait")])
async def test_a_bad_query_is_named(api: Call, query: dict[str, str], argument: str) -> None:
    code, body, _ = await api("notifications", params=query)
    assert code == 400
    assert body["error"] == "InvalidRequest" and body["argument"] == argument
