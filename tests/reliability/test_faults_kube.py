"""Faults of the Kubernetes API, on the test double, seen through a real Jupyter server.

The server runs in-process (pytest-jupyter) with both backends, the Kubernetes one pointed at
the double; each test breaks the double in one way and checks what a user of the REST API sees:
a clear error or a problem entry while it is broken, and normal answers once it recovers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.kube_double.fixtures import kube_double  # noqa: F401  (the fixture itself)
from tests.server.conftest import api, pytorch_manifest, unique  # noqa: F401  (api is a fixture)

KUBE = ("kubernetes", "namespaces", "default")


async def wait_for(api: Any, pick: Any, params: dict | None = None, timeout: float = 60) -> Any:
    """List jobs until `pick(body)` is truthy; returns what it picked."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        code, body, _ = await api("jobs", params=params)
        found = pick(body) if code == 200 else None
        if found:
            return found
        assert loop.time() < end, (code, body)
        await asyncio.sleep(0.1)


async def wait_listed(api: Any, name: str, params: dict | None = None, timeout: float = 60) -> dict:
    return await wait_for(api, lambda b: {j["name"]: j for j in b["items"]}.get(name), params, timeout)


@pytest.fixture
def dtrain_config(request: Any, tmp_path: Path, kube_double: Any) -> dict[str, Any]:  # noqa: F811
    # RBAC rules marked on a test hold from before the server (and its backends) start.
    for marker in request.node.iter_markers("forbid"):
        kube_double.forbid(*marker.args)
    return {"backend": "local,kubernetes", "state_dir": str(tmp_path / "state"), "grace_seconds": 1.0,
            "kubeconfig": str(kube_double.kubeconfig_path), "kube_context": "double",
            "allowed_namespaces": ["default", "team-a"]}


@pytest.fixture
def jp_server_config(dtrain_config: dict[str, Any]) -> Any:
    from traitlets.config import Config

    return Config({"ServerApp": {"jpserver_extensions": {"dtrain_jupyter": True}}, "DTrain": dtrain_config})


def create_in_cluster(kd: Any, name: str, namespace: str = "default") -> None:
    """A job created by someone else (kubectl): it must reach our list through the watch."""
    manifest = pytorch_manifest(name)
    manifest["metadata"]["namespace"] = namespace
    kd.put_raw("kubeflow.org/v1", "pytorchjobs", namespace, manifest)


async def test_cluster_down_at_start_then_back(api, kube_double: Any) -> None:  # noqa: F811
    kube_double.set_down(True)
    code, body, _ = await api("jobs")
    assert code == 200 and [p["backend"] for p in body["problems"]] == ["kubernetes"], body
    assert body["problems"][0]["message"]
    code, err, _ = await api(*KUBE, "pytorchjobs")
    assert code == 503 and err["error"] == "BackendUnavailable" and err["message"], err
    code, _, _ = await api("backends")
    assert code == 200  # the server itself answers throughout

    kube_double.set_down(False)
    name = unique("back")
    create_in_cluster(kube_double, name)
    await wait_listed(api, name, timeout=90)
    code, body, _ = await api("jobs")
    assert body["problems"] == [] and name in [j["name"] for j in body["items"]]


async def test_connection_dropped_mid_watch(api, kube_double: Any) -> None:  # noqa: F811
    first = unique("w1")
    create_in_cluster(kube_double, first)
    await wait_listed(api, first)
    for _ in range(3):
        kube_double.drop_watches()
        await asyncio.sleep(0.2)
    second = unique("w2")
    create_in_cluster(kube_double, second)
    await wait_listed(api, second)


async def test_410_gone_relists(api, kube_double: Any) -> None:  # noqa: F811
    first = unique("g1")
    create_in_cluster(kube_double, first)
    await wait_listed(api, first)
    second = unique("g2")
    create_in_cluster(kube_double, second)
    kube_double.compact()  # our resourceVersion is now too old: the resumed watch gets 410
    kube_double.drop_watches()
    third = unique("g3")
    create_in_cluster(kube_double, third)
    await wait_listed(api, second)
    await wait_listed(api, third)


