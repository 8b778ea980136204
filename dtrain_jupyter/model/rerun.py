"""A job's manifest made ready to run again: a new name, nothing the cluster wrote, the same code.

Pure functions; the service reads the old job (from the cluster or the job history), calls
these, and creates the result like any other manifest.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Iterable

from .code_archive import code_volumes, configmap_name

__all__ = ["rerun_manifest", "next_run_name", "RUN_SUFFIX"]

# "train" runs again as "train-run2", then "train-run3"; "train-run2" again is "train-run3".
RUN_SUFFIX = "-run"
_NUMBERED = re.compile(rf"^(?P<base>.+?){re.escape(RUN_SUFFIX)}(?P<n>\d+)$")
_MAX_NAME = 63
# Written by the cluster or a tool for one object, never meant for a copy of it.
_OWN_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


def next_run_name(name: str, taken: Iterable[str]) -> str:
    """The first free "<base>-runN" (N >= 2) for a re-run of `name`, at most 63 characters."""
    used = set(taken)
    match = _NUMBERED.match(name)
    base, number = (match["base"], int(match["n"]) + 1) if match else (name, 2)
    while True:
        suffix = f"{RUN_SUFFIX}{number}"
        candidate = base[:_MAX_NAME - len(suffix)].rstrip("-") + suffix
        if candidate not in used:
            return candidate
        number += 1


def rerun_manifest(manifest: dict[str, Any], name: str, namespace: str | None = None) -> dict[str, Any]:
    """A copy of `manifest` named `name`: metadata reduced to name, namespace (the given one, else
    the old), labels and annotations (less those of the old object alone), spec unchanged but
    for `runPolicy.suspend` (a re-run starts) and the code volume, which names the new job's
    ConfigMap (`model.code_archive`)."""
    out = copy.deepcopy(manifest)
    old = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
    meta: dict[str, Any] = {"name": name}
    if namespace or old.get("namespace"):
        meta["namespace"] = namespace or old["namespace"]
    if old.get("labels"):
        meta["labels"] = old["labels"]
    annotations = {k: v for k, v in (old.get("annotations") or {}).items() if k not in _OWN_ANNOTATIONS}
    if annotations:
        meta["annotations"] = annotations
    out["metadata"] = meta
    out.pop("status", None)
    spec = out.get("spec")
    if isinstance(spec, dict):
        policy = spec.get("runPolicy")
        if isinstance(policy, dict) and policy.get("suspend"):
            policy.pop("suspend")
        for volume in code_volumes(out):
            volume["configMap"]["name"] = configmap_name(name)
    return out
