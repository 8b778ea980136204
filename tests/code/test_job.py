"""job.py: a function becomes an ordinary manifest of each kind, valid for our rules and for the
operators' CRD schemas, readable as YAML, and submittable again from that YAML alone."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dtrain_jupyter import FunctionJob, InvalidJob, InvalidRequest
from dtrain_jupyter.code.job import MAX_ARGUMENT_BYTES, cell_job, runner_program, served_mpi_version
from dtrain_jupyter.model.schema import load_crd_schemas, validate_against_schema
from dtrain_jupyter.model.spec import JobSpec
from dtrain_jupyter.model.validation import validate_manifest, validate_text

from .conftest import notebook

NB = notebook(
    """
    import math
    RATE = 0.5
    def helper(x):
        return math.floor(x * RATE)
    def fit_model(lr, epochs=2):
        return helper(lr) + epochs
    """)


@pytest.fixture(scope="module")
def crd_schemas(conformance_dir: Path) -> dict:
    return load_crd_schemas(conformance_dir / "crds")


def replica_specs(manifest: dict[str, Any]) -> dict[str, Any]:
    return next(v for k, v in manifest["spec"].items() if k.endswith("ReplicaSpecs"))


def containers(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {role: spec["template"]["spec"]["containers"][0] for role, spec in replica_specs(manifest).items()}


@pytest.mark.parametrize(("kind", "mpi_version", "roles"), [
    ("PyTorchJob", "v2beta1", {"Master": 1, "Worker": 2}),
    ("TFJob", "v2beta1", {"Worker": 2}),
    ("MPIJob", "v2beta1", {"Launcher": 1, "Worker": 2}),
    ("MPIJob", "v1", {"Launcher": 1, "Worker": 2}),
], ids=["pytorch", "tf", "mpi-v2beta1", "mpi-v1"])
def test_each_kind_is_a_valid_manifest_that_carries_the_code(kind: str, mpi_version: str, roles: dict,
                                                             crd_schemas: dict) -> None:
    job = FunctionJob(fit_model := NB["fit_model"], kind=kind, workers=2, args={"lr": 0.1}, cpu="2", memory="4Gi",
                      gpu=1, mpi_version=mpi_version)
    manifest = job.to_manifest()
    assert validate_manifest(manifest) == []
    schema = crd_schemas[(manifest["apiVersion"], kind)]
    assert validate_against_schema(manifest, schema) == []
    assert {r: s["replicas"] for r, s in replica_specs(manifest).items()} == roles
    assert re.fullmatch(r"fit-model-[0-9a-f]{5}", manifest["metadata"]["name"])
    runs_code = containers(manifest)
    if kind == "MPIJob":
        # The Launcher's mpirun starts the runner on every slot; Workers keep the operator's default.
        runs_code = {"Launcher": runs_code["Launcher"]}
        assert runs_code["Launcher"]["command"][:4] == ["mpirun", "-np", "2", "--allow-run-as-root"]
    for role, c in runs_code.items():
        command, (source, call) = c["command"], c["args"]
        assert command[-4:] == ["python", "-u", "-c", runner_program()], role
        assert "def fit_model(lr, epochs=2):" in source and "RATE = 0.5" in source and "import math" in source
        assert json.loads(call) == {"function": "fit_model", "args": {"lr": 0.1}, "every_rank": False}
    gpus = [c.get("resources", {}).get("limits", {}).get("nvidia.com/gpu") for c in containers(manifest).values()]
    assert 1 in gpus and fit_model(0.1) == 2


def test_the_yaml_shows_the_code_and_submits_again_unchanged(crd_schemas: dict) -> None:
    job = FunctionJob(NB["fit_model"], args={"lr": 3}, name="saved-run")
    text = job.to_yaml()
    # The carried code reads as code in the YAML: a literal block, not an escaped string.
    assert "                - |\n                  import math\n" in text
    assert "                  def fit_model(lr, epochs=2):\n" in text
    manifests, issues = validate_text(text, schemas=crd_schemas)
    assert issues == [] and manifests == [job.to_manifest()]
    assert JobSpec.from_yaml(text).to_manifest() == job.to_manifest()


def test_a_cell_job_marks_its_last_expression() -> None:
    manifest = cell_job("y = helper(4)\ny * 2\n", NB, kind="TFJob", workers=3, name="cell-x").to_manifest()
    source, call = containers(manifest)["Worker"]["args"]
    assert source.endswith("y = helper(4)\ny * 2\n") and "def helper(x):" in source
    settings = json.loads(call)
    assert settings == {"cell": True, "cell_line": settings["cell_line"], "last_expression": True, "every_rank": False}
    assert source.splitlines()[settings["cell_line"] - 1:] == ["y = helper(4)", "y * 2"]
    manifest = cell_job("helper(4);", NB, name="cell-y").to_manifest()
    assert json.loads(containers(manifest)["Master"]["args"][1])["last_expression"] is False


def test_job_settings_reach_the_manifest() -> None:
    manifest = FunctionJob(NB["fit_model"], args={"lr": 1}, name="custom", namespace="team-a", image="py:3.11",
                           env={"SEED": 7}, every_rank=True).to_manifest()
    master = containers(manifest)["Master"]
    assert (manifest["metadata"]["name"], manifest["metadata"]["namespace"], master["image"]) == (
        "custom", "team-a", "py:3.11")
    assert {"name": "SEED", "value": "7"} in master["env"]
    assert json.loads(master["args"][1])["every_rank"] is True
    # An exception is reported, not retried.
    assert {s["restartPolicy"] for s in replica_specs(manifest).values()} == {"Never"}


def test_the_code_size_limit_is_refused_before_submission() -> None:
    nb = notebook(f"BIG = {list(range(MAX_ARGUMENT_BYTES // 4))!r}\ndef use():\n    return len(BIG)\n")
    with pytest.raises(InvalidRequest) as info:
        FunctionJob(nb["use"])
    assert info.value.fields["names"] == ["source"] and info.value.fields["limit"] == MAX_ARGUMENT_BYTES
    assert info.value.fields["size"] > MAX_ARGUMENT_BYTES and "96 KiB" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        FunctionJob(NB["fit_model"], args={"lr": "x" * MAX_ARGUMENT_BYTES})
    assert info.value.fields["names"] == ["args"]


def test_bad_job_settings_are_refused() -> None:
    with pytest.raises(InvalidRequest) as info:
        FunctionJob(NB["fit_model"], args={"lr": 1}, kind="XGBoostJob")
    assert info.value.fields["names"] == ["kind"]
    with pytest.raises(InvalidJob) as bad_name:
        FunctionJob(NB["fit_model"], args={"lr": 1}, name="Not_A_Name")
    assert bad_name.value.issues[0].path == "metadata.name"
    with pytest.raises(InvalidJob):
        FunctionJob(NB["fit_model"], args={"lr": 1}, workers=-1)


@pytest.mark.parametrize(("function_name", "prefix"), [("_private_fn", "private-fn"), ("x" * 80, "x" * 40),
                                                        ("Train2", "train2"), ("_9", "job-9")], ids=str)
def test_generated_names_are_dns_labels(function_name: str, prefix: str) -> None:
    nb = notebook(f"def {function_name}():\n    return 1\n")
    name = FunctionJob(nb[function_name]).name
    assert re.fullmatch(rf"{prefix}-[0-9a-f]{{5}}", name) and len(name) <= 46


@pytest.mark.parametrize(("backend", "expected"), [
    (None, "v2beta1"),           # the default backend is local: it runs both versions
    ("local", "v2beta1"),
    ("kube-v1", "v1"),           # the Training Operator's CRD: MPIJob v1 only
    ("kube-v2", "v2beta1"),
    ("missing", "v2beta1"),
], ids=str)
def test_the_mpijob_version_is_the_one_the_backend_serves(backend: str | None, expected: str) -> None:
    described = [
        {"backend": "local", "default": True, "kinds": ["PyTorchJob", "TFJob", "MPIJob"]},
        {"backend": "kube-v1", "kinds": {"MPIJob": ["kubeflow.org/v1"], "TFJob": ["kubeflow.org/v1"]}},
        {"backend": "kube-v2", "kinds": {"MPIJob": ["kubeflow.org/v2beta1"]}},
    ]
    assert served_mpi_version(described, backend) == expected


def test_an_mpijob_without_a_version_is_written_at_the_preferred_one() -> None:
    from dtrain_jupyter.model.kinds import preferred_version

    preferred = preferred_version("MPIJob")
    assert FunctionJob(NB["fit_model"], kind="MPIJob", args={"lr": 0.1}).api_version == preferred.api_version
    assert cell_job("helper(4)\n", NB, kind="MPIJob").api_version == preferred.api_version
    assert served_mpi_version([], None) == preferred.version


def test_packages_travel_in_the_call_of_every_replica_that_runs_code() -> None:
    manifest = FunctionJob(NB["fit_model"], kind="MPIJob", args={"lr": 1}, packages=["einops", "numpy >= 1.26"],
                           name="with-packages").to_manifest()
    launcher = containers(manifest)["Launcher"]
    assert json.loads(launcher["args"][1])["packages"] == ["einops", "numpy>=1.26"]
    manifest = cell_job("helper(4)\n", NB, kind="TFJob", workers=2, packages=("einops",), name="cell-p").to_manifest()
    assert json.loads(containers(manifest)["Worker"]["args"][1])["packages"] == ["einops"]
    # No packages: CALL says nothing about them, and the runner installs nothing.
    assert "packages" not in json.loads(containers(FunctionJob(NB["fit_model"], args={"lr": 1}).to_manifest())
                                        ["Master"]["args"][1])


def test_a_bad_requirement_is_refused_when_the_job_is_built() -> None:
    with pytest.raises(InvalidRequest) as info:
        FunctionJob(NB["fit_model"], args={"lr": 1}, packages=["einops", "numpy>="])
    assert info.value.fields["names"] == ["packages[1]"] and "'numpy>='" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        cell_job("1\n", NB, packages="einops")
    assert info.value.fields["names"] == ["packages"]