@pytest.mark.parametrize("status", [429, 500])
async def test_retry_with_backoff(api, kube_double: Any, status: int) -> None:  # noqa: F811
    name = unique(f"r{status}")
    if status == 429:  # "later": any verb is retried, after Retry-After
        kube_double.fail_next("POST", r"/pytorchjobs$", status=429, times=2, retry_after=1)
        code, job, _ = await api(*KUBE, "pytorchjobs", method="POST", body={"manifest": pytorch_manifest(name)})
        assert code == 201, job
        posts = [r for r in kube_double.request_log if r[0] == "POST" and r[1].endswith("/pytorchjobs")]
        assert len(posts) >= 3  # two refused, then the dry run / create went through
    else:  # a 500 on a read is retried; the write itself is not repeated blindly
        create_in_cluster(kube_double, name)
        kube_double.fail_next("GET", rf"/pytorchjobs/{name}$", status=500, times=2)
        kube_double.fail_next("GET", rf"/pods$", status=500, times=2)
        code, pods, _ = await api(*KUBE, "pytorchjobs", name, "pods")
        assert code == 200, pods
    kube_double.fail_next("POST", r"/pytorchjobs$", status=500, times=1)
    code, err, _ = await api(*KUBE, "pytorchjobs", method="POST", body={"manifest": pytorch_manifest(unique("once"))})
    assert code in (201, 502), err  # a write answered 500 is reported, not silently repeated
    if code == 502:
        assert err["error"] == "ClusterError" and err["message"]


# How long the cluster holds a create at most, should the server never let the test go on (a
# server whose loop waits on the cluster cannot answer the test's other requests until then).
HOLD_AT_MOST = 30.0


def hold_creates(monkeypatch: Any, arrived: threading.Event, release: threading.Event) -> None:
    """Make the double hold every PyTorchJob create until `release` is set, setting `arrived` when one comes."""
    from tests.kube_double.server import KubeHandler

    answer = KubeHandler.prepare

    async def prepare(self: Any) -> None:
        if self.request.method == "POST" and self.request.path.endswith("/pytorchjobs"):
            arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, release.wait)  # the double's loop waits, not blocks
        await answer(self)

    monkeypatch.setattr(KubeHandler, "prepare", prepare)


async def test_slow_cluster_does_not_block_other_requests(api, kube_double: Any, monkeypatch: Any) -> None:  # noqa: F811
    await api(*KUBE, "pytorchjobs")  # start the backend while the double answers at once
    arrived, release = threading.Event(), threading.Event()
    hold_creates(monkeypatch, arrived, release)
    safety = threading.Timer(HOLD_AT_MOST, release.set)
    safety.start()
    slow = asyncio.ensure_future(api(*KUBE, "pytorchjobs", method="POST",
                                     body={"manifest": pytorch_manifest(unique("slow"))}))
    try:
        # Given a create the cluster holds, when other requests come, then each is answered
        # while the cluster still holds it (not once it has let it go).
        while not arrived.is_set() and not release.is_set():
            await asyncio.sleep(0.02)
        for path in (("backends",), ("local", "namespaces", "default", "pytorchjobs"), ("validate",)):
            kw = {"method": "POST", "body": {"manifest": pytorch_manifest("v")}} if path == ("validate",) else {}
            code, _, _ = await api(*path, **kw)
            assert code == 200
            assert not release.is_set(), f"/{'/'.join(path)} was answered only once the cluster let the create go"
        assert not slow.done()
    finally:
        release.set()
        safety.cancel()
    code, job, _ = await slow
    assert code == 201, job


async def test_rbac_refusal_on_create(api, kube_double: Any) -> None:  # noqa: F811
    kube_double.forbid("create", "pytorchjobs", "default")
    code, err, _ = await api(*KUBE, "pytorchjobs", method="POST", body={"manifest": pytorch_manifest(unique())})
    assert code == 403 and err["error"] == "Forbidden" and "create" in err["message"], err
    code, body, _ = await api(*KUBE, "pytorchjobs")
    assert code == 200


