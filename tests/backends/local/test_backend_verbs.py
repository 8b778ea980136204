"""Every verb of the Backend protocol on LocalBackend, with its errors (contract test)."""

from __future__ import annotations

import os
import time

import pytest

from dtrain_jupyter.backends.base import CAP_EVENTS, CAP_OUTPUTS, Backend
from dtrain_jupyter.errors import InvalidJob, InvalidRequest, JobExists, JobNotFound, NotFound
from dtrain_jupyter.model.status import Phase

from .helpers import behave, pytorch_job, wait_phase

FINISHED = {Phase.SUCCEEDED, Phase.FAILED}


async def test_identity_describe_and_protocol(make_backend):
    backend = make_backend()
    assert isinstance(backend, Backend)
    assert backend.name == "local"
    assert {CAP_EVENTS, CAP_OUTPUTS} <= backend.capabilities
    info = backend.describe()
    assert {k: info[k] for k in ("backend", "context", "namespace", "ready")} == {
        "backend": "local", "context": "local", "namespace": "default", "ready": True}


async def test_create_get_list_and_subscribe(make_backend):
    backend = make_backend()
    seen: list[tuple[str, str, Phase]] = []
    backend.subscribe(lambda change, job: seen.append((change, job.name, job.phase)))
    await backend.start()
    manifest = pytorch_job("verbs-a", behave("print:a"), workers=1)
    job = await backend.create(manifest)
    assert (job.backend, job.kind, job.name, job.namespace, job.context) == ("local", "PyTorchJob", "verbs-a", "default", "local")
    assert any("image example.org/train:1 is not used" in n for n in job.notes)
    other = pytorch_job("verbs-b", behave("print:b"), workers=0)
    other["metadata"]["namespace"] = "team-b"
    await backend.create(other)
    await wait_phase(backend, "PyTorchJob", "verbs-a", Phase.SUCCEEDED)
    await wait_phase(backend, "PyTorchJob", "verbs-b", Phase.SUCCEEDED, namespace="team-b")
    assert [j.name for j in await backend.list("default")] == ["verbs-a"]
    assert sorted(j.name for j in await backend.list()) == ["verbs-a", "verbs-b"]
    assert await backend.list("nobody") == []
    got = await backend.get("PyTorchJob", "verbs-a", "default")
    assert got.uid == job.uid and got.status.completion_time
    assert [c["type"] for c in got.status.conditions] == ["Created", "Running", "Succeeded"]
    assert got.status.conditions[1]["status"] == "False"
    assert seen[0] == ("ADDED", "verbs-a", Phase.PENDING)
    assert ("MODIFIED", "verbs-a", Phase.SUCCEEDED) in seen
    with pytest.raises(JobExists):
        await backend.create(manifest)
    with pytest.raises(JobNotFound):
        await backend.get("PyTorchJob", "missing", "default")
    with pytest.raises(JobNotFound):
        await backend.get("TFJob", "verbs-a", "default")
    with pytest.raises(InvalidRequest):
        await backend.list("../etc")


async def test_dry_run_checks_without_running(make_backend, state_dir):
    backend = make_backend()
    await backend.start()
    job = await backend.create(pytorch_job("verbs-dry", behave("exit:0"), workers=1), dry_run=True)
    assert job.name == "verbs-dry" and job.phase == Phase.PENDING
    assert await backend.list() == []
    assert not (state_dir / "default" / "pytorchjobs" / "verbs-dry").exists()
    bad = pytorch_job("verbs-dry2", behave("exit:0"), workers=1)
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["workingDir"] = "/no/such/dir"
    with pytest.raises(InvalidJob) as err:
        await backend.create(bad, dry_run=True)
    assert err.value.issues[0].path == "spec.pytorchReplicaSpecs.Master.template.spec.containers[0].workingDir"


