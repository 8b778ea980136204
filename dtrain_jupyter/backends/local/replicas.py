"""Turn a raw job manifest into the replicas the local backend runs: one plan per pod.

Reads the manifest dict directly with the facts of `model/kinds.py` (canonical replica-type
names, default replicas, default restart policy, default container), as the operators do when
they default a job (operator-contract §1.1–§1.3, §4, §5). The service validates manifests before
they get here; this module is still defensive and raises `InvalidJob` with the field path of
anything it cannot run, and it records in `notes` every manifest field the local backend does not
honour, so nothing is dropped silently.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidJob, ValidationIssue
from ...model.kinds import Framework, lookup
from .lifecycle import clean_pod_policy

# DNS-1035 label: the operators' webhook rule for job names.
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
LABEL_PREFIX = "training.kubeflow.org/"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass
class ReplicaPlan:
    """One replica (pod) of a job: who it is and the container it runs."""

    pod: str
    replica_type: str
    index: int | None
    container: dict[str, Any]
    container_path: str
    restart_policy: str
    labels: dict[str, str]
    gpus: int = 0
    # An MPI worker that only stands for a host (no command, or sshd): it sleeps locally.
    placeholder: bool = False


@dataclass
class JobPlan:
    """A manifest read into what the local backend needs to run it."""

    framework: Framework
    name: str
    namespace: str
    replicas: list[ReplicaPlan]
    spec: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.framework.kind

    def count(self, rtype: str) -> int:
        return sum(1 for r in self.replicas if r.replica_type == rtype)


def _fail(path: str, message: str) -> InvalidJob:
    return InvalidJob([ValidationIssue(path=path, message=message)])


def _is_master_role(fw: Framework, rtype: str, index: int, types: set[str]) -> bool:
    """`IsMasterRole` of each controller (operator-contract §1.3)."""
    if fw.kind == "TFJob":
        if types & {"Chief", "Master"}:
            return rtype in ("Chief", "Master")
        return rtype == "Worker" and index == 0
    if fw.kind == "PyTorchJob":
        return (rtype == "Master" and index == 0) if "Master" in types else (rtype == "Worker" and index == 0)
    if fw.kind in ("XGBoostJob", "PaddleJob"):
        return rtype == "Master"
    if fw.kind == "JAXJob":
        return index == 0
    return rtype == "Launcher"


def _labels(fw: Framework, job: str, rtype: str, index: int, master: bool,
            template_labels: dict[str, str]) -> dict[str, str]:
    labels = {str(k): str(v) for k, v in (template_labels or {}).items()}
    labels[LABEL_PREFIX + "operator-name"] = fw.operator_name
    labels[LABEL_PREFIX + "job-name"] = job.replace("/", "-")
    if fw.kind == "MPIJob" and fw.version == "v2beta1":
        # The MPI Operator sets job-role launcher|worker and no replica-type (contract §5).
        labels[LABEL_PREFIX + "job-role"] = "launcher" if rtype == "Launcher" else "worker"
        if rtype == "Worker":
            labels[LABEL_PREFIX + "replica-index"] = str(index)
        return labels
    labels[LABEL_PREFIX + "replica-type"] = rtype.lower()
    if not (fw.kind == "MPIJob" and rtype == "Launcher"):
        labels[LABEL_PREFIX + "replica-index"] = str(index)
    if master:
        labels[LABEL_PREFIX + "job-role"] = "master"
    return labels


def _gpus(container: dict[str, Any], path: str) -> int:
    res = container.get("resources") or {}
    value = (res.get("limits") or {}).get(GPU_RESOURCE, (res.get("requests") or {}).get(GPU_RESOURCE, 0))
    try:
        n = int(str(value))
    except ValueError:
        raise _fail(f"{path}.resources.limits.{GPU_RESOURCE}", f"GPU count {value!r} is not a whole number") from None
    if n < 0:
        raise _fail(f"{path}.resources.limits.{GPU_RESOURCE}", "GPU count cannot be negative")
    return n


def _pick_container(fw: Framework, containers: list[Any], path: str) -> tuple[int, dict[str, Any]]:
    if not isinstance(containers, list) or not containers:
        raise _fail(path, "a replica needs at least one container")
    for i, c in enumerate(containers):
        if not isinstance(c, dict):
            raise _fail(f"{path}[{i}]", "a container must be a mapping")
    if not (fw.kind == "MPIJob" and fw.version == "v2beta1"):
        for i, c in enumerate(containers):
            if c.get("name") == fw.default_container:
                return i, c
    # MPI v2beta1 always uses containers[0]; others fall back to it like the operator's port defaulting.
    return 0, containers[0]


def _is_sshd(argv: list[str]) -> bool:
    return bool(argv) and os.path.basename(argv[0]) == "sshd"


def plan_job(manifest: dict[str, Any]) -> JobPlan:
    """Read a manifest into a JobPlan.

    Args:
        manifest: a job manifest (dict) of a kind `model/kinds.py` knows.

    Returns:
        The plan: one ReplicaPlan per pod in the framework's replica-type order, and notes.

    Raises:
        InvalidJob: with the path of the first field the local backend cannot run.
    """
    if not isinstance(manifest, dict):
        raise _fail("", "a manifest must be a mapping")
    fw = lookup(str(manifest.get("apiVersion", "")), str(manifest.get("kind", "")))
    if fw is None:
        raise _fail("kind", f"{manifest.get('apiVersion')}/{manifest.get('kind')} is not a job kind the local backend runs")
    meta = manifest.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not _DNS1035.match(name):
        raise _fail("metadata.name", f"{name!r} is not a valid job name (lowercase letters, digits and '-', starting with a letter)")
    namespace = str(meta.get("namespace") or "default")
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        raise _fail("spec", "spec is missing")
    specs_path = f"spec.{fw.replica_key}"
    specs = spec.get(fw.replica_key)
    if not isinstance(specs, dict) or not specs:
        raise _fail(specs_path, "no replica specs")

    notes: list[str] = []
    by_type: dict[str, tuple[str, dict[str, Any]]] = {}
    for key, rspec in specs.items():
        rtype = fw.canonical_replica_type(key)
        if rtype is None:
            raise _fail(f"{specs_path}.{key}", f"unknown replica type; {fw.kind} has {', '.join(fw.replica_types)}")
        if not isinstance(rspec, dict):
            raise _fail(f"{specs_path}.{key}", "a replica spec must be a mapping")
        by_type[rtype] = (f"{specs_path}.{key}", rspec)

    replicas: list[ReplicaPlan] = []
    images: dict[str, None] = {}
    ignored: dict[str, None] = {}
    for rtype in fw.replica_types:
        if rtype not in by_type:
            continue
        rpath, rspec = by_type[rtype]
        count = rspec.get("replicas", fw.default_replicas(rtype))
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise _fail(f"{rpath}.replicas", f"replicas must be a whole number >= 0, not {count!r}")
        policy = rspec.get("restartPolicy") or fw.default_restart_for(rtype)
        if policy not in ("Always", "OnFailure", "Never", "ExitCode"):
            raise _fail(f"{rpath}.restartPolicy", f"unknown restartPolicy {policy!r}")
        template = rspec.get("template") or {}
        pod_spec = template.get("spec") if isinstance(template, dict) else None
        if not isinstance(pod_spec, dict):
            raise _fail(f"{rpath}.template.spec", "the pod template is missing")
        cpath = f"{rpath}.template.spec.containers"
        ci, container = _pick_container(fw, pod_spec.get("containers"), cpath)
        cpath = f"{cpath}[{ci}]"
        if container.get("image"):
            images[str(container["image"])] = None
        for other in pod_spec.get("containers", [])[:ci] + pod_spec.get("containers", [])[ci + 1:]:
            ignored[f"sidecar container {other.get('name')!r} of {rtype} is not run locally"] = None
        for fld, words in (("initContainers", "init containers"), ("volumes", "volumes")):
            if pod_spec.get(fld):
                ignored[f"{words} of {rtype} are not used locally"] = None
        if container.get("volumeMounts"):
            ignored[f"volumeMounts of {rtype} are not used locally (paths refer to this machine)"] = None
        if (container.get("resources") or {}).get("limits") or (container.get("resources") or {}).get("requests"):
            ignored[f"cpu/memory requests and limits of {rtype} are not enforced locally"] = None
        if container.get("securityContext") or pod_spec.get("securityContext"):
            ignored[f"securityContext of {rtype} is not applied: replicas run as this server's user"] = None
        for key in ("command", "args"):
            value = container.get(key)
            if value is not None and (not isinstance(value, list) or not all(isinstance(a, (str, int, float)) for a in value)):
                raise _fail(f"{cpath}.{key}", f"{key} must be a list of strings")
        argv = [str(a) for a in (container.get("command") or [])] + [str(a) for a in (container.get("args") or [])]
        placeholder = False
        if fw.kind == "MPIJob" and rtype == "Worker" and (not container.get("command") or _is_sshd(argv)):
            placeholder = True
            if argv:
                ignored[f"MPI worker command {' '.join(argv)!r} is not run: workers stand for hosts and mpirun starts the ranks on this machine"] = None
        elif not container.get("command"):
            raise _fail(f"{cpath}.command", "no command: the local backend cannot run an image's entrypoint; give the container a command")
        gpus = _gpus(container, cpath)
        types = set(by_type)
        for i in range(count):
            if fw.kind == "MPIJob" and rtype == "Launcher":
                pod, index = f"{name}-launcher", None
            else:
                pod, index = f"{name}-{rtype.lower()}-{i}", i
            master = _is_master_role(fw, rtype, i, types)
            labels = _labels(fw, name, rtype, i, master, (template.get("metadata") or {}).get("labels") or {})
            replicas.append(ReplicaPlan(pod=pod, replica_type=rtype, index=index, container=container,
                                        container_path=cpath, restart_policy=policy, labels=labels,
                                        gpus=gpus, placeholder=placeholder))
    if fw.kind == "MPIJob" and not any(r.replica_type == "Launcher" for r in replicas):
        raise _fail(f"{specs_path}.Launcher", "an MPIJob needs a Launcher with 1 replica")
    if not replicas:
        raise _fail(specs_path, "the job has no replicas to run")

    for image in images:
        notes.append(f"image {image} is not used by the local backend: replicas run as processes on this "
                     f"machine in this server's Python environment")
    notes.extend(ignored)
    run_policy = spec.get("runPolicy") or {}
    if any(r.placeholder for r in replicas) and clean_pod_policy(fw.kind, fw.api_version, spec) == "None":
        notes.append("MPI workers that only stand for hosts are stopped when the job finishes, whatever cleanPodPolicy "
                     "says: on a cluster their sleep or sshd would run until the job is deleted")
    if run_policy.get("ttlSecondsAfterFinished") is not None:
        notes.append("ttlSecondsAfterFinished is not applied: a finished local job stays until deleted")
    if run_policy.get("schedulingPolicy"):
        notes.append("schedulingPolicy (gang scheduling) is not used locally: all replicas start together")
    if fw.kind == "TFJob" and spec.get("enableDynamicWorker"):
        notes.append("enableDynamicWorker is not used locally: TF_CONFIG has the full cluster form")
    if run_policy.get("suspend"):
        raise _fail("spec.runPolicy.suspend", "the local backend cannot create a suspended job")
    return JobPlan(framework=fw, name=name, namespace=namespace, replicas=replicas, spec=spec, notes=notes)
