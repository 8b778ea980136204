"""Builders: the keyword arguments people guess, and a clear InvalidJob for the ones they get wrong."""

from __future__ import annotations

import pytest

from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model.builders import DEFAULT_IMAGES, MPIJob, PyTorchJob, TFJob
from dtrain_jupyter.model.spec import JobSpec, OutputVolume, RoleSpec
from dtrain_jupyter.model.validation import validate_manifest


def test_pytorch_defaults_and_conversions():
    job = PyTorchJob("mnist", command="python train.py --epochs 2", env={"SEED": 1, "DEBUG": True},
                     cpu=2, memory="4Gi", gpu=1, nproc_per_node=2, output_volume="results")
    assert job.kind == "PyTorchJob" and job.image == DEFAULT_IMAGES["PyTorchJob"]
    assert job.command == ["python", "train.py", "--epochs", "2"]
    assert job.env == {"SEED": "1", "DEBUG": "true"}
    assert job.nproc_per_node == "2" and job.restart_policy == "OnFailure"
    assert job.roles == {"Master": RoleSpec(replicas=1, cpu="2", memory="4Gi", gpu=1),
                         "Worker": RoleSpec(replicas=1, cpu="2", memory="4Gi", gpu=1)}
    assert job.output_volume == OutputVolume(claim_name="results")
    assert validate_manifest(job.to_manifest()) == []


def test_pytorch_master_alone_and_many_workers():
    assert list(PyTorchJob("solo", command=["python", "a.py"], workers=0).roles) == ["Master"]
    assert PyTorchJob("many", command=["python", "a.py"], workers=4).roles["Worker"].replicas == 4


def test_tfjob_roles_and_gpus_skip_parameter_servers():
    job = TFJob("tf", command=["python", "t.py"], workers=3, ps=2, chief=True, evaluator=True, gpu=1)
    assert list(job.roles) == ["Chief", "PS", "Worker", "Evaluator"]
    assert [r.replicas for r in job.roles.values()] == [1, 2, 3, 1]
    assert job.roles["PS"].gpu is None and job.roles["Worker"].gpu == 1
    assert validate_manifest(job.to_manifest()) == []


def test_mpijob_versions_and_worker_command():
    job = MPIJob("pi", command=["mpirun", "-np", "4", "python", "pi.py"], workers=2, slots_per_worker=2, gpu=1)
    assert job.api_version == "kubeflow.org/v2beta1" and job.slots_per_worker == 2
    assert job.roles["Launcher"].gpu is None and job.roles["Worker"].gpu == 1
    manifest = job.to_manifest()
    worker = manifest["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert "command" not in worker  # the operator's sshd
    v1 = MPIJob("pi", command=["mpirun", "python", "pi.py"], version="v1", worker_command="sleep infinity")
    assert v1.api_version == "kubeflow.org/v1"
    assert v1.roles["Worker"].command == ["sleep", "infinity"]
    assert validate_manifest(v1.to_manifest()) == []


def test_an_mpijob_is_written_at_the_kinds_preferred_version_unless_told():
    from dtrain_jupyter.errors import InvalidJob
    from dtrain_jupyter.model.kinds import preferred_version, versions_of

    preferred = preferred_version("MPIJob")
    assert MPIJob("pi", command=["mpirun", "python", "pi.py"]).api_version == preferred.api_version
    with pytest.raises(InvalidJob) as refused:
        MPIJob("pi", command=["mpirun"], version="v3")
    # Every version the table knows is named, the preferred one first.
    assert refused.value.issues[0].path == "apiVersion"
    assert refused.value.issues[0].message.endswith(
        "use " + " or ".join([preferred.version] + [f.version for f in versions_of("MPIJob") if not f.preferred]))


@pytest.mark.parametrize(
    ("build", "paths"),
    [
        (lambda: PyTorchJob("Bad Name", command=["x"]), ["metadata.name"]),
        (lambda: PyTorchJob("p", command=["x"], workers=-1), ["spec.pytorchReplicaSpecs.Worker.replicas"]),
        (lambda: PyTorchJob("p", command=["x"], workers=1.5), ["spec.pytorchReplicaSpecs.Worker.replicas"]),
        (lambda: PyTorchJob("p", command=["x"], cpu="2x"),
         ["spec.pytorchReplicaSpecs.Master.template.spec.containers[0].resources.limits.cpu",
          "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].resources.limits.cpu"]),
        (lambda: TFJob("t", command=["x"], workers=1, gpu="abc"),
         ['spec.tfReplicaSpecs.Worker.template.spec.containers[0].resources.limits["nvidia.com/gpu"]']),
        (lambda: TFJob("t", command=["x"], restart_policy="Sometimes"), ["spec.tfReplicaSpecs.Worker.restartPolicy"]),
        (lambda: TFJob("t", command=["x"], chief=2), ["spec.tfReplicaSpecs.Chief.replicas"]),
        (lambda: PyTorchJob("p", command=["x"], nproc_per_node="many"), ["spec.nprocPerNode"]),
        (lambda: PyTorchJob("p", command=5), ["command"]),
        (lambda: PyTorchJob("p", command="python 'unclosed"), ["command"]),
        (lambda: PyTorchJob("p", command=["x"], env=["A=1"]), ["env"]),
        (lambda: PyTorchJob("p", command=["x"], output_volume=3), ["output_volume"]),
        (lambda: MPIJob("m", command=["mpirun"], version="v3"), ["apiVersion"]),
        (lambda: MPIJob("m", command=["mpirun"], slots_per_worker=0), ["spec.slotsPerWorker"]),
        (lambda: MPIJob("m", command=["mpirun"], restart_policy="ExitCode"),
         ["spec.mpiReplicaSpecs.Launcher.restartPolicy", "spec.mpiReplicaSpecs.Worker.restartPolicy"]),
        (lambda: PyTorchJob("p", image="", command=["x"]),
         ["spec.pytorchReplicaSpecs.Master.template.spec.containers[0].image",
          "spec.pytorchReplicaSpecs.Worker.template.spec.containers[0].image"]),
    ],
    ids=["name", "negative-workers", "fractional-workers", "cpu", "gpu", "restart-policy", "two-chiefs",
         "nproc-per-node", "command-type", "command-quotes", "env-type", "output-type", "mpi-version", "slots",
         "mpi-exit-code", "empty-image"],
)
def test_bad_arguments_raise_invalid_job_at_the_field(build, paths):
    with pytest.raises(InvalidJob) as info:
        build()
    assert sorted(i.path for i in info.value.issues) == sorted(paths)


@pytest.mark.parametrize(
    "job",
    [
        PyTorchJob("p", command=["python", "a.py"], workers=2, cpu="1", gpu=1, backoff_limit=3,
                   active_deadline_seconds=600, working_dir="/work"),
        TFJob("t", command=["python", "t.py"], ps=1, chief=True, clean_pod_policy="All", namespace="team"),
        MPIJob("m", command=["mpirun", "python", "m.py"], workers=3, memory="1Gi", ttl_seconds_after_finished=30,
               output_volume=OutputVolume(mount_path="/results")),
    ],
    ids=["pytorch", "tfjob", "mpijob"],
)
def test_built_specs_round_trip_through_their_manifest(job):
    manifest = job.to_manifest()
    again = JobSpec.from_manifest(manifest)
    assert again == job
    assert again.to_manifest() == manifest
