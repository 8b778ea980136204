"""Kubeflow job objects (plain dicts from the API) -> the project's `Job`.

A custom object the API server stored without our validation (another tool, an old CRD
without a schema) may be malformed: it still becomes a `Job`, with `error` saying what could
not be read, so one bad object never breaks the list.

The job informers build their Jobs with their `Compactor`: the spec, labels, conditions and
replica counts a job has in common with other jobs are held once (see cache.Compactor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...model.job import Job, JobStatus, ReplicaCounts
from ...model.kinds import Framework
from ...model.status import Phase, derive_phase
from .cache import Compactor, pack_version, unpack_version

BACKEND = "kubernetes"
# Large and a copy of what we already hold; not part of what a person wrote.
_DROP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


@dataclass(slots=True)
class CachedJob:
    """What the job informers store: the converted Job, plus what the cache needs to diff."""

    job: Job
    # The resourceVersion as cache.pack_version keeps it (a number where it round-trips).
    version: Any
    uid: str
    # What a list sorts by (namespace, kind, name), built once here: sorting thousands of jobs
    # by a stored string allocates nothing per job, where a key tuple per job would.
    sort_key: str = ""

    @property
    def resource_version(self) -> str:
        return unpack_version(self.version)


def _manifest(obj: dict[str, Any], shared: Compactor) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    out_meta: dict[str, Any] = {"name": shared.share(meta.get("name")), "namespace": shared.share(meta.get("namespace"))}
    if meta.get("labels"):
        out_meta["labels"] = shared.share(meta["labels"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _DROP_ANNOTATIONS}
    if annotations:
        out_meta["annotations"] = shared.share(annotations)
    return {"apiVersion": shared.share(obj.get("apiVersion")), "kind": shared.share(obj.get("kind")),
            "metadata": out_meta, "spec": shared.share(obj.get("spec"))}


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} is {value!r}, not a whole number")
    return value


def _status(obj: dict[str, Any], fw: Framework, shared: Compactor) -> JobStatus:
    """Status facts of a well-formed object; raises ValueError naming the first field that is not."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise ValueError("spec is missing or not a mapping")
    replica_specs = spec.get(fw.replica_key)
    if not isinstance(replica_specs, dict):
        raise ValueError(f"spec.{fw.replica_key} is missing or not a mapping")
    status = obj.get("status") or {}
    if not isinstance(status, dict):
        raise ValueError("status is not a mapping")
    conditions = status.get("conditions") or []
    if not isinstance(conditions, list):
        raise ValueError("status.conditions is not a list")
    conditions = shared.share([c for c in conditions if isinstance(c, dict)])
    phase, reason, message = derive_phase(conditions, deleting=bool(meta.get("deletionTimestamp")))
    counts = status.get("replicaStatuses") or {}
    if not isinstance(counts, dict):
        raise ValueError("status.replicaStatuses is not a mapping")
    replicas: dict[str, ReplicaCounts] = {}
    for rtype, rspec in replica_specs.items():
        if not isinstance(rspec, dict):
            raise ValueError(f"spec.{fw.replica_key}.{rtype} is not a mapping")
        canonical = fw.canonical_replica_type(rtype) or str(rtype)
        n = rspec.get("replicas")
        n = fw.default_replicas(canonical) if n is None else _int(n, f"spec.{fw.replica_key}.{rtype}.replicas")
        c = counts.get(canonical) or counts.get(rtype) or {}
        if not isinstance(c, dict):
            raise ValueError(f"status.replicaStatuses.{rtype} is not a mapping")
        counted = (n, _int(c.get("active") or 0, f"status.replicaStatuses.{rtype}.active"),
                   _int(c.get("succeeded") or 0, f"status.replicaStatuses.{rtype}.succeeded"),
                   _int(c.get("failed") or 0, f"status.replicaStatuses.{rtype}.failed"))
        replicas[canonical] = shared.one((ReplicaCounts, *counted), lambda: ReplicaCounts(*counted))
    return JobStatus(
        phase=phase, reason=reason, message=message, conditions=conditions, replicas=shared.share(replicas),
        start_time=status.get("startTime"), completion_time=status.get("completionTime"),
    )


def job_from_object(obj: dict[str, Any], fw: Framework, context: str, shared: Compactor | None = None) -> Job:
    """The Job for one custom object; never raises for a malformed object (sets `error`).

    `shared`: the compactor whose parts the Job may hold (an informer's); None shares nothing
    beyond this one object.
    """
    shared = shared or Compactor()
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    job = Job(
        backend=BACKEND, kind=shared.share(str(obj.get("kind") or fw.kind)),
        api_version=shared.share(str(obj.get("apiVersion") or fw.api_version)),
        name=shared.share(str(meta.get("name") or "")), namespace=shared.share(str(meta.get("namespace") or "")),
        uid=shared.share(str(meta.get("uid") or "")), created=str(meta.get("creationTimestamp") or ""),
        manifest={}, context=context,
    )
    try:
        job.manifest = _manifest(obj, shared)
        job.status = _status(obj, fw, shared)
    except (ValueError, TypeError, AttributeError) as e:
        job.status = JobStatus(phase=Phase.UNKNOWN, reason="Malformed", message=str(e))
        job.error = f"this {job.kind} cannot be read: {e}"
    return job


def cached_job(obj: dict[str, Any], fw: Framework, context: str, shared: Compactor | None = None) -> CachedJob:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    job = job_from_object(obj, fw, context, shared)
    # The job's uid, not the object's string: equal, and interned, so held once with the pods' owners'.
    return CachedJob(job, pack_version(str(meta.get("resourceVersion") or "")), job.uid,
                     f"{job.namespace}\0{job.kind}\0{job.name}")
