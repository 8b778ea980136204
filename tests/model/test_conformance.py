"""The official Kubeflow examples: each parses, validates (rules and CRD schema) and round-trips
through the job model unchanged; the wizard's specs reproduce the simple ones."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dtrain_jupyter.model.builders import MPIJob, PyTorchJob, TFJob
from dtrain_jupyter.model.quantity import parse_quantity
from dtrain_jupyter.model.schema import validate_against_schema
from dtrain_jupyter.model.spec import JobSpec, container_of
from dtrain_jupyter.model.validation import identify, validate_text
from dtrain_jupyter.model.yaml_text import load_documents
from tests.conftest import CONFORMANCE

# Collected at import so each example is its own test id; the example_files fixture checks the list.
EXAMPLES = sorted(p for p in CONFORMANCE.glob("*/*.yaml") if p.parent.name != "crds")


def example_ids() -> list[str]:
    return [f"{p.parent.name}/{p.stem}" for p in EXAMPLES] or ["none"]


@pytest.fixture(params=EXAMPLES or [None], ids=example_ids())
def example(request, example_files) -> Path:
    # Parametrised from the corpus beside the checkout; the fixture proves it is the same list.
    if request.param is None:
        pytest.fail("conformance examples not found beside the checkout")
    assert request.param in example_files
    return request.param


def test_corpus_has_every_kind(example_files):
    kinds = {(identify(load_documents(p.read_text())[0].data).kind) for p in example_files}
    assert kinds == {"PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "PaddleJob", "JAXJob"}
    assert len(example_files) == len(EXAMPLES)


def test_example_parses_and_validates_with_its_crd(example, crd_schemas):
    manifests, issues = validate_text(example.read_text(), schemas=crd_schemas)
    assert issues == []
    assert len(manifests) == 1


def test_example_conforms_to_its_crd_schema(example, crd_schemas):
    (doc,) = load_documents(example.read_text())
    schema = crd_schemas[(doc.data["apiVersion"], doc.data["kind"])]
    assert validate_against_schema(doc.data, schema) == []


def test_example_round_trips_unchanged(example):
    (doc,) = load_documents(example.read_text())
    spec = JobSpec.from_manifest(doc.data)
    assert spec.to_manifest() == doc.data
    # And through YAML text: what to_yaml writes reads back as the same manifest and spec.
    (again,) = load_documents(spec.to_yaml())
    assert again.data == doc.data
    assert JobSpec.from_manifest(again.data) == spec


def exposed(manifest: dict) -> dict[str, Any]:
    """The fields the wizard lets a person set, with quantities compared by value."""
    fw = identify(manifest)
    spec = manifest["spec"]
    run = spec.get("runPolicy", {})
    out: dict[str, Any] = {
        "apiVersion": manifest["apiVersion"], "kind": manifest["kind"],
        "name": manifest["metadata"]["name"], "namespace": manifest["metadata"].get("namespace"),
        "runPolicy": {k: run.get(k) for k in ("cleanPodPolicy", "ttlSecondsAfterFinished", "activeDeadlineSeconds",
                                              "backoffLimit")},
        "slotsPerWorker": spec.get("slotsPerWorker"), "nprocPerNode": spec.get("nprocPerNode"), "roles": {},
    }
    for rtype, rspec in spec[fw.replica_key].items():
        c = container_of(fw, rspec["template"]["spec"])
        limits = c.get("resources", {}).get("limits", {})
        out["roles"][rtype] = {
            "replicas": rspec.get("replicas"), "restartPolicy": rspec.get("restartPolicy"),
            "image": c.get("image"), "command": c.get("command"), "args": c.get("args"), "env": c.get("env"),
            "workingDir": c.get("workingDir"),
            "limits": {k: Decimal(v) if isinstance(v, int) else parse_quantity(v) for k, v in limits.items()},
        }
    return out


def wizard_specs() -> dict[str, JobSpec]:
    return {
        "pytorch_simple": PyTorchJob(
            "pytorch-simple", namespace="kubeflow", image="docker.io/kubeflowkatib/pytorch-mnist:v1beta1-45c5727",
            command=["python3", "/opt/pytorch-mnist/mnist.py", "--epochs=1"], workers=1, restart_policy="OnFailure"),
        "tensorflow_simple": TFJob(
            "tfjob-simple", namespace="kubeflow", image="kubeflow/tf-mnist-with-summaries:latest",
            command=["python", "/var/tf_mnist/mnist_with_summaries.py"], workers=2, restart_policy="OnFailure"),
        "pi_pi": MPIJob(
            "pi", image="mpioperator/mpi-pi:openmpi", command=["mpirun"], args=["-n", "2", "/home/mpiuser/pi"],
            workers=2, slots_per_worker=1, cpu="1", memory="1Gi", clean_pod_policy="Running",
            ttl_seconds_after_finished=60, worker_command=["/usr/sbin/sshd"],
            worker_args=["-De", "-f", "/home/mpiuser/.sshd_config"]),
    }


@pytest.mark.parametrize("name", ["pytorch_simple", "tensorflow_simple", "pi_pi"])
def test_wizard_spec_reproduces_the_example(name, example_files, crd_schemas):
    path = next(p for p in example_files if p.stem == name)
    (doc,) = load_documents(path.read_text())
    made = wizard_specs()[name].to_manifest()
    assert exposed(made) == exposed(doc.data)
    _, issues = validate_text(wizard_specs()[name].to_yaml(), schemas=crd_schemas)
    assert issues == []


@pytest.mark.parametrize("name", ["pytorch_simple", "tensorflow_simple"])
def test_wizard_spec_equals_the_read_example(name, example_files):
    # Where the example holds nothing the wizard does not model, even the specs are equal.
    path = next(p for p in example_files if p.stem == name)
    assert JobSpec.from_manifest(load_documents(path.read_text())[0].data) == wizard_specs()[name]
