"""Backend.logs and Backend.log_bytes: what every backend promises, and when it refuses.

Each read is checked against another read of the same log (a tail is the end of the whole log,
a merged read is every pod's log with its name), so the suite needs to know only one line per
pod (`RANK=<rank>`). Every refusal is raised by awaiting the stream, before any line.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from dtrain_jupyter.backends.base import CAP_FOLLOW_BYTES, CAP_PREVIOUS_LOGS, Backend
from dtrain_jupyter.errors import InvalidRequest, JobNotFound, NotFound

from .harness import KIND, NAMESPACE, rank_line, wait_until

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def lines_of(backend: Backend, name: str, **options) -> list:
    return [line async for line in await backend.logs(KIND, name, NAMESPACE, **options)]


async def text_of(backend: Backend, name: str, **options) -> list[str]:
    return [line.line for line in await lines_of(backend, name, **options)]


async def bytes_of(backend: Backend, name: str, **options) -> bytes:
    return b"".join([chunk async for chunk in await backend.log_bytes(KIND, name, NAMESPACE, **options)])


async def test_one_pod_and_all_pods_merged(harness) -> None:
    name = await harness.shared_job("finished")
    backend = harness.backend
    merged = await lines_of(backend, name)
    for pod in (f"{name}-master-0", f"{name}-worker-0"):
        own = await lines_of(backend, name, pod=pod)
        assert rank_line(pod) in [ln.line for ln in own]
        assert all(ln.pod == pod and ln.timestamp is None for ln in own)
        assert [ln.line for ln in merged if ln.pod == pod] == [ln.line for ln in own]
    assert {ln.pod for ln in merged} == {f"{name}-master-0", f"{name}-worker-0"}


async def test_tail_keeps_the_last_lines_of_each_pod(harness) -> None:
    name = await harness.shared_job("finished")
    backend, pod = harness.backend, f"{name}-master-0"
    whole = await text_of(backend, name, pod=pod)
    assert len(whole) >= 2
    assert await text_of(backend, name, pod=pod, tail=1) == whole[-1:]
    assert await text_of(backend, name, pod=pod, tail=2) == whole[-2:]
    assert await text_of(backend, name, pod=pod, tail=len(whole) + 10) == whole
    assert await text_of(backend, name, pod=pod, tail=0) == []
    merged = await lines_of(backend, name, tail=1)
    assert sorted((ln.pod, ln.line) for ln in merged) == sorted(
        [(p, (await text_of(backend, name, pod=p))[-1]) for p in (pod, f"{name}-worker-0")])


async def test_timestamps_are_rfc3339_utc_on_the_same_lines(harness) -> None:
    name = await harness.shared_job("finished")
    backend, pod = harness.backend, f"{name}-worker-0"
    stamped = await lines_of(backend, name, pod=pod, timestamps=True)
    assert [ln.line for ln in stamped] == await text_of(backend, name, pod=pod)
    assert stamped and all(RFC3339_UTC.match(ln.timestamp or "") for ln in stamped), stamped


async def test_since_seconds_keeps_recent_lines_and_refuses_an_empty_window(harness) -> None:
    name = await harness.shared_job("finished")
    backend, pod = harness.backend, f"{name}-master-0"
    assert await text_of(backend, name, pod=pod, since_seconds=3600) == await text_of(backend, name, pod=pod)
    for window in (0, -5):
        with pytest.raises(InvalidRequest):
            await backend.logs(KIND, name, NAMESPACE, pod=pod, since_seconds=window)


async def test_log_bytes_are_the_logs_text(harness) -> None:
    name = await harness.shared_job("finished")
    backend, pod = harness.backend, f"{name}-master-0"
    whole = await text_of(backend, name, pod=pod)
    assert (await bytes_of(backend, name, pod=pod)).decode() == "\n".join(whole) + "\n"
    assert (await bytes_of(backend, name, pod=pod, tail=1)).decode() == whole[-1] + "\n"
    assert await bytes_of(backend, name, pod=pod, tail=0) == b""


async def test_log_bytes_follow_is_the_logs_text_with_follow_bytes_and_refused_without(harness) -> None:
    name = await harness.shared_job("finished")
    backend, pod = harness.backend, f"{name}-master-0"
    if CAP_FOLLOW_BYTES in backend.capabilities:
        # A finished pod's follow drains its log and ends: the same text as a read.
        whole = await text_of(backend, name, pod=pod)
        assert (await bytes_of(backend, name, pod=pod, follow=True)).decode() == "\n".join(whole) + "\n"
    else:
        with pytest.raises(InvalidRequest) as err:
            await backend.log_bytes(KIND, name, NAMESPACE, pod=pod, follow=True)
        assert err.value.to_dict().get("argument") == "follow"


async def test_follow_streams_while_the_job_runs_and_ends_with_it(harness) -> None:
    name = harness.unique("follow")
    await harness.create(name)
    await harness.running(name)
    stream = await harness.backend.logs(KIND, name, NAMESPACE, follow=True)
    seen: list = []

    async def read() -> None:
        async for line in stream:
            seen.append(line)

    reader = asyncio.ensure_future(read())
    try:
        want = {(pod, rank_line(pod)) for pod in (f"{name}-master-0", f"{name}-worker-0")}

        async def both_ranks() -> bool:
            assert not reader.done(), "a followed log ended while its job was running"
            return want <= {(ln.pod, ln.line) for ln in seen}
        await wait_until(both_ranks, what="each pod's RANK line, streamed while the job runs")
        await harness.end(name)
        await asyncio.wait_for(reader, timeout=60)
    finally:
        reader.cancel()
    job = await harness.backend.get(KIND, name, NAMESPACE)
    assert job.status.phase.finished
    # What the stream carried is each pod's whole log, in its order.
    for pod in (f"{name}-master-0", f"{name}-worker-0"):
        assert [ln.line for ln in seen if ln.pod == pod] == await text_of(harness.backend, name, pod=pod)


async def test_previous_reads_the_attempt_before_the_restart(harness) -> None:
    if CAP_PREVIOUS_LOGS not in harness.backend.capabilities:
        pytest.skip(f"{harness.label} keeps no previous logs")  # the service refuses `previous` for it
    name = await harness.shared_job("restarted")
    backend, worker, master = harness.backend, f"{name}-worker-0", f"{name}-master-0"
    previous = await text_of(backend, name, pod=worker, previous=True)
    assert harness.previous_marker in previous
    assert harness.previous_marker not in await text_of(backend, name, pod=worker)
    assert harness.previous_marker in (await bytes_of(backend, name, pod=worker, previous=True)).decode()
    # A merged read of previous logs has only the pods that restarted.
    merged = await lines_of(backend, name, previous=True)
    assert {ln.pod for ln in merged} == {worker} and [ln.line for ln in merged] == previous
    with pytest.raises(InvalidRequest):
        await backend.logs(KIND, name, NAMESPACE, pod=master, previous=True)
    with pytest.raises(InvalidRequest):
        await backend.logs(KIND, name, NAMESPACE, pod=worker, previous=True, follow=True)


async def test_a_pod_without_a_log_yet_is_one_waiting_line(harness) -> None:
    name = await harness.shared_job("waiting")
    backend, pod = harness.backend, f"{name}-master-0"
    one = await text_of(backend, name, pod=pod)
    assert len(one) == 1 and one[0].startswith("waiting: ") and len(one[0]) > len("waiting: ")
    assert (await bytes_of(backend, name, pod=pod)).decode() == one[0] + "\n"
    merged = await lines_of(backend, name)
    assert sorted(ln.pod for ln in merged) == [pod, f"{name}-worker-0"]
    assert all(ln.line.startswith("waiting: ") for ln in merged)


@pytest.mark.parametrize("options, error", [
    ({"tail": -1}, InvalidRequest),
    ({"since_seconds": 0}, InvalidRequest),
    ({"previous": True, "follow": True}, InvalidRequest),
    ({"pod": "someone-else-0"}, NotFound),
    ({"pod": "{name}-master-0", "container": "nope"}, InvalidRequest),
    ({"container": "nope"}, InvalidRequest),
], ids=["negative-tail", "no-window", "previous-follow", "pod-of-another-job", "container-one-pod",
        "container-merged"])
async def test_refusals_are_raised_before_any_line(harness, options, error) -> None:
    name = await harness.shared_job("running")
    options = {k: v.format(name=name) if isinstance(v, str) else v for k, v in options.items()}
    with pytest.raises(error):
        await harness.backend.logs(KIND, name, NAMESPACE, **options)
    if "pod" in options and "follow" not in options and "since_seconds" not in options:
        with pytest.raises(error):
            await harness.backend.log_bytes(KIND, name, NAMESPACE, **options)


async def test_a_missing_job_is_job_not_found_at_the_call(harness) -> None:
    backend = harness.backend
    for options in ({}, {"pod": "ghost-master-0"}, {"follow": True}):
        with pytest.raises(JobNotFound):
            await backend.logs(KIND, "ghost", NAMESPACE, **options)
    with pytest.raises(JobNotFound):
        await backend.log_bytes(KIND, "ghost", NAMESPACE, pod="ghost-master-0")
    # Iterating without awaiting first raises the same, on the first step.
    with pytest.raises(JobNotFound):
        async for _ in backend.logs(KIND, "ghost", NAMESPACE):
            pass
