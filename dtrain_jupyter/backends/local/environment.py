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


_SUFFIX = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
           "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value: Any, path: str) -> float:
    """A Kubernetes resource quantity (`500m`, `2`, `1Gi`) as a number."""
    m = re.fullmatch(r"([0-9.]+(?:[eE][-+]?[0-9]+)?)([a-zA-Z]*)", str(value).strip())
    if not m or (m.group(2) and m.group(2) not in _SUFFIX):
        raise _fail(path, f"{value!r} is not a resource quantity")
    return float(m.group(1)) * _SUFFIX.get(m.group(2), 1)


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
    """The container's `env` in order, valueFrom resolved. Raises InvalidJob for what cannot be."""
    c, cpath = rp.container, rp.container_path
    out: list[tuple[str, str]] = []
    for i, ef in enumerate(c.get("envFrom") or []):
        ref = (ef or {}).get("configMapRef") or (ef or {}).get("secretRef") or {}
        if ref.get("optional"):
            notes.append(f"{cpath}.envFrom[{i}] (optional {ref.get('name')!r}) is skipped: no ConfigMaps or Secrets locally")
            continue
        raise _fail(f"{cpath}.envFrom[{i}]", "ConfigMaps and Secrets do not exist locally; put the values in env")
    env_list = c.get("env") or []
    if not isinstance(env_list, list):
        raise _fail(f"{cpath}.env", "env must be a list")
    annotations = {}
    for i, item in enumerate(env_list):
        path = f"{cpath}.env[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise _fail(path, "an env entry needs a name")
        if "valueFrom" not in item:
            out.append((item["name"], str(item.get("value", ""))))
            continue
        vf = item.get("valueFrom") or {}
        if "fieldRef" in vf:
            out.append((item["name"], _field_ref(str((vf["fieldRef"] or {}).get("fieldPath", "")), plan, rp, uid,
                                                  annotations, f"{path}.valueFrom.fieldRef")))
        elif "resourceFieldRef" in vf:
            out.append((item["name"], _resource_field(vf["resourceFieldRef"] or {}, c, f"{path}.valueFrom.resourceFieldRef")))
        else:
            key = "configMapKeyRef" if "configMapKeyRef" in vf else "secretKeyRef" if "secretKeyRef" in vf else ""
            if key and (vf[key] or {}).get("optional"):
                notes.append(f"{path} ({item['name']}, optional {key}) is not set: no ConfigMaps or Secrets locally")
                continue
            raise _fail(f"{path}.valueFrom", f"{key or 'this valueFrom'} cannot be resolved locally; set a plain value")
    return out


