"""The job history against the real control plane (tests/cluster): kube-apiserver, the garbage
collector and the Kubeflow training-operator remove what they remove, and a real server keeps it.

- `cleanPodPolicy: All`: the operator deletes the pods when the job ends; their logs (followed
  while they ran), states and events stay readable;
- `ttlSecondsAfterFinished`: the operator deletes the finished job itself; still readable;
- `kubectl delete` mid-run, behind the server's back: readable, `removed` set, phase Deleted,
  and it runs again.

The node agent prints "step N" every `dtrain.test/log-interval` seconds, so a whole archived log
is "step 1" ... "step K" with nothing torn, doubled or missing. The same scenarios on the API
double are tests/history/test_history_kube.py.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import time
from typing import Any, Callable, Iterator

import pytest

from dtrain_jupyter import Client, JobNotFound, NotFound
from dtrain_jupyter.model.status import Phase
from tests.cluster.fixtures import unique
from tests.server.live import LiveServer

# Generous: two slow shared cores run the control plane, the operator and the server.
TIMEOUT = 120.0


def manifest(name: str, run_policy: dict[str, Any], *, run_seconds: float | None) -> dict[str, Any]:
    notes = {"dtrain.test/log-interval": "0.2"}
    if run_seconds is not None:
        notes["dtrain.test/run-seconds"] = str(run_seconds)
    container = {"name": "pytorch", "image": "python:3.11", "command": ["python", "train.py"]}
    replica = {"replicas": 1, "restartPolicy": "Never",
               "template": {"metadata": {"annotations": notes}, "spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "labels": {"dtrain-test": "history"}},
            "spec": {"runPolicy": run_policy,
                     "pytorchReplicaSpecs": {"Master": replica, "Worker": copy.deepcopy(replica)}}}


def until(check: Callable[[], Any], what: str, timeout: float = TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except (JobNotFound, NotFound):
            value = None  # the server's watch has not brought a new job yet, or no log is archived yet
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s: {what} (last: {value!r})")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def server(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("history-real"),
                      ("--DTrain.backend=kubernetes", f"--DTrain.kubeconfig={cluster.kubeconfig_path}"))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(url=server.url, token=server.token) as c:
        yield c


def kubectl(cluster: Any, *args: str) -> str:
    binary = shutil.which("kubectl")
    if binary is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "KUBECONFIG": cluster.kubeconfig_path})
    assert done.returncode == 0, done.stderr
    return done.stdout


def removed(client: Client, name: str) -> Any:
    """Wait until the server answers for the job from its record."""
    def gone() -> Any:
        job = client.get(name)
        return job if job.removed else None
    return until(gone, f"{name} answered from the history")


def whole_steps(client: Client, name: str) -> dict[str, list[str]]:
    """The step lines of every pod's archived log, checked to be "step 1" .. "step K" exactly
    (the node agent's own lines around them, its start and exit notes and the environment, aside)."""
    lines: dict[str, list[str]] = {}
    for line in client.logs(name):
        lines.setdefault(line.pod, [])
        if line.line.startswith("step "):
            lines[line.pod].append(line.line)
    for pod, got in lines.items():
        assert got == [f"step {i}" for i in range(1, len(got) + 1)], f"{pod}: {got}"
    return lines


def test_pods_removed_by_clean_pod_policy_stay_readable(cluster: Any, client: Client) -> None:
    name = unique("hist-clean")
    client.create(manifest(name, {"cleanPodPolicy": "All"}, run_seconds=3))
    assert client.wait(name, timeout=TIMEOUT).phase == Phase.SUCCEEDED
    until(lambda: kubectl(cluster, "get", "pods", "-l", f"training.kubeflow.org/job-name={name}",
                          "-o", "name").strip() == "", "the operator removed the pods")
    # Whole: no log cut short, and none still being archived (a removed pod's follow ends a moment
    # after the pod; until then its log is a partial file that a read does not show).
    until(lambda: [j for j in client.history(search=name) if j.name == name and j.record["log_bytes"]
                   and not j.record["incomplete_logs"] and not j.record["archiving"]], "the logs archived whole")
    kubectl(cluster, "delete", "pytorchjob", name, "--wait=true")
    job = removed(client, name)
    assert job.phase == Phase.SUCCEEDED
    logs = whole_steps(client, name)
    assert sorted(logs) == [f"{name}-master-0", f"{name}-worker-0"] and all(len(v) >= 5 for v in logs.values())
    exits = {p.name: p.exit_code for p in client.pods(name)}
    assert sorted(exits) == sorted(logs) and exits[f"{name}-master-0"] == 0
    # The Master's success ends the job and cleanPodPolicy All removes every pod at once: a Worker
    # still finishing then was removed, not ended, and its record has no exit code.
    assert exits[f"{name}-worker-0"] in (0, None)
    assert client.events(name), "the record keeps the job's events"


def test_a_job_removed_by_its_ttl_stays_readable(cluster: Any, client: Client) -> None:
    name = unique("hist-ttl")
    client.create(manifest(name, {"ttlSecondsAfterFinished": 5}, run_seconds=3))
    job = removed(client, name)  # the operator deletes it 5 s after it finished
    assert kubectl(cluster, "get", "pytorchjobs", "-o", "name").count(f"/{name}\n") == 0
    assert job.phase == Phase.SUCCEEDED
    logs = whole_steps(client, name)
    assert sorted(logs) == [f"{name}-master-0", f"{name}-worker-0"] and all(len(v) >= 5 for v in logs.values())
    assert [j.name for j in client.history("finished", name)] == [name]


def test_a_job_deleted_behind_our_back_is_readable_and_runs_again(cluster: Any, client: Client) -> None:
    name = unique("hist-yank")
    client.create(manifest(name, {}, run_seconds=None))
    until(lambda: len([p for p in client.pods(name) if p.phase == "Running"]) == 2, "both pods running")
    time.sleep(2)  # some steps printed
    kubectl(cluster, "delete", "pytorchjob", name, "--wait=true")
    job = removed(client, name)
    assert job.phase == Phase.DELETED
    def both_archived() -> dict[str, list[str]] | None:
        found = whole_steps(client, name)
        return found if len(found) == 2 else None
    logs = until(both_archived, "both pods' logs archived")
    assert all(len(v) >= 3 for v in logs.values())
    again = client.rerun(name)
    assert again.name == f"{name}-run2"
    until(lambda: len([p for p in client.pods(again.name) if p.phase == "Running"]) == 2, "the re-run's pods running")
    client.delete(again.name)
