"""replicas.plan_job: pod names, operator labels, defaults, notes and errors with paths."""

from __future__ import annotations

import copy

import pytest
import yaml

from dtrain_jupyter.backends.local.replicas import plan_job
from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model import valid_manifest as valid_module
from dtrain_jupyter.model.valid_manifest import valid_manifest
from dtrain_jupyter.model.validation import validate_manifest

from .helpers import behave, mpi_job, pytorch_job, tf_job

P = "training.kubeflow.org/"


def test_pytorch_names_order_and_labels():
    plan = plan_job(pytorch_job("pt", behave("exit:0"), workers=2))
    assert [r.pod for r in plan.replicas] == ["pt-master-0", "pt-worker-0", "pt-worker-1"]
    master, worker = plan.replicas[0], plan.replicas[2]
    assert master.labels == {P + "operator-name": "pytorchjob-controller", P + "job-name": "pt",
                             P + "replica-type": "master", P + "replica-index": "0", P + "job-role": "master"}
    assert P + "job-role" not in worker.labels and worker.labels[P + "replica-index"] == "1"



def test_more_replicas_than_one_machine_should_start_are_refused_with_the_path():
    from dtrain_jupyter.backends.local.replicas import MAX_LOCAL_REPLICAS

    plan = plan_job(pytorch_job("many", behave("exit:0"), workers=MAX_LOCAL_REPLICAS - 1))
    assert len(plan.replicas) == MAX_LOCAL_REPLICAS
    with pytest.raises(InvalidJob) as caught:
        plan_job(pytorch_job("too-many", behave("exit:0"), workers=20000))
    [issue] = caught.value.issues
    assert issue.path == "spec.pytorchReplicaSpecs.Worker.replicas"
    assert "20000 replicas" in issue.message and f"at most {MAX_LOCAL_REPLICAS}" in issue.message

def test_replica_keys_are_case_insensitive_and_defaults_apply():
    manifest = tf_job("tf", {"worker": (2, behave("exit:0")), "ps": (1, behave("exit:0"))})
    del manifest["spec"]["tfReplicaSpecs"]["ps"]["replicas"]
    manifest["spec"]["tfReplicaSpecs"]["ps"].pop("restartPolicy", None)
    plan = plan_job(manifest)
    assert [(r.pod, r.replica_type, r.restart_policy) for r in plan.replicas] == [
        ("tf-ps-0", "PS", "Never"), ("tf-worker-0", "Worker", "Never"), ("tf-worker-1", "Worker", "Never")]
    # Without Chief or Master, worker-0 has the master role.
    assert plan.replicas[1].labels[P + "job-role"] == "master"


def test_mpi_v1_launcher_has_no_index_and_v2beta1_uses_job_role():
    v1 = plan_job(mpi_job("m1", behave("exit:0"), workers=2))
    launcher = v1.replicas[0]
    assert launcher.pod == "m1-launcher" and launcher.index is None
    assert P + "replica-index" not in launcher.labels and launcher.labels[P + "job-role"] == "master"
    assert all(r.placeholder for r in v1.replicas[1:])
    v2 = plan_job(mpi_job("m2", behave("exit:0"), workers=1, version="v2beta1"))
    assert v2.replicas[0].labels == {P + "operator-name": "mpi-operator", P + "job-name": "m2", P + "job-role": "launcher"}
    assert v2.replicas[1].labels[P + "job-role"] == "worker" and v2.replicas[1].labels[P + "replica-index"] == "0"
    assert v2.replicas[0].restart_policy == "OnFailure"


def test_template_labels_are_kept_under_the_operators():
    manifest = pytorch_job("pt", behave("exit:0"), workers=0)
    manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"] = {
        "labels": {"team": "vision", P + "job-name": "spoofed"}}
    labels = plan_job(manifest).replicas[0].labels
    assert labels["team"] == "vision" and labels[P + "job-name"] == "pt"


def test_notes_name_every_field_not_honoured():
    manifest = pytorch_job("pt", behave("exit:0"), workers=1, run_policy={"cleanPodPolicy": "All",
                                                                            "ttlSecondsAfterFinished": 5})
    c = manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    c["containers"][0]["resources"] = {"limits": {"cpu": 1}}
    c["containers"].append({"name": "sidecar", "image": "busybox"})
    c["volumes"] = [{"name": "data", "emptyDir": {}}]
    notes = " | ".join(plan_job(manifest).notes)
    for words in ("image example.org/train:1 is not used", "sidecar", "volumes", "not enforced",
                  "ttlSecondsAfterFinished"):
        assert words in notes
    assert "cleanPodPolicy" not in notes  # honoured locally since issue 17 (B4)