@pytest.mark.forbid("list", "pytorchjobs", "team-a")
@pytest.mark.forbid("watch", "pytorchjobs", "team-a")
async def test_rbac_refusal_on_list_in_one_namespace(api, kube_double: Any) -> None:  # noqa: F811
    kept = unique("kept")
    create_in_cluster(kube_double, kept)
    create_in_cluster(kube_double, unique("hidden"), namespace="team-a")
    await wait_listed(api, kept, params={"backend": "kubernetes", "all_namespaces": "true"})
    code, body, _ = await api("jobs", params={"all_namespaces": "true"})
    assert code == 200 and kept in [j["name"] for j in body["items"]], body
    assert all(j["namespace"] != "team-a" for j in body["items"] if j["backend"] == "kubernetes")
    # The refused namespace itself says why, as a 403 naming it.
    code, err, _ = await api("kubernetes", "namespaces", "team-a", "pytorchjobs")
    assert code == 403 and err["error"] == "Forbidden" and "team-a" in err["message"], err


async def test_a_malformed_object_shows_as_a_row_with_an_error(api, kube_double: Any) -> None:  # noqa: F811
    good = unique("good")
    create_in_cluster(kube_double, good)
    bad = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
           "metadata": {"name": "broken-one", "namespace": "default"},
           "spec": {"pytorchReplicaSpecs": "not a mapping", "runPolicy": 7},
           "status": {"conditions": "nope", "replicaStatuses": [1, 2]}}
    kube_double.put_raw("kubeflow.org/v1", "pytorchjobs", "default", bad)
    await wait_listed(api, good)
    rows = await wait_for(api, lambda b: {j["name"]: j for j in b["items"]}.get("broken-one"),
                          params={"backend": "kubernetes"})
    assert rows["error"], rows
    code, body, _ = await api("jobs", params={"backend": "kubernetes"})
    assert code == 200 and good in [j["name"] for j in body["items"]]
    code, one, _ = await api(*KUBE, "pytorchjobs", "broken-one")
    assert code == 200 and one["error"]
    # The cluster's operator (the double's simulator) skips the broken object and goes on.
    later = unique("later")
    create_in_cluster(kube_double, later)
    await wait_for(api, lambda b: any(j["name"] == later and j["status"]["phase"] in ("Running", "Succeeded")
                                      for j in b["items"]), params={"backend": "kubernetes"})


async def test_a_followed_log_survives_a_dropped_connection(jp_fetch, kube_double: Any) -> None:  # noqa: F811
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)  # runs until told
    name = unique("follow")
    create_in_cluster(kube_double, name)
    lines: list[dict] = []
    buffer = bytearray()

    def on_chunk(chunk: bytes) -> None:
        buffer.extend(chunk)
        while b"\n" in buffer:
            raw, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            if raw.strip():
                lines.append(json.loads(raw))

    def per_pod(start: int = 0) -> dict[str, int]:
        counts: dict[str, int] = {}
        for x in lines[start:]:
            if "step" in x.get("line", ""):
                counts[x["pod"]] = counts.get(x["pod"], 0) + 1
        return counts

    async def until(start: int, timeout: float = 30) -> None:
        """Until both pods (master and worker) have logged 3 steps after line `start`."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not (len(per_pod(start)) == 2 and min(per_pod(start).values()) >= 3):
            assert loop.time() < end, f"after line {start}: {per_pod(start)}; last: {lines[-3:]}"
            await asyncio.sleep(0.05)

    follow = asyncio.ensure_future(jp_fetch(
        "dtrain", "api", *KUBE, "pytorchjobs", name, "log", params={"follow": "true"},
        streaming_callback=on_chunk, request_timeout=120, raise_error=False))
    try:
        await until(0)  # both pods' logs are being read
        kube_double.drop_watches()  # cuts the API server's log streams too
        await until(len(lines), timeout=15)  # both go on after the cut
        assert not any("error" in x and "line" not in x for x in lines), lines[-3:]
        for pod in per_pod():  # re-opened after the last line read: nothing repeated, nothing lost
            got = [x["line"] for x in lines if x["pod"] == pod and "step " in x["line"]]
            kept = [x.rstrip("\n") for x in kube_double.logs.read(("default", pod, "pytorch"))]
            start = kept.index(got[0])
            assert kept[start:start + len(got)] == got, (pod, got, kept)
        kube_double.simulator.finish(name)
        response = await asyncio.wait_for(follow, 60)
        assert response.code == 200
    finally:
        if not follow.done():
            follow.cancel()
            with contextlib.suppress(BaseException):
                await follow
