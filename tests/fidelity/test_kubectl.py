"""kubectl 1.32, a client nobody here wrote, against the double: apply, get, logs -f, delete, get -w.

If the double misspoke the protocol (discovery, OpenAPI v3 field-validation probe, Table
output, watch framing, Status errors), kubectl would fail or print something else.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml


BAD_REPLICAS = """\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: bad-replicas
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: "one"
      template:
        spec:
          containers:
          - name: pytorch
            image: example/train:1
"""

UNKNOWN_FIELD = """\
apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: unknown-field
spec:
  tfReplicaSpecs: {}
  flavour: vanilla
"""


def _docs(paths: list[Path]) -> list[dict]:
    return [d for p in paths for d in yaml.safe_load_all(p.read_text()) if d]


def _v1_manifests(conformance_dir: Path) -> list[Path]:
    return sorted((conformance_dir / "training-operator-v1.9").glob("*.yaml"))


def _wait(predicate, timeout: float = 30.0, interval: float = 0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached")


def _pytorch(name: str, namespace: str = "default") -> str:
    return yaml.safe_dump({
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"pytorchReplicaSpecs": {
            role: {"replicas": 1, "restartPolicy": "OnFailure", "template": {"spec": {"containers": [
                {"name": "pytorch", "image": "example/train:1", "command": ["python3", "train.py"]}]}}}
            for role in ("Master", "Worker")}}})


def test_apply_every_v1_manifest_then_read_it_back(kubectl, conformance_dir, tmp_path):
    files = _v1_manifests(conformance_dir)
    kubectl("create", "namespace", "kubeflow")  # typed client: a protobuf body
    args = [a for f in files for a in ("-f", str(f))]

    created = kubectl("apply", *args).stdout
    again = kubectl("apply", *args).stdout

    docs = _docs(files)
    for doc in docs:
        resource = f'{doc["kind"].lower()}.kubeflow.org/{doc["metadata"]["name"]}'
        assert f"{resource} created" in created
        # "configured" where the CRD schema filled a default inside a list (a port's protocol):
        # merge patch replaces whole lists, so kubectl re-sends them, as against a real cluster.
        assert f"{resource} unchanged" in again or f"{resource} configured" in again
    got = json.loads(kubectl("get", *args, "-o", "json").stdout)
    items = got["items"] if got.get("kind") == "List" else [got]
    by_name = {(i["kind"], i["metadata"]["name"]): i for i in items}
    for doc in docs:
        stored = by_name[(doc["kind"], doc["metadata"]["name"])]
        # As sent plus the schema's defaults: the operators have no mutating webhook.
        assert stored["spec"] == kubectl.kd.stored_form(doc)["spec"]
        assert stored["metadata"]["uid"] and stored["metadata"]["resourceVersion"]
        assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]


def test_get_all_kinds_across_namespaces_prints_printer_columns(kubectl, conformance_dir):
    kubectl("apply", "-f", str(conformance_dir / "training-operator-v1.9" / "pytorch_simple.yaml"))
    _wait(lambda: "Succeeded" in kubectl("get", "pytorchjob", "pytorch-simple", "-n", "kubeflow").stdout)

    out = kubectl("get", "pytorchjobs,tfjobs,mpijobs", "-A").stdout

    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "STATE", "AGE"]
    row = next(line.split() for line in lines if "pytorchjob.kubeflow.org/pytorch-simple" in line)
    assert row[0] == "kubeflow" and row[2] == "Succeeded"
    assert any(line.split()[:2] == ["default", "tfjob.kubeflow.org/dist-mnist-for-e2e-test"] for line in lines)
    assert any("mpijob.kubeflow.org/tensorflow-mnist" in line for line in lines)  # MPIJob v1 columns: AGE, STATE


def test_get_yaml_shows_operator_status(kubectl, conformance_dir):
    kubectl("apply", "-f", str(conformance_dir / "training-operator-v1.9" / "pytorch_simple.yaml"))
    job = _wait(lambda: (lambda j: j if j.get("status", {}).get("completionTime") else None)(
        yaml.safe_load(kubectl("get", "pytorchjob", "pytorch-simple", "-n", "kubeflow", "-o", "yaml").stdout)))

    reasons = [c["reason"] for c in job["status"]["conditions"]]
    assert reasons[0] == "PyTorchJobCreated" and reasons[-1] == "PyTorchJobSucceeded"
    assert job["status"]["replicaStatuses"]["Master"] == {"succeeded": 1}


def test_get_pods_by_label_selector(kubectl, conformance_dir):
    kubectl("apply", "-f", str(conformance_dir / "training-operator-v1.9" / "tensorflow_dist-mnist_tf_job_mnist.yaml"))
    job = "training.kubeflow.org/job-name=dist-mnist-for-e2e-test"
    names = _wait(lambda: kubectl("get", "pods", "-l", job, "-o", "name").stdout.split() or None)
    assert sorted(names) == [f"pod/dist-mnist-for-e2e-test-{r}" for r in ("chief-0", "ps-0", "worker-0", "worker-1")]

    workers = kubectl("get", "pods", "-l", f"{job},training.kubeflow.org/replica-type in (worker)", "-o", "name")
    not_workers = kubectl("get", "pods", "-l", f"{job},training.kubeflow.org/replica-type!=worker", "-o", "name")
    masters = kubectl("get", "pods", "-l", f"{job},training.kubeflow.org/job-role", "-o", "name")

    assert workers.stdout.split() == ["pod/dist-mnist-for-e2e-test-worker-0", "pod/dist-mnist-for-e2e-test-worker-1"]
    assert not_workers.stdout.split() == ["pod/dist-mnist-for-e2e-test-chief-0", "pod/dist-mnist-for-e2e-test-ps-0"]
    assert masters.stdout.split() == ["pod/dist-mnist-for-e2e-test-chief-0"]
    table = kubectl("get", "pods", "-l", job).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


def _lines_of(proc: subprocess.Popen) -> "queue.Queue[str | None]":
    """Each line the process prints, as it prints it; None once its output ends."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _read_until(lines: "queue.Queue[str | None]", wanted: str, timeout: float = 30.0) -> list[str]:
    """Lines up to and including the first that starts with `wanted`; fails if the output ends first."""
    seen: list[str] = []
    while True:
        line = lines.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"kubectl's output ended before {wanted!r}; it printed {seen}")
        seen.append(line)
        if line.startswith(wanted):
            return seen


