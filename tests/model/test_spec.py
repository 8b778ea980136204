"""JobSpec: reading manifests, writing them back unchanged, and what a fresh spec becomes."""

from __future__ import annotations

import copy

import pytest
import yaml

from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model.spec import JobSpec, OutputVolume, RoleSpec
from dtrain_jupyter.model.validation import validate_manifest
from dtrain_jupyter.model.yaml_text import load_documents


def read(conformance_dir, name: str) -> dict:
    path = next(conformance_dir.glob(f"*/{name}.yaml"))
    return yaml.safe_load(path.read_text())


def test_reads_the_modelled_fields_of_pytorch_simple(conformance_dir):
    spec = JobSpec.from_manifest(read(conformance_dir, "pytorch_simple"))
    assert (spec.kind, spec.api_version, spec.name, spec.namespace) == ("PyTorchJob", "kubeflow.org/v1", "pytorch-simple", "kubeflow")
    assert spec.framework.replica_key == "pytorchReplicaSpecs"
    assert spec.image == "docker.io/kubeflowkatib/pytorch-mnist:v1beta1-45c5727"
    assert spec.command == ["python3", "/opt/pytorch-mnist/mnist.py", "--epochs=1"]
    assert spec.restart_policy == "OnFailure"
    # Shared values live on the job; the roles only say what differs.
    assert spec.roles == {"Master": RoleSpec(replicas=1), "Worker": RoleSpec(replicas=1)}


def test_reads_per_role_differences_of_pi(conformance_dir):
    spec = JobSpec.from_manifest(read(conformance_dir, "pi_pi"))
    assert (spec.kind, spec.api_version) == ("MPIJob", "kubeflow.org/v2beta1")
    assert spec.command == ["mpirun"] and spec.args == ["-n", "2", "/home/mpiuser/pi"]
    assert (spec.slots_per_worker, spec.clean_pod_policy, spec.ttl_seconds_after_finished) == (1, "Running", 60)
    launcher, worker = spec.roles["Launcher"], spec.roles["Worker"]
    assert (launcher.container_name, launcher.cpu, launcher.memory, launcher.command) == ("mpi-launcher", "1", "1Gi", None)
    assert worker.command == ["/usr/sbin/sshd"] and worker.replicas == 2
    assert spec.effective("Worker")["command"] == ["/usr/sbin/sshd"]
    assert spec.effective("Launcher")["command"] == ["mpirun"]


def test_reads_gpus_env_and_output_volume():
    manifest = {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "t"},
        "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 2, "template": {"spec": {
            "containers": [{"name": "tensorflow", "image": "tf", "workingDir": "/w",
                            "env": [{"name": "A", "value": "1"}, {"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "x"}}}],
                            "resources": {"requests": {"cpu": "1"}, "limits": {"cpu": 2, "amd.com/gpu": 1}},
                            "volumeMounts": [{"name": "dtrain-output", "mountPath": "/out"}]}],
            "volumes": [{"name": "dtrain-output", "persistentVolumeClaim": {"claimName": "results"}}]}}}}}}
    spec = JobSpec.from_manifest(manifest)
    assert spec.env == {"A": "1"} and spec.working_dir == "/w"
    assert (spec.roles["Worker"].cpu, spec.roles["Worker"].gpu) == ("2", 1)
    assert spec.output_volume == OutputVolume(claim_name="results", mount_path="/out")
    assert spec.to_manifest() == manifest


def test_ill_typed_values_read_as_unset_and_survive():
    manifest = {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "p", "namespace": 5},
                "spec": {"runPolicy": {"backoffLimit": "3"}, "pytorchReplicaSpecs": {
                    "Master": {"replicas": "one", "template": {"spec": {"containers": [
                        {"name": "pytorch", "image": 7, "command": "python x.py", "env": "A=1",
                         "resources": {"limits": {"cpu": True, "nvidia.com/gpu": "x"}}}]}}},
                    "Bogus": {"replicas": 1}}}}
    spec = JobSpec.from_manifest(manifest)
    assert spec.namespace is None and spec.backoff_limit is None
    assert spec.roles["Master"].replicas is None and spec.image is None and spec.command is None
    assert list(spec.roles) == ["Master"]
    assert spec.to_manifest() == manifest


@pytest.mark.parametrize(
    "manifest",
    [None, [], {"kind": "PyTorchJob"}, {"apiVersion": "v1", "kind": "Pod"},
     {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "x"}},
     {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": {}}},
     {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "spec": {"pytorchReplicaSpecs": []}}],
    ids=["none", "list", "no-apiVersion", "not-a-job", "no-spec", "no-roles", "roles-not-mapping"],
)
def test_manifests_that_do_not_fit_raise_invalid_job(manifest):
    with pytest.raises(InvalidJob) as info:
        JobSpec.from_manifest(manifest)
    assert info.value.issues and all(i.path is not None for i in info.value.issues)


