"""A job's pods: selection by the operators' labels or ownerReference, and the reason in plain words."""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.kubernetes.pods import belongs_to, default_container, job_pods, pod_from_object, slim_pod
from dtrain_jupyter.model.job import Job
from dtrain_jupyter.model.kinds import lookup

PT = lookup("kubeflow.org/v1", "PyTorchJob")
MPI2 = lookup("kubeflow.org/v2beta1", "MPIJob")


def job(kind="PyTorchJob", name="pt", uid="uid-1", api_version="kubeflow.org/v1"):
    return Job(backend="kubernetes", kind=kind, api_version=api_version, name=name, namespace="default",
               uid=uid, created="", manifest={})


def pod(name, *, labels=None, owner=None, phase="Running", statuses=None, conditions=None, node="node-1",
        containers=("pytorch",), resources=None, status_extra=None):
    return {
        "metadata": {"name": name, "namespace": "default", "uid": f"u-{name}", "labels": labels or {},
                     "ownerReferences": [{"uid": owner, "controller": True}] if owner else [],
                     "managedFields": [{"big": "x"}]},
        "spec": {"nodeName": node, "containers": [{"name": c, "env": [{"name": "A", "value": "b"}],
                                                   "resources": resources or {}} for c in containers]},
        "status": {"phase": phase, "containerStatuses": statuses or [], "conditions": conditions or [],
                   **(status_extra or {})},
    }


def labels(job_name="pt", operator="pytorchjob-controller", rtype="worker", index="0", role=None):
    out = {"training.kubeflow.org/job-name": job_name, "training.kubeflow.org/operator-name": operator}
    if rtype:
        out["training.kubeflow.org/replica-type"] = rtype
    if index is not None:
        out["training.kubeflow.org/replica-index"] = index
    if role:
        out["training.kubeflow.org/job-role"] = role
    return out


def test_slim_pod_drops_what_we_never_read():
    s = slim_pod(pod("pt-worker-0", labels=labels()))
    assert "managedFields" not in s["metadata"] and "env" not in s["spec"]["containers"][0]


def test_selection_by_labels_and_owner_fallback():
    j = job()
    assert belongs_to(pod("pt-worker-0", labels=labels()), j)
    # Same name, another kind's operator: not ours (two kinds may share a name).
    assert not belongs_to(pod("pt-worker-0", labels=labels(operator="tfjob-controller")), j)
    # Old operators' labels: the controller ownerReference decides.
    assert belongs_to(pod("pt-worker-0", labels={"job-name": "pt", "group-name": "kubeflow.org"}, owner="uid-1"), j)
    assert not belongs_to(pod("pt-worker-0", labels={"job-name": "pt"}, owner="uid-2"), j)


def test_order_is_replica_type_then_index():
    j = job()
    pods = [pod(f"pt-worker-{i}", labels=labels(index=str(i))) for i in (10, 2, 0)]
    pods.append(pod("pt-master-0", labels=labels(rtype="master", role="master")))
    got = job_pods(j, pods, PT)
    assert [p.name for p in got] == ["pt-master-0", "pt-worker-0", "pt-worker-2", "pt-worker-10"]
    assert [(p.replica_type, p.replica_index) for p in got][:2] == [("Master", 0), ("Worker", 0)]


def test_v2beta1_job_role_and_launcher_with_random_suffix():
    j = job(kind="MPIJob", name="pi", api_version="kubeflow.org/v2beta1")
    launcher = pod("pi-launcher-x7k2p", labels=labels("pi", "mpi-operator", rtype=None, index=None, role="launcher"))
    worker = pod("pi-worker-0", labels=labels("pi", "mpi-operator", rtype=None, index="0", role="worker"))
    got = job_pods(j, [worker, launcher], MPI2)
    assert [(p.name, p.replica_type, p.replica_index) for p in got] == [
        ("pi-launcher-x7k2p", "Launcher", 0), ("pi-worker-0", "Worker", 0)]