def test_logs_follow_streams_until_the_container_ends(kubectl, double_v1, tmp_path):
    double_v1.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    try:
        (tmp_path / "job.yaml").write_text(_pytorch("follow-me"))
        kubectl("apply", "-f", str(tmp_path / "job.yaml"))
        _wait(lambda: "Running" in kubectl("get", "pod", "follow-me-master-0", check=False).stdout)
        double_v1.simulator.write_log("follow-me-master-0", "BEFORE the follow")
        proc = kubectl.popen("logs", "-f", "follow-me-master-0")
        try:
            lines = _lines_of(proc)
            # kubectl printing a line written before it started means its request is answered;
            # a line written only now can reach it only through the open, followed stream.
            printed = _read_until(lines, "BEFORE the follow")
            double_v1.simulator.write_log("follow-me-master-0", "MARKER after follow started")
            printed += _read_until(lines, "MARKER after follow started")
            printed += _read_until(lines, "[follow-me-master-0] step")  # the container's own lines stream too
            assert proc.poll() is None, "kubectl stopped following while the container runs"
            double_v1.simulator.finish("follow-me")
            proc.wait(timeout=15)
            err = proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        double_v1.simulator.set_speed()
    assert proc.returncode == 0, err
    tail = kubectl("logs", "follow-me-master-0", "--tail=1", "--timestamps").stdout
    assert len(tail.splitlines()) == 1 and tail[:4].isdigit() and "Z " in tail


def test_get_watch_sees_creation_and_progress(kubectl, tmp_path):
    (tmp_path / "job.yaml").write_text(_pytorch("watched"))
    proc = kubectl.popen("get", "pytorchjobs", "-w", "--output-watch-events")
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()

    def rows() -> list[list[str]]:
        return [line.split() for line in list(lines) if " watched " in f" {line} "]

    try:
        time.sleep(0.5)
        kubectl("apply", "-f", str(tmp_path / "job.yaml"))
        _wait(lambda: any("Succeeded" in r for r in rows()))
        kubectl("delete", "-f", str(tmp_path / "job.yaml"))
        _wait(lambda: any(r[0] == "DELETED" for r in rows()))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        reader.join(10)
    events = [r[0] for r in rows()]
    assert events[0] == "ADDED" and "MODIFIED" in events and events[-1] == "DELETED"
    states = {r[2] for r in rows() if len(r) > 3}
    assert {"Created", "Running", "Succeeded"} <= states


