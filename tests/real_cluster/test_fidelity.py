"""kubectl 1.32 and the kubeflow-training 1.9.4 SDK against the real control plane, with jobs
crossing between them and our backend in both directions.

tests/fidelity proves the API double speaks the protocol these clients expect; here the server
is the real kube-apiserver with the real training-operator, so what kubectl and the SDK read of
our jobs, and what our backend reads of theirs, is what a user of a real cluster would see.
Pods are animated by the node agent (tests/cluster/node_agent.py), steered by the
`dtrain.test/*` annotations on the replica templates.

The MPIJob v2beta1 test runs on a second control plane, where the MPI Operator runs that kind.

Every other test works in one namespace of this module's own: the SDK's `list_jobs` fails outright
on any job in the namespace that lacks `spec.runPolicy` (its models refuse it, and the real
operator never stores its defaults), and other modules share the session's cluster.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import pytest
import yaml
from kubeflow.training import TrainingClient, constants
from kubeflow.training import models as m
from kubernetes.client import V1Container, V1ObjectMeta, V1PodSpec, V1PodTemplateSpec

from dtrain_jupyter.errors import JobNotFound
from dtrain_jupyter.model.job import Job, LogLine, Pod
from dtrain_jupyter.model.status import Phase
from tests.cluster.fixtures import unique

from .conftest import eventually
from .kubectl import Kubectl

# The machine has two slow cores shared with other work: waits are generous, never timed.
SLOW = 120.0
JOB_LABEL = "training.kubeflow.org/job-name"


# ---- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def namespace(cluster) -> Any:
    """A namespace of this module's own, with its default service account (pods need one)."""
    name = unique("fid")
    cluster.api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    deadline = time.monotonic() + SLOW
    while cluster.api("GET", f"/api/v1/namespaces/{name}/serviceaccounts", ok=(200,))["items"] == []:
        assert time.monotonic() < deadline, f"no default service account in namespace {name}"
        time.sleep(0.2)
    yield name
    # The namespace controller deletes the jobs, and the garbage collector their pods.
    cluster.api("DELETE", f"/api/v1/namespaces/{name}", ok=(200, 202, 404))


@pytest.fixture(scope="module")
def kubectl(cluster, namespace, tmp_path_factory) -> Kubectl:
    return Kubectl(cluster.kubeconfig_path, tmp_path_factory.mktemp("kubectl-home"), namespace)


@pytest.fixture
def sdk(cluster, namespace) -> TrainingClient:
    return TrainingClient(config_file=cluster.kubeconfig_path, namespace=namespace, job_kind="PyTorchJob")


# ---- jobs -------------------------------------------------------------------------------------

def _template(container: str, annotations: dict[str, str]) -> dict[str, Any]:
    container_spec = {"name": container, "image": "example/train:1", "command": ["python3", "train.py"]}
    return {"metadata": {"annotations": dict(annotations)}, "spec": {"containers": [container_spec]}}


def pytorch(name: str, namespace: str, *, workers: int = 1, restart_policy: str = "OnFailure",
            **annotations: str) -> dict[str, Any]:
    """A PyTorchJob manifest; keyword annotations become `dtrain.test/<name-with-dashes>`."""
    notes = {f"dtrain.test/{k.replace('_', '-')}": v for k, v in annotations.items()}
    roles = {"Master": 1, **({"Worker": workers} if workers else {})}
    spec = {
        "pytorchReplicaSpecs": {
            role: {"replicas": n, "restartPolicy": restart_policy, "template": _template("pytorch", notes)}
            for role, n in roles.items()},
        # Every PyTorchJob of the module's namespace needs one, or the SDK can list none of them.
        "runPolicy": {"cleanPodPolicy": "None"},
    }
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": namespace, "labels": {"dtrain-test": "fidelity"}}, "spec": spec}


