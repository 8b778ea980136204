"""JobService.metrics and .progress over the real local backend and a job history, without HTTP:
what they hold and where they ask the recorder, and forgetting points with the ingest off."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.history.history import JobHistory
from dtrain_jupyter.history.metric_store import Row
from dtrain_jupyter.service import JobService

from ..backends.local.helpers import behave, pytorch_job, wait_until
from ..server.conftest import unique


class Setup:
    def __init__(self, tmp_path: Path, *, metrics: bool = True) -> None:
        self.history = JobHistory(tmp_path / "history", metrics=metrics)
        self.service = JobService({"local": lambda: LocalBackend(tmp_path / "state", grace_seconds=1.0)},
                                  history=self.history)

    async def __aenter__(self) -> "Setup":
        await self.service.start_all()  # the history first, then the backend
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.service.stop()

    async def finished(self, name: str) -> int:
        """Wait until the job finished and its logs are archived; its record's id."""
        async def done():
            job = await self.service.get("local", "default", "PyTorchJob", name)
            return job.phase.finished
        await wait_until(done, what=f"{name} finished")
        await asyncio.sleep(0.2)  # let the backend's last change reach the recorder
        await self.history.recorder.settle()
        [record] = self.history.store.find("local", "default", "PyTorchJob", name)
        return record.id


def run(coro):
    return asyncio.run(coro)


def test_the_recorder_is_asked_on_the_loop_only(tmp_path: Path) -> None:
    # Its copies change on the loop: iterated in a thread, they could change size meanwhile (a 500).
    name = unique("loop-only")

    async def scenario() -> None:
        async with Setup(tmp_path) as s:
            loop_thread = threading.get_ident()
            asked_from: list[int] = []
            reading = s.history.recorder.reading

            def watched(record_id: int) -> bool:
                asked_from.append(threading.get_ident())
                return reading(record_id)

            s.history.recorder.reading = watched
            await s.service.create(pytorch_job(name, behave("print:loss=0.5"), workers=0))
            await s.finished(name)
            page = await s.service.metrics("local", "default", "PyTorchJob", name, wait=5)
            assert page.finished and [x.value for x in page.series] == [[0.5]]
            assert asked_from and set(asked_from) == {loop_thread}

    run(scenario())


def test_a_live_jobs_tensorboard_watch_goes_when_its_points_are_all_read(tmp_path: Path) -> None:
    name = unique("watch")

    async def scenario() -> None:
        async with Setup(tmp_path) as s:
            go = tmp_path / f"{name}.go"
            await s.service.create(pytorch_job(name, behave("print:loss=0.5", f"wait-file:{go}"), workers=0))
            job = await wait_until(lambda: _running(s.service, name), what=f"{name} running")
            page = await s.service.metrics("local", "default", "PyTorchJob", name)
            assert not page.finished
            [record] = s.history.store.find("local", "default", "PyTorchJob", name)
            assert job.uid and record.id in s.service._scalar_readers  # watched while it runs
            go.touch()
            await s.finished(name)
            page = await s.service.metrics("local", "default", "PyTorchJob", name, wait=5)
            assert page.finished
            assert record.id not in s.service._scalar_readers

    run(scenario())


async def _running(service: JobService, name: str):
    job = await service.get("local", "default", "PyTorchJob", name)
    return job if job.phase.value == "Running" else None


def test_progress_answers_for_live_jobs_only(tmp_path: Path) -> None:
    name, ended = unique("progress"), unique("ended")

    async def scenario() -> None:
        async with Setup(tmp_path) as s:
            go = tmp_path / f"{name}.go"
            await s.service.create(pytorch_job(ended, behave('print:DTRAIN_METRIC {"progress": 1.0}'), workers=0))
            await s.finished(ended)
            await s.service.create(pytorch_job(name, behave('print:DTRAIN_METRIC {"progress": 0.25}',
                                                            f"wait-file:{go}"), workers=0))

            async def reported():
                return await s.service.progress()
            [progress] = await wait_until(reported, what=f"{name}'s progress")
            assert (progress.name, progress.fraction) == (name, 0.25)
            go.touch()
            await s.finished(name)
            assert await s.service.progress() == []

    run(scenario())


def test_forget_removes_points_with_metrics_off(tmp_path: Path) -> None:
    # Points kept by an earlier run with metrics on stay in the folder; forgetting a record with
    # metrics off now must still remove them (no reader process would).
    name = unique("off")

    async def scenario() -> None:
        async with Setup(tmp_path, metrics=False) as s:
            assert s.history.ingest.pid is None
            await s.service.create(pytorch_job(name, behave("print:x"), workers=0))
            record_id = await s.finished(name)
            s.history.metrics.add([Row(record_id, "master-0", "loss", "log", 1, 1.0, 0.5),
                                   Row(record_id + 1, "master-0", "loss", "log", 1, 1.0, 0.5)])
            assert s.history.forget("local", "default", "PyTorchJob", name) == 1
            assert s.history.metrics.page(record_id).series == []
            assert s.history.metrics.page(record_id + 1).series != []  # another record's stay

    run(scenario())
