"""The wizard filled from a manifest: "Edit and re-run" a job, "Open in wizard" a pasted YAML.

`fill_wizard` sets every field the wizard has from the manifest (kind and version, name,
namespace, image, command, arguments, environment, working folder, results volume, replicas,
CPU, memory and GPUs per role, restart policy, run policy, processes per node, MPI slots) and
returns the paths of what the wizard has no field for ("kept from YAML": labels, volumes,
tolerations, a role's own image, requests beside the limits the wizard writes, ...).

Nothing is lost on the way back. The manifest stays the source (`JobSpec.from_manifest`
keeps it), and building from the filled wizard starts from it again: a field the person
changed since the fill writes the wizard's value, a field left as filled keeps the manifest's
own value (so a replica count the manifest leaves to the operator stays unwritten), and
everything else is rewritten by nobody (`model/manifest_write.py`). So YAML -> form -> YAML
gives the same object for every manifest, and what the wizard would have written differently
is listed beforehand.

A job whose code was sent with it (the `dtrain-jupyter.io/code` annotation and its
`dtrain-code` volume) opens as "Command": its runner's command line is what the wizard shows
and edits, and the code itself, the annotation and the volume are kept as they are; the list
says so, since the folder and notebook choices cannot reopen code that was already sent.
"""

from __future__ import annotations

import copy
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..code.origin import ANNOTATION
from ..errors import InvalidJob, ValidationIssue
from ..model.paths import Path, format_path
from ..model.spec import JobSpec, RoleSpec

if TYPE_CHECKING:
    from .wizard import Wizard

__all__ = ["FormBase", "fill_wizard", "overlay", "kept_paths", "WIZARD_JOB_FIELDS", "WIZARD_ROLE_FIELDS"]

# The JobSpec values the wizard's fields read and write; the rest stay as the manifest has them.
WIZARD_JOB_FIELDS = ("name", "namespace", "image", "command", "args", "env", "working_dir", "restart_policy",
                     "backoff_limit", "clean_pod_policy", "ttl_seconds_after_finished", "nproc_per_node",
                     "slots_per_worker", "output_volume")
WIZARD_ROLE_FIELDS = ("replicas", "cpu", "memory", "gpu")
CODE_KEPT = (f"the job's code ({ANNOTATION}) was sent with it and runs as it was sent, started by the Command "
             "shown; the folder and notebook choices cannot reopen it")


@dataclass
class FormBase:
    """What the wizard was filled from.

    `spec` is the manifest read as a JobSpec (the manifest is its source); `filled` is what the
    form read right after the fill, so a later reading shows what the person changed; `kept`
    the paths the wizard has no field for.
    """

    spec: JobSpec
    filled: JobSpec
    kept: list[str] = field(default_factory=list)


def fill_wizard(wizard: "Wizard", manifest: Any) -> list[str]:
    """Set every wizard field from `manifest`; return the paths kept from the YAML as they are.

    The wizard remembers the manifest: building from it (`Wizard.build_spec`) lays the kept
    parts, and every value left as filled, back over the fields' output.

    Raises:
        InvalidJob: not a job manifest the model can read, or a kind the wizard does not make
            (an XGBoostJob is edited as YAML); the issue names the field.
    """
    spec = JobSpec.from_manifest(manifest)
    kinds = [kind for _title, kind in wizard.platform.options]
    if spec.kind not in kinds:
        raise InvalidJob([ValidationIssue("kind", f"the wizard makes {', '.join(sorted(kinds))}; edit this "
                                                  f"{spec.kind} as YAML")])
    versions = [version for _title, version in wizard.mpi_version.control.options]
    version = spec.framework.version
    if spec.kind == "MPIJob" and version not in versions:
        raise InvalidJob([ValidationIssue("apiVersion", f"the wizard makes MPIJob {' or '.join(versions)}, "
                                                        f"not {version}")])
    with wizard.filling():
        wizard.code.choice.value = "command"
        wizard.select_platform(spec.kind, version if spec.kind == "MPIJob" else None)
        _fill_fields(wizard, spec)
    filled = wizard.read_form(kube=wizard.on_kubernetes)[0]
    kept = kept_paths(manifest, wizard.read_form(kube=True)[0])
    if ANNOTATION in _annotations(manifest):
        kept = [f"{path}: {CODE_KEPT}" if path == "metadata.annotations" else path for path in kept]
    wizard.base = FormBase(spec=spec, filled=filled, kept=kept)
    return list(kept)