def test_delete_garbage_collects_pods(kubectl, tmp_path):
    (tmp_path / "job.yaml").write_text(_pytorch("doomed"))
    kubectl("apply", "-f", str(tmp_path / "job.yaml"))
    _wait(lambda: kubectl("get", "pods", "-l", "training.kubeflow.org/job-name=doomed", "-o", "name").stdout.strip())

    out = kubectl("delete", "-f", str(tmp_path / "job.yaml"), "--cascade=foreground").stdout

    assert 'pytorchjob.kubeflow.org "doomed" deleted' in out
    assert kubectl("get", "pytorchjob", "doomed", check=False).returncode == 1
    pods = kubectl("get", "pods", "-l", "training.kubeflow.org/job-name=doomed")
    assert "No resources found" in pods.stderr


def test_schema_violation_is_refused_with_the_servers_message(kubectl, tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD_REPLICAS)

    proc = kubectl("apply", "-f", str(tmp_path / "bad.yaml"), check=False)

    assert proc.returncode == 1
    # Two causes, listed by kubectl as on a real cluster: the field, and the CRD's CEL rule left unchecked.
    assert ('The PyTorchJob "bad-replicas" is invalid: \n* spec.pytorchReplicaSpecs.Master.replicas: '
            'Invalid value: "string": spec.pytorchReplicaSpecs.Master.replicas in body must be of type integer: '
            '"string"\n') in proc.stderr
    assert "some validation rules were not checked because the object was invalid" in proc.stderr


def test_unknown_field_is_refused_under_strict_validation(kubectl, tmp_path):
    (tmp_path / "unknown.yaml").write_text(UNKNOWN_FIELD)

    strict = kubectl("apply", "-f", str(tmp_path / "unknown.yaml"), check=False)
    warned = kubectl("apply", "-f", str(tmp_path / "unknown.yaml"), "--validate=warn")

    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.flavour"' in strict.stderr
    assert 'unknown field "spec.flavour"' in warned.stderr
    stored = json.loads(kubectl("get", "tfjob", "unknown-field", "-o", "json").stdout)
    assert "flavour" not in stored["spec"]  # pruned, as a structural schema prunes


def test_rbac_denial_reads_like_the_api_server(kubectl, double_v1, tmp_path):
    (tmp_path / "job.yaml").write_text(_pytorch("refused", namespace="team-a"))
    double_v1.forbid("create", "pytorchjobs", "team-a")
    try:
        proc = kubectl("create", "-f", str(tmp_path / "job.yaml"), check=False)
    finally:
        double_v1.allow_all()
    assert proc.returncode == 1
    assert ('pytorchjobs.kubeflow.org is forbidden: User "double-user" cannot create resource "pytorchjobs" '
            'in API group "kubeflow.org" in the namespace "team-a"') in proc.stderr


@pytest.mark.parametrize("folder", ["mpi-operator-v2beta1"])
def test_apply_every_v2beta1_manifest(kubectl_v2, conformance_dir, folder):
    files = sorted((conformance_dir / folder).glob("*.yaml"))
    args = [a for f in files for a in ("-f", str(f))]

    out = kubectl_v2("apply", *args).stdout

    assert "mpijob.kubeflow.org/tensorflow-mnist created" in out
    assert "mpijob.kubeflow.org/pi created" in out or "mpijob.kubeflow.org/pi configured" in out
    launcher = _wait(lambda: kubectl_v2("get", "pods", "-l", "training.kubeflow.org/job-name=tensorflow-mnist,"
                                        "training.kubeflow.org/job-role=launcher", "-o", "name").stdout.strip())
    assert launcher.startswith("pod/tensorflow-mnist-launcher-") and len(launcher) == len("pod/tensorflow-mnist-launcher-") + 5
    got = yaml.safe_load(kubectl_v2("get", "mpijob", "tensorflow-mnist", "-o", "yaml").stdout)
    assert got["apiVersion"] == "kubeflow.org/v2beta1"
    assert got["spec"] == kubectl_v2.kd.stored_form(_docs([conformance_dir / folder / "horovod_tensorflow-mnist.yaml"])[0])["spec"]
    assert (got["spec"]["sshAuthMountPath"], got["spec"]["mpiImplementation"]) == ("/root/.ssh", "OpenMPI")


def test_v1_mpijob_is_not_served_by_a_v2beta1_cluster(kubectl_v2, conformance_dir):
    # --validate=false: the double serves no swagger-2.0 protobuf, which kubectl's validator
    # would fall back to for a kind missing from an OpenAPI v3 group/version (README, gaps).
    proc = kubectl_v2("apply", "--validate=false", "-f",
                      str(conformance_dir / "training-operator-v1.9" / "mpi_tensorflow-mnist.yaml"), check=False)
    assert proc.returncode == 1
    assert 'no matches for kind "MPIJob" in version "kubeflow.org/v1"' in proc.stderr
