"""The recorder over the real local backend: records, pods, events and logs kept through finish,
delete mid-run, a restart of the server, retention, and a full disk."""

from __future__ import annotations

import asyncio
import errno
from pathlib import Path

import pytest

from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.errors import Forbidden, JobNotFound, NotFound
from dtrain_jupyter.history import log_archive, recorder
from dtrain_jupyter.history.history import JobHistory
from dtrain_jupyter.history.recorder import Retention
from dtrain_jupyter.history.store import HistoryQuery, Show
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.service import JobService

from ..backends.local.helpers import behave, pytorch_job, wait_until
from ..server.conftest import unique


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.service = JobService({"local": lambda: LocalBackend(tmp_path / "state", grace_seconds=1.0)})
        self.history = JobHistory(tmp_path / "history")

    async def __aenter__(self) -> "Setup":
        await self.history.start(self.service)
        await self.service.start_all()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.history.stop()
        await self.service.stop()

    async def finished(self, name: str) -> None:
        async def done():
            job = await self.service.get("local", "default", "PyTorchJob", name)
            return job.phase.finished
        await wait_until(done, what=f"{name} finished")

    async def settled(self) -> None:
        await asyncio.sleep(0.2)  # let the backend's last change reach the recorder
        await self.history.recorder.settle()


def run(coro):
    return asyncio.run(coro)


def test_a_finished_job_is_kept_with_pods_events_and_whole_logs(tmp_path):
    name = unique("kept")

    async def scenario():
        async with Setup(tmp_path) as s:
            await s.service.create(pytorch_job(name, behave("lines:200", "print:done", "exit:3"), workers=1))
            await s.finished(name)
            await s.settled()
            [record] = s.history.store.find("local", "default", "PyTorchJob", name)
            assert record.job.phase == Phase.FAILED and record.finished is not None and record.on_cluster
            assert {p.name: p.exit_code for p in record.pods} == {f"{name}-master-0": 3, f"{name}-worker-0": 3}
            lines = [x.line async for x in s.history.log_lines(record, pod=f"{name}-master-0", tail=None)]
            assert lines == [f"line {i}" for i in range(200)] + ["done"]
            assert s.history.incomplete(record) == []
            assert record.log_bytes == sum(size for *_, size in s.history.archive.logs_of(record.id))

            # Deleted from the cluster: the record stays and answers for the job.
            await s.service.delete("local", "default", "PyTorchJob", name)
            await s.settled()
            past = s.history.past_job("local", "default", "PyTorchJob", name)
            assert past.phase == Phase.FAILED and past.removed
            merged = b"".join([c async for c in s.history.log_bytes(s.history.past_record(
                "local", "default", "PyTorchJob", name), pod=None, tail=1)])
            assert merged.splitlines() == [f"[{name}-master-0] done".encode(), f"[{name}-worker-0] done".encode()]
            assert [r.job.name for r in s.history.list(HistoryQuery(show=Show.FINISHED)).records] == [name]
    run(scenario())


def test_a_job_deleted_mid_run_keeps_what_it_printed(tmp_path):
    name = unique("cut")
    gate = tmp_path / "never"

    async def scenario():
        async with Setup(tmp_path) as s:
            await s.service.create(pytorch_job(name, behave("print:started", f"wait-file:{gate}"), workers=0))

            async def printed():
                records = s.history.store.find("local", "default", "PyTorchJob", name)
                path = s.history.archive.path(records[0].id, f"{name}-master-0") if records else None
                partials = list(path.parent.glob("*.partial-*")) if path and path.parent.exists() else []
                return any(b"started" in p.read_bytes() for p in partials)
            await wait_until(printed, what="the running pod's log followed into the archive")
            await s.service.delete("local", "default", "PyTorchJob", name)
            await s.settled()
            record = s.history.past_record("local", "default", "PyTorchJob", name)
            assert record.job.phase == Phase.DELETED
            assert [x.line async for x in s.history.log_lines(record, pod=None, tail=None)] == ["started"]
    run(scenario())


def test_a_restarted_server_adds_nothing_twice(tmp_path):
    name = unique("again")

    async def scenario():
        async with Setup(tmp_path) as s:
            await s.service.create(pytorch_job(name, behave("lines:50"), workers=0))
            await s.finished(name)
            await s.settled()
            [record] = s.history.store.find("local", "default", "PyTorchJob", name)
            size = record.log_bytes
        async with Setup(tmp_path) as s:
            await s.settled()
            [again] = s.history.store.find("local", "default", "PyTorchJob", name)
            assert again.id == record.id and again.log_bytes == size > 0
    run(scenario())


def test_forget_and_unknown_jobs_say_so(tmp_path):
    name = unique("forget")

    async def scenario():
        async with Setup(tmp_path) as s:
            await s.service.create(pytorch_job(name, behave("print:x"), workers=0))
            await s.finished(name)
            await s.settled()
            [record] = s.history.store.find("local", "default", "PyTorchJob", name)
            with pytest.raises(NotFound, match="no log of pod 'nope'"):
                s.history.log_lines(record, pod="nope", tail=None)
            assert s.history.forget("local", "default", "PyTorchJob", name) == 1
            assert s.history.archive.logs_of(record.id) == []
            with pytest.raises(JobNotFound, match="nor in the job history"):
                s.history.past_job("local", "default", "PyTorchJob", name)
            with pytest.raises(JobNotFound, match="history has no record of it"):
                s.history.forget("local", "default", "PyTorchJob", name)
    run(scenario())


