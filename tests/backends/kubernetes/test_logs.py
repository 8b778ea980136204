"""Logs: one pod or all pods merged, follow picking up pods, waiting lines, previous, timestamps, tail."""

from __future__ import annotations

import asyncio

import pytest

from dtrain_jupyter.errors import InvalidRequest, NotFound

from .conftest import eventually
from .test_backend import pytorch


async def collect(agen, limit=10_000):
    out = []
    async for line in agen:
        out.append(line)
        if len(out) >= limit:
            break
    return out


async def running(backend, name, n):
    pods = await backend.pods("PyTorchJob", name, "default")
    return len(pods) == n and all(p.phase == "Running" for p in pods)


async def test_one_pod_with_tail_and_timestamps(backend, kube_double):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    await backend.create(pytorch("l1"))
    await eventually(lambda: running(backend, "l1", 2))
    for i in range(5):
        kube_double.simulator.write_log("l1-worker-0", f"marker {i}")
    lines = await collect(backend.logs("PyTorchJob", "l1", "default", pod="l1-worker-0", tail=2, timestamps=True))
    assert all(ln.pod == "l1-worker-0" and ln.timestamp and ln.timestamp[:2].isdigit() for ln in lines)
    assert len(lines) == 2
    query = [q for m, p, q in kube_double.request_log if p.endswith("/pods/l1-worker-0/log")][-1]
    assert (query.get("tailLines"), query.get("timestamps"), query.get("container")) == ("2", "true", "pytorch")


async def test_all_pods_merged_each_line_names_its_pod(backend, kube_double):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    await backend.create(pytorch("l2", replicas=2))
    await eventually(lambda: running(backend, "l2", 3))
    for pod in ("l2-master-0", "l2-worker-0", "l2-worker-1"):
        kube_double.simulator.write_log(pod, f"hello from {pod}")
    lines = await collect(backend.logs("PyTorchJob", "l2", "default"))
    for pod in ("l2-master-0", "l2-worker-0", "l2-worker-1"):
        assert any(ln.pod == pod and ln.line == f"hello from {pod}" for ln in lines)


async def test_follow_picks_up_pods_as_they_appear_and_ends_with_the_job(backend, kube_double):
    kube_double.simulator.set_speed(ticks_to_run=3, ticks_to_finish=8)
    # Follow from the moment of creation: no pod exists yet.
    await backend.create(pytorch("l3"))
    lines = await collect(backend.logs("PyTorchJob", "l3", "default", follow=True))
    pods = {ln.pod for ln in lines}
    assert pods == {"l3-master-0", "l3-worker-0"}
    assert any(not ln.line.startswith("waiting:") for ln in lines if ln.pod == "l3-worker-0")
    assert (await backend.get("PyTorchJob", "l3", "default")).status.phase.finished


async def test_pending_pod_shows_as_waiting_not_skipped(backend, kube_double):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    kube_double.simulator.fault("l4", "Unschedulable")
    await backend.create(pytorch("l4"))
    await eventually(lambda: _pods_pending(backend, "l4"))
    lines = await collect(backend.logs("PyTorchJob", "l4", "default"))
    assert {ln.pod for ln in lines} == {"l4-master-0", "l4-worker-0"}
    assert all(ln.line.startswith("waiting: 0/3 nodes") for ln in lines)
    one = await collect(backend.logs("PyTorchJob", "l4", "default", pod="l4-master-0"))
    assert [ln.line[:8] for ln in one] == ["waiting:"]


async def _pods_pending(backend, name):
    pods = await backend.pods("PyTorchJob", name, "default")
    return len(pods) == 2 and all(p.reason.startswith("Pending: ") for p in pods)


