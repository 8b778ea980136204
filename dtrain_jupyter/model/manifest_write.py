"""JobSpec -> manifest: rewrite only what changed, in the manifest the spec was read from.

A field is written when its value differs from the value read (the spec's baseline), or always
for a new job. Everything else in the source manifest (ports, volumes, securityContext, sidecar
containers, unknown roles, comments' neighbours' key order) is left exactly as it was, which is
what makes `JobSpec.from_manifest(m).to_manifest() == m` hold.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..errors import InvalidJob, ValidationIssue
from .kinds import Framework, known_kinds, versions_of
from .quantity import is_gpu_resource

if TYPE_CHECKING:
    from .spec import JobSpec, OutputVolume

__all__ = ["write_manifest"]

_RUN_POLICY = (("backoff_limit", "backoffLimit"), ("clean_pod_policy", "cleanPodPolicy"),
               ("ttl_seconds_after_finished", "ttlSecondsAfterFinished"),
               ("active_deadline_seconds", "activeDeadlineSeconds"))
_CONTAINER_FIELDS = ("container_name", "image", "command", "args", "env", "working_dir", "cpu", "memory", "gpu",
                     "output_volume")


def write_manifest(job: "JobSpec") -> dict:
    """The manifest of `job` (see the module docstring). Raises InvalidJob for what cannot be written."""
    from .spec import SPEC_SETTINGS

    fw = job.framework
    _check_writable(fw, job)
    base = job._baseline
    if job.source is not None and base is not None and base.kind == job.kind and isinstance(job.source, dict):
        manifest = copy.deepcopy(job.source)
    else:
        # New job, or the kind changed: the old replica specs mean nothing here; keep labels and such.
        old_meta = job.source.get("metadata") if isinstance(job.source, dict) else None
        manifest = {"apiVersion": fw.api_version, "kind": fw.kind,
                    "metadata": copy.deepcopy(old_meta) if isinstance(old_meta, dict) else {}, "spec": {}}
        base = None
    manifest["apiVersion"], manifest["kind"] = fw.api_version, fw.kind

    def changed(attr: str) -> bool:
        return base is None or getattr(job, attr) != getattr(base, attr)

    if changed("name"):
        _put(_dict(manifest, "metadata"), "name", job.name or None)
    if changed("namespace"):
        _put(_dict(manifest, "metadata"), "namespace", job.namespace or None)
    spec = _dict(manifest, "spec")
    for attr, key, _ in SPEC_SETTINGS:
        if key in fw.spec_settings and changed(attr):
            _put(spec, key, getattr(job, attr))
    for attr, key in _RUN_POLICY:
        if changed(attr):
            run = _dict(spec, "runPolicy")
            _put(run, key, getattr(job, attr))
            if not run:
                del spec["runPolicy"]
    _write_roles(fw, job, base, _dict(spec, fw.replica_key))
    return manifest


def _check_writable(fw: Framework, job: "JobSpec") -> None:
    """Refuse what cannot be put into a manifest at all; values of a wrong type inside lists and
    fields are written as they are and left to validation to report, at their path."""
    from .spec import SPEC_SETTINGS, OutputVolume, RoleSpec

    issues = []
    if not isinstance(job.roles, dict):
        raise InvalidJob([ValidationIssue(f"spec.{fw.replica_key}", "roles must be a dict of role name to RoleSpec")])
    for rtype, role in job.roles.items():
        if not isinstance(rtype, str) or fw.canonical_replica_type(rtype) is None:
            issues.append(ValidationIssue(f"spec.{fw.replica_key}.{rtype}",
                                          f"unknown role {rtype!r} for {fw.kind}: use {', '.join(fw.replica_types)}"))
        elif not isinstance(role, RoleSpec):
            issues.append(ValidationIssue(f"spec.{fw.replica_key}.{rtype}", f"role {rtype} must be a RoleSpec, "
                                                                            f"got {type(role).__name__}"))
        else:
            issues.extend(_shape_issues(role, f"{rtype}."))
    issues.extend(_shape_issues(job, ""))
    if job.output_volume is not None and not isinstance(job.output_volume, OutputVolume):
        issues.append(ValidationIssue("output_volume", "output_volume must be an OutputVolume or None"))
    for attr, key, _ in SPEC_SETTINGS:
        if getattr(job, attr) is not None and key not in fw.spec_settings:
            owners = " and ".join(k for k in known_kinds() if any(key in f.spec_settings for f in versions_of(k)))
            issues.append(ValidationIssue(f"spec.{key}", f"{attr} is a setting of {owners}; {fw.kind} has none"))
    if not job.roles:
        issues.append(ValidationIssue(f"spec.{fw.replica_key}", f"a {fw.kind} needs at least one role "
                                                                f"({', '.join(fw.replica_types)})"))
    if issues:
        raise InvalidJob(issues)


def _shape_issues(obj: Any, prefix: str) -> list[ValidationIssue]:
    out = []
    for name in ("command", "args"):
        value = getattr(obj, name)
        if value is not None and not isinstance(value, (list, tuple)):
            out.append(ValidationIssue(f"{prefix}{name}", f"{name} must be a list of strings, got {type(value).__name__}"))
    if obj.env is not None and not isinstance(obj.env, dict):
        out.append(ValidationIssue(f"{prefix}env", f"env must be a dict of name to value, got {type(obj.env).__name__}"))
    return out


def _write_roles(fw: Framework, job: "JobSpec", base: "JobSpec | None", rmap: dict) -> None:
    written: dict[str, Any] = {}
    for key in rmap:
        rtype = fw.canonical_replica_type(key) if isinstance(key, str) else None
        if rtype is not None:
            written.setdefault(rtype, key)
    wanted = {fw.canonical_replica_type(r): r for r in job.roles}
    old = {fw.canonical_replica_type(r): r for r in base.roles} if base is not None else {}
    for rtype in old:
        if rtype not in wanted and rtype in written:
            del rmap[written[rtype]]
    for rtype, name in wanted.items():
        assert rtype is not None  # _check_writable refused unknown roles
        key = written.get(rtype, rtype)
        rspec = rmap.get(key)
        if not isinstance(rspec, dict):
            rspec = rmap[key] = {}
        before = base.effective(old[rtype]) if base is not None and rtype in old else None
        _write_role(fw, rspec, job.effective(name), before)


def _write_role(fw: Framework, rspec: dict, now: dict, before: dict | None) -> None:
    def changed(f: str) -> bool:
        return before is None or now[f] != before[f]

    if changed("replicas"):
        _put(rspec, "replicas", now["replicas"])
    if changed("restart_policy"):
        _put(rspec, "restartPolicy", now["restart_policy"])
    if not any(changed(f) for f in _CONTAINER_FIELDS):
        return
    pod = _dict(_dict(rspec, "template"), "spec")
    containers = pod.get("containers")
    if not isinstance(containers, list):
        containers = pod["containers"] = []
    c = _find_container(fw, containers, (before or {}).get("container_name"), now["container_name"])
    if changed("container_name"):
        c["name"] = now["container_name"]
    for f, key in (("image", "image"), ("command", "command"), ("args", "args"), ("env", "env"),
                   ("working_dir", "workingDir")):
        if changed(f) and f == "env":
            _write_env(c, now["env"] or {})
        elif changed(f):
            _put(c, key, list(now[f]) if isinstance(now[f], tuple) else copy.copy(now[f]))
    for f in ("cpu", "memory"):
        if changed(f):
            _write_resource(c, f, now[f])
    if changed("gpu"):
        _write_gpu(c, now["gpu"])
    if changed("output_volume"):
        _write_output(pod, c, now["output_volume"])


def _find_container(fw: Framework, containers: list, *names: str | None) -> dict:
    """The container a role's fields were read from (spec.container_of) or are renamed to, else a new one first."""
    for wanted in names:
        for c in containers:
            if isinstance(c, dict) and wanted is not None and c.get("name") == wanted:
                return c
    training = containers[fw.training_container(containers)] if containers else None
    if isinstance(training, dict):
        return training
    c: dict = {"name": names[-1] or fw.default_container}
    containers.insert(0, c)
    return c