@pytest.mark.parametrize("mutate, path", [
    (lambda m: m["metadata"].update(name="Bad_Name"), "metadata.name"),
    (lambda m: m["spec"]["pytorchReplicaSpecs"].update(Chief=m["spec"]["pytorchReplicaSpecs"]["Master"]),
     "spec.pytorchReplicaSpecs.Chief"),
    (lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"].update(replicas=-1), "spec.pytorchReplicaSpecs.Worker.replicas"),
    (lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"].update(restartPolicy="Sometimes"),
     "spec.pytorchReplicaSpecs.Worker.restartPolicy"),
    (lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0].pop("command"),
     "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].command"),
    (lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"].update(containers=[]),
     "spec.pytorchReplicaSpecs.Worker.template.spec.containers"),
    (lambda m: m["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0].update(
        resources={"limits": {"nvidia.com/gpu": "lots"}}),
     'spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].resources.limits["nvidia.com/gpu"]'),
    (lambda m: m.update(kind="Pod"), "kind"),
], ids=["name", "unknown-type", "negative-replicas", "restart-policy", "no-command", "no-containers", "gpu-count",
        "kind"])
def test_what_cannot_run_raises_invalid_job_with_its_path(mutate, path):
    manifest = pytorch_job("pt", behave("exit:0"), workers=1)
    mutate(manifest)
    with pytest.raises(InvalidJob) as err:
        plan_job(manifest)
    assert err.value.issues[0].path == path


def test_mpijob_without_launcher_is_rejected():
    manifest = mpi_job("m", behave("exit:0"))
    del manifest["spec"]["mpiReplicaSpecs"]["Launcher"]
    with pytest.raises(InvalidJob) as err:
        plan_job(manifest)
    assert err.value.issues[0].path == "spec.mpiReplicaSpecs"  # validation's rule: the replica specs lack one


def test_official_examples_plan_or_say_exactly_why_not(conformance_dir):
    planned = {}
    for path in sorted(conformance_dir.glob("*/*.yaml")):
        if path.parent.name == "crds":
            continue
        manifest = yaml.safe_load(path.read_text())
        try:
            plan = plan_job(copy.deepcopy(manifest))
        except InvalidJob as e:
            # Only an image entrypoint (no command) is beyond a local run.
            assert e.issues[0].path.endswith(".command"), (path.name, e)
            continue
        planned[path.stem] = [r.pod for r in plan.replicas]
    assert planned["pytorch_simple"] == ["pytorch-simple-master-0", "pytorch-simple-worker-0"]
    assert planned["pi_pi"] == ["pi-launcher", "pi-worker-0", "pi-worker-1"]
    assert planned["mpi_tensorflow-mnist"] == ["tensorflow-mnist-launcher", "tensorflow-mnist-worker-0",
                                               "tensorflow-mnist-worker-1"]
    assert "tensorflow_simple" in planned and "pytorch_cpu-demo_demo" in planned


def test_a_validated_manifest_is_trusted_not_checked_again(monkeypatch):
    valid = valid_manifest(pytorch_job("pt", behave("exit:0"), workers=2))

    def no_second_check(_):
        raise AssertionError("the local backend validated a manifest the service had validated")

    monkeypatch.setattr(valid_module, "validate_manifest", no_second_check)
    assert [r.pod for r in plan_job(valid).replicas] == ["pt-master-0", "pt-worker-0", "pt-worker-1"]


def test_what_only_this_machine_cannot_run_is_still_refused_with_its_path():
    manifest = tf_job("tf", {"Worker": (0, behave("exit:0"))})
    with pytest.raises(InvalidJob) as err:
        plan_job(manifest)  # valid for the operator, but nothing to run here
    assert err.value.issues[0].path == "spec.tfReplicaSpecs"
    manifest = pytorch_job("pt", behave("exit:0"), workers=0)
    del manifest["metadata"]["name"]
    manifest["metadata"]["generateName"] = "pt-"
    with pytest.raises(InvalidJob) as err:
        plan_job(manifest)
    assert err.value.issues[0].path == "metadata.name"


def test_ordinals_number_replicas_across_roles_in_the_kinds_order():
    plan = plan_job(tf_job("tf", {"Worker": (2, behave("exit:0")), "Chief": (1, behave("exit:0"))}))
    assert [(r.pod, r.ordinal) for r in plan.replicas] == [("tf-chief-0", 0), ("tf-worker-0", 1), ("tf-worker-1", 2)]


@pytest.mark.parametrize("mutate, path", [
    (lambda c, t: c.update(resources={"requests": {"nvidia.com/gpu": -1}}),
     'spec.pytorchReplicaSpecs.Master.template.spec.containers[0].resources.requests["nvidia.com/gpu"]'),
    (lambda c, t: t.update(metadata={"labels": ["team"]}), "spec.pytorchReplicaSpecs.Master.template.metadata.labels"),
    (lambda c, t: t.update(metadata={"labels": {"team": 7}}),
     "spec.pytorchReplicaSpecs.Master.template.metadata.labels.team"),
], ids=["negative-gpus", "labels-not-a-mapping", "label-not-a-string"])
def test_a_manifest_the_local_backend_could_not_read_is_refused_by_validation(mutate, path):
    manifest = pytorch_job("pt", behave("exit:0"), workers=0)
    template = manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    mutate(template["spec"]["containers"][0], template)
    with pytest.raises(InvalidJob) as err:
        plan_job(manifest)
    # Validation's own issue, word for word: the backend keeps no guard of its own for these.
    assert err.value.issues == validate_manifest(manifest)
    assert [i.path for i in err.value.issues] == [path]