async def test_create_rejects_what_it_cannot_run_with_a_path(make_backend):
    backend = make_backend()
    await backend.start()
    manifest = pytorch_job("verbs-secret", behave("exit:0"), workers=1)
    c = manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    c["env"] = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]
    with pytest.raises(InvalidJob) as err:
        await backend.create(manifest)
    assert err.value.issues[0].path == "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].env[0].valueFrom"
    assert await backend.list() == []
    with pytest.raises(InvalidJob):
        await backend.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}})
    bad_ns = pytorch_job("verbs-ns", behave("exit:0"), workers=1)
    bad_ns["metadata"]["namespace"] = "Bad_NS"
    with pytest.raises(InvalidRequest):
        await backend.create(bad_ns)


async def test_pods_events_and_delete(make_backend):
    backend = make_backend()
    await backend.start()
    await backend.create(pytorch_job("verbs-pods", behave("sleep:30"), workers=2))
    await wait_phase(backend, "PyTorchJob", "verbs-pods", Phase.RUNNING)
    pods = await backend.pods("PyTorchJob", "verbs-pods", "default")
    assert [(p.name, p.replica_type, p.replica_index) for p in pods] == [
        ("verbs-pods-master-0", "Master", 0), ("verbs-pods-worker-0", "Worker", 0), ("verbs-pods-worker-1", "Worker", 1)]
    assert all(p.phase == "Running" and p.node == "localhost" and p.restarts == 0 for p in pods)
    assert pods[0].labels["training.kubeflow.org/job-role"] == "master"
    assert pods[2].labels["training.kubeflow.org/replica-index"] == "1"
    events = await backend.events("PyTorchJob", "verbs-pods", "default")
    assert events[0].reason == "PyTorchJobCreated"
    assert sum(e.reason == "Started" and e.object_kind == "Pod" for e in events) == 3
    changes: list[tuple[str, str]] = []
    backend.subscribe(lambda change, j: changes.append((change, j.phase)))
    job = await backend.delete("PyTorchJob", "verbs-pods", "default")
    assert job.phase == Phase.DELETING
    assert changes[-1] == ("DELETED", Phase.DELETING)
    for verb in (backend.get, backend.pods, backend.events, backend.outputs, backend.delete):
        with pytest.raises(JobNotFound):
            await verb("PyTorchJob", "verbs-pods", "default")


async def test_logs_follow_tail_and_pod_selection(make_backend, state_dir):
    backend = make_backend()
    await backend.start()
    await backend.create(pytorch_job("verbs-logs", behave("lines:5", "sleep:0.5", "print:last"), workers=1))
    # Follow from the start: lines arrive while running; the stream ends when the job is done.
    followed = [(ln.pod, ln.line) async for ln in backend.logs("PyTorchJob", "verbs-logs", "default", follow=True)]
    job = await backend.get("PyTorchJob", "verbs-logs", "default")
    assert job.phase == Phase.SUCCEEDED
    expected = [f"line {i}" for i in range(5)] + ["last"]
    assert [line for p, line in followed if p == "verbs-logs-master-0"] == expected
    # The worker is stopped once the master succeeded (the PyTorchJob success rule): it may not
    # have printed its last line, but nothing it printed is missing.
    worker = [line for p, line in followed if p == "verbs-logs-worker-0"]
    assert worker == expected[:len(worker)]
    master = "verbs-logs-master-0"
    tail = [ln.line async for ln in backend.logs("PyTorchJob", "verbs-logs", "default", pod=master, tail=2)]
    assert tail == ["line 4", "last"]
    stamped = [ln async for ln in backend.logs("PyTorchJob", "verbs-logs", "default", pod=master, timestamps=True)]
    assert all(ln.timestamp for ln in stamped)
    with pytest.raises(NotFound):
        await backend.logs("PyTorchJob", "verbs-logs", "default", pod="nobody")
    with pytest.raises(InvalidRequest):
        await backend.logs("PyTorchJob", "verbs-logs", "default", pod=master, previous=True)
    with pytest.raises(InvalidRequest):
        await backend.logs("PyTorchJob", "verbs-logs", "default", container="sidecar")
    recent = [ln.line async for ln in backend.logs("PyTorchJob", "verbs-logs", "default", pod=master, since_seconds=3600)]
    assert recent[-1] == "last"
    log_file = next(state_dir.glob("default/pytorchjobs/verbs-logs/logs/verbs-logs-master-0.log"))
    os.utime(log_file, (time.time() - 7200, time.time() - 7200))
    assert [ln async for ln in backend.logs("PyTorchJob", "verbs-logs", "default", pod=master, since_seconds=3600)] == []


