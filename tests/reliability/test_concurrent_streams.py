"""Many follows and lists at once through one real server: every line, whole lists, streams released.

The server is a `jupyter server` on the Kubernetes backend, pointed at the API test double (as
in the load soak, `load.py`), with no writer thread: the test writes the lines it expects. Log
readers are started off the server loop and the pod list is re-read once a poll rather than once
a line (issue 18); neither may lose, repeat or reorder a line, and a client that hangs up must
still stop the server's upstream stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest

from .load import Cluster, start_server

JOBS = 40
FOLLOWED = 10         # jobs followed, each by FOLLOWERS_EACH clients at once
FOLLOWERS_EACH = 2
LISTS = 20            # list requests made while the follows run
MARKS = 20            # lines written to each followed pod once every follower has its tail
WARM_UP = [f"warm-up line {i}" for i in range(5)]  # what Cluster wrote to each running pod


@pytest.fixture(scope="module")
def loaded(conformance_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    cluster = Cluster(conformance_dir / "crds", JOBS, writing=False)
    # The job history follows running pods itself; this test counts the clients' streams only.
    server = start_server(tmp_path_factory.mktemp("streams"), cluster, history=False)
    try:
        yield server, cluster
    finally:
        server.stop()
        cluster.stop()


def _followers_at_the_double(cluster: Cluster) -> int:
    return sum(len(callbacks) for callbacks in cluster.kd.logs._followers.values())


def _write_to(cluster: Cluster, jobs: list[str], text: str) -> None:
    for job in jobs:
        for pod in cluster.running_pods[job]:
            container = next(c for p, c in cluster.running if p == pod)
            cluster.kd.logs.write(("default", pod, container), text)


async def test_concurrent_follows_and_lists_get_every_line_and_release_their_streams(loaded) -> None:
    server, cluster = loaded
    jobs = [j for j in cluster.followed if cluster.running_pods[j]][:FOLLOWED]
    assert len(jobs) == FOLLOWED, cluster.running_pods
    async with httpx.AsyncClient(base_url=server.url + "dtrain/api/", headers=server.headers, timeout=60,
                                 limits=httpx.Limits(max_connections=200)) as http:
        listed = (await http.get("jobs", params={"all_namespaces": "true"})).json()["items"]
        paths = {j["name"]: f"{j['backend']}/namespaces/{j['namespace']}/{j['kind'].lower()}s/{j['name']}/log"
                 for j in listed if j["name"] in jobs}
        have_tail: list[asyncio.Event] = []

        async def follow(job: str) -> dict[str, list[str]]:
            """Every line of the job's pods, by pod, until each pod has its tail and every mark; then hang up."""
            tailed = asyncio.Event()
            have_tail.append(tailed)
            want = {pod: WARM_UP + [f"mark {i}" for i in range(MARKS)] for pod in cluster.running_pods[job]}
            got: dict[str, list[str]] = {pod: [] for pod in want}
            async with http.stream("GET", paths[job], params={"follow": "true", "tail": "5"}) as r:
                assert r.status_code == 200, await r.aread()
                async for raw in r.aiter_lines():
                    if not raw.strip():
                        continue
                    line = json.loads(raw)
                    assert "error" not in line, line
                    got[line["pod"]].append(line["line"])
                    if all(len(got[p]) >= len(WARM_UP) for p in want):
                        tailed.set()
                    if all(len(got[p]) >= len(want[p]) for p in want):
                        break  # leaves the stream open at the server: the client hangs up
            assert got == want, job
            return got

        async def list_all() -> None:
            r = await http.get("jobs", params={"all_namespaces": "true"})
            assert r.status_code == 200
            items = r.json()["items"]
            assert len(items) == JOBS and all({"name", "kind", "status"} <= item.keys() for item in items)

        follows = [asyncio.ensure_future(follow(job)) for job in jobs for _ in range(FOLLOWERS_EACH)]
        lists = [asyncio.ensure_future(list_all()) for _ in range(LISTS)]
        while len(have_tail) < len(follows) or not all(e.is_set() for e in have_tail):
            assert not any(f.done() and f.exception() for f in follows), [f.exception() for f in follows if f.done()]
            await asyncio.sleep(0.05)
        # Each follower reads each pod of its job through a stream of its own at the double.
        assert _followers_at_the_double(cluster) >= sum(len(cluster.running_pods[j]) for j in jobs) * FOLLOWERS_EACH
        for i in range(MARKS):
            _write_to(cluster, jobs, f"mark {i}")
        await asyncio.wait_for(asyncio.gather(*follows, *lists), 120)

    # Every follower has hung up: the server's readers stop and the double loses its followers
    # (the double notices a closed stream when it next writes to it, so lines keep coming).
    deadline = time.monotonic() + 30
    while _followers_at_the_double(cluster):
        assert time.monotonic() < deadline, f"{_followers_at_the_double(cluster)} upstream streams still open"
        _write_to(cluster, jobs, "after the clients left")
        await asyncio.sleep(0.2)
    assert "Traceback" not in server.read_log()
