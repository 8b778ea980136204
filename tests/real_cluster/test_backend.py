"""Every verb of KubernetesBackend on the real control plane, with the real training-operator.

The same promises tests/backends/kubernetes makes on the API double, here answered by a real
kube-apiserver (schema validation, RBAC, garbage collection, watch) and by pods the real
operator creates; the node agent runs them by the annotations each test puts in the template.
"""

from __future__ import annotations

import copy

import pytest

from dtrain_jupyter.backends.base import CAP_DRY_RUN, Backend
from dtrain_jupyter.errors import Forbidden, InvalidJob, InvalidRequest, JobExists, JobNotFound, NotFound
from dtrain_jupyter.model.status import Phase
from tests.cluster.fixtures import unique

from .conftest import eventually


def template(**rules: str) -> dict:
    return {"metadata": {"annotations": {f"dtrain.test/{k.replace('_', '-')}": v for k, v in rules.items()}},
            "spec": {"containers": [{"name": "pytorch", "image": "example/train:1", "command": ["python", "train.py"]}]}}


def pytorch(name: str, namespace: str = "default", workers: int = 1, restart: str = "OnFailure",
            master: dict | None = None, worker: dict | None = None) -> dict:
    """A PyTorchJob whose replicas follow the node-agent rules given (default: run until told)."""
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": namespace, "labels": {"dtrain-test": "1"}},
            "spec": {"pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": restart, "template": template(**(master or {}))},
                "Worker": {"replicas": workers, "restartPolicy": restart, "template": template(**(worker or {}))}}}}


async def collect(agen) -> list:
    return [line async for line in agen]


async def job_in(backend, name, phase, namespace="default"):
    job = await backend.get("PyTorchJob", name, namespace)
    return job if job.status.phase is phase else None


async def pods_in(backend, name, n, phase="Running", kind="PyTorchJob", namespace="default"):
    pods = await backend.pods(kind, name, namespace)
    return pods if len(pods) == n and all(p.phase == phase for p in pods) else None


