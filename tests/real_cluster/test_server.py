"""The REST API on the Kubernetes backend against the real control plane (tests/cluster).

A real Jupyter server (pytest-jupyter's `jp_fetch`) with `c.DTrain.backend = "kubernetes"`
talks to a real kube-apiserver and the Kubeflow training-operator; the node agent runs the
pods (annotations `dtrain.test/*` on the replica templates choose what they do). Each test
names its jobs afresh and labels them, so the tests share one cluster without colliding.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any, Awaitable, Callable

import pytest
from traitlets.config import Config

from tests.cluster.fixtures import unique
from tests.server.conftest import api  # noqa: F401 - the `api` fixture is used by name

JOBS = ("kubernetes", "namespaces", "default", "pytorchjobs")
# Generous: two slow shared cores run the control plane, the operator and the server.
JOB_TIMEOUT = 120.0
STREAM_TIMEOUT = 180.0


@pytest.fixture
def user() -> str:
    """Whose kubeconfig the server uses: "admin", or "dev" (jobs in namespace default only)."""
    return "admin"


@pytest.fixture
def jp_server_config(cluster: Any, user: str) -> Config:
    kubeconfig = cluster.kubeconfig_path if user == "admin" else cluster.limited_kubeconfig_path
    return Config({
        "ServerApp": {"jpserver_extensions": {"dtrain_jupyter": True}},
        "DTrain": {"backend": "kubernetes", "kubeconfig": kubeconfig},
    })


def manifest(name: str, *, run_seconds: float | None = None, log_interval: float = 0.5) -> dict[str, Any]:
    """A PyTorchJob with one Master and one Worker; without run_seconds its pods run until told."""
    notes = {"dtrain.test/log-interval": str(log_interval)}
    if run_seconds is not None:
        notes["dtrain.test/run-seconds"] = str(run_seconds)
    container = {"name": "pytorch", "image": "python:3.11", "command": ["python", "train.py", "--epochs", "3"]}
    replica = {"replicas": 1, "restartPolicy": "Never",
               "template": {"metadata": {"annotations": notes}, "spec": {"containers": [container]}}}
    meta = {"name": name, "labels": {"dtrain-test": "real-server"}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": meta,
            "spec": {"pytorchReplicaSpecs": {"Master": replica, "Worker": copy.deepcopy(replica)}}}


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = JOB_TIMEOUT) -> Any:
    """Await check() until it returns something truthy; fail naming `what` and the last value."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert loop.time() < end, f"timed out waiting for {what}; last: {value!r}"
        await asyncio.sleep(0.25)


def in_cluster(cluster: Any, name: str, namespace: str = "default") -> dict | None:
    """The PyTorchJob as the API server holds it, or None."""
    obj = cluster.api("GET", f"/apis/kubeflow.org/v1/namespaces/{namespace}/pytorchjobs/{name}", ok=(200, 404))
    return obj if obj.get("kind") == "PyTorchJob" else None


async def phase_of(api, name: str, phases: set[str]) -> dict | None:  # noqa: F811
    code, job, _ = await api(*JOBS, name)
    assert code == 200, job
    return job if job["status"]["phase"] in phases else None


async def delete_and_wait_gone(api, cluster: Any, name: str, namespace: str = "default") -> None:  # noqa: F811
    code, body, _ = await api("kubernetes", "namespaces", namespace, "pytorchjobs", name, method="DELETE")
    assert code == 202, body

    async def gone() -> bool:
        code, _, _ = await api("kubernetes", "namespaces", namespace, "pytorchjobs", name)
        return code == 404 and in_cluster(cluster, name, namespace) is None

    await until(gone, f"{name} to be deleted")