def _fill_fields(wizard: "Wizard", spec: JobSpec) -> None:
    processes = wizard.processes
    # While the counts are set, mpirun -np is left as the manifest writes it.
    processes.follows = False
    wizard.name.value = spec.name
    wizard.namespace.value = spec.namespace or ""
    wizard.image.value = spec.image or ""
    with processes.writing():
        wizard.command.value = shlex.join(spec.command or [])
        wizard.args.value = shlex.join(spec.args or [])
    wizard.env.value = "\n".join(f"{name}={value}" for name, value in (spec.env or {}).items()
                                 if _one_line_env(name, value))
    wizard.working_dir.value = spec.working_dir or ""
    output = spec.output_volume
    wizard.output_claim.value = (output.claim_name or "") if output is not None else ""
    wizard.output_path.value = output.mount_path if output is not None else "/output"
    wizard.nproc.value = spec.nproc_per_node or ""
    wizard.slots.value = spec.slots_per_worker or 1
    restarts = [value for _title, value in wizard.restart.control.options]
    if spec.restart_policy in restarts:
        wizard.restart.value = spec.restart_policy
    cleans = [value for _title, value in wizard.clean.control.options]
    wizard.clean.value = spec.clean_pod_policy if spec.clean_pod_policy in cleans else ""
    wizard.backoff.value = "" if spec.backoff_limit is None else str(spec.backoff_limit)
    wizard.ttl.value = "" if spec.ttl_seconds_after_finished is None else str(spec.ttl_seconds_after_finished)
    for role, editor in wizard.role_editors.items():
        asked = spec.roles.get(role)
        if not editor.count.disabled:
            # No `replicas`: the operator's default, one.
            count = (1 if asked.replicas is None else asked.replicas) if asked is not None else 0
            # A job that ran with more replicas than the wizard offers for a new one may run so again.
            editor.maximum = max(editor.maximum, count)
            editor.count.value = count
        editor.cpu.value = (asked.cpu or "") if asked is not None else ""
        editor.memory.value = (asked.memory or "") if asked is not None else ""
        editor.gpu.value = (asked.gpu or 0) if asked is not None else 0
    launch, expected = processes.launch(), processes.expected()
    # -np follows Workers × slots from here on only when the manifest has it so already.
    processes.follows = launch is None or launch.count is None or launch.count == expected
    processes.render()


def _one_line_env(name: str, value: str) -> bool:
    """Whether NAME=value, one per line, reads back as this entry (a value may not span lines)."""
    return bool(name) and name == name.strip() and "=" not in name and len(f"{name}={value}".splitlines()) == 1


def overlay(base: FormBase, now: JobSpec) -> JobSpec:
    """The manifest's JobSpec with what the person changed in the form since the fill.

    A value the form still reads as it did right after the fill keeps the manifest's own (which
    the wizard may not be able to write the same way); a changed one is the form's. A kind or
    version other than the manifest's is a new job: `now` as it is.
    """
    if (now.kind, now.api_version) != (base.spec.kind, base.spec.api_version):
        return now
    out = base.spec.copy()
    filled = base.filled
    for attr in WIZARD_JOB_FIELDS:
        if attr == "env":
            out.env = _env_overlay(out.env, filled.env, now.env)
        elif getattr(now, attr) != getattr(filled, attr):
            setattr(out, attr, copy.deepcopy(getattr(now, attr)))
    for role in [*filled.roles, *(r for r in now.roles if r not in filled.roles)]:
        was, wanted = filled.roles.get(role), now.roles.get(role)
        if wanted is None:
            out.roles.pop(role, None)  # its count was set to 0: the role leaves the job
            continue
        changed = [a for a in WIZARD_ROLE_FIELDS if was is None or getattr(wanted, a) != getattr(was, a)]
        if not changed:
            continue
        if role not in out.roles:
            out.roles[role] = RoleSpec(**{a: getattr(wanted, a) for a in WIZARD_ROLE_FIELDS})
            continue
        for attr in changed:
            setattr(out.roles[role], attr, getattr(wanted, attr))
    return out


def _env_overlay(own: dict[str, str] | None, filled: dict[str, str] | None,
                 now: dict[str, str] | None) -> dict[str, str] | None:
    # Entry by entry: one the field could not show (a value over several lines) stays unless
    # its name is typed again.
    own, filled, now = dict(own or {}), filled or {}, now or {}
    for name in filled:
        if name not in now:
            own.pop(name, None)
    for name, value in now.items():
        if filled.get(name) != value:
            own[name] = value
    return own or None


def kept_paths(manifest: Any, wizard_spec: JobSpec) -> list[str]:
    """The paths of `manifest` the wizard would not write the same from its fields alone.

    `wizard_spec` is what the filled form reads; its manifest, made from nothing, is what the
    wizard's fields can say. A path the original has and that one lacks or writes otherwise is
    kept from the YAML. Lists of the same length are compared item by item, so one container's
    extra `ports` is named, not the whole container list.
    """
    alone = copy.copy(wizard_spec)
    alone.source, alone._baseline = None, None
    return [format_path(path) for path in _differences(manifest, alone.to_manifest(), ())]


def _differences(original: Any, written: Any, path: Path) -> list[Path]:
    if isinstance(original, dict) and isinstance(written, dict):
        out = []
        for key, value in original.items():
            inner = (*path, key)
            out += [inner] if key not in written else _differences(value, written[key], inner)
        return out
    if isinstance(original, list) and isinstance(written, list) and len(original) == len(written):
        return [p for i, (a, b) in enumerate(zip(original, written)) for p in _differences(a, b, (*path, i))]
    return [] if _same_leaf(original, written) else [path]


def _same_leaf(original: Any, written: Any) -> bool:
    # A quantity written as a number (`cpu: 1`) reads back as the string the wizard writes.
    if isinstance(original, (int, float)) and not isinstance(original, bool) and isinstance(written, str):
        return str(original) == written
    return bool(original == written)


def _annotations(manifest: Any) -> dict[str, Any]:
    meta = manifest.get("metadata") if isinstance(manifest, dict) else None
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return annotations if isinstance(annotations, dict) else {}
