"""Plain data types both backends fill and every face shows: jobs, pods, events, outputs, logs.

They cross the wire as JSON (`to_dict` / `from_dict`), so the server, the client and the panel
share one shape. They hold facts only; how they render lives with the faces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .status import Phase


@dataclass
class ReplicaCounts:
    """Counts per replica type, as in the operator's `status.replicaStatuses`."""

    replicas: int = 0
    active: int = 0
    succeeded: int = 0
    failed: int = 0


_PHASES: dict[Any, Phase] = {p.value: p for p in Phase}


@dataclass
class JobStatus:
    phase: Phase = Phase.PENDING
    reason: str = ""
    message: str = ""
    conditions: list[dict[str, Any]] = field(default_factory=list)
    replicas: dict[str, ReplicaCounts] = field(default_factory=dict)
    start_time: str | None = None
    completion_time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Written out rather than `asdict`: a job list serialises thousands of these, and
        # asdict's recursive deep copy was most of the server's list cost (benchmarks/).
        return {
            "phase": self.phase.value, "reason": self.reason, "message": self.message,
            "conditions": [dict(c) for c in self.conditions],
            "replicas": {k: {"replicas": r.replicas, "active": r.active, "succeeded": r.succeeded,
                             "failed": r.failed} for k, r in self.replicas.items()},
            "start_time": self.start_time, "completion_time": self.completion_time,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobStatus":
        # A dict lookup, not Phase(value): a list decodes thousands of these.
        value = data.get("phase", "Pending")
        phase = _PHASES.get(value, Phase.UNKNOWN) if isinstance(value, str) else Phase.UNKNOWN
        return cls(
            phase=phase,
            reason=data.get("reason", ""),
            message=data.get("message", ""),
            conditions=list(data.get("conditions") or []),
            replicas={k: ReplicaCounts(**v) for k, v in (data.get("replicas") or {}).items()},
            start_time=data.get("start_time"),
            completion_time=data.get("completion_time"),
        )


@dataclass
class Job:
    """One training job on one backend. `manifest` is the source of truth the user wrote."""

    backend: str
    kind: str
    api_version: str
    name: str
    namespace: str
    uid: str
    created: str
    manifest: dict[str, Any]
    status: JobStatus = field(default_factory=JobStatus)
    # Kubernetes context (or "local") so a person sees where the job lives.
    context: str = ""
    # Notes the backend wants a person to read (e.g. "image is not used by the local backend").
    notes: list[str] = field(default_factory=list)
    # Set when the object could not be understood (a malformed custom object stays listable).
    error: str = ""
    # When the job left its cluster (RFC 3339): set only on answers from the job history.
    removed: str | None = None

    @property
    def phase(self) -> Phase:
        return self.status.phase

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.backend, self.namespace, self.kind, self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend, "kind": self.kind, "apiVersion": self.api_version,
            "name": self.name, "namespace": self.namespace, "uid": self.uid,
            "created": self.created, "context": self.context, "notes": list(self.notes),
            "error": self.error, "status": self.status.to_dict(), "manifest": self.manifest,
            # Only answers from the job history carry it; a live job's JSON stays as it was.
            **({"removed": self.removed} if self.removed else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Job":
        return cls(
            backend=data["backend"], kind=data["kind"], api_version=data.get("apiVersion", ""),
            name=data["name"], namespace=data.get("namespace", ""), uid=data.get("uid", ""),
            created=data.get("created", ""), manifest=data.get("manifest") or {},
            status=JobStatus.from_dict(data.get("status") or {}), context=data.get("context", ""),
            notes=list(data.get("notes") or []), error=data.get("error", ""), removed=data.get("removed"),
        )


@dataclass
class Pod:
    """One replica of a job: a Kubernetes pod, or a local process standing for one."""

    name: str
    namespace: str
    job_name: str
    replica_type: str
    replica_index: int | None
    phase: str
    # The sentence from `status.describe_pod`: "waiting: ImagePullBackOff — image not found".
    reason: str = ""
    node: str = ""
    restarts: int = 0
    exit_code: int | None = None
    started: str | None = None
    finished: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    containers: list[str] = field(default_factory=list)
    pid: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Pod":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})  # type: ignore[arg-type]


@dataclass
class Event:
    """A Kubernetes-style event about the job or one of its pods."""

    type: str
    reason: str
    message: str
    object_kind: str
    object_name: str
    count: int = 1
    first_time: str | None = None
    last_time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Event":
        return cls(**{k: data.get(k) for k in cls.__dataclass_fields__ if k in data})  # type: ignore[arg-type]


@dataclass
class OutputFile:
    """A file a job wrote into its output location; `path` is relative to it."""

    path: str
    size: int
    mtime: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "OutputFile":
        return cls(path=data["path"], size=int(data["size"]), mtime=data["mtime"])


@dataclass
class LogLine:
    """One line of a replica's log. `pod` names the replica when logs of a job are merged."""

    pod: str
    line: str
    timestamp: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Not `asdict`: called once per line of a log read, where its deep copy dominated.
        return {"pod": self.pod, "line": self.line, "timestamp": self.timestamp}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LogLine":
        return cls(pod=data.get("pod", ""), line=data.get("line", ""), timestamp=data.get("timestamp"))


@dataclass
class JobChange:
    """An entry of the change feed: a job was ADDED, MODIFIED or DELETED."""

    type: str
    job: Job

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "job": self.job.to_dict()}