async def test_create_list_get_pods_events_delete(api, cluster: Any) -> None:  # noqa: F811
    name = unique("rest")
    code, job, headers = await api("jobs", method="POST", body={"manifest": manifest(name)})
    assert code == 201, job
    assert headers["Location"].endswith("/dtrain/api/kubernetes/namespaces/default/pytorchjobs/" + name)
    assert (job["backend"], job["kind"], job["namespace"], job["name"]) == ("kubernetes", "PyTorchJob", "default", name)
    stored = in_cluster(cluster, name)
    assert stored is not None and stored["metadata"]["labels"]["dtrain-test"] == "real-server"
    assert job["uid"] == stored["metadata"]["uid"]

    async def listed() -> dict | None:
        code, body, _ = await api("jobs", params={"name": name})
        assert code == 200, body
        return body if [j["name"] for j in body["items"]] == [name] else None

    body = await until(listed, f"{name} in the job list")
    assert body["problems"] == [] and body["items"][0]["backend"] == "kubernetes"
    code, body, _ = await api(*JOBS)
    assert code == 200 and name in [j["name"] for j in body["items"]]

    running = await until(lambda: phase_of(api, name, {"Running"}), f"{name} Running")
    assert running["uid"] == job["uid"]

    async def pods_running() -> list | None:
        code, body, _ = await api(*JOBS, name, "pods")
        assert code == 200, body
        items = body["items"]
        return items if len(items) == 2 and all(p["phase"] == "Running" for p in items) else None

    pods = await until(pods_running, f"both pods of {name} Running")
    assert sorted((p["replica_type"], p["replica_index"]) for p in pods) == [("Master", 0), ("Worker", 0)]
    assert {p["name"] for p in pods} == {f"{name}-master-0", f"{name}-worker-0"}
    assert all(p["node"] == "dtrain-node" and p["job_name"] == name for p in pods)
    by_label = f"/api/v1/namespaces/default/pods?labelSelector=training.kubeflow.org/job-name={name}"
    assert len(cluster.api("GET", by_label)["items"]) == 2

    async def some_steps() -> list | None:
        code, lines, _ = await api(*JOBS, name, "log", params={"pod": f"{name}-worker-0"})
        assert code == 200, lines
        return lines if any(line["line"] == "step 2" for line in lines) else None

    lines = await until(some_steps, f"step lines in {name}-worker-0's log")
    assert lines[0]["pod"] == f"{name}-worker-0"
    assert "$ python train.py --epochs 3" in [line["line"] for line in lines]

    async def pod_created_events() -> list | None:
        code, body, _ = await api(*JOBS, name, "events")
        assert code == 200, body
        created = [e for e in body["items"] if e["object_kind"] == "PyTorchJob" and e["reason"] == "SuccessfulCreatePod"]
        return body["items"] if len(created) >= 2 or sum(e["count"] for e in created) >= 2 else None

    events = await until(pod_created_events, f"the operator's SuccessfulCreatePod events of {name}")
    assert all(e["object_name"] in {name, f"{name}-master-0", f"{name}-worker-0"} for e in events)

    code, deleting, _ = await api(*JOBS, name, method="DELETE")
    assert code == 202, deleting
    assert deleting["name"] == name and deleting["status"]["phase"] == "Deleting"

    async def gone() -> bool:
        code, body, _ = await api(*JOBS, name)
        return (code == 404 and body["error"] == "JobNotFound" and in_cluster(cluster, name) is None
                and not cluster.api("GET", by_label)["items"])

    await until(gone, f"{name} and its pods to be deleted")


async def test_follow_streams_ndjson_until_the_containers_exit(api, cluster: Any) -> None:  # noqa: F811
    name = unique("follow")
    code, job, _ = await api(*JOBS, method="POST", body={"manifest": manifest(name, run_seconds=4)})
    assert code == 201, job

    # Asked at once, before any pod exists: a follower picks pods up as they come and ends
    # when the job has finished and every container has exited.
    code, lines, headers = await api(*JOBS, name, "log", params={"follow": "true"}, request_timeout=STREAM_TIMEOUT)
    assert code == 200, lines
    assert headers["Content-Type"].startswith("application/x-ndjson")
    assert not any("error" in line for line in lines), lines
    for pod in (f"{name}-master-0", f"{name}-worker-0"):
        text = [line["line"] for line in lines if line["pod"] == pod]
        assert "$ python train.py --epochs 3" in text and "step 1" in text, (pod, text)
        assert text[-1] == "[dtrain-node] container pytorch exited with code 0", (pod, text)

    code, done, _ = await api(*JOBS, name)
    assert code == 200 and done["status"]["phase"] == "Succeeded", done["status"]
    await delete_and_wait_gone(api, cluster, name)