@pytest.mark.parametrize(
    "kwargs, reason, exit_code",
    [
        (dict(phase="Pending", statuses=[{"name": "pytorch", "restartCount": 0,
                                          "state": {"waiting": {"reason": "ImagePullBackOff", "message": "x"}}}]),
         "waiting: ImagePullBackOff — image not found or not pullable", None),
        (dict(phase="Running", statuses=[{"name": "pytorch", "restartCount": 4,
                                          "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                          "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}]),
         "waiting: CrashLoopBackOff — the container keeps exiting; see its previous log (last exit: exit code 3)", 3),
        (dict(phase="Failed", statuses=[{"name": "pytorch", "restartCount": 0,
                                         "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]),
         "OOMKilled", 137),
        (dict(phase="Failed", statuses=[{"name": "pytorch", "restartCount": 0,
                                         "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]),
         "exit code 2", 2),
        (dict(phase="Succeeded", statuses=[{"name": "pytorch", "restartCount": 0,
                                            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]),
         "completed", 0),
        (dict(phase="Pending", node=None, resources={"limits": {"nvidia.com/gpu": "4"}},
              conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                           "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]),
         "Pending: 0/3 nodes have 4 free nvidia.com/gpu", None),
        (dict(phase="Failed", status_extra={"reason": "Evicted", "message": "The node was low on resource: memory."}),
         "Evicted: The node was low on resource: memory.", None),
    ],
    ids=["image-pull", "crashloop", "oom", "exit-code", "completed", "unschedulable", "evicted"],
)
def test_reason_in_plain_words(kwargs, reason, exit_code):
    p = pod_from_object(pod("pt-worker-0", labels=labels(), **kwargs), "pt", PT)
    assert (p.reason, p.exit_code) == (reason, exit_code)


def test_facts_of_a_running_pod():
    raw = pod("pt-worker-1", labels=labels(index="1"), containers=("sidecar", "pytorch"),
              statuses=[{"name": "pytorch", "restartCount": 2, "state": {"running": {}}},
                        {"name": "sidecar", "restartCount": 1, "state": {"running": {}}}],
              status_extra={"startTime": "2024-01-01T00:00:00Z"})
    p = pod_from_object(raw, "pt", PT)
    assert (p.phase, p.node, p.restarts, p.started, p.containers) == (
        "Running", "node-1", 3, "2024-01-01T00:00:00Z", ["sidecar", "pytorch"])
    assert default_container(raw, PT) == "pytorch"
    assert default_container(pod("x", containers=("a", "b")), PT) == "a"


def test_restarted_in_place_says_why_the_last_run_ended():
    raw = pod("pt-worker-0", labels=labels(), statuses=[{
        "name": "pytorch", "restartCount": 1, "state": {"running": {}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}])
    assert pod_from_object(raw, "pt", PT).reason == "Running, restarted 1× (last exit: OOMKilled)"


MPI1 = lookup("kubeflow.org/v1", "MPIJob")


@pytest.mark.parametrize("fw", [MPI1, MPI2], ids=["mpi-v1", "mpi-v2beta1"])
def test_an_mpi_pod_means_its_first_container_even_beside_one_named_mpi(fw):
    # Both MPI operators train in containers[0]; a later container that happens to be named
    # like the kind's default is a sidecar here. Its status comes first, as a kubelet may list it.
    raw = pod("mj-worker-0", labels=labels("mj", operator=fw.operator_name), containers=("trainer", "mpi"),
              phase="Running",
              statuses=[{"name": "mpi", "restartCount": 0, "state": {"terminated": {"exitCode": 3, "reason": "Error"}}},
                        {"name": "trainer", "restartCount": 0, "state": {"running": {}}}])
    assert default_container(raw, fw) == "trainer"
    assert default_container(slim_pod(raw), fw) == "trainer"  # what the cache keeps is enough
    p = pod_from_object(raw, "mj", fw)
    assert p.exit_code is None and "exit code 3" not in p.reason, p.reason


def test_a_pytorch_pod_means_its_container_by_name_wherever_it_is():
    raw = pod("pt-worker-0", labels=labels(), containers=("sidecar", "pytorch"), phase="Running",
              statuses=[{"name": "sidecar", "restartCount": 0, "state": {"running": {}}},
                        {"name": "pytorch", "restartCount": 0,
                         "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}])
    assert default_container(raw, PT) == "pytorch"
    assert pod_from_object(raw, "pt", PT).exit_code == 2
    assert default_container(pod("x", containers=()), PT) is None
