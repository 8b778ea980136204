"""JobSpec: the job as a wizard or Python code fills it, and its two-way link with a manifest.

A manifest is the source of truth. `JobSpec.from_manifest` reads the fields the project models
and keeps the manifest itself; `to_manifest` starts again from that manifest and rewrites only
the fields whose value changed since it was read (`manifest_write.py`). So nothing a user wrote
is dropped, and `JobSpec.from_manifest(m).to_manifest() == m` for any manifest that fits.

Job-wide values (image, command, args, env, working_dir, restart_policy) apply to every role
that does not set its own; a role sets "none" with an empty value ("" or []). Roles that only
stand for hosts (an MPIJob's Workers, `Framework.host_roles`) do not take the job-wide command and
args, which are the Launcher's: they run sshd (v2beta1) or sleep (v1) unless the role gives its
own command. cpu, memory and gpu are per role, written as limits.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Callable

import yaml

from ..errors import InvalidJob, ValidationIssue
from .kinds import Framework, lookup
from .quantity import is_gpu_resource

__all__ = ["JobSpec", "RoleSpec", "OutputVolume", "OUTPUT_VOLUME_NAME", "container_of"]

# The pod volume name that marks a job's output volume in a manifest.
OUTPUT_VOLUME_NAME = "dtrain-output"
_INHERITED = ("image", "command", "args", "env", "working_dir", "restart_policy")
_EMPTY = {"image": "", "command": [], "args": [], "env": {}, "working_dir": "", "restart_policy": ""}
# What a host role runs is not the job's program (see the module docstring).
_PROGRAM = ("command", "args")


@dataclass
class OutputVolume:
    """Where replicas write results: a PersistentVolumeClaim (or an emptyDir when claim_name is None).

    The local backend gives each job its own folder (`DTRAIN_OUTPUT_DIR`) instead.
    """

    claim_name: str | None = None
    mount_path: str = "/output"


@dataclass
class RoleSpec:
    """One replica type (Master, Worker, PS, Launcher, ...): how many and what each one runs.

    None means "not set": the job-wide value (for the inherited fields) or the operator's
    default applies. `container_name` None means the kind's default container name.
    """

    replicas: int | None = None
    restart_policy: str | None = None
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    working_dir: str | None = None
    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = None
    container_name: str | None = None


@dataclass
class JobSpec:
    """A distributed training job in the terms a person fills in; see the module docstring.

    `source` holds the manifest this spec was read from (None for a new job); it is not part
    of equality, so two specs that describe the same job compare equal.
    """

    kind: str = "PyTorchJob"
    name: str = ""
    namespace: str | None = None
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    working_dir: str | None = None
    roles: dict[str, RoleSpec] = field(default_factory=dict)
    restart_policy: str | None = None
    backoff_limit: int | None = None
    clean_pod_policy: str | None = None
    ttl_seconds_after_finished: int | None = None
    active_deadline_seconds: int | None = None
    nproc_per_node: str | None = None
    slots_per_worker: int | None = None
    output_volume: OutputVolume | None = None
    api_version: str = "kubeflow.org/v1"
    source: dict | None = field(default=None, repr=False, compare=False)
    _baseline: "JobSpec | None" = field(default=None, repr=False, compare=False)

    @property
    def framework(self) -> Framework:
        """The kind's facts; raises InvalidJob when kind and api_version name no known kind."""
        fw = lookup(self.api_version, self.kind)
        if fw is None:
            from .validation import identify

            identify({"apiVersion": self.api_version, "kind": self.kind})
            raise AssertionError("unreachable: identify raises for an unknown kind")  # pragma: no cover
        return fw

    def effective(self, rtype: str) -> dict[str, Any]:
        """What role `rtype` really gets, after job-wide values are applied ("" and [] read as None)."""
        fw = self.framework
        role = self.roles[rtype]
        out: dict[str, Any] = {}
        for f in fields(RoleSpec):
            value = getattr(role, f.name)
            if value is None and f.name in _INHERITED and _inherits(fw, fw.canonical_replica_type(rtype) or rtype, f.name):
                value = getattr(self, f.name)
            out[f.name] = None if value in ("", [], {}) else value
        out["container_name"] = out["container_name"] or fw.default_container
        out["output_volume"] = self.output_volume
        return out

    def to_manifest(self) -> dict:
        """The manifest for this job: the source manifest with changed fields rewritten, or a new one.

        Raises:
            InvalidJob: the kind is unknown, a role is not one of the kind's replica types, or a
                field is set that the kind does not have (nproc_per_node outside PyTorchJob).
        """
        from .manifest_write import write_manifest

        return write_manifest(self)

    def to_yaml(self) -> str:
        """The manifest as block-style YAML in the manifest's own key order."""
        return dump_yaml(self.to_manifest())

    def validate(self, *, schema: dict | None = None) -> list[ValidationIssue]:
        """Every problem of the manifest this spec makes (see `validation.validate_manifest`)."""
        from .validation import validate_manifest

        return validate_manifest(self.to_manifest(), schema=schema)

    @classmethod
    def from_yaml(cls, text: str | bytes) -> "JobSpec":
        """The JobSpec of a one-document YAML text; raises InvalidJob for anything else."""
        from .yaml_text import load_documents

        docs = [d for d in load_documents(text) if d.data is not None]
        if len(docs) != 1:
            raise InvalidJob([ValidationIssue("", f"expected one manifest in the text, found {len(docs)}")])
        return cls.from_manifest(docs[0].data)

    @classmethod
    def from_manifest(cls, manifest: Any) -> "JobSpec":
        """Read a manifest's modelled fields; the manifest is kept whole in `source`.

        Values of the wrong type are read as not set (and so never rewritten); validation is
        the place that reports them.

        Raises:
            InvalidJob: not a mapping, an unknown kind/apiVersion, or no replica specs mapping.
        """
        from .validation import identify

        fw = identify(manifest)
        spec = manifest.get("spec")
        replica_specs = spec.get(fw.replica_key) if isinstance(spec, dict) else None
        if not isinstance(replica_specs, dict) or not replica_specs:
            path = f"spec.{fw.replica_key}" if isinstance(spec, dict) else "spec"
            raise InvalidJob([ValidationIssue(path, f"{fw.replica_key} is required to read this {fw.kind}: "
                                                    f"a replica spec per role ({', '.join(fw.replica_types)})")])
        meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
        run = spec.get("runPolicy") if isinstance(spec.get("runPolicy"), dict) else {}
        job = cls(kind=fw.kind, api_version=fw.api_version, name=_str(meta.get("name")) or "",
                  namespace=_str(meta.get("namespace")),
                  backoff_limit=_int(run.get("backoffLimit")), clean_pod_policy=_str(run.get("cleanPodPolicy")),
                  ttl_seconds_after_finished=_int(run.get("ttlSecondsAfterFinished")),
                  active_deadline_seconds=_int(run.get("activeDeadlineSeconds")))
        for attr, key, read in SPEC_SETTINGS:
            if key in fw.spec_settings:
                setattr(job, attr, read(spec.get(key)))
        outputs = []
        for written, rspec in replica_specs.items():
            rtype = fw.canonical_replica_type(written) if isinstance(written, str) else None
            if rtype is None or rtype in job.roles or not isinstance(rspec, dict):
                continue  # Not modelled; it stays in the source untouched.
            job.roles[rtype], output = _read_role(fw, rspec)
            outputs.append(output)
        if not job.roles:
            raise InvalidJob([ValidationIssue(f"spec.{fw.replica_key}", f"no replica spec of {fw.kind} can be read: "
                                                                        f"use {', '.join(fw.replica_types)} with a mapping each")])
        _hoist(fw, job)
        if outputs and all(o == outputs[0] for o in outputs):
            job.output_volume = outputs[0]
        job.source = copy.deepcopy(manifest)
        job._baseline = job.copy()
        return job

    def copy(self) -> "JobSpec":
        """A deep copy that keeps the link to the source manifest."""
        return copy.deepcopy(self)


