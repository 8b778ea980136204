"""What the Kubeflow operators build from a job: pod names, labels, owner references, conditions.

Facts from training-operator v1.9 and MPI Operator v0.8 (see ../shared/operator-contract.md
§1-§5): one pod `<job>-<rtype>-<i>` per replica (MPI v1 launcher `<job>-launcher`, MPI
v2beta1 launcher a batch Job whose pod is `<job>-launcher-xxxxx`), the
`training.kubeflow.org/*` labels, a controller ownerReference with blockOwnerDeletion, and
conditions `<Kind>Created|Running|Succeeded|Failed` with the condition algebra of
`util/status.go`. The simulator uses these pure functions; tests can too.
"""

from __future__ import annotations

import copy
import random
import string
from dataclasses import dataclass

from .store import now_rfc3339


@dataclass(frozen=True)
class KindFacts:
    kind: str
    replica_key: str
    controller: str  # value of training.kubeflow.org/operator-name
    container: str  # default container name
    restart_policy: str  # default restartPolicy
    deciding: tuple[str, ...]  # replica types whose success decides the job, in preference order


KINDS = {
    "PyTorchJob": KindFacts("PyTorchJob", "pytorchReplicaSpecs", "pytorchjob-controller", "pytorch", "OnFailure",
                            ("Master", "Worker")),
    "TFJob": KindFacts("TFJob", "tfReplicaSpecs", "tfjob-controller", "tensorflow", "Never",
                       ("Chief", "Master", "Worker")),
    "MPIJob": KindFacts("MPIJob", "mpiReplicaSpecs", "mpijob-controller", "mpi", "Never", ("Launcher",)),
    "XGBoostJob": KindFacts("XGBoostJob", "xgbReplicaSpecs", "xgboostjob-controller", "xgboost", "Never",
                            ("Master",)),
    "PaddleJob": KindFacts("PaddleJob", "paddleReplicaSpecs", "paddlejob-controller", "paddle", "OnFailure",
                           ("Master", "Worker")),
    "JAXJob": KindFacts("JAXJob", "jaxReplicaSpecs", "jaxjob-controller", "jax", "Never", ("Worker",)),
}

_CAMEL = {"ps": "PS"}


def camel(rtype: str) -> str:
    """Replica-type keys are matched case-insensitively and rewritten to CamelCase (`ps` -> `PS`)."""
    return _CAMEL.get(rtype.lower(), rtype[:1].upper() + rtype[1:].lower())


@dataclass
class PlannedPod:
    """One pod the operator creates for a replica."""

    name: str
    rtype: str  # CamelCase replica type
    index: int
    labels: dict
    spec: dict
    annotations: dict
    launcher_job: str | None = None  # v2beta1: the batch Job that owns the launcher pod


def owner_ref(obj: dict) -> dict:
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def replica_specs(job: dict) -> dict[str, dict]:
    facts = KINDS.get(job["kind"])
    specs = ((job.get("spec") or {}).get(facts.replica_key) if facts else None) or {}
    return {camel(k): v or {} for k, v in specs.items()}


def deciding_type(job: dict) -> str | None:
    specs = replica_specs(job)
    for rtype in KINDS[job["kind"]].deciding:
        if rtype in specs:
            return rtype
    return next(iter(specs), None)


