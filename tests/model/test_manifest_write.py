"""Writing edits into an existing manifest: in place, next to what the spec does not model."""

from __future__ import annotations

import copy

import pytest

from dtrain_jupyter.model.spec import JobSpec, OutputVolume, RoleSpec, container_of


def manifest() -> dict:
    return {
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": "w", "labels": {"team": "a"}},
        "spec": {"pytorchReplicaSpecs": {
            "Master": {"replicas": 1, "template": {"metadata": {"annotations": {"x": "y"}}, "spec": {
                "containers": [
                    {"name": "sidecar", "image": "proxy"},
                    {"name": "pytorch", "image": "img", "ports": [{"containerPort": 23456, "name": "pytorchjob-port"}],
                     "env": [{"name": "A", "value": "1"},
                             {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                             {"name": "B", "value": "2"}],
                     "resources": {"requests": {"cpu": "1", "nvidia.com/gpu": 1},
                                   "limits": {"memory": "2Gi", "nvidia.com/gpu": 1}}}],
                "volumes": [{"name": "data", "emptyDir": {}}]}}},
            "Worker": {"replicas": 2, "template": {"spec": {"containers": [{"name": "pytorch", "image": "img"}]}}},
        }},
    }


def pod(out: dict, role: str = "Master") -> dict:
    return out["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]


def test_the_training_container_is_found_by_name_not_position():
    spec = JobSpec.from_manifest(manifest())
    assert spec.roles["Master"].container_name is None  # it is the default 'pytorch'
    spec.roles["Master"].image = "img:2"
    out = spec.to_manifest()
    assert [c["image"] for c in pod(out)["containers"]] == ["proxy", "img:2"]


def test_env_edits_keep_value_from_entries_and_order():
    spec = JobSpec.from_manifest(manifest())
    spec.roles["Master"].env = {"B": "20", "C": "3"}
    out = spec.to_manifest()
    assert pod(out)["containers"][1]["env"] == [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "B", "value": "20"},
        {"name": "C", "value": "3"},
    ]


def test_resources_are_written_where_they_were_found():
    spec = JobSpec.from_manifest(manifest())
    master = spec.roles["Master"]
    assert (master.cpu, master.memory, master.gpu) == ("1", "2Gi", 1)
    master.cpu, master.memory, master.gpu = "2", "8Gi", 2
    out = spec.to_manifest()
    assert pod(out)["containers"][1]["resources"] == {
        "requests": {"cpu": "2", "nvidia.com/gpu": 2}, "limits": {"memory": "8Gi", "nvidia.com/gpu": 2}}
    master.gpu = None
    out = spec.to_manifest()
    assert pod(out)["containers"][1]["resources"] == {"requests": {"cpu": "2"}, "limits": {"memory": "8Gi"}}


def test_output_volume_is_added_and_removed_beside_other_volumes():
    spec = JobSpec.from_manifest(manifest())
    spec.output_volume = OutputVolume(claim_name="results", mount_path="/results")
    out = spec.to_manifest()
    assert pod(out)["volumes"] == [{"name": "data", "emptyDir": {}},
                                   {"name": "dtrain-output", "persistentVolumeClaim": {"claimName": "results"}}]
    assert pod(out, "Worker")["containers"][0]["volumeMounts"] == [{"name": "dtrain-output", "mountPath": "/results"}]
    again = JobSpec.from_manifest(out)
    assert again.output_volume == OutputVolume(claim_name="results", mount_path="/results")
    again.output_volume = None
    assert again.to_manifest() == manifest()


def test_roles_can_be_added_and_removed():
    spec = JobSpec.from_manifest(manifest())
    del spec.roles["Worker"]
    out = spec.to_manifest()
    assert list(out["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    spec.roles["Worker"] = RoleSpec(replicas=5)
    out = spec.to_manifest()
    worker = out["spec"]["pytorchReplicaSpecs"]["Worker"]
    # A new role takes the job-wide values, which were read from the first role (image, plain env).
    assert spec.env == {"A": "1", "B": "2"}
    assert worker == {"replicas": 5, "template": {"spec": {"containers": [
        {"name": "pytorch", "image": "img", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}}


def test_renaming_the_container_and_the_job():
    spec = JobSpec.from_manifest(manifest())
    spec.roles["Worker"].container_name = "pytorch"  # the default: no change
    spec.name = "renamed"
    spec.namespace = "ns"
    out = spec.to_manifest()
    expected = copy.deepcopy(manifest())
    expected["metadata"] = {"name": "renamed", "labels": {"team": "a"}, "namespace": "ns"}
    assert out == expected


def test_lower_case_role_keys_are_kept_as_written():
    m = manifest()
    m["spec"]["pytorchReplicaSpecs"]["worker"] = m["spec"]["pytorchReplicaSpecs"].pop("Worker")
    spec = JobSpec.from_manifest(m)
    assert set(spec.roles) == {"Master", "Worker"}
    spec.roles["Worker"].replicas = 3
    out = spec.to_manifest()
    assert out["spec"]["pytorchReplicaSpecs"]["worker"]["replicas"] == 3
    assert "Worker" not in out["spec"]["pytorchReplicaSpecs"]


@pytest.mark.parametrize("version", ["v1", "v2beta1"])
def test_an_mpijobs_training_container_is_the_first_whatever_its_name(version):
    # Both MPI operators run the launcher's mpirun and the worker's sleep or sshd in containers[0]
    # (operator-contract §4 newLauncher/newWorker, §5), even when a later container is named `mpi`.
    containers = [{"name": "main", "image": "horovod:1", "command": ["mpirun", "python", "t.py"]},
                  {"name": "mpi", "image": "sidecar:1"}]
    m = {"apiVersion": f"kubeflow.org/{version}", "kind": "MPIJob", "metadata": {"name": "m"},
         "spec": {"mpiReplicaSpecs": {"Launcher": {"replicas": 1, "template": {"spec": {"containers": containers}}}}}}
    fw = JobSpec.from_manifest(m).framework
    assert container_of(fw, m["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]) is containers[0]
    spec = JobSpec.from_manifest(m)
    assert (spec.image, spec.command, spec.roles["Launcher"].container_name) == (
        "horovod:1", ["mpirun", "python", "t.py"], "main")
    spec.image = "horovod:2"
    out = spec.to_manifest()["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"]
    assert [c["image"] for c in out] == ["horovod:2", "sidecar:1"]


def test_a_pytorch_training_container_is_found_by_name_in_any_place():
    pod_spec = pod(manifest())
    assert container_of(JobSpec.from_manifest(manifest()).framework, pod_spec) is pod_spec["containers"][1]
    assert container_of(JobSpec.from_manifest(manifest()).framework, {"containers": ["not a container"]}) is None
