"""The job history on the Kubernetes backend, against the API double (tests/kube_double): what
the cluster removes stays readable through a real server.

- pods removed by the operator's `cleanPodPolicy: All` when the job ends: their logs (followed
  while they ran), states and events stay in the record;
- a finished job removed as the TTL controller removes it (`ttlSecondsAfterFinished`; the double
  has no TTL controller, so the test sends the DELETE the controller sends: Foreground propagation);
- a running job deleted behind the server's back with `kubectl delete`: readable, `removed` set,
  phase Deleted, and it re-runs.

The same scenarios on the real control plane are `tests/real_cluster/test_history_real.py`.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from dtrain_jupyter import Client, JobNotFound
from dtrain_jupyter.model.status import Phase
from tests.kube_double import KubeDouble

from ..server.live import LiveServer

LINES = 40
# The TTL of the job the test removes as the TTL controller would (it waits this long after the
# job finished, then deletes it).
TTL_SECONDS = 5


def job_manifest(name: str, run_policy: dict[str, Any] | None = None) -> dict[str, Any]:
    container = {"name": "pytorch", "image": "example/train:1", "command": ["python", "train.py"]}
    replica = {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
    spec: dict[str, Any] = {"pytorchReplicaSpecs": {"Master": replica, "Worker": replica}}
    if run_policy:
        spec["runPolicy"] = run_policy
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name}, "spec": spec}


def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s: {what} (last: {value!r})")
        time.sleep(0.1)


class Cluster:
    """The double (its simulator runs jobs until told to finish; pods print only what a test writes)
    and a real server on it."""

    def __init__(self, root: Path) -> None:
        self.kd = KubeDouble(log_lines=0, tick=0.05)
        self.kd.simulator.set_speed(ticks_to_run=2, ticks_to_finish=None)
        self.kd.start()
        self.server = LiveServer(root, ("--DTrain.backend=kubernetes", f"--DTrain.kubeconfig={self.kd.kubeconfig_path}",
                                        "--DTrain.kube_context=double"))
        self.client = Client(url=self.server.url, token=self.server.token)
        self.history_dir = root / "data" / "dtrain-history"

    def stop(self) -> None:
        self.client.close()
        self.server.stop()
        self.kd.stop()

    def running(self, name: str) -> list[str]:
        """Wait until the job's pods run; their names."""
        def pods() -> list[str]:
            try:
                found = [p for p in self.client.pods(name) if p.phase == "Running"]
            except JobNotFound:
                return []  # the server's watch has not brought the new job yet
            return sorted(p.name for p in found) if len(found) == 2 else []
        return until(pods, f"{name}'s two pods running")

    def write(self, pods: list[str]) -> dict[str, list[str]]:
        """LINES lines into each pod's log (the container's own log, as the kubelet keeps it)."""
        written = {pod: [f"{pod} step {i} loss {1 / (i + 1):.4f}" for i in range(LINES)] for pod in pods}
        for pod, lines in written.items():
            for line in lines:
                self.kd.simulator.write_log(pod, line)
        return written

    def followed(self, name: str, written: dict[str, list[str]]) -> int:
        """Wait until the history followed every written line into its archive; the record id."""
        def done() -> int | None:
            found = [j for j in self.client.history(search=name) if j.name == name]
            if not found:
                return None
            folder = self.history_dir / "logs" / str(found[0].record["id"])
            for pod, lines in written.items():
                files = list(folder.glob(f"{pod}.log*"))
                if not any(f.read_text().endswith(lines[-1] + "\n") for f in files):
                    return None
            return found[0].record["id"]
        return until(done, f"{name}'s logs followed into the archive")

    def pods_on_cluster(self, name: str) -> list[str]:
        pods, _ = self.kd.store.list(("", "pods"), "default")
        return [p["metadata"]["name"] for p in pods
                if p["metadata"].get("labels", {}).get("training.kubeflow.org/job-name") == name]

    def pods_gone(self, name: str, pods: list[str]) -> None:
        """Wait until the cluster removed the pods, then end their log streams as the kubelet does
        once it stops a removed pod's containers (the double leaves a deleted pod's followers open)."""
        until(lambda: not self.pods_on_cluster(name), f"{name}'s pods removed")
        for pod in pods:
            self.kd.logs.forget_pod("default", pod)

    def removed(self, name: str) -> Any:
        """Wait until the server answers for the job from its record."""
        def gone() -> Any:
            job = self.client.get(name)
            return job if job.removed else None
        return until(gone, f"{name} answered from the history")

    def archived_lines(self, name: str) -> dict[str, list[str]]:
        """Each pod's archived lines, once none is still being archived (a removed pod's follow
        ends when the server's pod cache has seen it go)."""
        until(lambda: [j for j in self.client.history(search=name) if j.name == name and not j.record["archiving"]],
              f"{name}'s logs archived")
        lines: dict[str, list[str]] = {}
        for line in self.client.logs(name):
            lines.setdefault(line.pod, []).append(line.line)
        return lines


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    made = Cluster(tmp_path_factory.mktemp("history-kube"))
    yield made
    made.stop()


