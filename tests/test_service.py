"""JobService without HTTP: lazy backends, namespaces, filters, and errors, over the real local backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from dtrain_jupyter.backends.kubernetes import KubernetesBackend
from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.errors import BackendUnavailable, Forbidden, InvalidRequest
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.service import JobService, canonical_kind, parse_phase

from .server.conftest import pytorch_manifest, unique


@pytest.mark.parametrize(("word", "kind"), [("pytorchjob", "PyTorchJob"), ("PyTorchJob", "PyTorchJob"),
                                            ("tfjobs", "TFJob"), ("MPIJOB", "MPIJob")])
def test_canonical_kind(word: str, kind: str) -> None:
    assert canonical_kind(word) == kind


@pytest.mark.parametrize(("word", "phase"), [("running", Phase.RUNNING), ("Succeeded", Phase.SUCCEEDED)])
def test_parse_phase(word: str, phase: Phase) -> None:
    assert parse_phase(word) is phase


@pytest.mark.parametrize("call", [lambda: canonical_kind("widget"), lambda: parse_phase("sleeping")])
def test_unknown_words_are_invalid_requests(call) -> None:
    with pytest.raises(InvalidRequest):
        call()


def run(coro):
    return asyncio.run(coro)


def test_backends_are_built_on_first_use_only(tmp_path: Path) -> None:
    built: list[str] = []

    def local() -> LocalBackend:
        built.append("local")
        return LocalBackend(tmp_path / "state", grace_seconds=1.0)

    service = JobService({"local": local})
    assert built == [] and service.describe()[0]["ready"] is False

    async def scenario() -> None:
        await service.list()
        await service.list()
        await service.stop()

    run(scenario())
    assert built == ["local"]


def test_a_backend_that_cannot_start_is_reported_not_raised_everywhere(tmp_path: Path) -> None:
    def broken() -> LocalBackend:
        raise RuntimeError("no such thing")

    service = JobService({"local": lambda: LocalBackend(tmp_path / "s", grace_seconds=1.0), "kubernetes": broken})

    async def scenario() -> tuple:
        name = unique()
        await service.create(pytorch_manifest(name))
        jobs, problems = await service.list_everywhere()
        with pytest.raises(BackendUnavailable) as info:
            await service.list(backend="kubernetes")
        await service.delete("local", None, "PyTorchJob", name)
        await service.stop()
        return name, jobs, problems, info.value

    name, jobs, problems, err = run(scenario())
    assert [j.name for j in jobs] == [name]
    assert problems[0]["backend"] == "kubernetes" and problems[0]["error"] == "BackendUnavailable"
    assert "no such thing" in err.message
    described = {d["backend"]: d for d in service.describe()}
    assert described["kubernetes"]["ready"] is False and "no such thing" in described["kubernetes"]["message"]


def test_an_unconfigured_kubernetes_backend_does_not_hide_local_jobs(tmp_path: Path) -> None:
    service = JobService({"local": lambda: LocalBackend(tmp_path / "s", grace_seconds=1.0),
                          "kubernetes": lambda: KubernetesBackend(kubeconfig=str(tmp_path / "missing"))})

    async def scenario() -> tuple:
        jobs, problems = await service.list_everywhere()
        await service.stop()
        return jobs, problems

    jobs, problems = run(scenario())
    assert jobs == [] and [p["backend"] for p in problems] == ["kubernetes"]


def test_namespaces_follow_the_configuration(tmp_path: Path) -> None:
    service = JobService({"local": lambda: LocalBackend(tmp_path / "s", grace_seconds=1.0)},
                         namespace="team-a", allowed_namespaces=["team-a"])

    async def scenario() -> str:
        job = await service.create(pytorch_manifest(unique()))
        with pytest.raises(Forbidden) as info:
            await service.list(namespace="team-b")
        assert info.value.fields["namespace"] == "team-b"
        with pytest.raises(Forbidden):
            await service.create(pytorch_manifest(unique(), namespace="team-b"))
        await service.delete("local", None, job.kind, job.name)
        await service.stop()
        return job.namespace

    assert run(scenario()) == "team-a"


def test_one_job_per_request(tmp_path: Path) -> None:
    service = JobService({"local": lambda: LocalBackend(tmp_path / "s", grace_seconds=1.0)})
    text = yaml.safe_dump(pytorch_manifest(unique())) + "---\n" + yaml.safe_dump(pytorch_manifest(unique()))
    with pytest.raises(InvalidRequest, match="one job per request"):
        run(service.create(text))
    assert service.validate(text)["valid"] is True


def test_no_backend_configured_is_backend_unavailable() -> None:
    with pytest.raises(BackendUnavailable):
        JobService({})
    with pytest.raises(BackendUnavailable):
        JobService({"local": lambda: None}, default_backend="kubernetes")  # type: ignore[arg-type,return-value]
