"""JobService without HTTP: lazy backends, namespaces, filters, and errors, over the real local backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from dtrain_jupyter.backends.kubernetes import KubernetesBackend
from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.errors import BackendUnavailable, Forbidden, InvalidRequest, JobNotFound, NotFound
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


class _WithoutExtras(LocalBackend):
    """A local backend that declares no capability, as a backend without events or previous logs would."""

    capabilities = frozenset()


async def _finished(service: JobService, name: str) -> None:
    for _ in range(1200):
        if (await service.get("local", None, "PyTorchJob", name)).status.phase.finished:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{name} did not finish")


def test_the_service_consults_capabilities_not_the_backends_type(tmp_path: Path) -> None:
    service = JobService({"local": lambda: _WithoutExtras(tmp_path / "s", grace_seconds=1.0)})
    name = unique()

    async def scenario() -> tuple:
        await service.create(pytorch_manifest(name))
        await _finished(service, name)
        events = await service.events("local", None, "PyTorchJob", name)
        with pytest.raises(JobNotFound):
            await service.events("local", None, "PyTorchJob", "ghost")
        for read in (service.logs, service.log_text):
            with pytest.raises(InvalidRequest) as err:
                await read("local", None, "PyTorchJob", name, pod=f"{name}-worker-0", previous=True)
            assert "previous-logs" in err.value.message
        described = service.describe()
        await service.delete("local", None, "PyTorchJob", name)
        await service.stop()
        return events, described

    events, described = run(scenario())
    assert events == [] and described[0]["capabilities"] == []


def test_log_refusals_come_at_the_call_and_one_pods_text_is_its_bytes(tmp_path: Path, monkeypatch) -> None:
    service = JobService({"local": lambda: LocalBackend(tmp_path / "s", grace_seconds=1.0)})
    name = unique()
    relayed: list[str] = []
    raw = LocalBackend.log_bytes

    def log_bytes(self, kind, job, namespace, **options):
        relayed.append(options["pod"])
        return raw(self, kind, job, namespace, **options)

    monkeypatch.setattr(LocalBackend, "log_bytes", log_bytes)

    async def text(**options) -> bytes:
        return b"".join([c async for c in await service.log_text("local", None, "PyTorchJob", name, **options)])

    async def scenario() -> tuple:
        await service.create(pytorch_manifest(name))
        await _finished(service, name)
        with pytest.raises(JobNotFound):
            await service.logs("local", None, "PyTorchJob", "ghost")
        with pytest.raises(NotFound):
            await service.logs("local", None, "PyTorchJob", name, pod="ghost-master-0")
        with pytest.raises(InvalidRequest):
            await service.log_text("local", None, "PyTorchJob", name, pod=f"{name}-master-0", since_seconds=0)
        one = await text(pod=f"{name}-master-0")
        merged = await text()
        described = service.describe()
        await service.delete("local", None, "PyTorchJob", name)
        await service.stop()
        return one, merged, described

    one, merged, described = run(scenario())
    assert one == b"hello from rank 0\n" and relayed == [f"{name}-master-0"]
    assert sorted(merged.splitlines()) == [b"hello from rank 0", b"hello from rank 1"]
    assert described[0]["capabilities"] == ["events", "follow-bytes", "outputs", "previous-logs", "suspend"]


# Writes a line, waits, then a line and a last one without its newline: a follow sees them come.
_FOLLOWED = ("import sys, time\nsys.stdout.write('a\\r\\n'); sys.stdout.flush(); time.sleep(0.3)\n"
             "sys.stdout.write('b\\r\\nc'); sys.stdout.flush()\n")


@pytest.mark.parametrize("backend_class, want", [
    (LocalBackend, b"a\r\nb\r\nc\n"),       # follow-bytes: the bytes as written, the last line ended
    (_WithoutExtras, b"a\nb\nc\n"),           # without it: the lines, joined
])
def test_one_pods_followed_text_is_its_bytes_where_the_backend_follows_bytes(tmp_path: Path, backend_class,
                                                                             want: bytes) -> None:
    service = JobService({"local": lambda: backend_class(tmp_path / "s", grace_seconds=1.0)})
    name = unique()
    manifest = pytorch_manifest(name, script=_FOLLOWED)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]

    async def scenario() -> bytes:
        await service.create(manifest)
        chunks = await service.log_text("local", None, "PyTorchJob", name, pod=f"{name}-master-0", follow=True)
        got = b"".join([c async for c in chunks])  # ends with the replica
        await service.delete("local", None, "PyTorchJob", name)
        await service.stop()
        return got

    got = run(scenario())
    if got.startswith(b"waiting: "):  # the follow may open before the replica has a log file
        got = got.split(b"\n", 1)[1]
    assert got == want


def test_outputs_come_with_their_location_and_a_file_streams_whole(tmp_path: Path) -> None:
    service = JobService({"local": lambda: LocalBackend(tmp_path / "s", output_root=tmp_path / "out",
                                                        grace_seconds=1.0)})
    name = unique()

    async def scenario() -> tuple:
        job = await service.create(pytorch_manifest(name))
        await _finished(service, name)
        listing = await service.outputs("local", None, "pytorchjobs", name)
        chunks = await service.output_bytes("local", None, "PyTorchJob", name, "rank-1.txt")
        whole = b"".join([c async for c in chunks])
        for path in ("", "a\x00b"):
            with pytest.raises(InvalidRequest):
                await service.output_bytes("local", None, "PyTorchJob", name, path)
        with pytest.raises(JobNotFound):
            await service.outputs("local", None, "PyTorchJob", "ghost")
        await service.delete("local", None, "PyTorchJob", name)
        await service.stop()
        return job, listing, whole

    job, listing, whole = run(scenario())
    folder = str(tmp_path / "out" / job.namespace / "pytorchjobs" / name)
    assert listing.to_dict() == {"items": [f.to_dict() for f in listing.files], "location": {"folder": folder}}
    assert [f.path for f in listing.files] == ["rank-0.txt", "rank-1.txt"] and whole == b"rank 1"