def _inherits(fw: Framework, rtype: str, name: str) -> bool:
    """Whether role `rtype` takes the job-wide `name` (a host role does not take the program)."""
    return not (name in _PROGRAM and rtype in fw.host_roles)


def container_of(fw: Framework, pod: dict) -> dict | None:
    """The container the operator treats as the training one (`Framework.training_container`).

    By the kind's default name, else the first, for the training operator's kinds; always the
    first for MPIJob, whose operators use containers[0] (operator-contract §4, §5). None when the
    pod has no containers or that one is not a mapping.
    """
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        return None
    c = containers[fw.training_container(containers)]
    return c if isinstance(c, dict) else None


def _read_role(fw: Framework, rspec: dict) -> tuple[RoleSpec, OutputVolume | None]:
    role = RoleSpec(replicas=_int(rspec.get("replicas")), restart_policy=_str(rspec.get("restartPolicy")))
    template = rspec.get("template") if isinstance(rspec.get("template"), dict) else {}
    pod = template.get("spec") if isinstance(template.get("spec"), dict) else {}
    c = container_of(fw, pod)
    if c is None:
        return role, None
    name = _str(c.get("name"))
    role.container_name = name if name != fw.default_container else None
    role.image = _str(c.get("image"))
    role.command, role.args = _strlist(c.get("command")), _strlist(c.get("args"))
    role.env = read_env(c.get("env"))
    role.working_dir = _str(c.get("workingDir"))
    resources = c.get("resources") if isinstance(c.get("resources"), dict) else {}
    for section in ("requests", "limits"):  # limits win: they are what the wizard writes
        values = resources.get(section) if isinstance(resources.get(section), dict) else {}
        role.cpu = _qty(values.get("cpu")) or role.cpu
        role.memory = _qty(values.get("memory")) or role.memory
        gpus = [_int(v) if not isinstance(v, str) else (int(v) if v.isascii() and v.isdigit() else None)
                for k, v in values.items() if is_gpu_resource(k)]
        role.gpu = gpus[0] if gpus and gpus[0] is not None else role.gpu
    return role, read_output(pod, c)


