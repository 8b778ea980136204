"""Turn a validated job manifest into the replicas the local backend runs: one plan per pod.

Every per-kind fact (pod names, operator labels, defaulted counts and restart policies, the
training container, which replicas only stand for MPI hosts) comes from the kind's `Framework`
(operator-contract §1.1–§1.3, §4, §5). The manifest is trusted as validation left it
(`model/valid_manifest.py`): what is refused here is only what a cluster would run but this
machine cannot (an image's entrypoint, a job without a replica); a suspended job is planned like
any other, its replicas start when it is resumed. Every manifest field the local backend does not
honour is named in `notes`, so nothing is dropped silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidJob, ValidationIssue
from ...model.kinds import Framework
from ...model.valid_manifest import valid_manifest
from ..namespaces import FALLBACK_NAMESPACE

GPU_RESOURCE = "nvidia.com/gpu"
# Per kind, spec fields that change nothing locally, with the note that says so.
_KIND_NOTES = {
    "TFJob": (("enableDynamicWorker", "enableDynamicWorker is not used locally: TF_CONFIG has the full cluster form"),),
}


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
    # Place in the job's replica order (roles in the kind's order, then index): the global rank
    # of kinds that number every replica (PyTorch and XGBoost RANK, JAX PROCESS_ID).
    ordinal: int = 0


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


# The most replicas (processes) one local job may start.
MAX_LOCAL_REPLICAS = 256


def plan_job(manifest: dict[str, Any]) -> JobPlan:
    """Read a manifest into a JobPlan.

    Args:
        manifest: a job manifest; a `ValidManifest` is trusted, anything else is validated first.

    Returns:
        The plan: one ReplicaPlan per pod in the framework's replica-type order, and notes.

    Raises:
        InvalidJob: what validation finds, or the path of the first field this machine cannot run.
    """
    manifest = valid_manifest(manifest)
    fw, meta, spec = manifest.framework, manifest["metadata"], manifest["spec"]
    name = meta.get("name")
    if not name:
        raise _fail("metadata.name", "the local backend needs metadata.name: generateName is not supported locally")
    specs_path = f"spec.{fw.replica_key}"
    by_type = {fw.canonical_replica_type(key): (f"{specs_path}.{key}", rspec)
               for key, rspec in spec[fw.replica_key].items()}
    roles: list[_Role] = []
    replicas: list[ReplicaPlan] = []
    for rtype in (t for t in fw.replica_types if t in by_type):
        rpath, rspec = by_type[rtype]
        pod_spec = rspec["template"]["spec"]
        ci = fw.training_container(pod_spec["containers"])
        role = _Role(rtype, pod_spec, pod_spec["containers"][ci], f"{rpath}.template.spec.containers[{ci}]")
        role.placeholder = rtype in fw.host_roles and (not role.container.get("command") or _is_sshd(role.argv))
        if not role.placeholder and not role.container.get("command"):
            raise _fail(f"{role.path}.command", "no command: the local backend cannot run an image's entrypoint; "
                                                 "give the container a command")
        roles.append(role)
        template_labels, gpus = _template_labels(rspec), _gpus(role.container)
        count = fw.replicas_of(rspec, rtype)
        if len(replicas) + count > MAX_LOCAL_REPLICAS:
            # Validation allows what a cluster could schedule; one machine is asked to start each as
            # a process, so a typo like 20000 is refused here instead of forking until it fails.
            raise _fail(f"{rpath}.replicas", f"{count} replicas: the local backend starts every replica as a "
                                             f"process on this machine, at most {MAX_LOCAL_REPLICAS} per job; "
                                             "use a Kubernetes backend for more")
        for i in range(count):
            labels = {**template_labels, **fw.pod_labels(name, rtype, i, fw.is_master(rtype, i, by_type))}
            replicas.append(ReplicaPlan(
                pod=fw.pod_name(name, rtype, i), replica_type=rtype,
                index=None if rtype in fw.single_pod_roles else i, container=role.container, container_path=role.path,
                restart_policy=fw.restart_policy_of(rspec, rtype), labels=labels, gpus=gpus,
                placeholder=role.placeholder, ordinal=len(replicas)))
    if not replicas:
        raise _fail(specs_path, "the job has no replicas to run")
    return JobPlan(framework=fw, name=name, namespace=str(meta.get("namespace") or FALLBACK_NAMESPACE),
                   replicas=replicas, spec=spec, notes=_notes(fw, spec, roles))


@dataclass
class _Role:
    """One replica spec of a job as `plan_job` reads it: its pod spec and training container."""

    rtype: str
    pod_spec: dict[str, Any]
    container: dict[str, Any]
    path: str
    placeholder: bool = False

    @property
    def argv(self) -> list[str]:
        return [str(a) for a in (*(self.container.get("command") or []), *(self.container.get("args") or []))]


def _is_sshd(argv: list[str]) -> bool:
    return bool(argv) and os.path.basename(argv[0]) == "sshd"


def _gpus(container: dict[str, Any]) -> int:
    """The container's GPU limit, else its request: validation made it a whole number, not negative."""
    res = container.get("resources") or {}
    section = "limits" if GPU_RESOURCE in (res.get("limits") or {}) else "requests"
    return int(str((res.get(section) or {}).get(GPU_RESOURCE, 0)))