def test_pods_removed_by_clean_pod_policy_stay_readable(cluster: Cluster) -> None:
    name = "cleaned"
    cluster.client.create(job_manifest(name, {"cleanPodPolicy": "All"}))
    pods = cluster.running(name)
    written = cluster.write(pods)
    record_id = cluster.followed(name, written)

    # The job fails; the operator deletes its running pods (cleanPodPolicy All) as it ends it.
    cluster.kd.simulator.finish(name, succeed=False)
    cluster.pods_gone(name, pods)
    until(lambda: cluster.client.get(name).phase == Phase.FAILED, "the job failed")
    [record] = [j for j in cluster.client.history(search=name) if j.name == name]
    assert record.record["id"] == record_id and record.record["pods"] == 2
    live_events = until(lambda: [e for e in cluster.client.events(name) if e.reason == "PyTorchJobFailed"]
                        and cluster.client.events(name), "the operator's last event")

    def events_recorded() -> bool:
        [job] = [j for j in cluster.client.history(search=name) if j.name == name]
        return job.record["events"] == len(live_events)
    until(events_recorded, "the operator's last events recorded (they come after the job's last change)")

    # The pods' logs are archived whole: their streams ended with the pods.
    until(lambda: [j for j in cluster.client.history(search=name) if j.name == name
                   and j.record["log_bytes"] and not j.record["incomplete_logs"] and not j.record["archiving"]],
          "the logs archived whole")
    # The cluster keeps the job and its events a while; once it is gone, the history answers.
    subprocess_delete(cluster, name)
    job = cluster.removed(name)
    assert job.phase == Phase.FAILED
    assert cluster.archived_lines(name) == written
    assert sorted(p.name for p in cluster.client.pods(name)) == pods
    reasons = {e.reason for e in cluster.client.events(name)}
    assert {"SuccessfulDeletePod", "PyTorchJobFailed"} <= reasons


def test_a_job_removed_by_its_ttl_stays_readable(cluster: Cluster) -> None:
    name = "expired"
    cluster.client.create(job_manifest(name, {"ttlSecondsAfterFinished": TTL_SECONDS}))
    pods = cluster.running(name)
    written = cluster.write(pods)
    cluster.followed(name, written)
    cluster.kd.simulator.finish(name, succeed=True)
    until(lambda: cluster.client.get(name).phase == Phase.SUCCEEDED, "the job succeeded")

    # What the TTL-after-finished controller sends once the TTL is over: a Foreground delete.
    time.sleep(TTL_SECONDS)
    kd = cluster.kd
    r = httpx.request("DELETE", f"{kd.url}/apis/kubeflow.org/v1/namespaces/default/pytorchjobs/{name}",
                     json={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Foreground"},
                     headers={"Authorization": f"Bearer {kd.token}"},
                     verify=ssl.create_default_context(cafile=kd.ca_path), timeout=10)
    assert r.status_code in (200, 202), r.text
    until(lambda: kd.get_object("kubeflow.org/v1", "pytorchjobs", "default", name) is None
          and not cluster.pods_on_cluster(name), "the job and its pods collected")
    job = cluster.removed(name)
    assert job.phase == Phase.SUCCEEDED
    assert cluster.archived_lines(name) == written
    assert {p.name: p.exit_code for p in cluster.client.pods(name)} == {pod: 0 for pod in pods}
    assert "PyTorchJobSucceeded" in {e.reason for e in cluster.client.events(name)}
    assert [j.name for j in cluster.client.history("finished", name)] == [name]


def subprocess_delete(cluster: Cluster, name: str) -> None:
    """`kubectl delete` against the double: a deletion the server did not ask for."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    done = subprocess.run([kubectl, "delete", "pytorchjob", name, "--wait=false"], capture_output=True, text=True,
                          env={**os.environ, "KUBECONFIG": cluster.kd.kubeconfig_path}, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_job_deleted_behind_our_back_is_readable_and_runs_again(cluster: Cluster) -> None:
    name = "yanked"
    cluster.client.create(job_manifest(name))
    pods = cluster.running(name)
    written = cluster.write(pods)
    cluster.followed(name, written)
    subprocess_delete(cluster, name)
    cluster.pods_gone(name, pods)

    job = cluster.removed(name)
    assert job.phase == Phase.DELETED
    assert cluster.archived_lines(name) == written
    assert sorted(p.name for p in cluster.client.pods(name)) == pods
    [listed] = [j for j in cluster.client.history(search=name) if j.name == name]
    assert listed.removed and listed.record["deleted"] is not None

    again = cluster.client.rerun(name)
    assert again.name == f"{name}-run2"
    assert cluster.running(again.name) == [f"{name}-run2-master-0", f"{name}-run2-worker-0"]
    assert cluster.client.get(again.name).removed is None
