"""The operator simulator, stepped by hand: names, labels, owners, conditions, faults, events."""

from __future__ import annotations

import time

import pytest

from tests.kube_double import KubeDouble
from tests.kube_double.conftest import pytorch_job

PODS = ("", "pods")


def _create(kd: KubeDouble, job: dict) -> None:
    rt = kd.registry.by_kind("kubeflow.org", job["kind"])
    kd.put_raw(rt.group_version, rt.plural, job["metadata"].get("namespace", "default"), job)


def _pods(kd: KubeDouble, job: str) -> dict[str, dict]:
    items, _ = kd.store.list(PODS, "default", lambda p: p["metadata"]["labels"].get(
        "training.kubeflow.org/job-name") == job)
    return {p["metadata"]["name"]: p for p in items}


def _events(kd: KubeDouble, name: str) -> list[tuple[str, str, str]]:
    items, _ = kd.store.list(("", "events"), "default", lambda e: e["involvedObject"]["name"] == name)
    return [(e["type"], e["reason"], e["message"]) for e in items]


def _job(kd: KubeDouble, name: str, plural: str = "pytorchjobs") -> dict:
    return kd.store.get(("kubeflow.org", plural), "default", name)


def test_pytorch_job_goes_created_running_succeeded_with_operator_labels(kd):
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=2)
    _create(kd, pytorch_job("pt", workers=2))

    kd.simulator.step()
    created = _job(kd, "pt")
    pods = _pods(kd, "pt")
    kd.simulator.step()
    running = _job(kd, "pt")
    for _ in range(3):
        kd.simulator.step()
    done = _job(kd, "pt")

    assert [c["reason"] for c in created["status"]["conditions"]] == ["PyTorchJobCreated"]
    assert sorted(pods) == ["pt-master-0", "pt-worker-0", "pt-worker-1"]
    master = pods["pt-master-0"]
    assert master["metadata"]["labels"] == {
        "training.kubeflow.org/job-name": "pt",
        "training.kubeflow.org/operator-name": "pytorchjob-controller",
        "training.kubeflow.org/replica-type": "master", "training.kubeflow.org/replica-index": "0",
        "training.kubeflow.org/job-role": "master"}
    owner = master["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["controller"], owner["blockOwnerDeletion"]) == (
        "PyTorchJob", "pt", True, True)
    assert running["status"]["conditions"][-1]["type"] == "Running" and running["status"]["startTime"]
    assert running["status"]["replicaStatuses"] == {"Master": {"active": 1}, "Worker": {"active": 2}}
    assert [(c["type"], c["status"]) for c in done["status"]["conditions"]] == [
        ("Created", "True"), ("Running", "False"), ("Succeeded", "True")]
    assert done["status"]["conditions"][-1]["message"] == "PyTorchJob pt successfully completed."
    assert done["status"]["completionTime"]
    assert ("Normal", "SuccessfulCreatePod", "Created pod: pt-worker-1") in _events(kd, "pt")
    assert kd.store.get(("", "services"), "default", "pt-master-0")["spec"]["clusterIP"] == "None"


def test_mpi_v1_launcher_has_no_index(kd):
    _create(kd, {"apiVersion": "kubeflow.org/v1", "kind": "MPIJob", "metadata": {"name": "m"},
                 "spec": {"mpiReplicaSpecs": {
                     "Launcher": {"replicas": 1, "template": {"spec": {"containers": [{"name": "mpi", "image": "x"}]}}},
                     "Worker": {"replicas": 2, "template": {"spec": {"containers": [{"name": "mpi", "image": "x"}]}}}}}})
    kd.simulator.step()
    pods = _pods(kd, "m")
    assert sorted(pods) == ["m-launcher", "m-worker-0", "m-worker-1"]
    assert "training.kubeflow.org/replica-index" not in pods["m-launcher"]["metadata"]["labels"]
    assert pods["m-worker-0"]["spec"]["containers"][0]["command"] == ["sleep", "365d"]