def sdk_pytorch(name: str, workers: int, run_seconds: str) -> m.KubeflowOrgV1PyTorchJob:
    def replica(n: int) -> m.KubeflowOrgV1ReplicaSpec:
        return m.KubeflowOrgV1ReplicaSpec(replicas=n, restart_policy="OnFailure", template=V1PodTemplateSpec(
            metadata=V1ObjectMeta(annotations={"dtrain.test/run-seconds": run_seconds}),
            spec=V1PodSpec(containers=[V1Container(name="pytorch", image="example/train:1",
                                                   command=["python3", "train.py"])])))

    return m.KubeflowOrgV1PyTorchJob(
        api_version="kubeflow.org/v1", kind="PyTorchJob", metadata=V1ObjectMeta(name=name),
        spec=m.KubeflowOrgV1PyTorchJobSpec(run_policy=m.KubeflowOrgV1RunPolicy(clean_pod_policy="None"),
                                           pytorch_replica_specs={"Master": replica(1), "Worker": replica(workers)}))


async def _phase(backend, kind: str, name: str, namespace: str, phase: Phase) -> Job | None:
    for job in await backend.list(namespace):
        if (job.kind, job.name) == (kind, name) and job.status.phase is phase:
            return job
    return None


async def _settled(backend, kind: str, name: str, namespace: str) -> Job | None:
    """The job once Succeeded with every replica counted succeeded: the operator reports the
    job's success with its Master (or Chief) and updates the other replicas' counts after."""
    job = await _phase(backend, kind, name, namespace, Phase.SUCCEEDED)
    counts = job.status.replicas.values() if job else []
    return job if counts and all(c.succeeded == c.replicas for c in counts) else None


async def _running_pods(backend, kind: str, name: str, namespace: str, count: int) -> list[Pod] | None:
    pods = await backend.pods(kind, name, namespace)
    return pods if len(pods) == count and all(p.phase == "Running" for p in pods) else None


async def _ended_pods(backend, kind: str, name: str, namespace: str, count: int) -> list[Pod] | None:
    pods = await backend.pods(kind, name, namespace)
    return pods if len(pods) == count and all(p.phase in ("Succeeded", "Failed") for p in pods) else None


async def _lines(backend, kind: str, name: str, namespace: str, **kwargs: Any) -> list[LogLine]:
    return [line async for line in backend.logs(kind, name, namespace, **kwargs)]


async def _gone(backend, name: str, namespace: str) -> bool:
    return name not in {j.name for j in await backend.list(namespace)}


async def _no_pods(kubectl: Kubectl, job: str) -> bool:
    return (await kubectl.get_json("pods", "-l", f"{JOB_LABEL}={job}"))["items"] == []


# ---- the server --------------------------------------------------------------------------------

async def test_kubectl_reports_the_real_server_version(kubectl, cluster):
    version = json.loads((await kubectl("version", "-o", "json")).stdout)

    server, client = version["serverVersion"], version["clientVersion"]
    assert (server["gitVersion"], server["major"], server["minor"]) == ("v1.35.4", "1", "35")
    assert server["gitVersion"] == cluster.version
    assert client["gitVersion"].startswith("v1.32.")


# ---- our jobs, read by kubectl and by the SDK ---------------------------------------------------

