"""Validation of job manifests and YAML text, with a field path (and line, column) per problem.

The rules are the ones the Kubeflow operators' webhooks and the API server apply (Training
Operator v1.9 `webhooks/`, MPI Operator v2beta1 `validation/validation.go`, summarised in the
project's operator-contract notes §1.1 and §5), plus type checks that the CRD schema would make,
so a manifest is judged the same with or without a cluster. When a CRD schema is at hand it is
applied too (`schema.py`); fields the operators tolerate but do not know are never an error here.

Nothing in this module raises anything but InvalidJob, whatever it is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import InvalidJob, ValidationIssue
from .kinds import CLEAN_POD_POLICIES, Framework, known_kinds, lookup, versions_of
from .paths import Path, format_path
from .pod_rules import DNS1123_LABEL, Issues, check_string_map, check_template, describe_type
from .schema import schema_errors
from .yaml_text import MAX_DEPTH, load_documents

__all__ = ["identify", "validate_manifest", "validate_text", "ensure_valid", "DNS1035_MESSAGE"]

DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
DNS1035_MESSAGE = ("not a DNS-1035 label: lower-case letters, digits and '-', starting with a letter, "
                   "at most 63 characters")
_KINDS = frozenset(known_kinds())


def identify(manifest: Any) -> Framework:
    """The Framework a manifest declares through apiVersion and kind.

    Raises:
        InvalidJob: the manifest is not a mapping, or its apiVersion/kind pair is not a job kind
            this project knows; the message names the known pairs.
    """
    issues = _too_deep(manifest)
    fw = _identify(manifest, issues) if not issues else None
    if fw is None:
        raise InvalidJob(_to_issues(issues))
    return fw


def _identify(manifest: Any, issues: Issues) -> Framework | None:
    if not isinstance(manifest, dict):
        issues.append(((), f"a job manifest must be a mapping with apiVersion, kind, metadata and spec, "
                           f"got {describe_type(manifest)}"))
        return None
    kind, api = manifest.get("kind"), manifest.get("apiVersion")
    fw = lookup(api, kind) if isinstance(api, str) and isinstance(kind, str) else None
    if fw is not None:
        return fw
    if not isinstance(kind, str) or not kind:
        issues.append((("kind",), f"kind is required: one of {_known()}" if kind in (None, "")
                       else f"kind must be a string, got {describe_type(kind)}"))
        return None
    if kind not in _KINDS:
        close = [k for k in known_kinds() if k.lower() == kind.lower()]
        hint = f"; did you mean {close[0]}?" if close else ""
        issues.append((("kind",), f"unknown kind {kind!r}: use one of {_known()}{hint}"))
        return None
    served = " or ".join(f.api_version for f in versions_of(kind))
    got = "missing" if api is None else repr(api)
    issues.append((("apiVersion",), f"apiVersion {got} is not served for {kind}: use {served}"))
    return None


def _known() -> str:
    """The known kinds with their API versions, for a message (built only when one is needed)."""
    return ", ".join(f"{k} ({' or '.join(f.api_version for f in versions_of(k))})" for k in known_kinds())


def validate_manifest(manifest: Any, *, schema: dict | None = None) -> list[ValidationIssue]:
    """Every problem in one manifest, by field path; an empty list means valid.

    Args:
        manifest: the parsed manifest (any value: non-mappings are reported, not raised).
        schema: the kind's CRD openAPIV3Schema, to check types and shapes the way the API
            server would; without it the project's own rules still check every modelled field.

    Returns:
        ValidationIssue list with `path` set (line and column are None: there is no text).
    """
    return _to_issues(_collect(manifest, schema))


def validate_text(text: str | bytes, *, schemas: Mapping[tuple[str, str], dict] | None = None,
                  ) -> tuple[list[dict], list[ValidationIssue]]:
    """Parse and validate every document of a YAML text.

    Args:
        text: one or more YAML documents (`---` between them).
        schemas: openAPIV3Schema per (apiVersion, kind), e.g. from `schema.load_crd_schemas`.

    Returns:
        (manifests, issues): every mapping document in order, and every issue with path, line,
        column (1-based, at the field or its nearest written parent) and document index.
    """
    try:
        documents = load_documents(text)
    except InvalidJob as e:
        return [], list(e.issues)
    manifests: list[dict] = []
    issues: list[ValidationIssue] = []
    present = [d for d in documents if d.data is not None]
    if not present:
        issues.append(ValidationIssue("", "no manifest in the text: write a job with apiVersion, kind, metadata and spec",
                                      line=1, column=1))
    for doc in present:
        schema = None
        if isinstance(doc.data, dict):
            manifests.append(doc.data)
            if schemas:
                key = (doc.data.get("apiVersion"), doc.data.get("kind"))
                schema = schemas.get(key) if all(isinstance(k, str) for k in key) else None  # type: ignore[arg-type]
        for path, message in _collect(doc.data, schema):
            pos = doc.nearest_position(path)
            line, column = pos if pos is not None else (None, None)
            issues.append(ValidationIssue(format_path(path), message, line=line, column=column, document=doc.index))
    return manifests, issues


def ensure_valid(manifest_or_text: Any, *, schemas: Mapping[tuple[str, str], dict] | None = None) -> list[dict]:
    """The manifests in a dict, a list of dicts, or YAML text; or InvalidJob with every issue.

    Raises:
        InvalidJob: carrying every issue of every document.
    """
    if isinstance(manifest_or_text, (str, bytes, bytearray)):
        manifests, issues = validate_text(manifest_or_text, schemas=schemas)
    else:
        items = manifest_or_text if isinstance(manifest_or_text, (list, tuple)) else [manifest_or_text]
        if not items:
            raise InvalidJob([ValidationIssue("", "no manifest given")])
        manifests, issues = [], []
        for index, item in enumerate(items):
            schema = None
            if isinstance(item, dict):
                manifests.append(item)
                key = (item.get("apiVersion"), item.get("kind"))
                if schemas and all(isinstance(k, str) for k in key):
                    schema = schemas.get(key)  # type: ignore[arg-type]
            issues.extend(ValidationIssue(format_path(p), m, document=index) for p, m in _collect(item, schema))
    if issues:
        raise InvalidJob(issues)
    return manifests


def _to_issues(found: Issues) -> list[ValidationIssue]:
    return [ValidationIssue(format_path(path), message) for path, message in found]


def _collect(manifest: Any, schema: dict | None) -> Issues:
    """Our rules first; schema findings add only what the rules did not already say at that path."""
    issues = _too_deep(manifest)
    if issues:
        return issues
    fw = _identify(manifest, issues)
    if fw is not None:
        _check_metadata(manifest, issues)
        _check_spec(fw, manifest, issues)
    if schema is not None:
        seen = [p for p, _ in issues]
        for path, message in schema_errors(manifest, schema):
            if not any(path[:len(p)] == p for p in seen):
                issues.append((path, message))
    # One message per field: the first rule to speak (e.g. "must not be negative") says enough.
    first: dict[Path, str] = {}
    for path, message in issues:
        first.setdefault(path, message)
    return list(first.items())


def _too_deep(manifest: Any) -> Issues:
    """The one issue of a manifest nested deeper than MAX_DEPTH, else none.

    The rules (and any copy a caller makes) recurse; a manifest is refused before they could
    overflow. Every manifest is measured, so the common case is the quick count of levels; only a
    manifest that fails it is walked again for the path to report.
    """
    if _within_depth(manifest):
        return []
    return [(_first_too_deep(manifest), f"nests deeper than {MAX_DEPTH} levels; no manifest does")]


# Types of the values YAML and JSON parse to that hold nothing: the depth count skips them at once.
_LEAVES = frozenset({str, int, float, bool, type(None)})


def _within_depth(manifest: Any) -> bool:
    """Whether no value lies deeper than MAX_DEPTH: one pass per level, collecting the next level."""
    level = [manifest]
    for _ in range(MAX_DEPTH + 1):
        below: list[Any] = []
        for value in level:
            kind = type(value)
            if kind is dict:
                below.extend(value.values())
            elif kind is list:
                below.extend(value)
            elif kind in _LEAVES:
                continue
            elif isinstance(value, Mapping):
                below.extend(value.values())
            elif isinstance(value, (list, tuple)):
                below.extend(value)
        if not below:
            return True
        level = below
    return False


def _first_too_deep(manifest: Any) -> Path:
    """The path (cut at MAX_DEPTH) of the first value nested deeper than MAX_DEPTH, walked without recursion."""
    stack: list[tuple[Any, Path]] = [(manifest, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return path[:MAX_DEPTH]
        if isinstance(value, Mapping):
            stack.extend((v, path + (k,)) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((v, path + (i,)) for i, v in enumerate(value))
    raise AssertionError("unreachable: _within_depth found a value this deep")  # pragma: no cover


def _check_metadata(manifest: dict, issues: Issues) -> None:
    meta = manifest.get("metadata")
    if not isinstance(meta, dict):
        issues.append((("metadata",), "metadata with a name is required" if meta is None
                       else f"metadata must be a mapping, got {describe_type(meta)}"))
        return
    name, generate = meta.get("name"), meta.get("generateName")
    if name is None and isinstance(generate, str) and generate:
        if len(generate) > 58 or not DNS1035_LABEL.fullmatch(generate.rstrip("-") or "-"):
            issues.append((("metadata", "generateName"), f"generateName {generate!r} is {DNS1035_MESSAGE} "
                                                        f"(58 before the random suffix)"))
    elif name is None or name == "":
        issues.append((("metadata", "name"), "a job name is required"))
    elif not isinstance(name, str):
        issues.append((("metadata", "name"), f"name must be a string, got {describe_type(name)}"))
    elif len(name) > 63 or not DNS1035_LABEL.fullmatch(name):
        issues.append((("metadata", "name"), f"{name!r} is {DNS1035_MESSAGE}"))
    ns = meta.get("namespace")
    if ns is not None and (not isinstance(ns, str) or len(ns) > 63 or not DNS1123_LABEL.fullmatch(ns)):
        issues.append((("metadata", "namespace"), f"namespace {ns!r} is not a DNS-1123 label: lower-case letters, "
                                                  f"digits and '-', at most 63 characters"))
    for key in ("labels", "annotations"):
        check_string_map(meta.get(key), ("metadata", key), key, issues)


def _check_spec(fw: Framework, manifest: dict, issues: Issues) -> None:
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        issues.append((("spec",), f"spec is required: it holds {fw.replica_key}" if spec is None
                       else f"spec must be a mapping, got {describe_type(spec)}"))
        return
    replicas = _check_replica_specs(fw, spec, issues)
    _check_run_policy(fw, spec, issues)
    for rules in _KIND_RULES.get((fw.api_version, fw.kind), ()):
        rules(fw, manifest, spec, replicas, issues)
    if fw.top_level_clean_pod_policy:
        _check_clean_pod_policy(spec.get("cleanPodPolicy"), ("spec", "cleanPodPolicy"), issues)


def _check_replica_specs(fw: Framework, spec: dict, issues: Issues) -> dict[str, tuple[str, dict]]:
    """Check each replica spec; return canonical type -> (key as written, spec) for the kind rules."""
    key = fw.replica_key
    specs = spec.get(key)
    path = ("spec", key)
    if not isinstance(specs, dict) or not specs:
        roles = ", ".join(fw.replica_types)
        issues.append((path, f"{key} is required: a replica spec per role ({roles})" if not specs
                       else f"{key} must be a mapping of role to replica spec, got {describe_type(specs)}"))
        return {}
    found: dict[str, tuple[str, dict]] = {}
    for written, rspec in specs.items():
        rtype = fw.canonical_replica_type(written) if isinstance(written, str) else None
        rpath = path + (written,)
        if rtype is None:
            issues.append((rpath, f"unknown replica type {written!r} for {fw.kind}: use {', '.join(fw.replica_types)}"))
            continue
        if rtype in found:
            issues.append((rpath, f"replica type {rtype} is given twice ({found[rtype][0]!r} and {written!r})"))
            continue
        if not isinstance(rspec, dict):
            issues.append((rpath, f"a replica spec must be a mapping with replicas and template, got {describe_type(rspec)}"))
            continue
        found[rtype] = (written, rspec)
        count = rspec.get("replicas")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            issues.append((rpath + ("replicas",), f"replicas must be a whole number, got {describe_type(count)}"))
        elif isinstance(count, int) and count < 0:
            issues.append((rpath + ("replicas",), f"replicas must not be negative, got {count}"))
        elif isinstance(count, int) and count > 2**31 - 1:
            issues.append((rpath + ("replicas",), f"replicas {count} is too large"))
        policy = rspec.get("restartPolicy")
        if policy is not None and policy not in fw.restart_policies:
            issues.append((rpath + ("restartPolicy",), f"unknown restartPolicy {policy!r}: {fw.kind} {fw.version} "
                                                       f"accepts {', '.join(fw.restart_policies)}"))
        check_template(fw, rspec.get("template"), rpath + ("template",), issues)
    return found


def _replicas(fw: Framework, rspec: dict, rtype: str) -> int | None:
    """The replica count as the operator defaults it; None when it is not a whole number (reported already)."""
    count = fw.replicas_of(rspec, rtype)
    return count if isinstance(count, int) and not isinstance(count, bool) else None


def _check_run_policy(fw: Framework, spec: dict, issues: Issues) -> None:
    policy = spec.get("runPolicy")
    if policy is None:
        return
    path = ("spec", "runPolicy")
    if not isinstance(policy, dict):
        issues.append((path, f"runPolicy must be a mapping, got {describe_type(policy)}"))
        return
    _check_clean_pod_policy(policy.get("cleanPodPolicy"), path + ("cleanPodPolicy",), issues)
    for key in ("ttlSecondsAfterFinished", "activeDeadlineSeconds", "backoffLimit"):
        _non_negative(policy.get(key), path + (key,), key, issues)
    suspend = policy.get("suspend")
    if suspend is not None and not isinstance(suspend, bool):
        issues.append((path + ("suspend",), f"suspend must be true or false, got {describe_type(suspend)}"))
    managed = policy.get("managedBy")
    if managed is not None and managed not in fw.managers:
        issues.append((path + ("managedBy",), f"managedBy {managed!r} is not accepted: use {' or '.join(fw.managers)}"))
    scheduling = policy.get("schedulingPolicy")
    if scheduling is not None and not isinstance(scheduling, dict):
        issues.append((path + ("schedulingPolicy",), f"schedulingPolicy must be a mapping, got {describe_type(scheduling)}"))


def _check_clean_pod_policy(clean: Any, path: Path, issues: Issues) -> None:
    if clean is not None and clean not in CLEAN_POD_POLICIES:
        issues.append((path, f"unknown cleanPodPolicy {clean!r}: use {', '.join(CLEAN_POD_POLICIES)}"))


def _non_negative(value: Any, path: Path, key: str, issues: Issues, minimum: int = 0) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        issues.append((path, f"{key} must be a whole number, got {describe_type(value)}"))
    elif value < minimum:
        issues.append((path, f"{key} must be at least {minimum}, got {value}"))


def _pytorch(fw: Framework, manifest: dict, spec: dict, found: dict, issues: Issues) -> None:
    base = ("spec", fw.replica_key)
    if "Master" in found:
        written, rspec = found["Master"]
        count = _replicas(fw, rspec, "Master")
        if count is not None and count != 1:
            issues.append((base + (written, "replicas"), f"PyTorchJob needs exactly 1 Master replica, got {count}"))
        elif isinstance(rspec, dict) and rspec.get("replicas") is None:
            # The training-operator's webhook (v1.9) reads a missing count as "not 1" and refuses the job.
            issues.append((base + (written, "replicas"), "PyTorchJob's Master must say replicas: 1 "
                                                         "(the operator refuses a Master without it)"))
    if "Worker" in found:
        written, rspec = found["Worker"]
        count = _replicas(fw, rspec, "Worker")
        if count is not None and count < 1:
            issues.append((base + (written, "replicas"), f"PyTorchJob needs at least 1 Worker replica when Worker is given, "
                                                         f"got {count}; remove Worker to run the Master alone"))
    elastic = spec.get("elasticPolicy")
    if elastic is not None:
        epath = ("spec", "elasticPolicy")
        if not isinstance(elastic, dict):
            issues.append((epath, f"elasticPolicy must be a mapping, got {describe_type(elastic)}"))
        else:
            if "Worker" not in found:
                issues.append((epath, "elasticPolicy needs a Worker replica spec: elastic training scales the Workers"))
            if elastic.get("nProcPerNode") is not None and spec.get("nprocPerNode") is not None:
                issues.append((epath + ("nProcPerNode",), "elasticPolicy.nProcPerNode must not be used with "
                                                          "spec.nprocPerNode: keep spec.nprocPerNode alone (the other "
                                                          "is deprecated)"))
            for key in ("minReplicas", "maxReplicas", "maxRestarts", "rdzvPort"):
                _non_negative(elastic.get(key), epath + (key,), key, issues, minimum=1 if "Replicas" in key else 0)
            low, high = elastic.get("minReplicas"), elastic.get("maxReplicas")
            if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool) and low > high:
                issues.append((epath + ("minReplicas",), f"minReplicas {low} is more than maxReplicas {high}"))
            backend = elastic.get("rdzvBackend")
            if backend is not None and backend not in ("c10d", "etcd", "etcd-v2"):
                issues.append((epath + ("rdzvBackend",), f"unknown rdzvBackend {backend!r}: use c10d, etcd or etcd-v2"))
    npn = spec.get("nprocPerNode")
    if npn is not None:
        path = ("spec", "nprocPerNode")
        if not isinstance(npn, str):
            issues.append((path, f"nprocPerNode must be a string, got {describe_type(npn)}; quote it: \"{npn}\""))
        elif npn not in ("auto", "cpu", "gpu") and not (npn.isascii() and npn.isdigit() and int(npn) >= 1):
            issues.append((path, f"nprocPerNode {npn!r} is not valid: use \"auto\", \"cpu\", \"gpu\" or a whole number like \"2\""))


def _tensorflow(fw: Framework, manifest: dict, spec: dict, found: dict, issues: Issues) -> None:
    base = ("spec", fw.replica_key)
    leaders = [rtype for rtype in ("Chief", "Master") if rtype in found]
    if len(leaders) > 1:
        issues.append((base + (found["Master"][0],), "TFJob may have one Chief or one Master, not both; keep Chief"))
    for rtype in leaders:
        written, rspec = found[rtype]
        count = _replicas(fw, rspec, rtype)
        if count is not None and count > 1:
            issues.append((base + (written, "replicas"), f"TFJob needs at most 1 {rtype} replica, got {count}"))
    policy = spec.get("successPolicy")
    if policy is not None and policy not in ("", "AllWorkers"):
        issues.append((("spec", "successPolicy"), f"unknown successPolicy {policy!r}: use \"\" (default) or AllWorkers"))
    dynamic = spec.get("enableDynamicWorker")
    if dynamic is not None and not isinstance(dynamic, bool):
        issues.append((("spec", "enableDynamicWorker"), f"enableDynamicWorker must be true or false, got {describe_type(dynamic)}"))


def _mpi(fw: Framework, manifest: dict, spec: dict, found: dict, issues: Issues) -> None:
    """Both MPIJob versions: one Launcher, and at least one slot per Worker."""
    base = ("spec", fw.replica_key)
    if "Launcher" not in found:
        if isinstance(spec.get(fw.replica_key), dict) and spec[fw.replica_key]:
            issues.append((base, "MPIJob needs a Launcher replica spec: the Launcher runs mpirun over the Workers"))
    else:
        written, rspec = found["Launcher"]
        count = _replicas(fw, rspec, "Launcher")
        if count is not None and count != 1:
            issues.append((base + (written, "replicas"), f"MPIJob needs exactly 1 Launcher replica, got {count}"))
    _non_negative(spec.get("slotsPerWorker"), ("spec", "slotsPerWorker"), "slotsPerWorker", issues, minimum=1)


def _mpi_operator(fw: Framework, manifest: dict, spec: dict, found: dict, issues: Issues) -> None:
    """MPIJob v2beta1: the MPI Operator's `validation.go` and the fields only its schema has."""
    base = ("spec", fw.replica_key)
    if "Worker" in found:
        written, rspec = found["Worker"]
        count = _replicas(fw, rspec, "Worker")
        if count is not None and count < 1:
            issues.append((base + (written, "replicas"), f"MPIJob needs at least 1 Worker replica when Worker is given, got {count}"))
        name = (manifest.get("metadata") or {}).get("name") if isinstance(manifest.get("metadata"), dict) else None
        if isinstance(name, str) and isinstance(count, int) and count >= 1:
            pod = f"{name}-worker-{count - 1}"
            if len(pod) > 63 and len(name) <= 63:
                issues.append((("metadata", "name"), f"worker pod name {pod!r} would be longer than 63 characters; "
                                                     f"shorten the job name"))
    for key, allowed in (("mpiImplementation", fw.mpi_implementations),
                         ("launcherCreationPolicy", ("AtStartup", "WaitForWorkersReady"))):
        value = spec.get(key)
        if value is not None and value not in allowed:
            issues.append((("spec", key), f"unknown {key} {value!r}: use {', '.join(allowed)}"))
    flag = spec.get("runLauncherAsWorker")
    if flag is not None and not isinstance(flag, bool):
        issues.append((("spec", "runLauncherAsWorker"), f"runLauncherAsWorker must be true or false, got {describe_type(flag)}"))


