"""Suspend and resume on the local backend, with real processes (runPolicy.suspend, operator-contract §1.6)."""

from __future__ import annotations

import asyncio

import pytest

from dtrain_jupyter.backends.base import CAP_SUSPEND
from dtrain_jupyter.errors import InvalidRequest
from dtrain_jupyter.model.status import Phase

from .helpers import behave, log_text, processes_with_uid, pytorch_job, wait_phase, wait_until

KIND = "PyTorchJob"


def gated_job(name: str, gate, **kw) -> dict:
    """Master and one worker: print their rank and three numbered lines, then wait for the gate.

    backoffLimit 0 with OnFailure: a suspension counted as a failed attempt would fail the job.
    """
    steps = behave("env:RANK", "lines:3", f"wait-file:{gate}")
    return pytorch_job(name, steps, restart="OnFailure", run_policy={"backoffLimit": 0, **kw.pop("run_policy", {})},
                       **kw)


def condition(job, ctype: str) -> dict | None:
    return next((c for c in job.status.conditions if c["type"] == ctype), None)


async def printed(backend, name: str, lines: list[str]) -> list[str] | None:
    text = await log_text(backend, KIND, name)
    return text if all(line in text for line in lines) else None


FIRST_ATTEMPT = [f"{pod}: {line}" for pod, rank in ((f"{{n}}-master-0", 0), (f"{{n}}-worker-0", 1))
                 for line in (f"RANK={rank}", "line 0", "line 1", "line 2")]


def attempt_lines(name: str) -> list[str]:
    return [line.format(n=name) for line in FIRST_ATTEMPT]


async def test_suspend_stops_every_process_and_keeps_the_job_then_resume_runs_it_to_success(make_backend, tmp_path):
    backend = make_backend()
    assert CAP_SUSPEND in backend.capabilities
    await backend.start()
    gate = tmp_path / "gate"
    job = await backend.create(gated_job("susp-a", gate))
    await wait_phase(backend, KIND, "susp-a", Phase.RUNNING)
    await wait_until(lambda: printed(backend, "susp-a", attempt_lines("susp-a")), what="both replicas printed")
    first_pids = {p.name: p.pid for p in await backend.pods(KIND, "susp-a", "default")}
    assert all(first_pids.values())
    assert processes_with_uid(job.uid)

    suspended = await backend.suspend(KIND, "susp-a", "default")

    assert suspended.phase is Phase.SUSPENDED
    assert processes_with_uid(job.uid) == []
    assert condition(suspended, "Suspended") | {"lastUpdateTime": "", "lastTransitionTime": ""} == {
        "type": "Suspended", "status": "True", "reason": "PyTorchJobSuspended",
        "message": "PyTorchJob susp-a is suspended.", "lastUpdateTime": "", "lastTransitionTime": ""}
    assert (condition(suspended, "Running")["status"], condition(suspended, "Running")["reason"]) == (
        "False", "PyTorchJobSuspended")
    assert suspended.manifest["spec"]["runPolicy"]["suspend"] is True
    assert all(c.active == 0 for c in suspended.status.replicas.values())
    pods = await backend.pods(KIND, "susp-a", "default")
    assert [(p.phase, p.restarts, p.pid) for p in pods] == [("Pending", 0, None)] * 2
    assert all("suspended" in p.reason for p in pods)
    assert await log_text(backend, KIND, "susp-a") == attempt_lines("susp-a")  # kept, exactly what was printed
    events = [(e.reason, e.object_name) for e in await backend.events(KIND, "susp-a", "default")]
    assert ("PyTorchJobSuspended", "susp-a") in events
    assert {o for r, o in events if r == "Killing"} == {"susp-a-master-0", "susp-a-worker-0"}
    # The monitor leaves a suspended job alone: no tick restarts or fails it.
    await some_ticks(backend)
    assert (await backend.get(KIND, "susp-a", "default")).phase is Phase.SUSPENDED and processes_with_uid(job.uid) == []

    resumed = await backend.resume(KIND, "susp-a", "default")

    assert resumed.phase is Phase.RUNNING
    assert (condition(resumed, "Suspended")["status"], condition(resumed, "Suspended")["reason"]) == (
        "False", "PyTorchJobResumed")
    assert resumed.manifest["spec"]["runPolicy"]["suspend"] is False
    async def new_processes():
        pods = await backend.pods(KIND, "susp-a", "default")
        return pods if all(p.phase == "Running" and p.pid for p in pods) else None
    pods = await wait_until(new_processes, what="both replicas running with a process")
    assert all(p.pid != first_pids[p.name] for p in pods)
    assert ("PyTorchJobResumed", "susp-a") in [(e.reason, e.object_name) for e in await backend.events(KIND, "susp-a", "default")]
    # Same rank and environment as on create; the log goes on after the first attempt's lines.
    await wait_until(lambda: printed_twice(backend, "susp-a"), what="the second attempt printed")
    gate.touch()
    done = await wait_phase(backend, KIND, "susp-a", Phase.SUCCEEDED)
    await wait_until(lambda: all_ended(backend, "susp-a"), what="every replica ended")
    assert [p.restarts for p in await backend.pods(KIND, "susp-a", "default")] == [0, 0]
    text = await log_text(backend, KIND, "susp-a")
    for pod in ("susp-a-master-0", "susp-a-worker-0"):
        mine = [line for line in text if line.startswith(pod)]
        assert mine == [line for line in attempt_lines("susp-a") if line.startswith(pod)] * 2
    assert done.status.start_time is not None


