"""The server's change log: cursors, resync, waking long-polls from other threads, and over REST."""

from __future__ import annotations

import asyncio
import threading

from dtrain_jupyter.model.job import Job
from dtrain_jupyter.server.change_log import JobChangeLog

from .conftest import job_path, pytorch_manifest, unique, wait_finished


def _job(name: str) -> Job:
    return Job(backend="local", kind="PyTorchJob", api_version="kubeflow.org/v1", name=name,
               namespace="default", uid=name, created="", manifest={})


def test_no_cursor_means_resync_at_the_current_cursor() -> None:
    log = JobChangeLog()
    answer = log.since(None)
    assert answer == {"cursor": log.cursor, "changes": [], "resync": True}


def test_changes_after_a_cursor_in_order() -> None:
    log = JobChangeLog()
    start = log.cursor
    log.publish("ADDED", _job("a"))
    log.publish("MODIFIED", _job("a"))
    log.publish("DELETED", _job("a"))
    answer = log.since(start)
    assert [c["type"] for c in answer["changes"]] == ["ADDED", "MODIFIED", "DELETED"]
    assert answer["cursor"] == start + 3 and not answer["resync"]
    assert log.since(start + 2)["changes"][0]["type"] == "DELETED"
    assert log.since(answer["cursor"])["changes"] == []


def test_too_old_or_foreign_cursors_ask_for_a_resync() -> None:
    log = JobChangeLog(size=2)
    start = log.cursor
    for name in "abc":
        log.publish("ADDED", _job(name))
    assert log.since(start)["resync"] is True          # the first change fell out
    assert log.since(start + 1)["resync"] is False     # b and c are still there
    assert log.since(log.cursor + 10)["resync"] is True  # from a later (other) server run
    assert log.since(0)["resync"] is True               # from an earlier server run


def test_a_long_poll_wakes_when_another_thread_publishes() -> None:
    async def scenario() -> dict:
        log = JobChangeLog()
        log.bind(asyncio.get_running_loop())
        start = log.cursor
        threading.Timer(0.2, log.publish, ("ADDED", _job("t"))).start()
        return await log.wait(start, timeout=30)

    answer = asyncio.run(scenario())
    assert [c["job"]["name"] for c in answer["changes"]] == ["t"]


def test_a_quiet_long_poll_returns_empty_after_its_timeout() -> None:
    async def scenario() -> dict:
        log = JobChangeLog()
        return await log.wait(log.cursor, timeout=0.05)

    answer = asyncio.run(scenario())
    assert answer["changes"] == [] and answer["resync"] is False


async def test_the_change_log_over_rest_follows_a_job(api) -> None:
    code, first, _ = await api("changes")
    assert code == 200 and first["resync"] is True
    cursor = first["cursor"]
    name = unique()
    code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(name)})
    await wait_finished(api, job_path(job))
    await api(*job_path(job), method="DELETE")
    seen: list[tuple[str, str]] = []
    for _ in range(50):
        code, answer, _ = await api("changes", params={"cursor": str(cursor), "timeout": "5"})
        assert code == 200 and answer["resync"] is False
        cursor = answer["cursor"]
        seen += [(c["type"], c["job"]["status"]["phase"]) for c in answer["changes"] if c["job"]["name"] == name]
        if seen and seen[-1][0] == "DELETED":
            break
    assert seen[0][0] == "ADDED" and seen[-1][0] == "DELETED"
    assert ("MODIFIED", "Succeeded") in seen