async def test_kubectl_reads_a_job_our_backend_created(backend, kubectl, namespace):
    name = unique("ours")
    manifest = pytorch(name, namespace, workers=2, run_seconds="3")
    created = await backend.create(copy.deepcopy(manifest))
    done = await eventually(lambda: _settled(backend, "PyTorchJob", name, namespace), SLOW)
    # The job succeeds with its Master; a Worker's own end may reach the pod cache a moment later.
    ours = await eventually(lambda: _ended_pods(backend, "PyTorchJob", name, namespace, 3), SLOW)

    as_json = await kubectl.get_json("pytorchjob", name)
    as_yaml = yaml.safe_load((await kubectl("get", "pytorchjob", name, "-o", "yaml")).stdout)
    table = (await kubectl("get", "pytorchjob", name)).stdout.splitlines()
    pods = await kubectl.get_json("pods", "-l", f"{JOB_LABEL}={name}")

    assert isinstance(created, Job) and created.uid
    assert as_yaml == as_json
    assert (as_json["apiVersion"], as_json["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert (as_json["metadata"]["uid"], as_json["metadata"]["labels"]) == (created.uid, {"dtrain-test": "fidelity"})
    # The operator defaults the spec in memory only (its webhook validates, never mutates): the
    # server keeps what we sent plus the CRD schema's one default, no port or nprocPerNode added.
    expected = copy.deepcopy(manifest["spec"])
    expected["runPolicy"]["suspend"] = False
    assert as_json["spec"] == expected
    conditions = as_json["status"]["conditions"]
    assert [c["type"] for c in conditions] == [c["type"] for c in done.status.conditions]
    assert conditions[-1]["reason"] == done.status.reason == "PyTorchJobSucceeded"
    assert as_json["status"]["replicaStatuses"]["Worker"]["succeeded"] == done.status.replicas["Worker"].succeeded == 2
    assert table[0].split() == ["NAME", "STATE", "AGE"] and table[1].split()[:2] == [name, "Succeeded"]
    by_name = {p["metadata"]["name"]: p for p in pods["items"]}
    replicas = [f"{name}-master-0", f"{name}-worker-0", f"{name}-worker-1"]
    assert sorted(by_name) == sorted(p.name for p in ours) == replicas
    for pod in ours:
        labels = by_name[pod.name]["metadata"]["labels"]
        assert isinstance(pod, Pod) and pod.phase == by_name[pod.name]["status"]["phase"] == "Succeeded"
        assert labels["training.kubeflow.org/replica-type"] == pod.replica_type.lower()
        assert labels["training.kubeflow.org/replica-index"] == str(pod.replica_index)


async def test_sdk_reads_a_job_our_backend_created(backend, sdk, namespace):
    name = unique("ours")
    created = await backend.create(pytorch(name, namespace, workers=2, run_seconds="3"))

    waited = await asyncio.to_thread(sdk.wait_for_job_conditions, name, wait_timeout=int(SLOW), polling_interval=1)
    # The rest is compared once every replica has ended and been counted (the job succeeds
    # with its Master alone; the Workers' ends follow).
    done = await eventually(lambda: _settled(backend, "PyTorchJob", name, namespace), SLOW)
    ours = await eventually(lambda: _ended_pods(backend, "PyTorchJob", name, namespace, 3), SLOW)
    job = await asyncio.to_thread(sdk.get_job, name)
    listed = await asyncio.to_thread(sdk.list_jobs)
    conditions = await asyncio.to_thread(sdk.get_job_conditions, name)
    sdk_pods = await asyncio.to_thread(sdk.get_job_pods, name)
    master_log, _ = await asyncio.to_thread(sdk.get_job_logs, name)
    worker_log, _ = await asyncio.to_thread(sdk.get_job_logs, name, is_master=False, replica_type="worker",
                                            replica_index=1)
    our_master = await _lines(backend, "PyTorchJob", name, namespace, pod=f"{name}-master-0")
    our_worker = await _lines(backend, "PyTorchJob", name, namespace, pod=f"{name}-worker-1")

    assert isinstance(job, m.KubeflowOrgV1PyTorchJob) and job.metadata.uid == created.uid
    assert waited.status.conditions[-1].type == constants.JOB_CONDITION_SUCCEEDED
    assert name in [j.metadata.name for j in listed]
    assert [c.type for c in conditions] == [c["type"] for c in done.status.conditions]
    assert [c.reason for c in conditions] == [c["reason"] for c in done.status.conditions]
    assert job.status.replica_statuses["Worker"].succeeded == done.status.replicas["Worker"].succeeded == 2
    assert sorted(p.metadata.name for p in sdk_pods) == sorted(p.name for p in ours)
    assert list(master_log) == [f"{name}-master-0"] and list(worker_log) == [f"{name}-worker-1"]
    assert master_log[f"{name}-master-0"].splitlines() == [line.line for line in our_master]
    assert worker_log[f"{name}-worker-1"].splitlines() == [line.line for line in our_worker]
    assert "RANK=2" in [line.line for line in our_worker]  # the operator's env, read through both


async def test_sdk_and_our_backend_agree_that_a_job_failed(backend, sdk, namespace):
    name = unique("ours")
    # restartPolicy Never: a non-zero exit fails the replica instead of restarting it in place.
    await backend.create(pytorch(name, namespace, workers=0, restart_policy="Never", run_seconds="2", exit_code="3"))

    with pytest.raises(RuntimeError, match=f"{name} is Failed"):
        await asyncio.to_thread(sdk.wait_for_job_conditions, name, wait_timeout=int(SLOW), polling_interval=1)
    failed = await eventually(lambda: _phase(backend, "PyTorchJob", name, namespace, Phase.FAILED), SLOW)
    last = (await asyncio.to_thread(sdk.get_job, name)).status.conditions[-1]
    pods = await eventually(lambda: _ended_pods(backend, "PyTorchJob", name, namespace, 1), SLOW)

    assert await asyncio.to_thread(sdk.is_job_failed, name)
    assert (last.type, last.reason) == (constants.JOB_CONDITION_FAILED, "PyTorchJobFailed")
    assert (failed.status.reason, failed.status.message) == (last.reason, last.message)
    assert [(p.name, p.phase, p.exit_code) for p in pods] == [(f"{name}-master-0", "Failed", 3)]


# ---- their jobs, read by our backend -------------------------------------------------------------

async def test_our_backend_reads_a_job_kubectl_created(backend, kubectl, namespace, tmp_path):
    name = unique("kc")
    notes = {"dtrain.test/run-seconds": "3"}
    tfjob = {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": name},
             "spec": {"tfReplicaSpecs": {
                 "Chief": {"replicas": 1, "restartPolicy": "OnFailure", "template": _template("tensorflow", notes)},
                 "Worker": {"replicas": 2, "restartPolicy": "OnFailure", "template": _template("tensorflow", notes)}}}}
    (tmp_path / "tfjob.yaml").write_text(yaml.safe_dump(tfjob))

    out = (await kubectl("create", "-f", str(tmp_path / "tfjob.yaml"))).stdout
    done = await eventually(lambda: _settled(backend, "TFJob", name, namespace), SLOW)
    job = await backend.get("TFJob", name, namespace)
    pods = await eventually(lambda: _ended_pods(backend, "TFJob", name, namespace, 3), SLOW)
    merged = await _lines(backend, "TFJob", name, namespace)
    theirs = {p.name: (await kubectl("logs", p.name)).stdout.splitlines() for p in pods}
    stored = await kubectl.get_json("tfjob", name)

    assert out.strip() == f"tfjob.kubeflow.org/{name} created"
    assert isinstance(job, Job)
    assert (job.backend, job.kind, job.api_version) == ("kubernetes", "TFJob", "kubeflow.org/v1")
    assert (job.namespace, job.uid, done.uid) == (namespace, stored["metadata"]["uid"], stored["metadata"]["uid"])
    assert job.status.reason == stored["status"]["conditions"][-1]["reason"] == "TFJobSucceeded"
    assert {(p.name, p.replica_type, p.replica_index) for p in pods} == {
        (f"{name}-chief-0", "Chief", 0), (f"{name}-worker-0", "Worker", 0), (f"{name}-worker-1", "Worker", 1)}
    assert all(p.phase == "Succeeded" and p.exit_code == 0 for p in pods)
    # Merged, each line names its pod; per pod, the lines are kubectl's, in kubectl's order.
    assert {line.pod for line in merged} == set(theirs)
    for pod, lines in theirs.items():
        assert [line.line for line in merged if line.pod == pod] == lines
    tf_config = next(line.line for line in merged
                     if line.pod == f"{name}-worker-1" and line.line.startswith("TF_CONFIG="))
    assert json.loads(tf_config.removeprefix("TF_CONFIG="))["task"] == {"type": "worker", "index": 1}


async def test_our_backend_reads_a_job_the_sdk_created(backend, sdk, namespace):
    name = unique("sdk")

    await asyncio.to_thread(sdk.create_job, job=sdk_pytorch(name, workers=2, run_seconds="3"))
    done = await eventually(lambda: _settled(backend, "PyTorchJob", name, namespace), SLOW)
    pods = await eventually(lambda: _ended_pods(backend, "PyTorchJob", name, namespace, 3), SLOW)
    job = await backend.get("PyTorchJob", name, namespace)
    ours = await _lines(backend, "PyTorchJob", name, namespace, pod=f"{name}-worker-0")
    theirs, _ = await asyncio.to_thread(sdk.get_job_logs, name, is_master=False, replica_type="worker", replica_index=0)
    sdk_job = await asyncio.to_thread(sdk.get_job, name)

    assert isinstance(job, Job) and job.uid == done.uid == sdk_job.metadata.uid
    assert job.manifest["spec"]["runPolicy"] == {"cleanPodPolicy": "None", "suspend": False}  # + the CRD's default
    assert set(job.manifest["spec"]["pytorchReplicaSpecs"]) == {"Master", "Worker"}
    assert job.status.replicas["Worker"].succeeded == 2 and job.status.replicas["Master"].succeeded == 1
    assert [(p.name, p.replica_type, p.replica_index) for p in sorted(pods, key=lambda p: p.name)] == [
        (f"{name}-master-0", "Master", 0), (f"{name}-worker-0", "Worker", 0), (f"{name}-worker-1", "Worker", 1)]
    assert [line.line for line in ours] == theirs[f"{name}-worker-0"].splitlines()
    assert all(line.pod == f"{name}-worker-0" for line in ours)
    assert f"MASTER_ADDR={name}-master-0" in [line.line for line in ours]


# ---- logs, followed ---------------------------------------------------------------------------------

async def test_kubectl_logs_follow_and_ours_stream_the_same_lines(backend, kubectl, namespace):
    name = unique("follow")
    pod = f"{name}-master-0"
    # No run-seconds: the container runs until the test tells it to exit.
    await backend.create(pytorch(name, namespace, workers=0, log_interval="0.5"))
    await eventually(lambda: _running_pods(backend, "PyTorchJob", name, namespace, 1), SLOW)
    ours: list[LogLine] = []

    async def follow() -> None:
        async for line in backend.logs("PyTorchJob", name, namespace, pod=pod, follow=True, timestamps=True):
            ours.append(line)

    theirs = kubectl.stream("logs", "-f", "--timestamps", pod)
    reader = asyncio.create_task(follow())
    try:
        # Both streams are live: lines arrive while the container still runs.
        await eventually(lambda: any(text.endswith(" step 2") for text in theirs.lines), SLOW)
        await eventually(lambda: any(line.line == "step 2" for line in ours), SLOW)
        assert theirs.running and not reader.done()

        await kubectl("annotate", "pod", pod, "dtrain.test/exit=0")
        code, lines, err = await theirs.wait(SLOW)
        await asyncio.wait_for(reader, SLOW)
    finally:
        theirs.stop()
        reader.cancel()

    assert code == 0, err
    assert lines[-1].endswith(" [dtrain-node] container pytorch exited with code 0")
    # The same kubelet lines, timestamps and all, through the same API server.
    assert [(line.timestamp, line.line) for line in ours] == [tuple(text.split(" ", 1)) for text in lines]
    assert all(line.pod == pod and line.timestamp for line in ours)
    done = await eventually(lambda: _settled(backend, "PyTorchJob", name, namespace), SLOW)
    assert done.status.replicas["Master"].succeeded == 1


# ---- deletion, both ways -----------------------------------------------------------------------------

async def test_kubectl_delete_is_seen_by_our_watch(backend, kubectl, namespace):
    name = unique("gone")
    seen: list[str] = []

    def record(change: str, job: Job) -> None:
        if (job.namespace, job.name) == (namespace, name):  # the backend hears every namespace's jobs
            seen.append(change)

    backend.subscribe(record)
    await backend.create(pytorch(name, namespace, workers=1))
    await eventually(lambda: _running_pods(backend, "PyTorchJob", name, namespace, 2), SLOW)

    out = (await kubectl("delete", "pytorchjob", name)).stdout

    assert out.strip() == f'pytorchjob.kubeflow.org "{name}" deleted'
    await eventually(lambda: "DELETED" in seen, SLOW)
    assert await _gone(backend, name, namespace)
    with pytest.raises(JobNotFound) as err:
        await backend.get("PyTorchJob", name, namespace)
    assert (err.value.fields["kind"], err.value.fields["name"]) == ("PyTorchJob", name)
    assert seen[0] == "ADDED" and seen[-1] == "DELETED"
    await eventually(lambda: _no_pods(kubectl, name), SLOW)  # the garbage collector follows the owner


async def test_our_delete_is_seen_by_kubectl(backend, kubectl, namespace):
    name = unique("gone")
    await backend.create(pytorch(name, namespace, workers=2))
    await eventually(lambda: _running_pods(backend, "PyTorchJob", name, namespace, 3), SLOW)
    watch = kubectl.stream("get", "pytorchjobs", "--watch", "--output-watch-events")
    try:
        await eventually(lambda: any(text.split()[:2] == ["ADDED", name] for text in watch.lines), SLOW)

        deleting = await backend.delete("PyTorchJob", name, namespace)

        after = await kubectl("get", "pytorchjob", name, "-o", "json", check=False)
        if after.returncode == 0:  # caught before the garbage collector finished: foreground deletion
            meta = json.loads(after.stdout)["metadata"]
            assert meta["deletionTimestamp"] and "foregroundDeletion" in meta["finalizers"]
        await eventually(lambda: any(text.split()[:2] == ["DELETED", name] for text in watch.lines), SLOW)
    finally:
        watch.stop()

    assert isinstance(deleting, Job) and deleting.status.phase is Phase.DELETING
    gone = await kubectl("get", "pytorchjob", name, check=False)
    assert gone.returncode == 1
    assert f'Error from server (NotFound): pytorchjobs.kubeflow.org "{name}" not found' in gone.stderr
    # Foreground: the job went only after its pods did.
    assert await _no_pods(kubectl, name)
    await eventually(lambda: _gone(backend, name, namespace), SLOW)


# ---- MPIJob v2beta1, run by the MPI Operator ------------------------------------------------------

async def test_our_backend_reads_a_v2beta1_mpijob_kubectl_created(cluster_v2, make_backend, tmp_path):
    kubectl = Kubectl(cluster_v2.kubeconfig_path, tmp_path / "home", "default")
    backend = make_backend(cluster_v2)
    await backend.start()
    name = unique("mpi")
    mpijob = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": name},
              "spec": {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": "Running"}, "mpiReplicaSpecs": {
                  # Every replica runs until told; the operator removes the Workers after success.
                  "Launcher": {"replicas": 1, "template": _template("mpi-launcher", {})},
                  "Worker": {"replicas": 2, "template": _template("mpi-worker", {})}}}}
    (tmp_path / "mpijob.yaml").write_text(yaml.safe_dump(mpijob))

    await kubectl("create", "-f", str(tmp_path / "mpijob.yaml"))
    running = await eventually(lambda: _running_pods(backend, "MPIJob", name, "default", 3), SLOW)
    launcher = next(p for p in running if p.replica_type == "Launcher")
    await kubectl("annotate", "pod", launcher.name, "dtrain.test/exit=0")
    done = await eventually(lambda: _phase(backend, "MPIJob", name, "default", Phase.SUCCEEDED), SLOW)
    ours = await _lines(backend, "MPIJob", name, "default", pod=launcher.name)
    theirs = (await kubectl("logs", launcher.name)).stdout.splitlines()
    stored = await kubectl.get_json("mpijob", name)

    assert isinstance(done, Job) and (done.api_version, done.uid) == ("kubeflow.org/v2beta1", stored["metadata"]["uid"])
    assert done.status.reason == stored["status"]["conditions"][-1]["reason"]
    assert sorted((p.replica_type, p.replica_index) for p in running) == [("Launcher", 0), ("Worker", 0), ("Worker", 1)]
    # The launcher is a batch Job's pod: a generated name, owned by the Job, not by the MPIJob.
    assert launcher.name.startswith(f"{name}-launcher-") and len(launcher.name) == len(f"{name}-launcher-") + 5
    assert [line.line for line in ours] == theirs and theirs[-1].endswith("exited with code 0")
