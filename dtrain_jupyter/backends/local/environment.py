"""The exact environment each local replica gets: the user's env, then the operator's, then ours.

Order follows the operators (operator-contract §1.2, §2–§6): the container's own `env` first
(with `valueFrom` resolved where this machine can answer it), then the variables the operator
injects for the kind, so operator values win; then the local backend's own `DTRAIN_OUTPUT_DIR`,
the `DTRAIN_JOB_UID` marker (how every process of a job, grandchildren included, is found again)
and `CUDA_VISIBLE_DEVICES`. Addresses become `127.0.0.1` and every listening replica gets a free
port of its own, so two local jobs never collide (contract §10.2). `$(VAR)` references are
expanded in env values, command and args the way Kubernetes does.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import psutil

from ...errors import InvalidJob, ValidationIssue
from ...model.quantity import parse_quantity
from . import mpi
from .replicas import JobPlan, ReplicaPlan

LOCALHOST = "127.0.0.1"
# The program of an MPI worker that only stands for a host: alive while the job runs, doing nothing.
PLACEHOLDER_CODE = "import signal; signal.pause()"
_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


@dataclass
class Launch:
    """What a replica process is started with; stored so a restart reuses it unchanged."""

    argv: list[str]
    env: dict[str, str]
    cwd: str


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: known names replaced, `$$` -> `$`, unknown refs kept."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _REF.sub(sub, text)


def _fail(path: str, message: str) -> InvalidJob:
    return InvalidJob([ValidationIssue(path=path, message=message)])


def quantity(value: Any, path: str) -> float:
    """A Kubernetes resource quantity (`500m`, `2`, `1Gi`) as a number, read as validation reads it."""
    try:
        return float(parse_quantity(value))
    except ValueError as e:
        raise _fail(path, str(e)) from None


def _resource_field(ref: dict[str, Any], container: dict[str, Any], path: str) -> str:
    resource = str(ref.get("resource", ""))
    section, _, name = resource.partition(".")
    res = container.get("resources") or {}
    value = (res.get(section) or {}).get(name)
    if value is None and section == "requests":
        value = (res.get("limits") or {}).get(name)
    if value is None:
        # An unset limit reads as the node's allocatable amount, as on a cluster node.
        value = os.cpu_count() or 1 if name == "cpu" else psutil.virtual_memory().total if name == "memory" else 0
    divisor = quantity(ref.get("divisor") or "1", f"{path}.divisor")
    return str(max(1, math.ceil(quantity(value, path) / divisor)) if quantity(value, path) else 0)


def _field_ref(fp: str, plan: JobPlan, rp: ReplicaPlan, uid: str, annotations: dict[str, str], path: str) -> str:
    simple = {"metadata.name": rp.pod, "metadata.namespace": plan.namespace, "metadata.uid": f"{uid}-{rp.pod}",
              "spec.nodeName": "localhost", "spec.serviceAccountName": "default",
              "status.podIP": LOCALHOST, "status.hostIP": LOCALHOST, "status.podIPs": LOCALHOST,
              "status.hostIPs": LOCALHOST}
    if fp in simple:
        return simple[fp]
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", fp)
    if m:
        source = rp.labels if m.group(1) == "labels" else annotations
        return source.get(m.group(2), "")
    raise _fail(path, f"fieldRef {fp!r} cannot be resolved on this machine")


def user_env(plan: JobPlan, rp: ReplicaPlan, uid: str, notes: list[str]) -> list[tuple[str, str]]:
    """The container's `env` in order, valueFrom resolved. Raises InvalidJob for what cannot be.

    Validation made `env` a list of named entries with string values and each `valueFrom` and
    `envFrom` a mapping naming one source; what is refused here is only what this machine cannot
    answer (ConfigMaps, Secrets, fields of a scheduled pod).
    """
    c, cpath = rp.container, rp.container_path
    out: list[tuple[str, str]] = []
    for i, ef in enumerate(c.get("envFrom") or []):
        ref = ef.get("configMapRef") or ef.get("secretRef")
        if ref.get("optional"):
            notes.append(f"{cpath}.envFrom[{i}] (optional {ref.get('name')!r}) is skipped: no ConfigMaps or Secrets locally")
            continue
        raise _fail(f"{cpath}.envFrom[{i}]", "ConfigMaps and Secrets do not exist locally; put the values in env")
    annotations: dict[str, str] = {}
    for i, item in enumerate(c.get("env") or []):
        path = f"{cpath}.env[{i}]"
        vf = item.get("valueFrom")
        if vf is None:  # a plain value; unset or null reads as "", as on a cluster
            out.append((item["name"], item.get("value") or ""))
        elif vf.get("fieldRef") is not None:
            out.append((item["name"], _field_ref(vf["fieldRef"]["fieldPath"], plan, rp, uid, annotations,
                                                  f"{path}.valueFrom.fieldRef")))
        elif vf.get("resourceFieldRef") is not None:
            out.append((item["name"], _resource_field(vf["resourceFieldRef"], c, f"{path}.valueFrom.resourceFieldRef")))
        else:
            key = "configMapKeyRef" if vf.get("configMapKeyRef") is not None else "secretKeyRef"
            if vf[key].get("optional"):
                notes.append(f"{path} ({item['name']}, optional {key}) is not set: no ConfigMaps or Secrets locally")
                continue
            raise _fail(f"{path}.valueFrom", f"{key} cannot be resolved locally; set a plain value")
    return out


Env = list[tuple[str, str]]


class Ports(dict):
    """Free ports by the address they serve ("master", "rdzv", or a pod's name), taken on first use.

    A kind's env rules ask for the addresses they name, so exactly the replicas that listen get
    a port of their own (contract §10.2): TF every replica, the others one coordinator.
    """

    def __missing__(self, address: str) -> int:
        port = self[address] = free_port()
        return port


def operator_env(plan: JobPlan, rp: ReplicaPlan, ports: Ports, hostfile: Path | None) -> Env:
    """The variables the kind's operator injects into one replica (contract §2–§6), with local addresses.

    Args:
        plan: the job; rp: the replica.
        ports: the job's ports, shared by all its replicas so each address has one port.
        hostfile: the MPI launcher's local hostfile (None for kinds without a launcher).
    """
    return _KIND_ENV[plan.kind](plan, rp, ports, hostfile)


def _pytorch(plan: JobPlan, rp: ReplicaPlan, ports: Ports, hostfile: Path | None) -> Env:
    """§2: with a Master, its address, WORLD_SIZE and RANK (worker i is i+1); torchrun's PET_* always."""
    spec, total = plan.spec, len(plan.replicas)
    elastic = spec.get("elasticPolicy")
    nproc = spec.get("nprocPerNode")
    if nproc is None and not (elastic or {}).get("nProcPerNode"):
        nproc = "auto"  # defaulted since Training Operator v1.7
    env = [("PYTHONUNBUFFERED", "1")]
    if plan.count("Master"):
        port, rank = str(ports["master"]), str(rp.ordinal)
        world = total * (int(nproc) if str(nproc).isdigit() else 1)  # "auto", "cpu", "gpu" count as 1
        env += [("MASTER_PORT", port), ("PET_MASTER_PORT", port), ("MASTER_ADDR", LOCALHOST),
                ("PET_MASTER_ADDR", LOCALHOST), ("WORLD_SIZE", str(world)), ("RANK", rank), ("PET_NODE_RANK", rank)]
    if nproc is not None:
        env.append(("PET_NPROC_PER_NODE", str(nproc)))
    if elastic is None:
        return env + [("PET_NNODES", str(total))]
    # elastic.go: one of min/max given copies the other; neither given, both are the Worker count.
    low, high = elastic.get("minReplicas"), elastic.get("maxReplicas")
    low, high = (low if low is not None else high), (high if high is not None else low)
    workers = plan.count("Worker")
    env += [("PET_RDZV_ENDPOINT", f"{LOCALHOST}:{ports['rdzv']}"),
            ("PET_RDZV_BACKEND", str(elastic.get("rdzvBackend") or "c10d")),
            ("PET_NNODES", f"{workers if low is None else low}:{workers if high is None else high}")]
    for key, name in (("maxRestarts", "PET_MAX_RESTARTS"), ("nProcPerNode", "PET_NPROC_PER_NODE")):
        if elastic.get(key) is not None:
            env.append((name, str(elastic[key])))
    if elastic.get("rdzvId"):
        env.append(("PET_RDZV_ID", str(elastic["rdzvId"])))
    if elastic.get("rdzvConf"):
        env.append(("PET_RDZV_CONF", ",".join(f"{kv.get('key')}={kv.get('value')}" for kv in elastic["rdzvConf"])))
    if elastic.get("standalone"):
        env.append(("PET_STANDALONE", ""))
    return env


def _tensorflow(plan: JobPlan, rp: ReplicaPlan, ports: Ports, hostfile: Path | None) -> Env:
    """§3: TF_CONFIG, only when the job has more than one replica.

    The operator sets it in the `tensorflow` container only; that is the container a replica runs
    here (validation requires one, and sidecars are not run), so every replica gets it.
    """
    if len(plan.replicas) == 1:
        return []
    cluster: dict[str, list[str]] = {}
    for r in plan.replicas:
        cluster.setdefault(r.replica_type.lower(), []).append(f"{LOCALHOST}:{ports[r.pod]}")
    config = {"cluster": dict(sorted(cluster.items())),
              "task": {"type": rp.replica_type.lower(), "index": rp.index}, "environment": "cloud"}
    return [("TF_CONFIG", json.dumps(config, separators=(",", ":")))]


def _mpi(plan: JobPlan, rp: ReplicaPlan, ports: Ports, hostfile: Path | None) -> Env:
    """§4, §5: the launcher's hostfile and MPI variables; the MPI Operator also tells workers their role."""
    if rp.replica_type == "Launcher":
        assert hostfile is not None
        return mpi.launcher_env(plan, hostfile, gpu_launcher=rp.gpus > 0)
    return [("K_MPI_JOB_ROLE", "worker")] if plan.framework.announces_role else []


def _xgboost(plan: JobPlan, rp: ReplicaPlan, ports: Ports, hostfile: Path | None) -> Env:
    """§6: the Master's address, WORLD_SIZE, RANK (Workers after the Master); worker addresses when distributed."""
    total, port = len(plan.replicas), str(ports["master"])
    env = [("MASTER_PORT", port), ("MASTER_ADDR", LOCALHOST), ("WORLD_SIZE", str(total)),
           ("RANK", str(rp.ordinal)), ("PYTHONUNBUFFERED", "1")]
    if total > 1:
        env += [("WORKER_PORT", port), ("WORKER_ADDRS", ",".join([LOCALHOST] * (total - 1)))]
    return env


def _paddle(plan: JobPlan, rp: ReplicaPlan, ports: Ports, hostfile: Path | None) -> Env:
    """§6: the job id, node count and master endpoint; with a Master, each pod's server or trainer count."""
    env = [("PYTHONUNBUFFERED", "1"), ("PADDLE_JOB_ID", plan.name), ("PADDLE_NNODES", str(len(plan.replicas))),
           ("PADDLE_MASTER", f"{LOCALHOST}:{ports['master']}")]
    if plan.count("Master"):
        env.append(("PADDLE_SERVER_NUM" if rp.replica_type == "Master" else "PADDLE_TRAINER_NUM", "1"))
    return env


def _jax(plan: JobPlan, rp: ReplicaPlan, ports: Ports, hostfile: Path | None) -> Env:
    """§6: worker-0 coordinates; every process learns the count and its own id."""
    return [("PYTHONUNBUFFERED", "1"), ("COORDINATOR_PORT", str(ports["master"])), ("COORDINATOR_ADDRESS", LOCALHOST),
            ("NUM_PROCESSES", str(len(plan.replicas))), ("PROCESS_ID", str(rp.ordinal))]


# The operator's env rules of each kind (every kind of model/kinds.py has one).
_KIND_ENV = {"PyTorchJob": _pytorch, "TFJob": _tensorflow, "MPIJob": _mpi, "XGBoostJob": _xgboost,
             "PaddleJob": _paddle, "JAXJob": _jax}


def build_launches(
    plan: JobPlan, *, uid: str, output_dir: Path, run_dir: Path, default_cwd: str,
    gpu_assignment: Mapping[str, list[str]], gpus_present: bool, notes: list[str],
    base_env: Mapping[str, str] | None = None, code_dir: Path | None = None,
) -> dict[str, Launch]:
    """Argv, environment and working directory of every replica of a plan.

    Args:
        plan: the job read by `replicas.plan_job`.
        uid: the job's uid; every replica carries it as `DTRAIN_JOB_UID`.
        output_dir: the job's `DTRAIN_OUTPUT_DIR` (created here).
        run_dir: a private folder of the job for the MPI hostfile and shim.
        default_cwd: working directory when the container sets no `workingDir`.
        gpu_assignment: device ids per pod name; `gpus_present` says whether this machine has any.
        notes: receives a sentence for each optional reference that was skipped.
        base_env: the environment replicas inherit (the server's own by default, never modified).
        code_dir: the job's unpacked script folder, given to every replica as DTRAIN_CODE_DIR (the
            runner uses it instead of the ConfigMap a cluster would mount).

    Raises:
        InvalidJob: a valueFrom, envFrom or workingDir this machine cannot honour.
    """
    base = dict(os.environ if base_env is None else base_env)
    venv_bin = os.path.dirname(sys.executable)
    path = os.pathsep.join([venv_bin] + [p for p in base.get("PATH", os.defpath).split(os.pathsep) if p and p != venv_bin])
    output_dir.mkdir(parents=True, exist_ok=True)
    ports = Ports()
    hostfile = shim = None
    if plan.framework.mpi_implementations:
        hostfile, shim = mpi.write_launcher_files(plan, run_dir, path)
    launches: dict[str, Launch] = {}
    for rp in plan.replicas:
        pairs = user_env(plan, rp, uid, notes) + operator_env(plan, rp, ports, hostfile)
        env = dict(base)
        env["PATH"] = str(shim) + os.pathsep + path if (shim and rp.replica_type == "Launcher") else path
        resolved: dict[str, str] = {}
        for key, value in pairs:
            resolved[key] = expand(value, resolved)
            env.pop(key, None)  # re-insert so the env keeps the injection order
            env[key] = resolved[key]
        env["DTRAIN_OUTPUT_DIR"] = str(output_dir)
        env["DTRAIN_JOB_UID"] = uid
        env["DTRAIN_REPLICA"] = rp.pod
        if code_dir is not None:
            env["DTRAIN_CODE_DIR"] = str(code_dir)
        if gpus_present:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_assignment.get(rp.pod, []))
        if rp.placeholder:
            # A worker that stands for an MPI host: alive while the job runs, doing nothing.
            argv = [sys.executable, "-I", "-S", "-c", PLACEHOLDER_CODE]
        else:
            argv = [expand(a, resolved) for a in
                    [str(x) for x in (rp.container.get("command") or [])] + [str(x) for x in (rp.container.get("args") or [])]]
        wd = rp.container.get("workingDir")
        if wd and not os.path.isdir(str(wd)):
            raise _fail(f"{rp.container_path}.workingDir", f"folder {wd!r} does not exist on this machine")
        launches[rp.pod] = Launch(argv=argv, env=env, cwd=str(wd or default_cwd))
    return launches