def test_source_is_a_copy(conformance_dir):
    manifest = read(conformance_dir, "tensorflow_simple")
    spec = JobSpec.from_manifest(manifest)
    manifest["metadata"]["name"] = "changed"
    assert spec.to_manifest()["metadata"]["name"] == "tfjob-simple"
    out = spec.to_manifest()
    out["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] = 9
    assert spec.to_manifest()["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2


def test_editing_rewrites_only_the_edited_fields(conformance_dir):
    original = read(conformance_dir, "pi_pi")
    spec = JobSpec.from_manifest(original)
    spec.roles["Worker"].replicas = 4
    spec.image = "registry.example/pi:2"
    out = spec.to_manifest()
    expected = copy.deepcopy(original)
    expected["spec"]["mpiReplicaSpecs"]["Worker"]["replicas"] = 4
    for role in ("Launcher", "Worker"):
        expected["spec"]["mpiReplicaSpecs"][role]["template"]["spec"]["containers"][0]["image"] = "registry.example/pi:2"
    assert out == expected
    # Unmodelled fields (securityContext, sshAuthMountPath, container names) are untouched.
    assert out["spec"]["sshAuthMountPath"] == "/home/mpiuser/.ssh"


def test_clearing_values_removes_keys(conformance_dir):
    spec = JobSpec.from_manifest(read(conformance_dir, "pi_pi"))
    spec.ttl_seconds_after_finished = None
    spec.roles["Launcher"].cpu = None
    spec.roles["Launcher"].memory = None
    out = spec.to_manifest()
    assert out["spec"]["runPolicy"] == {"cleanPodPolicy": "Running"}
    assert "resources" not in out["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]
    spec.clean_pod_policy = None
    assert "runPolicy" not in spec.to_manifest()["spec"]


def test_role_values_override_and_empty_means_none():
    spec = JobSpec(kind="PyTorchJob", name="p", image="img", command=["python", "a.py"], env={"A": "1"},
                   roles={"Master": RoleSpec(replicas=1), "Worker": RoleSpec(replicas=2, command=[], env={"B": "2"})})
    out = spec.to_manifest()
    master = out["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    worker = out["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert master["command"] == ["python", "a.py"] and master["env"] == [{"name": "A", "value": "1"}]
    assert "command" not in worker and worker["env"] == [{"name": "B", "value": "2"}]
    again = JobSpec.from_manifest(out)
    assert again.to_manifest() == out
    assert again.effective("Worker")["command"] is None


def test_new_spec_makes_a_valid_manifest_in_reading_order():
    spec = JobSpec(kind="PyTorchJob", name="fresh", namespace="team", image="img", command=["python", "t.py"],
                   restart_policy="Never", backoff_limit=2, nproc_per_node="2",
                   roles={"Master": RoleSpec(replicas=1, cpu="1"), "worker": RoleSpec(replicas=3, gpu=1)},
                   output_volume=OutputVolume())
    out = spec.to_manifest()
    assert validate_manifest(out) == []
    assert list(out) == ["apiVersion", "kind", "metadata", "spec"]
    assert out["metadata"] == {"name": "fresh", "namespace": "team"}
    assert out["spec"]["runPolicy"] == {"backoffLimit": 2}
    assert out["spec"]["nprocPerNode"] == "2"
    worker = out["spec"]["pytorchReplicaSpecs"]["Worker"]
    assert list(worker) == ["replicas", "restartPolicy", "template"]
    c = worker["template"]["spec"]["containers"][0]
    assert list(c) == ["name", "image", "command", "resources", "volumeMounts"]
    assert c["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert worker["template"]["spec"]["volumes"] == [{"name": "dtrain-output", "emptyDir": {}}]
    back = JobSpec.from_manifest(out)
    assert back.roles["Worker"] == RoleSpec(replicas=3, gpu=1)
    assert back.roles["Master"] == RoleSpec(replicas=1, cpu="1")
    assert back.output_volume == OutputVolume() and back.to_manifest() == out


@pytest.mark.parametrize(
    ("change", "path"),
    [
        (lambda s: s.roles.update(Chief=RoleSpec()), "spec.pytorchReplicaSpecs.Chief"),
        (lambda s: setattr(s, "slots_per_worker", 2), "spec.slotsPerWorker"),
        (lambda s: s.roles.clear(), "spec.pytorchReplicaSpecs"),
        (lambda s: setattr(s, "kind", "SparkJob"), "kind"),
        (lambda s: setattr(s, "api_version", "kubeflow.org/v9"), "apiVersion"),
    ],
    ids=["unknown-role", "mpi-field-on-pytorch", "no-roles", "unknown-kind", "unknown-version"],
)
def test_specs_that_cannot_be_written_raise_invalid_job(change, path):
    spec = JobSpec(name="p", image="i", roles={"Master": RoleSpec(replicas=1)})
    change(spec)
    with pytest.raises(InvalidJob) as info:
        spec.to_manifest()
    assert [i.path for i in info.value.issues] == [path]


def test_kind_specific_settings_are_read_and_written_only_for_their_kinds():
    tf = {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": "t"},
          "spec": {"nprocPerNode": "2", "slotsPerWorker": 3, "tfReplicaSpecs": {"Worker": {"replicas": 1, "template": {
              "spec": {"containers": [{"name": "tensorflow", "image": "tf"}]}}}}}}
    spec = JobSpec.from_manifest(tf)
    # Not TFJob fields: left unread, kept in the manifest as written.
    assert (spec.nproc_per_node, spec.slots_per_worker) == (None, None) and spec.to_manifest() == tf
    spec.nproc_per_node, spec.slots_per_worker = "4", 2
    with pytest.raises(InvalidJob) as info:
        spec.to_manifest()
    assert {i.path: i.message for i in info.value.issues} == {
        "spec.nprocPerNode": "nproc_per_node is a setting of PyTorchJob; TFJob has none",
        "spec.slotsPerWorker": "slots_per_worker is a setting of MPIJob; TFJob has none"}
    mpi = JobSpec(kind="MPIJob", api_version="kubeflow.org/v1", name="m", image="i", command=["mpirun", "t"],
                  slots_per_worker=2, roles={"Launcher": RoleSpec(), "Worker": RoleSpec(replicas=2)})
    out = mpi.to_manifest()
    assert out["spec"]["slotsPerWorker"] == 2 and JobSpec.from_manifest(out).slots_per_worker == 2


def test_host_roles_do_not_take_the_job_wide_program():
    spec = JobSpec(kind="MPIJob", api_version="kubeflow.org/v2beta1", name="m", image="img",
                   command=["mpirun"], args=["-n", "2", "python", "t.py"], env={"A": "1"},
                   roles={"Launcher": RoleSpec(), "Worker": RoleSpec(replicas=2)})
    launcher, worker = spec.effective("Launcher"), spec.effective("Worker")
    assert (launcher["command"], launcher["args"]) == (["mpirun"], ["-n", "2", "python", "t.py"])
    # An MPI worker only stands for a host: it takes the image and env, not mpirun.
    assert (worker["command"], worker["args"], worker["image"], worker["env"]) == (None, None, "img", {"A": "1"})


def test_changing_the_kind_starts_a_new_manifest_but_keeps_labels(conformance_dir):
    manifest = read(conformance_dir, "tensorflow_simple")
    manifest["metadata"]["labels"] = {"team": "a"}
    spec = JobSpec.from_manifest(manifest)
    spec.kind = "PyTorchJob"
    spec.roles = {"Master": RoleSpec(replicas=1)}
    out = spec.to_manifest()
    assert out["metadata"]["labels"] == {"team": "a"}
    assert list(out["spec"]) == ["pytorchReplicaSpecs"]
    assert validate_manifest(out) == []


def test_mpi_version_switch_keeps_the_rest(conformance_dir):
    spec = JobSpec.from_manifest(read(conformance_dir, "mpi_tensorflow-mnist"))
    spec.api_version = "kubeflow.org/v2beta1"
    out = spec.to_manifest()
    assert out["apiVersion"] == "kubeflow.org/v2beta1"
    assert out["spec"] == read(conformance_dir, "mpi_tensorflow-mnist")["spec"]


def test_to_yaml_is_readable_and_reads_back(conformance_dir):
    spec = JobSpec(kind="TFJob", name="t", image="img", command=["python", "-c", "import os\nprint(os.environ)\n"],
                   roles={"Worker": RoleSpec(replicas=2)})
    text = spec.to_yaml()
    assert text.startswith("apiVersion: kubeflow.org/v1\nkind: TFJob\n")
    assert "- |\n" in text and "\t" not in text
    assert "      - name: tensorflow" in text  # list items indented under their key
    (doc,) = load_documents(text)
    assert doc.data == spec.to_manifest()
    assert spec.to_yaml() == text
    assert JobSpec.from_yaml(text) == spec


def test_from_yaml_needs_exactly_one_document():
    with pytest.raises(InvalidJob):
        JobSpec.from_yaml("")
    with pytest.raises(InvalidJob):
        JobSpec.from_yaml("a: 1\n---\nb: 2\n")


def test_copy_keeps_the_source_and_equality_ignores_it(conformance_dir):
    spec = JobSpec.from_manifest(read(conformance_dir, "pytorch_simple"))
    clone = spec.copy()
    assert clone == spec and clone.source == spec.source
    clone.roles["Worker"].replicas = 3
    assert spec.roles["Worker"].replicas == 1
    assert clone.to_manifest()["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3
    assert clone.to_manifest()["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][
        "imagePullPolicy"] == "Always"


def test_validate_reports_the_manifest_issues():
    spec = JobSpec(kind="PyTorchJob", name="Bad", image="i", roles={"Master": RoleSpec(replicas=2)})
    assert sorted(i.path for i in spec.validate()) == ["metadata.name", "spec.pytorchReplicaSpecs.Master.replicas"]
