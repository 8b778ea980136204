"""Backend.suspend and Backend.resume on every backend that can suspend (CAP_SUSPEND): a job stops and
is kept, starts again and runs to its end, a job created suspended starts nothing, and every refusal
is InvalidRequest or JobNotFound before anything changes.

What stays readable differs by where replicas live, and the suite says so rather than skipping: a
cluster's operator deletes the pods of a suspended job (their logs go with them: a log read then
names no pod), the local backend keeps each replica listed as Pending with the log it printed.
"""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.base import CAP_EVENTS, CAP_SUSPEND
from dtrain_jupyter.errors import InvalidRequest, JobNotFound
from dtrain_jupyter.model.job import Job
from dtrain_jupyter.model.status import Phase

from .harness import KIND, NAMESPACE, rank_line, wait_until


@pytest.fixture
def suspending(harness):
    """The harness of a backend that can suspend; any other is skipped by what it says it can do."""
    if CAP_SUSPEND not in harness.backend.capabilities:
        pytest.skip(f"{harness.label} does not offer {CAP_SUSPEND!r}")
    return harness


def condition(job: Job, ctype: str) -> tuple[str, str]:
    found = next((c for c in job.status.conditions if c["type"] == ctype), {})
    return str(found.get("status", "")), str(found.get("reason", ""))


async def log_lines(backend, name: str) -> list[tuple[str, str]]:
    return [(ln.pod, ln.line) async for ln in await backend.logs(KIND, name, NAMESPACE)]


async def events_about(backend, name: str, reason: str) -> bool:
    return any(e.object_kind == KIND and e.object_name == name and e.reason == reason
               for e in await backend.events(KIND, name, NAMESPACE))


async def test_a_suspended_job_stops_and_is_kept_then_resumes_and_runs_to_its_end(suspending) -> None:
    harness, backend = suspending, suspending.backend
    name = harness.unique("susp")
    await harness.create(name)
    await harness.running(name)

    answered = await backend.suspend(KIND, name, NAMESPACE)

    assert answered.name == name and answered.manifest["spec"]["runPolicy"]["suspend"] is True
    job = await harness.suspended(name)
    assert condition(job, "Suspended") == ("True", f"{KIND}Suspended")
    assert condition(job, "Running")[0] != "True"
    assert all(counts.active == 0 for counts in job.status.replicas.values())
    pods = await harness.pods(name)
    lines = await log_lines(backend, name)  # answers, whether or not replicas are left to read
    assert {pod for pod, _ in lines} <= {p.name for p in pods}
    for pod in pods:  # a replica still listed keeps what it printed
        assert rank_line(pod.name) in [line for p, line in lines if p == pod.name], (pod.name, lines)
    if CAP_EVENTS in backend.capabilities:
        await wait_until(lambda: events_about(backend, name, f"{KIND}Suspended"), what=f"{name}: a Suspended event")

    resumed = await harness.resume(name)

    assert resumed.manifest["spec"]["runPolicy"]["suspend"] is False
    async def running_again() -> Job | None:
        job = await backend.get(KIND, name, NAMESPACE)
        return job if job.status.phase is Phase.RUNNING else None
    job = await wait_until(running_again, what=f"{name}: Running after the resume")
    assert condition(job, "Suspended") == ("False", f"{KIND}Resumed")
    assert job.status.start_time
    assert [(p.name, p.phase) for p in await harness.pods(name)] == [
        (f"{name}-master-0", "Running"), (f"{name}-worker-0", "Running")]  # the same replicas, started again
    if CAP_EVENTS in backend.capabilities:
        await wait_until(lambda: events_about(backend, name, f"{KIND}Resumed"), what=f"{name}: a Resumed event")
    await harness.end(name)
    done = await harness.finished(name)
    assert condition(done, "Succeeded")[0] == "True"


async def test_a_job_created_suspended_starts_nothing_until_resumed(suspending) -> None:
    harness, backend = suspending, suspending.backend
    name = harness.unique("held")
    manifest = harness.manifest(name)
    manifest["spec"]["runPolicy"] = {"suspend": True}
    await backend.create(manifest)
    harness.created.append(name)

    job = await harness.suspended(name)

    assert condition(job, "Suspended") == ("True", f"{KIND}Suspended")
    assert condition(job, "Running") == ("", "")  # it never ran
    printed = [line for _, line in await log_lines(backend, name)]
    assert not [p.name for p in await harness.pods(name) if rank_line(p.name) in printed], printed
    with pytest.raises(InvalidRequest, match="is suspended already"):
        await backend.suspend(KIND, name, NAMESPACE)

    await harness.resume(name)

    await harness.end(name)
    await harness.finished(name)


async def test_refusals_change_nothing(suspending) -> None:
    harness, backend = suspending, suspending.backend
    finished = await harness.shared_job("finished")
    with pytest.raises(InvalidRequest, match="a finished job cannot be suspended") as err:
        await backend.suspend(KIND, finished, NAMESPACE)
    assert err.value.fields["phase"] == "Succeeded"
    with pytest.raises(InvalidRequest, match="is not suspended"):
        await backend.resume(KIND, finished, NAMESPACE)

    running = await harness.shared_job("running")
    with pytest.raises(InvalidRequest, match="is not suspended") as err:
        await backend.resume(KIND, running, NAMESPACE)
    assert err.value.fields["phase"] == "Running"
    job = await backend.get(KIND, running, NAMESPACE)
    assert job.status.phase is Phase.RUNNING and not (job.manifest["spec"].get("runPolicy") or {}).get("suspend")

    for verb in (backend.suspend, backend.resume):
        with pytest.raises(JobNotFound):
            await verb(KIND, "ghost", NAMESPACE)


async def test_suspending_twice_is_refused_while_the_job_stays_suspended(suspending) -> None:
    harness, backend = suspending, suspending.backend
    name = harness.unique("twice")
    await harness.create(name)
    await harness.running(name)
    await backend.suspend(KIND, name, NAMESPACE)
    await harness.suspended(name)

    with pytest.raises(InvalidRequest, match="is suspended already") as err:
        await backend.suspend(KIND, name, NAMESPACE)

    assert err.value.fields["phase"] == "Suspended"
    job = await backend.get(KIND, name, NAMESPACE)
    assert job.status.phase is Phase.SUSPENDED and job.manifest["spec"]["runPolicy"]["suspend"] is True