def plan_pods(job: dict) -> list[PlannedPod]:
    """Every pod the operator would create for this job, in creation order."""
    facts = KINDS[job["kind"]]
    name = job["metadata"]["name"].replace("/", "-")
    v2 = job["kind"] == "MPIJob" and job["apiVersion"].endswith("v2beta1")
    pods = []
    for rtype, rspec in replica_specs(job).items():
        default_replicas = 0 if (job["kind"] == "MPIJob" and rtype == "Worker") else 1
        replicas = rspec.get("replicas", default_replicas)
        replicas = default_replicas if replicas is None else int(replicas)
        template = copy.deepcopy(rspec.get("template") or {})
        tmeta = template.get("metadata") or {}
        spec = template.get("spec") or {"containers": []}
        policy = rspec.get("restartPolicy") or ("OnFailure" if v2 and rtype == "Launcher" else facts.restart_policy)
        spec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
        for i in range(replicas):
            labels = dict(tmeta.get("labels") or {})
            labels["training.kubeflow.org/job-name"] = name
            if v2:
                labels["training.kubeflow.org/operator-name"] = "mpi-operator"
                labels["training.kubeflow.org/job-role"] = rtype.lower()
                if rtype == "Worker":
                    labels["training.kubeflow.org/replica-index"] = str(i)
            else:
                labels["training.kubeflow.org/operator-name"] = facts.controller
                labels["training.kubeflow.org/replica-type"] = rtype.lower()
                if not (job["kind"] == "MPIJob" and rtype == "Launcher"):
                    labels["training.kubeflow.org/replica-index"] = str(i)
                if is_master_role(job, rtype, i):
                    labels["training.kubeflow.org/job-role"] = "master"
            pod_spec = copy.deepcopy(spec)
            if job["kind"] == "MPIJob" and rtype == "Worker" and pod_spec.get("containers"):
                c0 = pod_spec["containers"][0]
                if not c0.get("command") and not (v2 and c0.get("args")):
                    c0["command"] = ["/usr/sbin/sshd", "-De"] if v2 else ["sleep", "365d"]
            if job["kind"] == "PyTorchJob" and rtype == "Worker" and "Master" in replica_specs(job):
                pod_spec.setdefault("initContainers", []).append(pytorch_init_container(f"{name}-master-0"))
            if job["kind"] == "MPIJob" and rtype == "Launcher":
                if v2:
                    suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
                    pods.append(PlannedPod(f"{name}-launcher-{suffix}", rtype, i, labels, pod_spec,
                                           dict(tmeta.get("annotations") or {}), launcher_job=f"{name}-launcher"))
                else:
                    pods.append(PlannedPod(f"{name}-launcher", rtype, i, labels, pod_spec,
                                           dict(tmeta.get("annotations") or {})))
                continue
            pods.append(PlannedPod(f"{name}-{rtype.lower()}-{i}", rtype, i, labels, pod_spec,
                                   dict(tmeta.get("annotations") or {})))
    return pods


def pytorch_init_container(master: str) -> dict:
    """The init container the training-operator (v1.9, default flags) gives PyTorch workers
    when the job has a Master: it waits until the master's name resolves."""
    return {"name": "init-pytorch", "image": "alpine:3.10", "imagePullPolicy": "IfNotPresent",
            "resources": {"limits": {"cpu": "100m", "memory": "20Mi"}, "requests": {"cpu": "50m", "memory": "10Mi"}},
            "command": ["sh", "-c", f"err=1;for i in $(seq 100); do if nslookup {master}; then err=0 && break; fi;"
                                    "echo waiting for master; sleep 2; done; exit $err"]}


def is_master_role(job: dict, rtype: str, index: int) -> bool:
    """Which pods get `training.kubeflow.org/job-role=master` (contract §1.3, IsMasterRole)."""
    kind, specs = job["kind"], replica_specs(job)
    if kind == "TFJob":
        return rtype in ("Chief", "Master") or (
            "Chief" not in specs and "Master" not in specs and rtype == "Worker" and index == 0)
    if kind == "PyTorchJob":
        return (rtype == "Master" and index == 0) or ("Master" not in specs and rtype == "Worker" and index == 0)
    if kind == "MPIJob":
        return rtype == "Launcher"
    if kind in ("XGBoostJob", "PaddleJob"):
        return rtype == "Master"
    if kind == "JAXJob":
        return index == 0
    return False


def set_condition(status: dict, ctype: str, cstatus: str, reason: str, message: str) -> None:
    """The operator's condition algebra (training-operator util/status.go setCondition)."""
    conditions = status.setdefault("conditions", [])
    if any(c["type"] == "Failed" and c["status"] == "True" for c in conditions):
        return  # conditions stop changing once Failed
    for c in conditions:
        if c["type"] == ctype and c["status"] == cstatus and c.get("reason") == reason:
            return
    now = now_rfc3339()
    if ctype in ("Succeeded", "Failed"):
        for c in conditions:
            if c["type"] == "Running" and c["status"] == "True":
                c.update(status="False", lastUpdateTime=now, lastTransitionTime=now)
    drop = {"Running": "Restarting", "Restarting": "Running"}.get(ctype)
    conditions[:] = [c for c in conditions if c["type"] not in (ctype, drop)]
    conditions.append({"type": ctype, "status": cstatus, "reason": reason, "message": message,
                       "lastUpdateTime": now, "lastTransitionTime": now})