async def test_log_limit_bytes_keeps_the_end(make_backend, state_dir):
    backend = make_backend(log_limit_bytes=14)
    await backend.start()
    await backend.create(pytorch_job("verbs-limit", behave("lines:10"), workers=0))
    await wait_phase(backend, "PyTorchJob", "verbs-limit", Phase.SUCCEEDED)
    lines = [ln.line async for ln in backend.logs("PyTorchJob", "verbs-limit", "default")]
    assert lines == ["line 8", "line 9"]


async def test_log_limit_bytes_caps_the_disk_used_by_a_long_log(make_backend, state_dir):
    backend = make_backend(log_limit_bytes=32 * 1024)
    await backend.start()
    await backend.create(pytorch_job("verbs-cap", behave("lines:100000"), workers=0))
    await wait_phase(backend, "PyTorchJob", "verbs-cap", Phase.SUCCEEDED)
    log_file = state_dir / "default" / "pytorchjobs" / "verbs-cap" / "logs" / "verbs-cap-master-0.log"
    assert log_file.stat().st_size > 1_000_000
    assert log_file.stat().st_blocks * 512 < 128 * 1024
    lines = [ln.line async for ln in backend.logs("PyTorchJob", "verbs-cap", "default")]
    assert lines[-1] == "line 99999" and all(ln.startswith("line ") for ln in lines)
    assert sum(len(ln) + 1 for ln in lines) <= 32 * 1024


async def test_outputs_and_read_output_stay_inside_the_output_folder(make_backend, tmp_path):
    backend = make_backend(output_root=tmp_path / "outputs")
    await backend.start()
    await backend.create(pytorch_job("verbs-out", behave("write:a.txt:hello", "write:sub/b.bin:xyz"), workers=0))
    await wait_phase(backend, "PyTorchJob", "verbs-out", Phase.SUCCEEDED)
    out_dir = tmp_path / "outputs" / "default" / "pytorchjobs" / "verbs-out"
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, out_dir / "escape.txt")
    files = await backend.outputs("PyTorchJob", "verbs-out", "default")
    assert [(f.path, f.size) for f in files] == [("a.txt", 5), ("sub/b.bin", 3)]
    assert files[0].mtime.startswith(time.strftime("%Y-", time.gmtime()))
    assert await backend.read_output("PyTorchJob", "verbs-out", "default", "a.txt", limit=3) == b"hel"
    assert await backend.read_output("PyTorchJob", "verbs-out", "default", "sub/b.bin", limit=100) == b"xyz"
    for bad, error in (("../secret.txt", InvalidRequest), (str(secret), InvalidRequest), ("sub/../../x", InvalidRequest),
                       ("escape.txt", NotFound), ("nope.txt", NotFound), ("sub", NotFound)):
        with pytest.raises(error):
            await backend.read_output("PyTorchJob", "verbs-out", "default", bad, limit=10)
    await backend.delete("PyTorchJob", "verbs-out", "default")
    assert not out_dir.exists()


async def test_stop_then_start_again_is_safe(make_backend):
    backend = make_backend()
    await backend.start()
    await backend.stop()
    await backend.stop()
    await backend.start()
    await backend.create(pytorch_job("verbs-again", behave("exit:0"), workers=0))
    assert (await wait_phase(backend, "PyTorchJob", "verbs-again", FINISHED)).phase == Phase.SUCCEEDED


async def test_a_second_backend_on_a_busy_state_dir_is_refused(make_backend):
    from dtrain_jupyter.errors import BackendUnavailable
    first = make_backend()
    await first.start()
    second = make_backend()
    with pytest.raises(BackendUnavailable):
        await second.start()
    await first.stop()
    await second.start()
