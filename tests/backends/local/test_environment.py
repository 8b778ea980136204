"""environment.py: the exact env per kind (contract §2–§5), valueFrom, $(VAR), PATH, workingDir."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtrain_jupyter.backends.local import environment
from dtrain_jupyter.backends.local.environment import build_launches, expand, quantity
from dtrain_jupyter.backends.local.replicas import plan_job
from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model import kinds
from dtrain_jupyter.model.validation import validate_manifest

from .helpers import behave, mpi_job, pytorch_job, replica_spec, tf_job

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
    pod = manifest["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"]
    pod["containers"].insert(0, {"name": "trainer", "image": "x:1", "command": ["echo", "sidecar"]})
    out, _ = launches(manifest, tmp_path)
    # The replica runs the `tensorflow` container, not the first one, and it alone gets TF_CONFIG.
    assert out["tf-worker-0"].argv == behave("exit:0") and "TF_CONFIG" in out["tf-worker-0"].env
    del pod["containers"][1]
    with pytest.raises(InvalidJob) as err:  # no `tensorflow` container: the operator refuses the job
        launches(manifest, tmp_path)
    assert err.value.issues[0].path == "spec.tfReplicaSpecs.Worker.template.spec.containers"


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


def job_of(kind: str, roles: dict[str, int], container: str) -> dict:
    """A manifest of any v1 kind with `roles` (role -> replicas), every replica running behave.py."""
    fw = kinds.lookup("kubeflow.org/v1", kind)
    return {"apiVersion": "kubeflow.org/v1", "kind": kind, "metadata": {"name": "j"},
            "spec": {fw.replica_key: {r: replica_spec(behave("exit:0"), container, n) for r, n in roles.items()}}}


def test_every_kind_has_its_operators_env_rules():
    assert {f.kind for f in kinds.FRAMEWORKS} == set(environment._KIND_ENV)


def test_pytorch_elastic_with_a_master_gets_both_sets(tmp_path):
    manifest = pytorch_job("el", behave("exit:0"), workers=2, elasticPolicy={"maxReplicas": 4, "rdzvBackend": "etcd"})
    out, _ = launches(manifest, tmp_path)
    env = out["el-worker-0"].env
    assert (env["RANK"], env["WORLD_SIZE"], env["PET_RDZV_BACKEND"], env["PET_NNODES"]) == ("1", "3", "etcd", "4:4")
    # The rendezvous and the master listen on ports of their own.
    assert env["PET_RDZV_ENDPOINT"] != f"127.0.0.1:{env['MASTER_PORT']}"


def test_a_single_replica_tfjob_gets_no_tf_config(tmp_path):
    out, _ = launches(tf_job("tf", {"Worker": (1, behave("exit:0"))}), tmp_path)
    assert "TF_CONFIG" not in out["tf-worker-0"].env


def test_mpi_operator_v2_env_per_implementation(tmp_path):
    manifest = mpi_job("m", ["mpirun", "python", "x.py"], workers=2, version="v2beta1")
    manifest["spec"].update(slotsPerWorker=3, mpiImplementation="Intel")
    out, _ = launches(manifest, tmp_path)
    launcher, worker = out["m-launcher"].env, out["m-worker-0"].env
    assert operator_keys(launcher)[:3] == ["K_MPI_JOB_ROLE", "I_MPI_HYDRA_HOST_FILE", "I_MPI_PERHOST"]
    assert (launcher["K_MPI_JOB_ROLE"], launcher["I_MPI_PERHOST"]) == ("launcher", "3")
    assert Path(launcher["I_MPI_HYDRA_HOST_FILE"]).read_text() == "localhost:6\n"
    assert worker["K_MPI_JOB_ROLE"] == "worker"
    manifest["spec"]["mpiImplementation"] = "OpenMPI"
    launcher = launches(manifest, tmp_path)[0]["m-launcher"].env
    assert (launcher["OMPI_MCA_orte_keep_fqdn_hostnames"], launcher["OMPI_MCA_orte_set_default_slots"]) == ("true", "3")
    assert Path(launcher["OMPI_MCA_orte_default_hostfile"]).read_text() == "localhost slots=6\n"


def test_mpi_v1_env_is_the_training_operators(tmp_path):
    out, _ = launches(mpi_job("m", ["mpirun", "python", "x.py"], workers=2), tmp_path)
    assert "K_MPI_JOB_ROLE" not in out["m-launcher"].env and "K_MPI_JOB_ROLE" not in out["m-worker-0"].env
    assert "OMPI_MCA_orte_set_default_slots" not in out["m-launcher"].env


def test_xgboost_env(tmp_path):
    out, _ = launches(job_of("XGBoostJob", {"Master": 1, "Worker": 2}, "xgboost"), tmp_path)
    master, w1 = out["j-master-0"].env, out["j-worker-1"].env
    assert operator_keys(master) == ["MASTER_PORT", "MASTER_ADDR", "WORLD_SIZE", "RANK", "PYTHONUNBUFFERED",
                                     "WORKER_PORT", "WORKER_ADDRS"]
    assert (master["RANK"], w1["RANK"], w1["WORLD_SIZE"], w1["MASTER_PORT"]) == ("0", "2", "3", master["MASTER_PORT"])
    assert w1["WORKER_ADDRS"] == "127.0.0.1,127.0.0.1"


def test_paddle_env_with_and_without_a_master(tmp_path):
    out, _ = launches(job_of("PaddleJob", {"Master": 1, "Worker": 2}, "paddle"), tmp_path)
    master, worker = out["j-master-0"].env, out["j-worker-0"].env
    assert operator_keys(master) == ["PYTHONUNBUFFERED", "PADDLE_JOB_ID", "PADDLE_NNODES", "PADDLE_MASTER",
                                     "PADDLE_SERVER_NUM"]
    assert (master["PADDLE_JOB_ID"], master["PADDLE_NNODES"], worker["PADDLE_TRAINER_NUM"]) == ("j", "3", "1")
    assert master["PADDLE_MASTER"] == worker["PADDLE_MASTER"] and master["PADDLE_MASTER"].startswith("127.0.0.1:")
    out, _ = launches(job_of("PaddleJob", {"Worker": 2}, "paddle"), tmp_path)
    assert "PADDLE_TRAINER_NUM" not in out["j-worker-1"].env and "PADDLE_SERVER_NUM" not in out["j-worker-0"].env


def test_jax_env(tmp_path):
    out, _ = launches(job_of("JAXJob", {"Worker": 3}, "jax"), tmp_path)
    w2 = out["j-worker-2"].env
    assert operator_keys(w2) == ["PYTHONUNBUFFERED", "COORDINATOR_PORT", "COORDINATOR_ADDRESS", "NUM_PROCESSES",
                                 "PROCESS_ID"]
    assert (w2["COORDINATOR_ADDRESS"], w2["NUM_PROCESSES"], w2["PROCESS_ID"]) == ("127.0.0.1", "3", "2")
    assert w2["COORDINATOR_PORT"] == out["j-worker-0"].env["COORDINATOR_PORT"]


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


MASTER_CONTAINER = "spec.pytorchReplicaSpecs.Master.template.spec.containers[0]"


@pytest.mark.parametrize("field, value, path_end", [
    ("env", [{"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}], "env[0].valueFrom"),
    ("env", [{"name": "F", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeSelector"}}}], "env[0].valueFrom.fieldRef"),
    ("envFrom", [{"configMapRef": {"name": "settings"}}], "envFrom[0]"),
], ids=["secret", "field", "config-map"])
def test_env_this_machine_cannot_answer_is_an_invalid_job_with_its_path(tmp_path, field, value, path_end):
    manifest = pytorch_job("pt", behave("exit:0"), workers=0)
    manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][field] = value
    assert validate_manifest(manifest) == []  # valid for a cluster: only this machine lacks the answer
    with pytest.raises(InvalidJob) as err:
        launches(manifest, tmp_path)
    assert [i.path for i in err.value.issues] == [f"{MASTER_CONTAINER}.{path_end}"]


@pytest.mark.parametrize("field, value, path_end", [
    ("env", [{"value": "no name"}], "env[0].name"),
    ("env", [{"name": "V", "valueFrom": "secretKeyRef"}], "env[0].valueFrom"),
    ("env", [{"name": "P", "valueFrom": {"fieldRef": "metadata.name"}}], "env[0].valueFrom.fieldRef"),
    ("env", [{"name": "M", "valueFrom": {"resourceFieldRef": {"divisor": "1Mi"}}}],
     "env[0].valueFrom.resourceFieldRef.resource"),
    ("envFrom", [{"secretRef": "creds"}], "envFrom[0].secretRef"),
], ids=["no-name", "value-from-not-a-mapping", "field-ref-not-a-mapping", "resource-unnamed", "secret-ref-not-a-mapping"])
def test_env_validation_refuses_reaches_the_caller_as_validations_issue(tmp_path, field, value, path_end):
    manifest = pytorch_job("pt", behave("exit:0"), workers=0)
    manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][field] = value
    with pytest.raises(InvalidJob) as err:
        launches(manifest, tmp_path)
    assert err.value.issues == validate_manifest(manifest)  # not a guard of the backend's own
    assert [i.path for i in err.value.issues] == [f"{MASTER_CONTAINER}.{path_end}"]


def test_an_env_entry_without_a_value_is_empty(tmp_path):
    manifest = pytorch_job("pt", behave("exit:0"), workers=0)
    manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["env"] = [
        {"name": "UNSET"}, {"name": "NULL", "value": None}, {"name": "NO_SOURCE", "valueFrom": None}]
    env = launches(manifest, tmp_path)[0]["pt-master-0"].env
    assert (env["UNSET"], env["NULL"], env["NO_SOURCE"]) == ("", "", "")


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


# Values a person might write in the fields the local backend reads without checking again.
_text = st.one_of(st.none(), st.text(max_size=6), st.sampled_from(["metadata.name", "limits.cpu", "1Mi", "0", "-1"]))
_ref = st.one_of(_text, st.integers(-2, 2), st.fixed_dictionaries({}, optional={
    f: st.one_of(_text, st.integers(-2, 2), st.booleans()) for f in ("fieldPath", "resource", "divisor", "name", "key", "optional")}))
_value_from = st.one_of(_ref, st.fixed_dictionaries({}, optional={
    k: _ref for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")}))
_env_entry = st.one_of(_ref, st.fixed_dictionaries({"name": st.sampled_from(["A", "B_1", ""])}, optional={
    "value": st.one_of(_text, st.integers()), "valueFrom": _value_from}))
_quantities = st.dictionaries(st.sampled_from(["cpu", "memory", "nvidia.com/gpu"]),
                              st.one_of(_text, st.integers(-2, 3), st.floats(-1, 2), st.sampled_from(["²", "1", "500m"])))
_FIELDS = {
    "env": st.one_of(_ref, st.lists(_env_entry, max_size=3)),
    "envFrom": st.one_of(_ref, st.lists(st.one_of(_ref, st.fixed_dictionaries({}, optional={
        "configMapRef": _ref, "secretRef": _ref})), max_size=2)),
    "resources": st.one_of(_ref, st.fixed_dictionaries({}, optional={"limits": _quantities, "requests": _quantities})),
    "args": st.one_of(_ref, st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=2)),
}
_TEMPLATE_METADATA = st.one_of(_ref, st.fixed_dictionaries({}, optional={
    "labels": st.one_of(_ref, st.dictionaries(st.text(max_size=4), st.one_of(_text, st.integers()), max_size=2)),
    "annotations": st.one_of(_ref, st.dictionaries(st.text(max_size=4), _text, max_size=2))}))


@settings(max_examples=int(os.environ.get("DTRAIN_MODEL_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["PyTorchJob", "MPIJob"]), fields=st.fixed_dictionaries({}, optional=_FIELDS),
       metadata=st.none() | _TEMPLATE_METADATA, nproc=st.none() | st.sampled_from(["2", "auto", "²", "0"]))
def test_what_validation_accepts_plans_and_launches_or_is_refused_with_a_path(kind, fields, metadata, nproc):
    manifest = (pytorch_job("pt", behave("exit:0"), workers=1) if kind == "PyTorchJob"
                else mpi_job("m", ["mpirun", "python", "x.py"], workers=1, version="v2beta1"))
    first = next(iter(manifest["spec"][kinds.versions_of(kind)[0].replica_key].values()))
    first["template"]["spec"]["containers"][0].update(fields)
    if metadata is not None:
        first["template"]["metadata"] = metadata
    if nproc is not None and kind == "PyTorchJob":
        manifest["spec"]["nprocPerNode"] = nproc
    issues = validate_manifest(manifest)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            out, _ = launches(manifest, Path(tmp))
        except InvalidJob as e:
            # Refused by validation (the same issues), or by this machine for one field, with its path.
            assert e.issues == issues or (not issues and len(e.issues) == 1 and e.issues[0].path)
        else:
            assert not issues
            assert all(isinstance(v, str) for launch in out.values() for v in launch.env.values())
