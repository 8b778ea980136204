"""The simulator acting on runPolicy.suspend, stepped by hand: pods and services deleted, the operators'
conditions and events, fresh pods on resume, a job created suspended, a finished job left alone."""

from __future__ import annotations

import pytest

from tests.kube_double import KubeDouble
from tests.kube_double.conftest import pytorch_job

PODS = ("", "pods")
SERVICES = ("", "services")
PYTORCH = ("kubeflow.org", "pytorchjobs")
MPI = ("kubeflow.org", "mpijobs")


def _create(kd: KubeDouble, job: dict) -> None:
    rt = kd.registry.by_kind("kubeflow.org", job["kind"])
    kd.put_raw(rt.group_version, rt.plural, job["metadata"].get("namespace", "default"), job)


def _pods(kd: KubeDouble, job: str) -> dict[str, dict]:
    items, _ = kd.store.list(PODS, "default", lambda p: p["metadata"]["labels"].get(
        "training.kubeflow.org/job-name") == job)
    return {p["metadata"]["name"]: p for p in items}


def _services(kd: KubeDouble, job: str) -> list[str]:
    items, _ = kd.store.list(SERVICES, "default", lambda s: (s["metadata"].get("labels") or {}).get(
        "training.kubeflow.org/job-name") == job)
    return sorted(s["metadata"]["name"] for s in items)


def _events(kd: KubeDouble, name: str) -> list[tuple[str, str, str]]:
    items, _ = kd.store.list(("", "events"), "default", lambda e: e["involvedObject"]["name"] == name)
    return [(e["type"], e["reason"], e["message"]) for e in items]


def _conditions(job: dict) -> list[tuple[str, str, str, str]]:
    return [(c["type"], c["status"], c["reason"], c["message"]) for c in job["status"]["conditions"]]


def _set_suspend(kd: KubeDouble, key: tuple[str, str], name: str, value: bool) -> None:
    """What a merge patch of spec.runPolicy.suspend stores."""
    kd.store.mutate(key, "default", name, lambda j: j["spec"].setdefault("runPolicy", {}).__setitem__("suspend", value))


def _steps(kd: KubeDouble, n: int) -> None:
    for _ in range(n):
        kd.simulator.step()


def test_suspending_a_running_pytorchjob_deletes_its_pods_and_services_and_resume_runs_it_to_the_end(kd):
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=3)
    _create(kd, pytorch_job("pt"))
    _steps(kd, 2)
    running = kd.store.get(PYTORCH, "default", "pt")
    first_uids = {n: p["metadata"]["uid"] for n, p in _pods(kd, "pt").items()}
    assert sorted(first_uids) == ["pt-master-0", "pt-worker-0"] and _services(kd, "pt") == sorted(first_uids)
    kd.simulator.write_log("pt-master-0", "before the suspension")

    _set_suspend(kd, PYTORCH, "pt", True)
    _steps(kd, 1)

    suspended = kd.store.get(PYTORCH, "default", "pt")
    assert _pods(kd, "pt") == {} and _services(kd, "pt") == []
    assert _conditions(suspended) == [
        ("Created", "True", "PyTorchJobCreated", "PyTorchJob pt is created."),
        ("Running", "False", "PyTorchJobSuspended", "PyTorchJob pt is suspended."),
        ("Suspended", "True", "PyTorchJobSuspended", "PyTorchJob pt is suspended.")]
    assert suspended["status"]["replicaStatuses"] == {"Master": {}, "Worker": {}}
    assert suspended["status"]["startTime"] == running["status"]["startTime"]  # kept while suspended
    events = _events(kd, "pt")
    for pod in first_uids:
        assert ("Normal", "SuccessfulDeletePod", f"Deleted pod: {pod}") in events
        assert ("Normal", "SuccessfulDeleteService", f"Deleted service: {pod}") in events
        assert ("Normal", "Killing", "Stopping container pytorch") in _events(kd, pod)
    assert events[-1] == ("Normal", "PyTorchJobSuspended", "PyTorchJob pt is suspended.")
    assert not kd.logs.read(("default", "pt-master-0", "pytorch"))  # the pod's log went with it

    _steps(kd, 6)  # past ticks_to_finish: a suspended job neither runs nor finishes
    assert kd.store.get(PYTORCH, "default", "pt")["status"] == suspended["status"] and _pods(kd, "pt") == {}
    assert [e for e in _events(kd, "pt") if e[1] == "PyTorchJobSuspended"] == [events[-1]]  # recorded once

    _set_suspend(kd, PYTORCH, "pt", False)
    _steps(kd, 1)

    resumed = kd.store.get(PYTORCH, "default", "pt")
    assert _conditions(resumed)[-1] == ("Suspended", "False", "PyTorchJobResumed", "PyTorchJob pt is resumed.")
    assert resumed["status"]["startTime"] >= running["status"]["startTime"]
    pods = _pods(kd, "pt")
    assert sorted(pods) == sorted(first_uids)  # the same names, as the operator gives them
    assert all(p["metadata"]["uid"] != first_uids[n] and p["status"]["phase"] == "Pending" for n, p in pods.items())
    assert _services(kd, "pt") == sorted(first_uids)
    assert ("Normal", "PyTorchJobResumed", "PyTorchJob pt is resumed.") in _events(kd, "pt")

    _steps(kd, 1)
    assert [c[:2] for c in _conditions(kd.store.get(PYTORCH, "default", "pt"))] == [
        ("Created", "True"), ("Suspended", "False"), ("Running", "True")]
    assert all(p["status"]["phase"] == "Running" for p in _pods(kd, "pt").values())
    _steps(kd, 3)  # ticks_to_finish counts again from the resume
    done = kd.store.get(PYTORCH, "default", "pt")
    assert _conditions(done)[-1][:2] == ("Succeeded", "True")
    assert done["status"]["replicaStatuses"] == {"Master": {"succeeded": 1}, "Worker": {"succeeded": 1}}