def _template_labels(rspec: dict[str, Any]) -> dict[str, str]:
    """The pod template's own labels, which the operator keeps on each pod (validation made them strings)."""
    return {str(k): v for k, v in ((rspec["template"].get("metadata") or {}).get("labels") or {}).items()}


def _notes(fw: Framework, spec: dict[str, Any], roles: list[_Role]) -> list[str]:
    """A sentence for every manifest field the local backend does not honour, each said once."""
    images = dict.fromkeys(str(r.container["image"]) for r in roles if r.container.get("image"))
    notes = dict.fromkeys(f"image {image} is not used by the local backend: replicas run as processes on this "
                          f"machine in this server's Python environment" for image in images)
    for role in roles:
        rtype, container, pod = role.rtype, role.container, role.pod_spec
        for other in pod["containers"]:
            if other is not container:
                notes[f"sidecar container {other.get('name')!r} of {rtype} is not run locally"] = None
        for fld, words in (("initContainers", "init containers"), ("volumes", "volumes")):
            if pod.get(fld):
                notes[f"{words} of {rtype} are not used locally"] = None
        if container.get("volumeMounts"):
            notes[f"volumeMounts of {rtype} are not used locally (paths refer to this machine)"] = None
        if (container.get("resources") or {}).get("limits") or (container.get("resources") or {}).get("requests"):
            notes[f"cpu/memory requests and limits of {rtype} are not enforced locally"] = None
        if container.get("securityContext") or pod.get("securityContext"):
            notes[f"securityContext of {rtype} is not applied: replicas run as this server's user"] = None
        if role.placeholder and role.argv:
            notes[f"MPI worker command {' '.join(role.argv)!r} is not run: workers stand for hosts and mpirun "
                  f"starts the ranks on this machine"] = None
    run_policy = spec.get("runPolicy") or {}
    if any(r.placeholder for r in roles) and fw.clean_pod_policy(spec) == "None":
        notes["MPI workers that only stand for hosts are stopped when the job finishes, whatever cleanPodPolicy "
              "says: on a cluster their sleep or sshd would run until the job is deleted"] = None
    if run_policy.get("ttlSecondsAfterFinished") is not None:
        notes["ttlSecondsAfterFinished is not applied: a finished local job stays until deleted"] = None
    if run_policy.get("schedulingPolicy"):
        notes["schedulingPolicy (gang scheduling) is not used locally: all replicas start together"] = None
    for fld, note in _KIND_NOTES.get(fw.kind, ()):
        if spec.get(fld):
            notes[note] = None
    return list(notes)
