"""The recorder and pods that start after the job change it heard.

On a cluster the job's status (a replica active) and its pods come by separate watches, so the
change that says a job runs can be heard while a pod still shows Pending in the pod cache. If
that pod then runs, ends and is removed (cleanPodPolicy All, in a short job) with no further change
of its job in between, only a second look while it runs keeps its log. The source here is a
scripted stand-in for the service: the race cannot be produced on demand by a real cluster.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any, AsyncGenerator, Callable

from dtrain_jupyter.errors import NotFound
from dtrain_jupyter.history.history import JobHistory
from dtrain_jupyter.history.store import HistoryRecord
from dtrain_jupyter.model.job import Event, Job, JobStatus, Pod
from dtrain_jupyter.model.status import Phase

from ..backends.local.helpers import wait_until

NAME = "short"


class ScriptedCluster:
    """One PyTorchJob with a master and a worker whose phases and log lines the test sets."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[str, Job], None]] = []
        self.phases = {f"{NAME}-master-0": "Running", f"{NAME}-worker-0": "Pending"}
        self.logs: dict[str, asyncio.Queue[bytes | None]] = {pod: asyncio.Queue() for pod in self.phases}
        self.looks = 0
        self.followed: set[str] = set()
        self.job = Job(backend="kubernetes", kind="PyTorchJob", api_version="kubeflow.org/v1", name=NAME,
                       namespace="default", uid="uid-1", created="2026-12-06T00:00:00Z", manifest={},
                       status=JobStatus(phase=Phase.RUNNING))

    def change(self, phase: Phase, change: str = "MODIFIED") -> None:
        self.job = dataclasses.replace(self.job, status=JobStatus(phase=phase))
        for listener in self.listeners:
            listener(change, self.job)

    def subscribe(self, listener: Callable[[str, Job], None]) -> None:
        self.listeners.append(listener)

    def unsubscribe(self, listener: Callable[[str, Job], None]) -> None:
        self.listeners.remove(listener)

    async def pods(self, *_ref: Any, history: bool) -> list[Pod]:
        self.looks += 1
        return [Pod(name=pod, namespace="default", job_name=NAME, replica_type=pod.split("-")[1].title(),
                    replica_index=0, phase=phase) for pod, phase in self.phases.items()]

    async def events(self, *_ref: Any, history: bool) -> list[Event]:
        return []

    async def code_archive(self, *_ref: Any, history: bool) -> None:
        return None

    async def log_text(self, *_ref: Any, pod: str, follow: bool, **_options: Any) -> AsyncGenerator[bytes, None]:
        if pod not in self.phases:
            raise NotFound(f"pod {pod} not found")
        if not follow:
            raise AssertionError("only followed logs here: an ended pod is removed at once")
        self.followed.add(pod)
        return self._followed(pod)

    async def _followed(self, pod: str) -> AsyncGenerator[bytes, None]:
        while (chunk := await self.logs[pod].get()) is not None:
            yield chunk

    async def output_root(self, *_ref: Any) -> Path:
        raise NotFound("no output folder")

    def run_and_remove(self, pod: str, lines: list[str]) -> None:
        """The pod prints its lines and ends; cleanPodPolicy All removes it at once."""
        for line in lines:
            self.logs[pod].put_nowait(f"{line}\n".encode())
        self.logs[pod].put_nowait(None)


def test_a_pod_that_starts_after_the_change_heard_is_followed(tmp_path: Path) -> None:
    async def scenario() -> None:
        cluster = ScriptedCluster()
        history = JobHistory(tmp_path / "history")
        await history.start(cluster)  # type: ignore[arg-type]
        try:
            cluster.change(Phase.RUNNING)  # heard while the worker still shows Pending
            await wait_until(lambda: _async(cluster.followed == {f"{NAME}-master-0"}), what="the master followed")
            cluster.phases[f"{NAME}-worker-0"] = "Running"  # no change of the job says so
            await wait_until(lambda: _async(cluster.followed == set(cluster.phases)), what="the worker followed",
                             timeout=10)
            record = await _run_to_the_end_and_check_the_archive(cluster, history, steps=5)
            assert history.incomplete(record) == []
        finally:
            await history.stop()
    asyncio.run(scenario())


def test_a_job_just_created_is_recorded_at_once_and_its_pods_looked_at_when_they_can_run(tmp_path: Path) -> None:
    """A job heard as created (Pending) is kept at once, so a delete or `wait` finds it; its pods are
    not looked at then (none can run yet), but they are soon after, with no other change of the job."""
    async def scenario() -> None:
        cluster = ScriptedCluster()
        cluster.phases = {pod: "Pending" for pod in cluster.phases}
        history = JobHistory(tmp_path / "history")
        await history.start(cluster)  # type: ignore[arg-type]
        try:
            cluster.change(Phase.PENDING, "ADDED")
            await wait_until(lambda: _async(bool(history.store.find("kubernetes", "default", "PyTorchJob", NAME))),
                             what="the job recorded")
            assert cluster.looks == 0
            for pod in cluster.phases:
                cluster.phases[pod] = "Running"  # no change of the job says so
            await wait_until(lambda: _async(cluster.followed == set(cluster.phases)), what="both pods followed",
                             timeout=10)
            await _run_to_the_end_and_check_the_archive(cluster, history, steps=3)
        finally:
            await history.stop()
    asyncio.run(scenario())


async def _run_to_the_end_and_check_the_archive(cluster: ScriptedCluster, history: JobHistory,
                                                steps: int) -> HistoryRecord:
    """Every pod prints `steps` lines and is removed, the job succeeds; each pod's archived log must
    hold all of its lines. Returns the job's record."""
    for pod in list(cluster.phases):
        cluster.run_and_remove(pod, [f"{pod} step {i}" for i in range(1, steps + 1)])
    cluster.phases.clear()
    cluster.change(Phase.SUCCEEDED)
    await history.recorder.settle()
    [record] = history.store.find("kubernetes", "default", "PyTorchJob", NAME)
    for pod in (f"{NAME}-master-0", f"{NAME}-worker-0"):
        lines = [x.line async for x in history.log_lines(record, pod=pod, tail=None)]
        assert lines == [f"{pod} step {i}" for i in range(1, steps + 1)], pod
    return record


async def _async(value: Any) -> Any:
    return value