async def test_previous_container_after_a_crash(backend, kube_double):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    kube_double.simulator.fault("l5-worker-0", "CrashLoopBackOff")
    await backend.create(pytorch("l5"))
    await eventually(lambda: _restarted(backend, "l5", "l5-worker-0"))
    lines = await collect(backend.logs("PyTorchJob", "l5", "default", pod="l5-worker-0", previous=True))
    assert lines and lines[-1].line == "container exited with code 1 (Error)"
    query = [q for m, p, q in kube_double.request_log if p.endswith("/pods/l5-worker-0/log")][-1]
    assert query.get("previous") == "true"


async def _restarted(backend, job, pod):
    return any(p.name == pod and p.restarts > 0 for p in await backend.pods("PyTorchJob", job, "default"))


async def test_refusals_come_when_the_stream_is_awaited(backend, kube_double):
    await backend.create(pytorch("l6"))
    for options in ({"tail": -1}, {"since_seconds": 0}, {"previous": True, "follow": True}):
        with pytest.raises(InvalidRequest):
            await backend.logs("PyTorchJob", "l6", "default", **options)
    with pytest.raises(NotFound):
        await backend.logs("PyTorchJob", "l6", "default", pod="someone-else-0")
    await eventually(lambda: running(backend, "l6", 2))
    with pytest.raises(InvalidRequest) as err:
        await backend.logs("PyTorchJob", "l6", "default", pod="l6-master-0", container="nope")
    assert "nope" in err.value.message and "'pytorch'" in err.value.message
    # The kubelet's own refusal of one pod's log is asked for before the first line.
    with pytest.raises(InvalidRequest) as err:
        await backend.logs("PyTorchJob", "l6", "default", pod="l6-master-0", previous=True)
    assert "previous terminated container" in err.value.message


async def test_one_pods_follow_ends_when_its_container_exits(backend, kube_double, monkeypatch):
    monkeypatch.setattr(kube_double.simulator, "log_lines", 0)  # only what the test writes
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    await backend.create(pytorch("l8"))
    await eventually(lambda: running(backend, "l8", 2))
    kube_double.simulator.write_log("l8-worker-0", "training")
    follow = await backend.logs("PyTorchJob", "l8", "default", pod="l8-worker-0", follow=True)
    assert (await anext(follow)).line == "training"
    kube_double.simulator.finish("l8")
    rest = await asyncio.wait_for(collect(follow), timeout=30)
    assert not [ln for ln in rest if ln.line == "training"]  # nothing read twice on the way out
    assert (await backend.pods("PyTorchJob", "l8", "default"))[0].phase == "Succeeded"


async def test_log_bytes_relay_the_api_servers_text_in_one_request(backend, kube_double):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    await backend.create(pytorch("l7"))
    await eventually(lambda: running(backend, "l7", 2))
    for i in range(3):
        kube_double.simulator.write_log("l7-worker-0", f"line {i} é")
    kube_double.simulator.finish("l7")
    await eventually(lambda: _ended(backend, "l7"))
    lines = [ln.line async for ln in backend.logs("PyTorchJob", "l7", "default", pod="l7-worker-0")]
    assert "line 2 é" in lines
    before = len(kube_double.request_log)
    chunks = [c async for c in await backend.log_bytes("PyTorchJob", "l7", "default", pod="l7-worker-0", tail=2)]
    assert b"".join(chunks) == ("\n".join(lines[-2:]) + "\n").encode()
    asked = [q for m, p, q in kube_double.request_log[before:] if p.endswith("/pods/l7-worker-0/log")]
    assert asked == [{"container": "pytorch", "tailLines": "2"}]
    # It follows by lines (logs), not as bytes: no follow-bytes capability, and the refusal says so.
    assert "follow-bytes" not in backend.capabilities
    with pytest.raises(InvalidRequest) as err:
        await backend.log_bytes("PyTorchJob", "l7", "default", pod="l7-worker-0", follow=True)
    assert err.value.to_dict().get("argument") == "follow" and "by its lines" in err.value.message


async def _ended(backend, name):
    return all(p.phase == "Succeeded" for p in await backend.pods("PyTorchJob", name, "default"))