def test_a_job_created_suspended_makes_no_pod_until_resumed(kd):
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    job = pytorch_job("held")
    job["spec"]["runPolicy"] = {"suspend": True}
    _create(kd, job)
    _steps(kd, 4)

    stored = kd.store.get(PYTORCH, "default", "held")
    assert _pods(kd, "held") == {} and _services(kd, "held") == []
    assert _conditions(stored) == [
        ("Created", "True", "PyTorchJobCreated", "PyTorchJob held is created."),
        ("Suspended", "True", "PyTorchJobSuspended", "PyTorchJob held is suspended.")]
    assert "startTime" not in stored["status"]

    _set_suspend(kd, PYTORCH, "held", False)
    _steps(kd, 2)

    assert {n: p["status"]["phase"] for n, p in _pods(kd, "held").items()} == {
        "held-master-0": "Running", "held-worker-0": "Running"}
    resumed = kd.store.get(PYTORCH, "default", "held")
    assert [c[:3] for c in _conditions(resumed)] == [
        ("Created", "True", "PyTorchJobCreated"), ("Suspended", "False", "PyTorchJobResumed"),
        ("Running", "True", "PyTorchJobRunning")]
    assert resumed["status"]["startTime"]


def test_a_finished_job_is_not_suspended(kd):
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=1)
    _create(kd, pytorch_job("old"))
    _steps(kd, 3)
    done = kd.store.get(PYTORCH, "default", "old")
    assert _conditions(done)[-1][:2] == ("Succeeded", "True")

    _set_suspend(kd, PYTORCH, "old", True)
    _steps(kd, 2)

    assert kd.store.get(PYTORCH, "default", "old")["status"] == done["status"]
    assert sorted(_pods(kd, "old")) == ["old-master-0", "old-worker-0"]


def _mpi_v2(name: str) -> dict:
    def spec(replicas: int) -> dict:
        return {"replicas": replicas, "template": {"spec": {"containers": [{"name": "mpi", "image": "x"}]}}}
    return {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"mpiReplicaSpecs": {"Launcher": spec(1), "Worker": spec(1)}}}


@pytest.fixture
def kd_v2(conformance_dir):
    with KubeDouble(mpi_version="v2beta1", crd_dir=conformance_dir / "crds", tick=None) as double:
        yield double


def test_mpi_v2beta1_suspends_the_launcher_job_and_deletes_the_workers(kd_v2):
    kd = kd_v2
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    _create(kd, _mpi_v2("pi"))
    _steps(kd, 2)
    [(first_launcher, first_uid)] = [(n, p["metadata"]["uid"]) for n, p in _pods(kd, "pi").items()
                                     if n.startswith("pi-launcher-")]

    _set_suspend(kd, MPI, "pi", True)
    _steps(kd, 1)

    assert _pods(kd, "pi") == {}
    batch = kd.store.get(("batch", "jobs"), "default", "pi-launcher")
    assert batch["spec"]["suspend"] is True
    assert ("Normal", "SuccessfulDelete", f"Deleted pod: {first_launcher}") in _events(kd, "pi-launcher")
    assert [c[:4] for c in _conditions(kd.store.get(MPI, "default", "pi"))][-2:] == [
        ("Suspended", "True", "MPIJobSuspended", "MPIJob suspended"),
        ("Running", "False", "MPIJobSuspended", "MPIJob default/pi is suspended.")]
    assert ("Normal", "MPIJobSuspended", "MPIJob suspended") in _events(kd, "pi")

    _set_suspend(kd, MPI, "pi", False)
    _steps(kd, 2)

    pods = _pods(kd, "pi")
    [launcher] = [n for n in pods if n.startswith("pi-launcher-")]
    assert "pi-worker-0" in pods and all(p["status"]["phase"] == "Running" for p in pods.values())
    assert kd.store.get(("batch", "jobs"), "default", "pi-launcher")["spec"]["suspend"] is False
    conditions = _conditions(kd.store.get(MPI, "default", "pi"))
    assert ("Suspended", "False", "MPIJobResumed", "MPIJob resumed") in conditions
    assert conditions[-1][:2] == ("Running", "True")
    assert pods[launcher]["metadata"]["uid"] != first_uid  # the Job controller's new pod