async def test_dry_run_and_validate_create_nothing(api, cluster: Any) -> None:  # noqa: F811
    name = unique("dry")
    code, job, _ = await api("jobs", method="POST", params={"dry_run": "true"}, body={"manifest": manifest(name)})
    assert code == 201 and job["name"] == name and job["namespace"] == "default", job
    code, err, _ = await api(*JOBS, name)
    assert code == 404 and err["error"] == "JobNotFound"
    assert in_cluster(cluster, name) is None

    code, verdict, _ = await api("validate", method="POST", body={"manifest": manifest(name)})
    assert code == 200 and verdict == {"valid": True, "issues": [], "manifests": [manifest(name)]}
    bad = manifest(name)
    bad["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = -1
    code, verdict, _ = await api("validate", method="POST", body={"manifest": bad})
    assert code == 200 and verdict["valid"] is False
    assert [i["path"] for i in verdict["issues"]] == ["spec.pytorchReplicaSpecs.Worker.replicas"]
    assert in_cluster(cluster, name) is None


@pytest.mark.parametrize("dry_run", [False, True], ids=["create", "dry-run"])
async def test_a_schema_refusal_by_the_api_server_keeps_the_field_path(api, cluster: Any, dry_run: bool) -> None:  # noqa: F811
    # Our offline rules do not model container ports; the CRD's schema does (an integer), so
    # the refusal and its field path come from the API server.
    name = unique("schema")
    bad = manifest(name)
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": "eighty"}]
    code, verdict, _ = await api("validate", method="POST", body={"manifest": bad})
    assert code == 200 and verdict["valid"] is True, "the offline rules caught it: pick a field only the CRD checks"
    code, err, _ = await api(*JOBS, method="POST", params={"dry_run": str(dry_run).lower()}, body={"manifest": bad})
    assert code == 422, err
    assert err["error"] == "InvalidJob"
    paths = [i["path"] for i in err["issues"]]
    assert "spec.pytorchReplicaSpecs.Master.template.spec.containers[0].ports[0].containerPort" in paths, err
    assert in_cluster(cluster, name) is None


async def test_a_taken_name_is_409(api, cluster: Any) -> None:  # noqa: F811
    name = unique("taken")
    code, job, _ = await api(*JOBS, method="POST", body={"manifest": manifest(name, run_seconds=1)})
    assert code == 201, job
    code, err, _ = await api("jobs", method="POST", body={"manifest": manifest(name)})
    assert code == 409, err
    assert (err["error"], err["kind"], err["name"], err["namespace"]) == ("JobExists", "PyTorchJob", name, "default")
    assert in_cluster(cluster, name)["metadata"]["uid"] == job["uid"]
    await delete_and_wait_gone(api, cluster, name)


@pytest.mark.parametrize("sub", ["", "pods", "log", "events"], ids=["job", "pods", "log", "events"])
async def test_an_unknown_job_is_404(api, sub: str) -> None:  # noqa: F811
    name = unique("nobody")
    code, err, _ = await api(*JOBS, name, *([sub] if sub else []))
    assert code == 404, err
    assert (err["error"], err["kind"], err["name"], err["namespace"], err["backend"]) == (
        "JobNotFound", "PyTorchJob", name, "default", "kubernetes")


async def test_deleting_an_unknown_job_is_404(api) -> None:  # noqa: F811
    code, err, _ = await api(*JOBS, unique("nobody"), method="DELETE")
    assert code == 404 and err["error"] == "JobNotFound", err


@pytest.mark.parametrize("user", ["dev"])
async def test_a_limited_user_is_refused_outside_its_namespace(api, cluster: Any, user: str) -> None:  # noqa: F811
    name = unique("rbac")
    code, err, _ = await api("kubernetes", "namespaces", "team-a", "pytorchjobs", method="POST",
                             body={"manifest": manifest(name)})
    assert code == 403, err
    assert (err["error"], err["verb"], err["resource"], err["namespace"]) == (
        "Forbidden", "create", "pytorchjobs.kubeflow.org", "team-a")
    # The API server's own sentence is kept: it names the user it refused.
    assert 'User "dev" cannot create resource "pytorchjobs"' in err["message"], err["message"]
    assert in_cluster(cluster, name, "team-a") is None

    # The same user may work in its own namespace.
    code, job, _ = await api(*JOBS, method="POST", body={"manifest": manifest(name, run_seconds=1)})
    assert code == 201 and job["namespace"] == "default", job
    await delete_and_wait_gone(api, cluster, name)


async def test_backends_describe_the_cluster(api, cluster: Any) -> None:  # noqa: F811
    # pytest-jupyter's server does not run the extension's background start: the first use does.
    code, body, _ = await api(*JOBS)
    assert code == 200, body

    async def ready() -> dict | None:
        code, body, _ = await api("backends")
        assert code == 200, body
        (described,) = body["items"]
        return described if described["ready"] else None

    described = await until(ready, "the kubernetes backend to be ready")
    assert (described["backend"], described["server"], described["namespace"]) == ("kubernetes", cluster.url, "default")
    assert described["message"] == ""