def read_env(env: Any) -> dict[str, str] | None:
    """Plain `name: value` env entries as a dict; entries with valueFrom are not modelled."""
    if not isinstance(env, list):
        return None
    out: dict[str, str] = {}
    for entry in env:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) and "valueFrom" not in entry:
            value = entry.get("value", "")
            if isinstance(value, str):
                out[entry["name"]] = value
    return out or None


def read_output(pod: dict, container: dict) -> OutputVolume | None:
    """The output volume of a pod: the volume named OUTPUT_VOLUME_NAME and its mount."""
    volumes = pod.get("volumes") if isinstance(pod.get("volumes"), list) else []
    mounts = container.get("volumeMounts") if isinstance(container.get("volumeMounts"), list) else []
    volume = next((v for v in volumes if isinstance(v, dict) and v.get("name") == OUTPUT_VOLUME_NAME), None)
    mount = next((m for m in mounts if isinstance(m, dict) and m.get("name") == OUTPUT_VOLUME_NAME), None)
    if volume is None or mount is None or not isinstance(mount.get("mountPath"), str):
        return None
    claim = volume.get("persistentVolumeClaim")
    claim_name = _str(claim.get("claimName")) if isinstance(claim, dict) else None
    return OutputVolume(claim_name=claim_name, mount_path=mount["mountPath"])


def _hoist(fw: Framework, job: JobSpec) -> None:
    """Move values every inheriting role shares up to the job; keep the odd ones per role."""
    for name in _INHERITED:
        takers = [r for r in job.roles if _inherits(fw, r, name)]
        if not takers:
            continue
        shared = getattr(job.roles[takers[0]], name)
        setattr(job, name, shared)
        for rtype in takers:
            own = getattr(job.roles[rtype], name)
            setattr(job.roles[rtype], name, None if own == shared else (own if own is not None else copy.copy(_EMPTY[name])))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strlist(value: Any) -> list[str] | None:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


# JobSpec's kind-specific job-wide settings: (attribute, `spec` key, reader). A kind has one when
# its Framework lists the key in `spec_settings`; manifest_write.py writes them back the same way.
SPEC_SETTINGS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("nproc_per_node", "nprocPerNode", _str),
    ("slots_per_worker", "slotsPerWorker", _int),
)


def _qty(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return value if isinstance(value, str) else (str(value) if isinstance(value, int) else repr(value))


class _Dumper(yaml.SafeDumper):
    """Block style, list items indented under their key, multi-line strings as `|` blocks."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # YAML 1.1 reads NEL, LS, PS and CR as line breaks; only an escaped (double-quoted) form survives.
    if any(c in data for c in "\x85\u2028\u2029\r"):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style='"')
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_presenter)


def dump_yaml(data: Any) -> str:
    """Readable YAML text for one manifest, keeping its key order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)
