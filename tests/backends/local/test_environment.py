"""environment.py: the exact env per kind (contract §2–§5), valueFrom, $(VAR), PATH, workingDir."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from dtrain_jupyter.backends.local.environment import build_launches, expand, quantity
from dtrain_jupyter.backends.local.replicas import plan_job
from dtrain_jupyter.errors import InvalidJob

from .helpers import behave, mpi_job, pytorch_job, tf_job

BASE = {"PATH": "/usr/bin:/bin", "HOME": "/home/me", "MASTER_PORT": "from-server"}


def launches(manifest, tmp_path: Path, **kw):
    plan = plan_job(manifest)
    kw.setdefault("gpu_assignment", {})
    kw.setdefault("gpus_present", False)
    notes: list[str] = []
    out = build_launches(plan, uid="uid-1", output_dir=tmp_path / "out", run_dir=tmp_path / "run",
                         default_cwd=str(tmp_path), notes=notes, base_env=BASE, **kw)
    return out, notes


def operator_keys(env: dict[str, str]) -> list[str]:
    return [k for k in env if env[k] != BASE.get(k) and not k.startswith("DTRAIN_") and k != "PATH"]


def test_pytorch_env_in_the_operators_order_with_rank_offset(tmp_path):
    manifest = pytorch_job("pt", behave("exit:0"), workers=2, nprocPerNode="2")
    out, _ = launches(manifest, tmp_path)
    master, w1 = out["pt-master-0"].env, out["pt-worker-1"].env
    assert operator_keys(master) == ["PYTHONUNBUFFERED", "MASTER_PORT", "PET_MASTER_PORT", "MASTER_ADDR",
                                     "PET_MASTER_ADDR", "WORLD_SIZE", "RANK", "PET_NODE_RANK",
                                     "PET_NPROC_PER_NODE", "PET_NNODES"]
    assert master["MASTER_ADDR"] == "127.0.0.1" and master["MASTER_PORT"] == w1["MASTER_PORT"] != "from-server"
    assert (master["WORLD_SIZE"], master["RANK"], w1["RANK"], w1["PET_NODE_RANK"]) == ("6", "0", "2", "2")
    assert (w1["PET_NPROC_PER_NODE"], w1["PET_NNODES"]) == ("2", "3")


def test_pytorch_default_nproc_is_auto_and_counts_as_one(tmp_path):
    out, _ = launches(pytorch_job("pt", behave("exit:0"), workers=1), tmp_path)
    assert out["pt-worker-0"].env["PET_NPROC_PER_NODE"] == "auto"
    assert out["pt-worker-0"].env["WORLD_SIZE"] == "2"


def test_pytorch_elastic_without_master(tmp_path):
    manifest = pytorch_job("el", behave("exit:0"), workers=0,
                           elasticPolicy={"minReplicas": 1, "maxReplicas": 3, "maxRestarts": 4, "rdzvId": "r"})
    specs = manifest["spec"]["pytorchReplicaSpecs"]
    specs["Worker"] = specs.pop("Master")
    specs["Worker"]["replicas"] = 2
    env = launches(manifest, tmp_path)[0]["el-worker-1"].env
    assert "MASTER_ADDR" not in env and "RANK" not in env
    assert env["PET_RDZV_ENDPOINT"].startswith("127.0.0.1:")
    assert (env["PET_RDZV_BACKEND"], env["PET_NNODES"], env["PET_MAX_RESTARTS"], env["PET_RDZV_ID"]) == ("c10d", "1:3", "4", "r")


def test_tf_config_shape_and_distinct_ports(tmp_path):
    cmd = behave("exit:0")
    out, _ = launches(tf_job("tf", {"Chief": (1, cmd), "Worker": (2, cmd), "PS": (1, cmd)}), tmp_path)
    raw = out["tf-worker-1"].env["TF_CONFIG"]
    cfg = json.loads(raw)
    assert list(cfg) == ["cluster", "task", "environment"] and list(cfg["cluster"]) == ["chief", "ps", "worker"]
    assert cfg["task"] == {"type": "worker", "index": 1} and cfg["environment"] == "cloud"
    addrs = [a for v in cfg["cluster"].values() for a in v]
    assert len(set(addrs)) == 4 and all(a.startswith("127.0.0.1:") for a in addrs)
    assert " " not in raw  # compact, as Go marshals it


def test_tf_config_only_for_the_tensorflow_container(tmp_path):
    manifest = tf_job("tf", {"Worker": (2, behave("exit:0"))})
    manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]["name"] = "trainer"
    out, _ = launches(manifest, tmp_path)
    assert "TF_CONFIG" not in out["tf-worker-0"].env


def test_mpi_launcher_env_hostfile_and_shim(tmp_path):
    out, _ = launches(mpi_job("m", ["mpirun", "-np", "2", "python", "x.py"], workers=2), tmp_path)
    env = out["m-launcher"].env
    hostfile = Path(env["OMPI_MCA_orte_default_hostfile"])
    assert hostfile.read_text() == "localhost slots=2\n" and env["PRTE_MCA_prte_default_hostfile"] == str(hostfile)
    assert env["NVIDIA_VISIBLE_DEVICES"] == ""
    assert (env.get("OMPI_ALLOW_RUN_AS_ROOT") == "1") == (os.geteuid() == 0)
    first = env["PATH"].split(os.pathsep)[0]
    assert os.access(os.path.join(first, "mpirun"), os.X_OK)
    # Workers only stand for hosts: a placeholder that waits.
    assert out["m-worker-0"].argv[:2] == [sys.executable, "-I"]
    assert "OMPI_MCA_orte_default_hostfile" not in out["m-worker-0"].env


def test_path_starts_with_this_environment_and_dtrain_vars(tmp_path):
    out, _ = launches(pytorch_job("pt", behave("exit:0"), workers=0), tmp_path)
    env = out["pt-master-0"].env
    assert env["PATH"].split(os.pathsep)[:3] == [os.path.dirname(sys.executable), "/usr/bin", "/bin"]
    assert env["DTRAIN_OUTPUT_DIR"] == str(tmp_path / "out") and (tmp_path / "out").is_dir()
    assert env["DTRAIN_JOB_UID"] == "uid-1" and env["HOME"] == "/home/me"
    assert "CUDA_VISIBLE_DEVICES" not in env


def test_user_env_value_from_and_expansion(tmp_path):
    manifest = pytorch_job("pt", ["echo", "$(GREETING)", "$$(LITERAL)", "$(MISSING)"], workers=0)
    c = manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    c["resources"] = {"limits": {"memory": "1Gi", "cpu": "1500m"}}
    c["env"] = [
        {"name": "WHO", "value": "world"},
        {"name": "GREETING", "value": "hello $(WHO)"},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "ROLE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['training.kubeflow.org/replica-type']"}}},
        {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPUS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "MASTER_PORT", "value": "1"},
        {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k", "optional": True}}},
    ]
    out, notes = launches(manifest, tmp_path)
    launch = out["pt-master-0"]
    env = launch.env
    assert (env["GREETING"], env["POD"], env["NS"], env["IP"], env["ROLE"]) == (
        "hello world", "pt-master-0", "default", "127.0.0.1", "master")
    assert (env["MEM_MI"], env["CPUS"]) == ("1024", "2")
    assert env["MASTER_PORT"] != "1"  # the operator's value wins over the user's
    assert "OPT" not in env and any("OPT" in n for n in notes)
    assert launch.argv == ["echo", "hello world", "$(LITERAL)", "$(MISSING)"]


@pytest.mark.parametrize("env_entry, path_end", [
    ({"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}, "env[0].valueFrom"),
    ({"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeSelector"}}}, "env[0].valueFrom.fieldRef"),
    ({"value": "no name"}, "env[0]"),
], ids=["secret", "field", "no-name"])
def test_unresolvable_env_is_an_invalid_job_with_its_path(tmp_path, env_entry, path_end):
    manifest = pytorch_job("pt", behave("exit:0"), workers=0)
    manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["env"] = [env_entry]
    with pytest.raises(InvalidJob) as err:
        launches(manifest, tmp_path)
    assert err.value.issues[0].path == "spec.pytorchReplicaSpecs.Master.template.spec.containers[0]." + path_end


def test_working_dir_is_used_when_it_exists(tmp_path):
    manifest = pytorch_job("pt", behave("exit:0"), workers=0)
    c = manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
    c["workingDir"] = "/tmp"
    assert launches(manifest, tmp_path)[0]["pt-master-0"].cwd == "/tmp"
    del c["workingDir"]
    assert launches(manifest, tmp_path)[0]["pt-master-0"].cwd == str(tmp_path)


def test_cuda_visible_devices_follows_the_assignment(tmp_path):
    out, _ = launches(pytorch_job("pt", behave("exit:0"), workers=1), tmp_path,
                      gpu_assignment={"pt-master-0": ["0", "1"]}, gpus_present=True)
    assert out["pt-master-0"].env["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert out["pt-worker-0"].env["CUDA_VISIBLE_DEVICES"] == ""


def test_expand_and_quantity():
    assert expand("$(A)-$(B)-$$(A)", {"A": "1"}) == "1-$(B)-$(A)"
    assert quantity("500m", "p") == 0.5 and quantity("2Gi", "p") == 2 ** 31
    with pytest.raises(InvalidJob):
        quantity("2 bananas", "p")