def _xgboost(fw: Framework, manifest: dict, spec: dict, found: dict, issues: Issues) -> None:
    base = ("spec", fw.replica_key)
    if "Master" not in found:
        if isinstance(spec.get(fw.replica_key), dict) and spec[fw.replica_key]:
            issues.append((base, "XGBoostJob needs a Master replica spec"))
        return
    written, rspec = found["Master"]
    count = _replicas(fw, rspec, "Master")
    if count is not None and count != 1:
        issues.append((base + (written, "replicas"), f"XGBoostJob needs exactly 1 Master replica, got {count}"))


# Each kind's own webhook and schema rules, by (apiVersion, kind), beyond what every kind shares.
# They stay functions, one per operator's validation code, rather than data: each reads fields
# only its kind has (elasticPolicy, successPolicy, runLauncherAsWorker) and says so in its words.
_KIND_RULES: dict[tuple[str, str], tuple[Callable[[Framework, dict, dict, dict, Issues], None], ...]] = {
    ("kubeflow.org/v1", "PyTorchJob"): (_pytorch,),
    ("kubeflow.org/v1", "TFJob"): (_tensorflow,),
    ("kubeflow.org/v1", "MPIJob"): (_mpi,),
    ("kubeflow.org/v2beta1", "MPIJob"): (_mpi, _mpi_operator),
    ("kubeflow.org/v1", "XGBoostJob"): (_xgboost,),
}