def test_mpi_v2beta1_launcher_is_a_job_pod_with_a_random_suffix(kube_double_v2):
    kd = kube_double_v2
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    _create(kd, {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "pi"},
                 "spec": {"mpiReplicaSpecs": {
                     "Launcher": {"replicas": 1, "template": {"spec": {"containers": [{"name": "l", "image": "x"}]}}},
                     "Worker": {"replicas": 1, "template": {"spec": {"containers": [{"name": "w", "image": "x"}]}}}}}})
    deadline = time.monotonic() + 10
    while len(_pods(kd, "pi")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    pods = _pods(kd, "pi")
    launcher = next(n for n in pods if n.startswith("pi-launcher-"))
    assert len(launcher) == len("pi-launcher-") + 5
    assert pods[launcher]["metadata"]["labels"]["training.kubeflow.org/operator-name"] == "mpi-operator"
    assert pods[launcher]["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert kd.store.get(("batch", "jobs"), "default", "pi-launcher")["metadata"]["ownerReferences"][0]["name"] == "pi"


@pytest.mark.parametrize("fault", ["Unschedulable", "ImagePullBackOff"])
def test_pending_faults_keep_pods_pending_with_the_reason(kd, fault):
    kd.simulator.set_speed(ticks_to_run=2, ticks_to_finish=None)
    _create(kd, pytorch_job("stuck"))
    kd.simulator.fault("stuck", fault)
    for _ in range(4):
        kd.simulator.step()
    pod = _pods(kd, "stuck")["stuck-master-0"]
    assert pod["status"]["phase"] == "Pending"
    assert _job(kd, "stuck")["status"]["conditions"][-1]["type"] == "Created"
    events = _events(kd, "stuck-master-0")
    if fault == "Unschedulable":
        assert pod["status"]["conditions"][0]["reason"] == "Unschedulable"
        assert ("Warning", "FailedScheduling", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.") in events
    else:
        assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"
        assert any(e[1] == "BackOff" for e in events)


def test_oomkilled_restarts_in_place_under_on_failure(kd):
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    _create(kd, pytorch_job("oom"))
    kd.simulator.step()
    kd.simulator.step()
    kd.simulator.fault("oom-worker-0", "OOMKilled")
    kd.simulator.step()
    status = _pods(kd, "oom")["oom-worker-0"]["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    terminated = status["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "OOMKilled")
    assert kd.logs.has_previous(("default", "oom-worker-0", "pytorch"))


def test_fail_marks_the_job_failed(kd):
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    _create(kd, pytorch_job("bad"))
    kd.simulator.step()
    kd.simulator.step()
    kd.simulator.fault("bad-worker-0", "Fail")
    kd.simulator.step()
    job = _job(kd, "bad")
    last = job["status"]["conditions"][-1]
    assert (last["type"], last["reason"]) == ("Failed", "PyTorchJobFailed")
    assert last["message"] == "PyTorchJob bad is failed because 1 Worker replica(s) failed."
    assert _pods(kd, "bad")["bad-worker-0"]["status"]["phase"] == "Failed"


def test_unknown_fault_is_refused(kd):
    with pytest.raises(ValueError, match="unknown fault"):
        kd.simulator.fault("x", "Meteor")


def test_bulk_load_seeds_jobs_and_pods_without_simulating(kd):
    names = kd.bulk_load(30, pods_per_job=4)
    kd.simulator.step()
    assert len(names) == 30
    assert kd.store.count(PODS) == 120
    assert kd.store.count(("kubeflow.org", "tfjobs")) == 10
    assert _job(kd, names[0])["status"]["conditions"][-1]["type"] == "Running"


def test_retryable_exit_code_recreates_the_pod_and_restarts_the_job(kd):
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    job = pytorch_job("retry")
    job["spec"]["pytorchReplicaSpecs"]["Worker"]["restartPolicy"] = "ExitCode"
    _create(kd, job)
    kd.simulator.step()
    kd.simulator.step()
    first_uid = _pods(kd, "retry")["retry-worker-0"]["metadata"]["uid"]
    kd.simulator.fault("retry-worker-0", "OOMKilled")

    kd.simulator.step()
    restarting = _job(kd, "retry")["status"]["conditions"][-1]
    again = _pods(kd, "retry")["retry-worker-0"]
    kd.simulator.step()
    kd.simulator.step()
    running = _job(kd, "retry")["status"]["conditions"]

    assert (restarting["type"], restarting["reason"]) == ("Restarting", "PyTorchJobRestarting")
    assert restarting["message"] == "PyTorchJob retry is restarting because 1 Worker replica(s) failed."
    assert again["metadata"]["uid"] != first_uid and again["status"]["phase"] == "Pending"
    assert again["spec"]["restartPolicy"] == "Never"  # ExitCode runs as Never at pod level
    assert running[-1]["type"] == "Running" and "Restarting" not in [c["type"] for c in running]
