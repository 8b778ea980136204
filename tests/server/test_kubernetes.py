"""Both backends side by side behind one server: the local one and Kubernetes (the API test double)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.kube_double.fixtures import kube_double  # noqa: F401  (the fixture itself)

from .conftest import job_path, pytorch_manifest, unique


@pytest.fixture
def dtrain_config(tmp_path: Path, kube_double: Any) -> dict[str, Any]:  # noqa: F811
    return {"backend": "local,kubernetes", "state_dir": str(tmp_path / "state"), "grace_seconds": 1.0,
            "kubeconfig": str(kube_double.kubeconfig_path), "kube_context": "double"}


async def wait_phase(api, path: tuple[str, ...], phases: set[str], timeout: float = 60) -> dict:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        code, job, _ = await api(*path)
        assert code == 200, job
        if job["status"]["phase"] in phases:
            return job
        assert loop.time() < end, job["status"]
        await asyncio.sleep(0.1)


async def test_one_server_two_backends(api, kube_double: Any) -> None:  # noqa: F811
    code, body, _ = await api("backends")
    described = {b["backend"]: b for b in body["items"]}
    assert set(described) == {"local", "kubernetes"} and described["local"]["default"] is True

    here, there = unique("here"), unique("there")
    code, local_job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(here)})
    assert code == 201 and local_job["backend"] == "local"
    code, cluster_job, headers = await api("jobs", method="POST", params={"backend": "kubernetes"},
                                           body={"manifest": pytorch_manifest(there)})
    assert code == 201, cluster_job
    assert (cluster_job["backend"], cluster_job["context"], cluster_job["namespace"]) == ("kubernetes", "double", "default")
    assert "/dtrain/api/kubernetes/namespaces/default/pytorchjobs/" + there in headers["Location"]
    assert kube_double.get_object("kubeflow.org/v1", "pytorchjobs", "default", there) is not None

    # One list shows both, each saying where it lives. The cluster side lists from a watch
    # cache, so a job just created may take a moment to appear there.
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while True:
        code, listed, _ = await api("jobs")
        where = {j["name"]: j["backend"] for j in listed["items"]}
        if there in where or loop.time() > end:
            break
        await asyncio.sleep(0.1)
    assert where.get(here) == "local" and where.get(there) == "kubernetes" and listed["problems"] == []

    path = job_path(cluster_job)
    await wait_phase(api, path, {"Running", "Succeeded"})
    code, pods, _ = await api(*path, "pods")
    assert code == 200 and {p["replica_type"] for p in pods["items"]} == {"Master", "Worker"}
    code, lines, _ = await api(*path, "log")
    assert code == 200 and lines and all(line["pod"] for line in lines)

    code, gone, _ = await api(*path, method="DELETE")
    assert code == 202
    await api(*job_path(local_job), method="DELETE")


async def test_a_cluster_refusal_keeps_its_reason(api, kube_double: Any) -> None:  # noqa: F811
    kube_double.forbid("create", "pytorchjobs", "default")
    code, err, _ = await api("kubernetes", "namespaces", "default", "pytorchjobs", method="POST",
                             body={"manifest": pytorch_manifest(unique())})
    assert code == 403 and err["error"] == "Forbidden" and err["message"]


async def test_a_down_cluster_does_not_hide_local_jobs(api, kube_double: Any) -> None:  # noqa: F811
    name = unique()
    await api("jobs", method="POST", body={"manifest": pytorch_manifest(name)})
    kube_double.set_down(True)
    code, listed, _ = await api("jobs", params={"name": name})
    assert code == 200 and [j["name"] for j in listed["items"]] == [name]
    if listed["problems"]:  # a cached watch may still answer; when it cannot, it says so
        assert listed["problems"][0]["backend"] == "kubernetes"
    kube_double.set_down(False)
    await api("local", "namespaces", "default", "pytorchjobs", name, method="DELETE")