async def test_is_a_backend_and_describes_the_real_server(backend, cluster):
    assert isinstance(backend, Backend) and CAP_DRY_RUN in backend.capabilities
    d = backend.describe()
    assert (d["context"], d["namespace"], d["server"], d["ready"]) == ("admin@dtrain-test", "default", cluster.url, True)
    assert set(d["kinds"]) == {"PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "PaddleJob", "JAXJob"}
    assert d["kinds"]["MPIJob"] == ["kubeflow.org/v1"]


async def test_create_runs_to_success_as_the_operator_reports(backend):
    name = unique()
    job = await backend.create(pytorch(name, master={"run_seconds": "1"}, worker={"run_seconds": "1"}))
    assert (job.kind, job.namespace, job.context) == ("PyTorchJob", "default", "admin@dtrain-test")
    done = await eventually(lambda: job_in(backend, name, Phase.SUCCEEDED), 60)
    assert done.uid == job.uid and done.status.reason == "PyTorchJobSucceeded"
    assert done.status.start_time and done.status.completion_time


async def test_dry_run_stores_nothing(backend, cluster):
    name = unique()
    job = await backend.create(pytorch(name), dry_run=True)
    assert job.name == name
    stored = cluster.api("GET", f"/apis/kubeflow.org/v1/namespaces/default/pytorchjobs/{name}", ok=(200, 404))
    assert stored["code"] == 404


async def test_name_taken_is_job_exists(backend):
    m = pytorch(unique())
    await backend.create(m)
    with pytest.raises(JobExists) as err:
        await backend.create(m)
    assert err.value.fields["name"] == m["metadata"]["name"]


async def test_the_servers_schema_refusal_keeps_its_field_paths(backend):
    m = pytorch(unique())
    m["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = "two"
    m["spec"]["runPolicy"] = {"backoffLimit": "often"}
    with pytest.raises(InvalidJob) as err:
        await backend.create(m)
    paths = {i.path for i in err.value.issues}
    assert {"spec.pytorchReplicaSpecs.Master.replicas", "spec.runPolicy.backoffLimit"} <= paths


async def test_a_failed_master_fails_the_job_with_the_exit_code(backend):
    name = unique()
    await backend.create(pytorch(name, restart="Never", master={"run_seconds": "0.5", "exit_code": "3"}))
    failed = await eventually(lambda: job_in(backend, name, Phase.FAILED), 60)
    assert failed.status.reason == "PyTorchJobFailed"
    master = next(p for p in await backend.pods("PyTorchJob", name, "default") if p.replica_type == "Master")
    assert (master.phase, master.exit_code) == ("Failed", 3)


async def test_pods_in_role_order_and_an_unschedulable_reason(backend):
    name = unique()
    await backend.create(pytorch(name, workers=2, worker={"unschedulable": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}))
    pods = await eventually(lambda: _pods_with_reasons(backend, name), 60)
    assert [(p.replica_type, p.replica_index) for p in pods] == [("Master", 0), ("Worker", 0), ("Worker", 1)]
    assert pods[0].phase == "Running" and pods[0].node == "dtrain-node"
    assert all(p.phase == "Pending" and p.reason == "Pending: 0/1 nodes have enough free nvidia.com/gpu" for p in pods[1:])
    events = await backend.events("PyTorchJob", name, "default")
    assert any(e.reason == "FailedScheduling" and e.object_name == f"{name}-worker-1" for e in events)


async def _pods_with_reasons(backend, name):
    pods = await backend.pods("PyTorchJob", name, "default")
    if len(pods) == 3 and pods[0].phase == "Running" and all(p.reason.startswith("Pending: ") for p in pods[1:]):
        return pods
    return None


async def test_events_of_the_job_and_its_pods(backend):
    name = unique()
    await backend.create(pytorch(name, master={"run_seconds": "0.5"}, worker={"run_seconds": "0.5"}))
    await eventually(lambda: job_in(backend, name, Phase.SUCCEEDED), 60)
    events = await eventually(lambda: _events_with(backend, name, {"SuccessfulCreatePod", "Started", "PyTorchJobSucceeded"}), 30)
    by_object = {(e.object_kind, e.reason) for e in events}
    assert ("PyTorchJob", "SuccessfulCreatePod") in by_object and ("Pod", "Scheduled") in by_object


async def _events_with(backend, name, reasons):
    events = await backend.events("PyTorchJob", name, "default")
    return events if reasons <= {e.reason for e in events} else None


async def test_logs_one_pod_tail_timestamps_and_all_pods_merged(backend):
    name = unique()
    await backend.create(pytorch(name, workers=2, master={"log_interval": "0"}, worker={"log_interval": "0"}))
    await eventually(lambda: pods_in(backend, name, 3), 60)
    one = await collect(backend.logs("PyTorchJob", name, "default", pod=f"{name}-worker-1", tail=1, timestamps=True))
    assert len(one) == 1 and one[0].pod == f"{name}-worker-1" and one[0].timestamp[:2] == "20"
    assert one[0].line == "PET_NNODES=3"  # the last of the operator's variables the agent echoes
    merged = await collect(backend.logs("PyTorchJob", name, "default"))
    for rank, pod in enumerate((f"{name}-master-0", f"{name}-worker-0", f"{name}-worker-1")):
        assert any(ln.pod == pod and ln.line == f"RANK={rank}" for ln in merged)


async def test_follow_ends_when_the_job_ends(backend):
    name = unique()
    await backend.create(pytorch(name, master={"run_seconds": "2", "log_interval": "0.3"},
                                 worker={"run_seconds": "2", "log_interval": "0.3"}))
    lines = await collect(backend.logs("PyTorchJob", name, "default", follow=True))
    assert {ln.pod for ln in lines} >= {f"{name}-master-0", f"{name}-worker-0"}
    assert any(ln.line == "[dtrain-node] container pytorch exited with code 0" and ln.pod == f"{name}-master-0"
               for ln in lines)
    assert (await backend.get("PyTorchJob", name, "default")).status.phase.finished


async def test_previous_logs_after_a_restart(backend):
    name = unique()
    await backend.create(pytorch(name, worker={"run_seconds": "0.5", "exit_code": "1", "log_interval": "0"}))
    pod = f"{name}-worker-0"
    await eventually(lambda: _restarted(backend, name, pod), 60)
    lines = await collect(backend.logs("PyTorchJob", name, "default", pod=pod, previous=True))
    assert lines[-1].line == "[dtrain-node] container pytorch exited with code 1"


async def _restarted(backend, job, pod):
    return any(p.name == pod and p.restarts > 0 and p.phase == "Running"
               for p in await backend.pods("PyTorchJob", job, "default"))


async def test_log_requests_the_kubelet_refuses(backend):
    name = unique()
    await backend.create(pytorch(name))
    with pytest.raises(NotFound):
        await collect(backend.logs("PyTorchJob", name, "default", pod="someone-else-0"))
    await eventually(lambda: pods_in(backend, name, 2), 60)
    with pytest.raises(InvalidRequest) as err:
        await collect(backend.logs("PyTorchJob", name, "default", pod=f"{name}-master-0", container="nope"))
    assert "nope" in err.value.message
    with pytest.raises(InvalidRequest) as err:
        await collect(backend.logs("PyTorchJob", name, "default", pod=f"{name}-master-0", previous=True))
    assert "previous terminated container" in err.value.message


async def test_delete_removes_the_job_and_its_pods(backend, cluster):
    name = unique()
    await backend.create(pytorch(name))
    await eventually(lambda: pods_in(backend, name, 2), 60)
    gone = await backend.delete("PyTorchJob", name, "default")
    assert gone.status.phase is Phase.DELETING
    await eventually(lambda: _absent(backend, name), 60)
    pods = cluster.api("GET", f"/api/v1/namespaces/default/pods?labelSelector=training.kubeflow.org/job-name={name}")
    assert pods["items"] == []
    with pytest.raises(JobNotFound):
        await backend.get("PyTorchJob", name, "default")
    with pytest.raises(JobNotFound):
        await backend.delete("PyTorchJob", name, "default")


async def _absent(backend, name):
    jobs = await backend.list("default")
    if any(j.name == name for j in jobs):
        return False
    return not await _still_has_pods(backend, name)


async def _still_has_pods(backend, name):
    try:
        return bool(await backend.pods("PyTorchJob", name, "default"))
    except JobNotFound:
        return False


async def test_list_by_namespace_and_the_allowed_ones(cluster, backend, make_backend):
    here, there = unique("here"), unique("there")
    await backend.create(pytorch(here))
    await backend.create(pytorch(there, namespace="team-a"))
    await eventually(lambda: _names_include(backend, None, {here, there}), 30)
    assert here in {j.name for j in await backend.list("default")}
    assert there not in {j.name for j in await backend.list("default")}
    only = make_backend(cluster, allowed_namespaces=["team-a"])
    await only.start()
    await eventually(lambda: _names_include(only, None, {there}), 30)
    assert here not in {j.name for j in await only.list(None)}
    with pytest.raises(Forbidden):
        await only.list("default")


async def _names_include(backend, namespace, names):
    return names <= {j.name for j in await backend.list(namespace)}


async def test_the_limited_user_is_refused_where_rbac_says_so(cluster, make_backend):
    # The backend is told both namespaces; the server's RBAC, not our allow-list, refuses team-a.
    dev = make_backend(cluster, kubeconfig=cluster.limited_kubeconfig_path, allowed_namespaces=["default", "team-a"])
    await dev.start()
    job = await dev.create(pytorch(unique()))
    assert job.namespace == "default"
    with pytest.raises(Forbidden) as err:
        await dev.create(pytorch(unique(), namespace="team-a"))
    assert (err.value.fields.get("verb"), err.value.fields.get("namespace")) == ("create", "team-a")
    assert 'User "dev" cannot create resource "pytorchjobs"' in err.value.message


async def test_the_change_feed_sees_added_modified_deleted(backend):
    seen: list[tuple[str, str, Phase]] = []
    backend.subscribe(lambda change, job: seen.append((change, job.name, job.status.phase)))
    name = unique()
    await backend.create(pytorch(name, master={"run_seconds": "0.5"}, worker={"run_seconds": "0.5"}))
    await eventually(lambda: any(c == "MODIFIED" and n == name and p is Phase.SUCCEEDED for c, n, p in seen), 60)
    await backend.delete("PyTorchJob", name, "default")
    await eventually(lambda: ("DELETED", name) in {(c, n) for c, n, _ in seen}, 60)
    assert ("ADDED", name) in {(c, n) for c, n, _ in seen}


async def test_mpijob_v1_launcher_and_workers(backend):
    name = unique("mpi")
    worker = template()
    worker["spec"]["containers"][0]["name"] = "mpi"
    launcher = copy.deepcopy(worker)
    launcher["metadata"]["annotations"] = {"dtrain.test/run-seconds": "1"}
    manifest = {"apiVersion": "kubeflow.org/v1", "kind": "MPIJob", "metadata": {"name": name, "namespace": "default"},
                "spec": {"slotsPerWorker": 1, "mpiReplicaSpecs": {
                    "Launcher": {"replicas": 1, "template": launcher},
                    "Worker": {"replicas": 2, "template": worker}}}}
    await backend.create(manifest)
    pods = await eventually(lambda: pods_in(backend, name, 3, kind="MPIJob"), 60)
    assert [(p.replica_type, p.name) for p in pods] == [
        ("Launcher", f"{name}-launcher"), ("Worker", f"{name}-worker-0"), ("Worker", f"{name}-worker-1")]
    done = await eventually(lambda: _mpi_in(backend, name, Phase.SUCCEEDED), 60)
    assert done.status.reason == "MPIJobSucceeded"


async def _mpi_in(backend, name, phase):
    job = await backend.get("MPIJob", name, "default")
    return job if job.status.phase is phase else None
