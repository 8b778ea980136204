"""JobService over its backends: one change fan-out, and one validation before a backend sees a manifest."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from dtrain_jupyter.backends.base import ChangeListener
from dtrain_jupyter.backends.listeners import Listeners
from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model.job import Job
from dtrain_jupyter.model.valid_manifest import ValidManifest
from dtrain_jupyter.service import JobService

from .server.conftest import pytorch_manifest, unique


class RecordingBackend:
    """Just enough of a backend to see what the service hands it and to send changes."""

    name = "local"
    capabilities = frozenset()

    def __init__(self) -> None:
        self.created: list[Any] = []
        self.listeners: Listeners = Listeners(logging.getLogger("tests"), "listener")

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    def subscribe(self, listener: ChangeListener) -> None:
        self.listeners.add(listener)

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "namespace": "default"}

    async def create(self, manifest: dict[str, Any], *, dry_run: bool = False) -> Job:
        self.created.append(manifest)
        meta = manifest["metadata"]
        return Job(backend=self.name, kind=manifest["kind"], api_version=manifest["apiVersion"], name=meta["name"],
                   namespace=meta["namespace"], uid="u", created="", manifest=manifest)


def test_the_backend_gets_a_validated_manifest_with_its_namespace():
    backend = RecordingBackend()
    service = JobService({"local": lambda: backend}, namespace="team-a")
    manifest = pytorch_manifest(unique())
    asyncio.run(service.create(manifest))
    [handed] = backend.created
    assert isinstance(handed, ValidManifest) and handed.framework.kind == "PyTorchJob"
    assert handed["metadata"]["namespace"] == "team-a" and "namespace" not in manifest["metadata"]  # a copy
    bad = pytorch_manifest(unique())
    bad["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = -1
    with pytest.raises(InvalidJob):
        asyncio.run(service.create(bad))
    assert len(backend.created) == 1  # refused before the backend saw it


def test_listeners_hear_every_backend_whenever_they_or_it_came(caplog: pytest.LogCaptureFixture):
    backend = RecordingBackend()
    service = JobService({"local": lambda: backend})
    early: list[str] = []
    late: list[str] = []
    service.subscribe(lambda change, job: early.append(change))

    def broken(change: str, job: Job) -> None:
        raise RuntimeError("listener bug")

    service.subscribe(broken)
    asyncio.run(service.backend("local"))
    assert len(backend.listeners) == 1  # the service subscribes once and fans out itself
    service.subscribe(lambda change, job: late.append(change))
    job = Job(backend="local", kind="PyTorchJob", api_version="kubeflow.org/v1", name="j", namespace="default",
              uid="u", created="", manifest={})
    with caplog.at_level(logging.ERROR):
        backend.listeners.notify("ADDED", job)
    service.unsubscribe(broken)
    backend.listeners.notify("DELETED", job)
    assert (early, late) == (["ADDED", "DELETED"], ["ADDED", "DELETED"])
    assert [r.exc_info[1].args for r in caplog.records] == [("listener bug",)]


def test_changes_of_a_real_local_job_reach_a_subscriber(tmp_path: Path):
    service = JobService({"local": lambda: LocalBackend(tmp_path / "s", grace_seconds=1.0)})
    seen: list[tuple[str, str]] = []
    service.subscribe(lambda change, job: seen.append((change, job.name)))
    name = unique()

    async def scenario() -> None:
        await service.create(pytorch_manifest(name))
        await service.delete(None, None, "PyTorchJob", name)
        await service.stop()

    asyncio.run(scenario())
    assert seen[0] == ("ADDED", name) and seen[-1] == ("DELETED", name)