def test_retention_removes_old_records_and_their_logs(tmp_path):
    names = [unique("old") for _ in range(3)]

    async def scenario():
        async with Setup(tmp_path) as s:
            for name in names:
                await s.service.create(pytorch_job(name, behave("print:x"), workers=0))
                await s.finished(name)
            await s.settled()
            s.history.recorder.retention = Retention(max_records=1, max_age_days=0, max_log_bytes=0)
            assert s.history.recorder.prune() == 2
            assert [r.job.name for r in s.history.list(HistoryQuery()).records] == [names[-1]]
            assert sum(1 for _ in (tmp_path / "history" / "logs").iterdir()) == 1
    run(scenario())


def test_a_full_disk_stops_archiving_not_the_job(tmp_path, monkeypatch, caplog):
    name = unique("full")

    def no_room(self, chunk):
        raise log_archive.ArchiveFull(errno.ENOSPC, "no room left", str(self.path))

    monkeypatch.setattr(recorder.ArchiveWriter, "write", no_room)

    async def scenario():
        async with Setup(tmp_path) as s:
            await s.service.create(pytorch_job(name, behave("print:x"), workers=0))
            await s.finished(name)
            await s.settled()
            job = await s.service.get("local", "default", "PyTorchJob", name)
            assert job.phase == Phase.SUCCEEDED
            [record] = s.history.store.find("local", "default", "PyTorchJob", name)
            assert "log archive stopped" in s.history.recorder.problems[record.id]
    run(scenario())
    assert caplog.text.count("disk is full") == 1


def test_a_line_longer_than_the_limit_comes_in_pieces() -> None:
    from dtrain_jupyter.history import history

    chunks = [b"x" * (history.LONGEST_LINE // 2)] * 5 + [b"\nshort\n"]
    pieces = list(history._lines(iter(chunks)))
    assert all(len(p) <= history.LONGEST_LINE + 1 for p in pieces)
    assert b"".join(p.rstrip(b"\n") for p in pieces[:-1]) == b"x" * (history.LONGEST_LINE * 5 // 2)
    assert pieces[-1] == b"short\n"


def test_jobs_of_namespaces_the_server_may_not_touch_are_not_kept(tmp_path):
    name = unique("other-ns")

    async def scenario():
        history = JobHistory(tmp_path / "history")
        service = JobService({"local": lambda: LocalBackend(tmp_path / "state", grace_seconds=1.0)},
                             allowed_namespaces=["default"], history=history)
        await service.start_all()
        try:
            # The service refuses other namespaces itself: the job is made below it, on the backend.
            backend = await service.backend("local")
            manifest = pytorch_job(name, behave("print:x"), workers=0)
            manifest["metadata"]["namespace"] = "elsewhere"
            await backend.create(manifest)
            mine = pytorch_job(name + "-mine", behave("print:x"), workers=0)
            await service.create(mine)

            async def mine_kept():
                return bool(history.store.find("local", "default", "PyTorchJob", name + "-mine"))
            await wait_until(mine_kept, what="the allowed job recorded")
            await history.recorder.settle()
            assert history.store.find("local", "elsewhere", "PyTorchJob", name) == []
            page = await service.history_page(HistoryQuery())
            assert {r.job.namespace for r in page.records} == {"default"}
            with pytest.raises(Forbidden):
                await service.history_page(HistoryQuery(namespace="elsewhere"))
        finally:
            await service.stop()
    run(scenario())


def test_a_followed_local_log_is_archived_as_written_and_read_back_as_live_lines(tmp_path):
    """follow-bytes: the archive is the replica's bytes (carriage returns kept); its lines read as the live log's."""
    from ..server.conftest import pytorch_manifest

    name = unique("crlf")
    script = ("import sys, time\nsys.stdout.write('epoch 1\\r\\n'); sys.stdout.flush(); time.sleep(1.0)\n"
              "sys.stdout.write('epoch 2\\r\\n'); sys.stdout.flush()\n")
    manifest = pytorch_manifest(name, script=script)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    pod = f"{name}-master-0"

    async def scenario():
        async with Setup(tmp_path) as s:
            await s.service.create(manifest)
            await s.finished(name)
            await s.settled()
            [record] = s.history.store.find("local", "default", "PyTorchJob", name)
            archived = b"".join(s.history.archive.read(record.id, pod))
            lines = [x.line async for x in s.history.log_lines(record, pod=pod, tail=None)]
            live = [x.line async for x in await s.service.logs("local", "default", "PyTorchJob", name, pod=pod)]
            return archived, lines, live

    archived, lines, live = run(scenario())
    assert archived == b"epoch 1\r\nepoch 2\r\n"
    assert lines == live == ["epoch 1", "epoch 2"]