def operator_env(plan: JobPlan, rp: ReplicaPlan, ports: dict[str, int], hostfile: Path | None) -> list[tuple[str, str]]:
    """The variables the kind's operator injects (contract §2–§6), with local addresses."""
    kind, name = plan.kind, plan.name
    total = len(plan.replicas)
    rank = rp.index or 0
    if kind == "PyTorchJob":
        spec = plan.spec
        elastic = spec.get("elasticPolicy")
        npn_raw = spec.get("nprocPerNode")
        if npn_raw is None and not (elastic or {}).get("nProcPerNode"):
            npn_raw = "auto"  # defaulted since Training Operator v1.7
        try:
            npn = int(str(npn_raw))
        except ValueError:
            npn = 1
        env = [("PYTHONUNBUFFERED", "1")]
        if plan.count("Master"):
            port = str(ports["master"])
            rank = 0 if rp.replica_type == "Master" else rp.index + 1  # type: ignore[operator]
            env += [("MASTER_PORT", port), ("PET_MASTER_PORT", port), ("MASTER_ADDR", LOCALHOST),
                    ("PET_MASTER_ADDR", LOCALHOST), ("WORLD_SIZE", str(total * npn)), ("RANK", str(rank)),
                    ("PET_NODE_RANK", str(rank))]
        if npn_raw is not None:
            env.append(("PET_NPROC_PER_NODE", str(npn_raw)))
        if elastic is not None:
            workers = plan.count("Worker")
            lo, hi = elastic.get("minReplicas"), elastic.get("maxReplicas")
            lo, hi = (lo if lo is not None else hi), (hi if hi is not None else lo)
            lo = workers if lo is None else lo
            hi = workers if hi is None else hi
            env += [("PET_RDZV_ENDPOINT", f"{LOCALHOST}:{ports['rdzv']}"),
                    ("PET_RDZV_BACKEND", str(elastic.get("rdzvBackend") or "c10d")),
                    ("PET_NNODES", f"{lo}:{hi}")]
            if elastic.get("maxRestarts") is not None:
                env.append(("PET_MAX_RESTARTS", str(elastic["maxRestarts"])))
            if elastic.get("nProcPerNode") is not None:
                env.append(("PET_NPROC_PER_NODE", str(elastic["nProcPerNode"])))
            if elastic.get("rdzvId"):
                env.append(("PET_RDZV_ID", str(elastic["rdzvId"])))
            if elastic.get("rdzvConf"):
                env.append(("PET_RDZV_CONF", ",".join(f"{kv.get('key')}={kv.get('value')}" for kv in elastic["rdzvConf"])))
            if elastic.get("standalone"):
                env.append(("PET_STANDALONE", ""))
        else:
            env.append(("PET_NNODES", str(total)))
        return env
    if kind == "TFJob":
        if rp.container.get("name") != "tensorflow" or total == 1:
            return []
        cluster: dict[str, list[str]] = {}
        for r in plan.replicas:
            cluster.setdefault(r.replica_type.lower(), []).append(f"{LOCALHOST}:{ports[r.pod]}")
        config = {"cluster": dict(sorted(cluster.items())),
                  "task": {"type": rp.replica_type.lower(), "index": rp.index}, "environment": "cloud"}
        return [("TF_CONFIG", json.dumps(config, separators=(",", ":")))]
    if kind == "MPIJob":
        if rp.replica_type == "Launcher":
            assert hostfile is not None
            return mpi.launcher_env(plan, hostfile, gpu_launcher=rp.gpus > 0)
        return [("K_MPI_JOB_ROLE", "worker")] if plan.framework.version == "v2beta1" else []
    if kind == "XGBoostJob":
        masters = plan.count("Master")
        rank = rp.index if rp.replica_type == "Master" else rp.index + masters  # type: ignore[operator]
        env = [("MASTER_PORT", str(ports["master"])), ("MASTER_ADDR", LOCALHOST), ("WORLD_SIZE", str(total)),
               ("RANK", str(rank)), ("PYTHONUNBUFFERED", "1")]
        if total > 1:
            env += [("WORKER_PORT", str(ports["master"])), ("WORKER_ADDRS", ",".join([LOCALHOST] * (total - 1)))]
        return env
    if kind == "PaddleJob":
        env = [("PYTHONUNBUFFERED", "1"), ("PADDLE_JOB_ID", name), ("PADDLE_NNODES", str(total)),
               ("PADDLE_MASTER", f"{LOCALHOST}:{ports['master']}")]
        if plan.count("Master"):
            env.append(("PADDLE_SERVER_NUM" if rp.replica_type == "Master" else "PADDLE_TRAINER_NUM", "1"))
        return env
    if kind == "JAXJob":
        return [("PYTHONUNBUFFERED", "1"), ("COORDINATOR_PORT", str(ports["master"])),
                ("COORDINATOR_ADDRESS", LOCALHOST), ("NUM_PROCESSES", str(total)), ("PROCESS_ID", str(rank))]
    return []


def allocate_ports(plan: JobPlan) -> dict[str, int]:
    """Free ports for every address the kind's env names: master, rendezvous, or one per TF replica."""
    ports: dict[str, int] = {}
    if plan.kind == "TFJob":
        for r in plan.replicas:
            ports[r.pod] = free_port()
    elif plan.kind in ("PyTorchJob", "XGBoostJob", "PaddleJob", "JAXJob"):
        ports["master"] = free_port()
        if plan.kind == "PyTorchJob" and plan.spec.get("elasticPolicy") is not None:
            ports["rdzv"] = free_port()
    return ports


def build_launches(
    plan: JobPlan, *, uid: str, output_dir: Path, run_dir: Path, default_cwd: str,
    gpu_assignment: Mapping[str, list[str]], gpus_present: bool, notes: list[str],
    base_env: Mapping[str, str] | None = None,
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

    Raises:
        InvalidJob: a valueFrom, envFrom or workingDir this machine cannot honour.
    """
    base = dict(os.environ if base_env is None else base_env)
    venv_bin = os.path.dirname(sys.executable)
    path = os.pathsep.join([venv_bin] + [p for p in base.get("PATH", os.defpath).split(os.pathsep) if p and p != venv_bin])
    output_dir.mkdir(parents=True, exist_ok=True)
    ports = allocate_ports(plan)
    hostfile = shim = None
    if plan.kind == "MPIJob":
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
