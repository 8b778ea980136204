"""The kubeflow-training 1.9.4 SDK's TrainingClient, a client nobody here wrote, against the double.

TrainingClient goes through the official `kubernetes` client (CustomObjectsApi, CoreV1Api,
watch streams of pod logs), so this proves the double's JSON shapes, status codes, label
selectors and log streaming are what generated Kubernetes clients expect.
"""

from __future__ import annotations

import threading
import time

import pytest
from kubeflow.training import TrainingClient, constants
from kubeflow.training import models as m
from kubernetes.client import V1Container, V1ObjectMeta, V1PodSpec, V1PodTemplateSpec

# The SDK's models refuse a spec without runPolicy (client-side validation), on the way out
# and on the way back in; as on a real cluster, a job is stored as sent, so the SDK reads only
# jobs that were created with a runPolicy.
RUN_POLICY = m.KubeflowOrgV1RunPolicy(clean_pod_policy="None")


def _replica(replicas: int, container: str) -> m.KubeflowOrgV1ReplicaSpec:
    return m.KubeflowOrgV1ReplicaSpec(
        replicas=replicas, restart_policy="OnFailure",
        template=V1PodTemplateSpec(spec=V1PodSpec(containers=[
            V1Container(name=container, image="example/train:1", command=["python3", "train.py"])])))


def _pytorch_job(name: str) -> m.KubeflowOrgV1PyTorchJob:
    return m.KubeflowOrgV1PyTorchJob(
        api_version="kubeflow.org/v1", kind="PyTorchJob", metadata=V1ObjectMeta(name=name),
        spec=m.KubeflowOrgV1PyTorchJobSpec(run_policy=RUN_POLICY, pytorch_replica_specs={
            "Master": _replica(1, "pytorch"), "Worker": _replica(2, "pytorch")}))


def _wait(predicate, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.fixture
def client(double_v1) -> TrainingClient:
    double_v1.simulator.set_speed()
    return TrainingClient(config_file=double_v1.kubeconfig_path, namespace="default", job_kind="PyTorchJob")


def test_create_list_get_wait_pods_logs_delete(client, double_v1):
    client.create_job(job=_pytorch_job("sdk-pt"))

    done = client.wait_for_job_conditions("sdk-pt", wait_timeout=30, polling_interval=1)
    listed = [j.metadata.name for j in client.list_jobs()]
    job = client.get_job("sdk-pt")
    pods = client.get_job_pods("sdk-pt")
    master_logs, _ = client.get_job_logs("sdk-pt")
    worker_logs, _ = client.get_job_logs("sdk-pt", is_master=False, replica_type="worker", replica_index=1)

    assert client.is_job_succeeded("sdk-pt")
    assert [c.type for c in done.status.conditions][-1] == constants.JOB_CONDITION_SUCCEEDED
    assert "sdk-pt" in listed
    assert job.status.replica_statuses["Worker"].succeeded == 2
    assert sorted(p.metadata.name for p in pods) == ["sdk-pt-master-0", "sdk-pt-worker-0", "sdk-pt-worker-1"]
    assert "[sdk-pt-master-0] step" in master_logs["sdk-pt-master-0"]
    assert list(worker_logs) == ["sdk-pt-worker-1"]

    client.delete_job("sdk-pt")

    _wait(lambda: not client.get_job_pods("sdk-pt"))
    with pytest.raises(RuntimeError, match="Failed to get PyTorchJob: default/sdk-pt"):
        client.get_job("sdk-pt")


def test_follow_logs_until_the_job_ends(client, double_v1):
    double_v1.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    client.create_job(job=_pytorch_job("sdk-follow"))
    client.wait_for_job_conditions("sdk-follow", expected_conditions={constants.JOB_CONDITION_RUNNING},
                                   wait_timeout=30, polling_interval=1)
    finisher = threading.Timer(1.0, lambda: double_v1.simulator.finish("sdk-follow"))
    finisher.start()
    try:
        logs, _ = client.get_job_logs("sdk-follow", follow=True)
    finally:
        finisher.cancel()
        double_v1.simulator.set_speed()
    assert "[sdk-follow-master-0] step" in logs["sdk-follow-master-0"]
    client.delete_job("sdk-follow")


def test_wait_reports_a_failed_job(client, double_v1):
    double_v1.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    try:
        client.create_job(job=_pytorch_job("sdk-fail"))
        client.wait_for_job_conditions("sdk-fail", expected_conditions={constants.JOB_CONDITION_RUNNING},
                                       wait_timeout=30, polling_interval=1)
        double_v1.simulator.fault("sdk-fail-master-0", "Fail")

        with pytest.raises(RuntimeError, match="sdk-fail is Failed"):
            client.wait_for_job_conditions("sdk-fail", wait_timeout=30, polling_interval=1)
    finally:
        double_v1.simulator.set_speed()
    assert client.is_job_failed("sdk-fail")
    failed = client.get_job("sdk-fail").status.conditions[-1]
    assert (failed.reason, failed.message) == (
        "PyTorchJobFailed", "PyTorchJob sdk-fail is failed because 1 Master replica(s) failed.")


def test_tfjob_and_mpijob_kinds(double_v1):
    tf = TrainingClient(config_file=double_v1.kubeconfig_path, namespace="team-a", job_kind="TFJob")
    tf.create_job(job=m.KubeflowOrgV1TFJob(
        api_version="kubeflow.org/v1", kind="TFJob", metadata=V1ObjectMeta(name="sdk-tf"),
        spec=m.KubeflowOrgV1TFJobSpec(run_policy=RUN_POLICY, tf_replica_specs={"Chief": _replica(1, "tensorflow"),
                                                        "Worker": _replica(2, "tensorflow")})))
    mpi = TrainingClient(config_file=double_v1.kubeconfig_path, namespace="team-a", job_kind="MPIJob")
    mpi.create_job(job=m.KubeflowOrgV1MPIJob(
        api_version="kubeflow.org/v1", kind="MPIJob", metadata=V1ObjectMeta(name="sdk-mpi"),
        spec=m.KubeflowOrgV1MPIJobSpec(run_policy=RUN_POLICY, mpi_replica_specs={"Launcher": _replica(1, "mpi"),
                                                          "Worker": _replica(2, "mpi")})))

    tf.wait_for_job_conditions("sdk-tf", wait_timeout=30, polling_interval=1)
    mpi.wait_for_job_conditions("sdk-mpi", wait_timeout=30, polling_interval=1)

    assert [p.metadata.name for p in tf.get_job_pods("sdk-tf", is_master=True)] == ["sdk-tf-chief-0"]
    assert [p.metadata.name for p in mpi.get_job_pods("sdk-mpi", is_master=True)] == ["sdk-mpi-launcher"]
    assert sorted(p.metadata.name for p in mpi.get_job_pods("sdk-mpi", replica_type="worker")) == [
        "sdk-mpi-worker-0", "sdk-mpi-worker-1"]
    assert {j.metadata.name for j in mpi.list_jobs()} == {"sdk-mpi"}


def test_duplicate_create_is_a_conflict(client):
    client.create_job(job=_pytorch_job("sdk-twice"))
    with pytest.raises(RuntimeError, match="Failed to create PyTorchJob: default/sdk-twice"):
        client.create_job(job=_pytorch_job("sdk-twice"))
    client.delete_job("sdk-twice")