def _write_env(container: dict, wanted: dict[str, str]) -> None:
    """Update plain entries in place, drop removed ones, append new ones; valueFrom entries stay."""
    old = container.get("env") if isinstance(container.get("env"), list) else []
    out: list = []
    done: set[str] = set()
    for entry in old:
        plain = (isinstance(entry, dict) and isinstance(entry.get("name"), str) and "valueFrom" not in entry
                 and isinstance(entry.get("value", ""), str))
        if not plain:
            out.append(entry)
        elif entry["name"] in wanted and entry["name"] not in done:
            out.append({**entry, "value": wanted[entry["name"]]})
            done.add(entry["name"])
    out.extend({"name": k, "value": v} for k, v in wanted.items() if k not in done)
    _put(container, "env", out or None)


def _write_resource(container: dict, key: str, value: str | None) -> None:
    resources = _dict(container, "resources")
    sections = [s for s in ("limits", "requests") if isinstance(resources.get(s), dict) and key in resources[s]]
    for section in sections or ["limits"]:
        target = _dict(resources, section)
        _put(target, key, value)
        if not target:
            del resources[section]
    if not resources:
        del container["resources"]


def _write_gpu(container: dict, value: int | None) -> None:
    resources = container.get("resources") if isinstance(container.get("resources"), dict) else {}
    keys = [k for s in ("limits", "requests") if isinstance(resources.get(s), dict)
            for k in resources[s] if is_gpu_resource(k)]
    _write_resource(container, keys[0] if keys else "nvidia.com/gpu", value)


def _write_output(pod: dict, container: dict, volume: "OutputVolume | None") -> None:
    from .spec import OUTPUT_VOLUME_NAME

    for owner, key in ((pod, "volumes"), (container, "volumeMounts")):
        items = owner.get(key)
        if isinstance(items, list):
            kept = [i for i in items if not (isinstance(i, dict) and i.get("name") == OUTPUT_VOLUME_NAME)]
            _put(owner, key, kept or None)
    if volume is None:
        return
    mounts = container.setdefault("volumeMounts", [])
    mounts.append({"name": OUTPUT_VOLUME_NAME, "mountPath": volume.mount_path})
    source = ({"persistentVolumeClaim": {"claimName": volume.claim_name}} if volume.claim_name
              else {"emptyDir": {}})
    pod.setdefault("volumes", []).append({"name": OUTPUT_VOLUME_NAME, **source})


def _dict(parent: dict, key: str) -> dict:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = parent[key] = {}
    return value


def _put(parent: dict, key: str, value: Any) -> None:
    if value is None or value == [] or value == "":
        parent.pop(key, None)
    else:
        parent[key] = value
