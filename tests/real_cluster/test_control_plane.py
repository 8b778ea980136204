"""The real control plane itself: what it serves, who may do what, and the node agent's pods and logs.

These hold the promises the other real-cluster tests build on: a stamped version, RBAC with a
limited user, namespaces that finalize, owned pods garbage-collected, pods that move by the
rules their annotations choose, logs read through the API server with the kubelet's options,
and `scripts/cluster.sh up/down` leaving nothing behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.cluster.fixtures import unique

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
REPO = Path(__file__).resolve().parents[2]


def kubectl(cluster, *args: str, kubeconfig: str | None = None, check: bool = True,
            timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "KUBECONFIG": kubeconfig or cluster.kubeconfig_path}
    proc = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def wait_until(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def pod_manifest(name: str, namespace: str = "default", restart: str = "Never", **annotations: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace,
                         "annotations": {f"dtrain.test/{k.replace('_', '-')}": v for k, v in annotations.items()}},
            "spec": {"restartPolicy": restart,
                     "containers": [{"name": "main", "image": "example/train:1", "command": ["python", "train.py"],
                                     "env": [{"name": "RANK", "value": "3"}]}]}}


def pod(cluster, name: str, namespace: str = "default") -> dict:
    return cluster.api("GET", f"/api/v1/namespaces/{namespace}/pods/{name}", ok=(200, 404))


def test_version_is_the_pinned_release(cluster):
    out = json.loads(kubectl(cluster, "version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"] == cluster.version
    assert re.fullmatch(r"v1\.3[5-7]\.\d+", cluster.version)
    assert cluster.url.startswith("https://127.0.0.1:")


def test_the_limited_user_works_in_default_only(cluster):
    can = lambda *a: kubectl(cluster, "auth", "can-i", *a, kubeconfig=cluster.limited_kubeconfig_path,  # noqa: E731
                             check=False).stdout.strip()
    assert can("create", "pytorchjobs.kubeflow.org", "-n", "default") == "yes"
    assert can("get", "pods", "--subresource=log", "-n", "default") == "yes"
    assert can("create", "pytorchjobs.kubeflow.org", "-n", "team-a") == "no"
    assert can("delete", "namespaces") == "no"
    denied = kubectl(cluster, "get", "pods", "-n", "team-a", kubeconfig=cluster.limited_kubeconfig_path, check=False)
    assert denied.returncode != 0 and 'User "dev" cannot list resource "pods"' in denied.stderr


def test_a_wrong_token_is_unauthorized_and_no_token_is_anonymous(cluster):
    verify = ssl.create_default_context(cafile=cluster.ca_path)
    wrong = httpx.get(f"{cluster.url}/api/v1/namespaces", verify=verify, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["reason"] == "Unauthorized"
    # Anonymous requests are on by default: RBAC, not authentication, refuses them.
    anonymous = httpx.get(f"{cluster.url}/api/v1/namespaces", verify=verify)
    assert anonymous.status_code == 403 and 'User "system:anonymous"' in anonymous.json()["message"]


def test_a_deleted_namespace_finalizes(cluster):
    ns = unique("ns")
    kubectl(cluster, "create", "namespace", ns)
    cluster.api("POST", f"/api/v1/namespaces/{ns}/configmaps",
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}})
    kubectl(cluster, "delete", "namespace", ns, "--wait=false")
    wait_until(lambda: cluster.api("GET", f"/api/v1/namespaces/{ns}", ok=(200, 404)).get("code") == 404,
               what=f"namespace {ns} to be gone")


def test_owned_pods_are_garbage_collected(cluster):
    owner = cluster.api("POST", "/api/v1/namespaces/default/configmaps",
                        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": unique("owner")}})
    manifest = pod_manifest(unique("owned"))
    manifest["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                                "uid": owner["metadata"]["uid"], "controller": True}]
    created = cluster.api("POST", "/api/v1/namespaces/default/pods", manifest)
    wait_until(lambda: pod(cluster, created["metadata"]["name"]).get("status", {}).get("phase") == "Running",
               what="the owned pod to run")
    cluster.api("DELETE", f"/api/v1/namespaces/default/configmaps/{owner['metadata']['name']}")
    wait_until(lambda: pod(cluster, created["metadata"]["name"]).get("code") == 404, what="the owned pod to be collected")


def test_a_pod_runs_then_exits_by_its_annotations(cluster):
    name = unique("p")
    cluster.api("POST", "/api/v1/namespaces/default/pods", pod_manifest(name, run_seconds="1", exit_code="2"))
    done = wait_until(lambda: (p := pod(cluster, name)).get("status", {}).get("phase") == "Failed" and p,
                      what="the pod to fail")
    state = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (state["exitCode"], state["reason"]) == (2, "Error")
    assert done["spec"]["nodeName"] == "dtrain-node"
    log = kubectl(cluster, "logs", name).stdout.splitlines()
    assert log[1:3] == ["$ python train.py", "RANK=3"] and log[-1].endswith("exited with code 2")
    reasons = [e["reason"] for e in cluster.api("GET", f"/api/v1/namespaces/default/events?fieldSelector="
                                                       f"involvedObject.name={name}")["items"]]
    assert {"Scheduled", "Pulled", "Created", "Started"} <= set(reasons)


def test_follow_streams_through_the_api_server_until_the_container_exits(cluster):
    name = unique("f")
    cluster.api("POST", "/api/v1/namespaces/default/pods", pod_manifest(name, log_interval="0.2"))
    wait_until(lambda: pod(cluster, name).get("status", {}).get("phase") == "Running", what="the pod to run")
    env = {**os.environ, "KUBECONFIG": cluster.kubeconfig_path}
    follower = subprocess.Popen([KUBECTL, "logs", "-f", name], env=env, stdout=subprocess.PIPE, text=True)
    assert follower.stdout is not None
    seen = [follower.stdout.readline()]
    assert seen[0].startswith("[dtrain-node] container main started")
    while seen[-1] != "step 1\n":  # a line written after the stream opened has arrived through it
        seen.append(follower.stdout.readline())
        assert seen[-1], f"the stream ended early: {seen}"
    kubectl(cluster, "annotate", "pod", name, "dtrain.test/exit=0")
    rest = follower.stdout.read()  # to the end of the stream (communicate() would skip readline's buffer)
    assert follower.wait(timeout=60) == 0
    assert rest.splitlines()[-1] == "[dtrain-node] container main exited with code 0"


def test_tail_timestamps_and_previous_as_a_kubelet_answers(cluster):
    name = unique("r")
    cluster.api("POST", "/api/v1/namespaces/default/pods",
                pod_manifest(name, restart="OnFailure", run_seconds="0.5", exit_code="1", log_interval="0"))
    restarted = wait_until(lambda: (p := pod(cluster, name)).get("status", {}).get("containerStatuses", [{}])[0]
                           .get("restartCount") == 1 and p, what="the container to restart")
    assert restarted["status"]["phase"] == "Running"
    assert restarted["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1
    previous = kubectl(cluster, "logs", name, "--previous").stdout.splitlines()
    assert previous[-1].endswith("exited with code 1")
    current = kubectl(cluster, "logs", name, "--tail=1", "--timestamps").stdout.splitlines()
    assert len(current) == 1 and re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z RANK=3$", current[0])
    missing = kubectl(cluster, "logs", name, "-c", "nope", check=False)
    assert missing.returncode != 0 and "nope" in missing.stderr


def test_a_deleted_pod_is_confirmed_by_the_node(cluster):
    name = unique("d")
    cluster.api("POST", "/api/v1/namespaces/default/pods", pod_manifest(name))
    wait_until(lambda: pod(cluster, name).get("status", {}).get("phase") == "Running", what="the pod to run")
    kubectl(cluster, "delete", "pod", name, "--wait=true", timeout=60)
    assert pod(cluster, name).get("code") == 404


def test_up_and_down_leave_no_process_behind(tmp_path):
    env = {**os.environ, "DTRAIN_CLUSTER_CACHE": os.environ.get("DTRAIN_CLUSTER_CACHE",
                                                                 str(Path.home() / ".cache" / "dtrain-jupyter"))}
    up = subprocess.run(["bash", "scripts/cluster.sh", "up"], cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=300)
    assert up.returncode == 0, up.stderr
    kubeconfig = next(line.split("=", 1)[1] for line in up.stdout.splitlines() if line.startswith("export KUBECONFIG="))
    folder = Path(kubeconfig).parent
    pids = json.loads((folder / "cluster.json").read_text())["processes"]
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager", "node-agent", "training-operator"}
    assert all(Path(f"/proc/{pid}").exists() for pid in pids.values())
    nodes = subprocess.run([KUBECTL, "get", "nodes", "-o", "name"], env={**env, "KUBECONFIG": kubeconfig},
                           capture_output=True, text=True, timeout=60)
    assert nodes.stdout.strip() == "node/dtrain-node"
    down = subprocess.run(["bash", "scripts/cluster.sh", "down", str(folder)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    assert not any(_alive(pid) for pid in pids.values())
    assert not folder.exists()


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture(autouse=True)
def _no_leftover_pods(cluster):
    """Pods these tests create directly are theirs to remove (jobs' pods go with their jobs)."""
    yield
    cluster.api("DELETE", "/api/v1/namespaces/default/pods?labelSelector=!training.kubeflow.org/job-name",
                ok=(200, 404))