async def all_ended(backend, name: str) -> bool:
    """Every replica has ended: the job succeeds with its Master, a worker may still be printing."""
    return all(p.phase in ("Succeeded", "Failed") for p in await backend.pods(KIND, name, "default"))


async def printed_twice(backend, name: str) -> bool:
    text = await log_text(backend, KIND, name)
    return all(text.count(line) == 2 for line in attempt_lines(name))


async def some_ticks(backend) -> None:
    """Let the monitor tick ten times: time enough to restart, fail or start a job it misjudged."""
    await asyncio.sleep(backend.poll_interval * 10)


async def test_a_suspended_job_stays_suspended_across_a_server_restart(make_backend, tmp_path):
    gate = tmp_path / "gate"
    first = make_backend()
    await first.start()
    job = await first.create(gated_job("susp-b", gate))
    await wait_phase(first, KIND, "susp-b", Phase.RUNNING)
    await first.suspend(KIND, "susp-b", "default")
    await first.stop()

    second = make_backend()
    await second.start()
    await some_ticks(second)
    again = await second.get(KIND, "susp-b", "default")
    assert again.phase is Phase.SUSPENDED and again.manifest["spec"]["runPolicy"]["suspend"] is True
    assert processes_with_uid(job.uid) == []
    await second.resume(KIND, "susp-b", "default")
    await wait_phase(second, KIND, "susp-b", Phase.RUNNING)
    gate.touch()
    await wait_phase(second, KIND, "susp-b", Phase.SUCCEEDED)


async def test_a_job_created_suspended_starts_nothing_until_resumed(make_backend, tmp_path):
    backend = make_backend()
    await backend.start()
    gate = tmp_path / "gate"
    gate.touch()  # runs straight through once started
    job = await backend.create(gated_job("susp-c", gate, run_policy={"suspend": True}))
    assert job.phase is Phase.SUSPENDED
    assert [c["type"] for c in job.status.conditions] == ["Created", "Suspended"]
    await some_ticks(backend)
    assert (await backend.get(KIND, "susp-c", "default")).phase is Phase.SUSPENDED
    assert processes_with_uid(job.uid) == []
    assert await log_text(backend, KIND, "susp-c") == [
        f"susp-c-{role}-0: waiting: the job is suspended; its replicas start again when it is resumed"
        for role in ("master", "worker")]

    await backend.resume(KIND, "susp-c", "default")

    await wait_phase(backend, KIND, "susp-c", Phase.SUCCEEDED)
    await wait_until(lambda: all_ended(backend, "susp-c"), what="every replica ended")
    assert await log_text(backend, KIND, "susp-c") == attempt_lines("susp-c")


async def test_refusals_are_said_in_words(make_backend, tmp_path):
    backend = make_backend()
    await backend.start()
    await backend.create(pytorch_job("susp-d", behave("print:done"), workers=1))
    await wait_phase(backend, KIND, "susp-d", Phase.SUCCEEDED)
    with pytest.raises(InvalidRequest, match="has succeeded: a finished job cannot be suspended"):
        await backend.suspend(KIND, "susp-d", "default")
    with pytest.raises(InvalidRequest, match="is not suspended"):
        await backend.resume(KIND, "susp-d", "default")

    gate = tmp_path / "gate"
    await backend.create(gated_job("susp-e", gate))
    with pytest.raises(InvalidRequest, match="is not suspended"):
        await backend.resume(KIND, "susp-e", "default")
    await backend.suspend(KIND, "susp-e", "default")
    with pytest.raises(InvalidRequest, match="is suspended already"):
        await backend.suspend(KIND, "susp-e", "default")
    assert (await backend.get(KIND, "susp-e", "default")).phase is Phase.SUSPENDED
