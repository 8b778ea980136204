"""The project's error types: every failure a user can act on has one of these.

    DTrainError                 base; carries an HTTP status for the server's one translation point
    ├── InvalidJob          422 a manifest or spec failed validation; carries every issue
    ├── InvalidRequest      400 a request (query, body shape, arguments) is malformed
    │   └── RequestTooLarge 413 a request body is over the server's size limit
    ├── JobNotFound         404 no such job (kind, name, namespace)
    ├── NotFound            404 something else is missing (pod, output file)
    ├── JobExists           409 the name is taken
    ├── Forbidden           403 the backend or the configuration refuses (verb, resource, namespace)
    ├── ClusterError        502 the Kubernetes API answered with an error (reason, code, message)
    ├── BackendUnavailable  503 the backend cannot be reached or is not configured
    └── RemoteError         500 code sent from a notebook raised in a replica (pod, traceback)

Errors travel as JSON (`to_dict`) and are rebuilt on the client (`from_dict`), so a notebook
user catches `JobNotFound`, not an HTTP error. This module imports nothing from the project.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class ValidationIssue:
    """One problem in a manifest: where it is and what to do about it.

    `path` is a dotted field path (`spec.pytorchReplicaSpecs.Master.replicas`); `line` and
    `column` are 1-based positions in the YAML text when the manifest came from text;
    `document` is the 0-based index of the YAML document in a multi-document text.
    """

    path: str
    message: str
    line: int | None = None
    column: int | None = None
    document: int = 0

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}: " if self.line is not None else ""
        path = f"{self.path}: " if self.path else ""
        return f"{where}{path}{self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ValidationIssue":
        return cls(
            path=str(data.get("path", "")),
            message=str(data.get("message", "")),
            line=data.get("line"),
            column=data.get("column"),
            document=int(data.get("document") or 0),
        )


class DTrainError(Exception):
    """Base of every error this project raises on purpose."""

    status_code: ClassVar[int] = 500

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields

    def to_dict(self) -> dict[str, Any]:
        """JSON body for the wire: `{"error": type, "message": ..., **fields}`."""
        return {"error": type(self).__name__, "message": self.message, **self.fields}

    @staticmethod
    def from_dict(data: dict[str, Any], status_code: int | None = None) -> "DTrainError":
        """Rebuild the error a server sent; unknown types become a plain DTrainError."""
        name = str(data.get("error", ""))
        cls = _BY_NAME.get(name, DTrainError)
        message = str(data.get("message") or data.get("reason") or f"HTTP {status_code}")
        fields = {k: v for k, v in data.items() if k not in ("error", "message")}
        if cls is InvalidJob:
            issues = [ValidationIssue.from_dict(i) for i in fields.pop("issues", []) or []]
            return InvalidJob(issues, message=message)
        err = DTrainError.__new__(cls)
        DTrainError.__init__(err, message, **fields)
        return err


class InvalidJob(DTrainError):
    """Raised when a manifest, YAML text or JobSpec is not a job the operators would accept."""

    status_code = 422

    def __init__(self, issues: list[ValidationIssue], message: str | None = None) -> None:
        self.issues = list(issues)
        if message is None:
            if len(self.issues) == 1:
                message = str(self.issues[0])
            else:
                message = f"{len(self.issues)} problems: " + "; ".join(str(i) for i in self.issues[:5])
                if len(self.issues) > 5:
                    message += f"; and {len(self.issues) - 5} more"
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": "InvalidJob", "message": self.message, "issues": [i.to_dict() for i in self.issues]}


class InvalidRequest(DTrainError):
    """Raised when a request is malformed: bad query value, wrong body shape, bad arguments."""

    status_code = 400


class RequestTooLarge(InvalidRequest):
    """Raised when a request body is larger than the server accepts (manifests are small)."""

    status_code = 413


class JobNotFound(DTrainError):
    """Raised when no job of that kind, name and namespace exists on the backend."""

    status_code = 404

    def __init__(self, kind: str, name: str, namespace: str, backend: str = "", *, also: str = "") -> None:
        where = f" on the {backend} backend" if backend else ""
        # `also`: where else it was looked for ("nor in the job history").
        super().__init__(
            f"{kind} {name!r} not found in namespace {namespace!r}{where}{', ' + also if also else ''}",
            kind=kind, name=name, namespace=namespace, backend=backend,
        )


class NotFound(DTrainError):
    """Raised when a pod, output file or other object that is not a job is missing."""

    status_code = 404


class JobExists(DTrainError):
    """Raised when creating a job whose name is already taken in that namespace (of that backend)."""

    status_code = 409

    def __init__(self, kind: str, name: str, namespace: str, backend: str = "") -> None:
        where = f" on the {backend} backend" if backend else ""
        super().__init__(
            f"{kind} {name!r} already exists in namespace {namespace!r}{where}; pick another name or delete it first",
            kind=kind, name=name, namespace=namespace, backend=backend,
        )


class Forbidden(DTrainError):
    """Raised when the cluster's RBAC or this server's configuration refuses an action."""

    status_code = 403

    def __init__(self, message: str, verb: str = "", resource: str = "", namespace: str = "") -> None:
        super().__init__(message, verb=verb, resource=resource, namespace=namespace)


class ClusterError(DTrainError):
    """Raised when the Kubernetes API answers with an error; keeps its Status reason and code."""

    status_code = 502

    def __init__(self, message: str, reason: str = "", code: int | None = None) -> None:
        super().__init__(message, reason=reason, code=code)


class BackendUnavailable(DTrainError):
    """Raised when a backend is not configured, not installed, or cannot be reached."""

    status_code = 503


class RemoteError(DTrainError):
    """Raised by `Client.result` when the function or cell a job ran raised in one of its replicas.

    Its message ends with the remote traceback, as the replica printed it; `pod` names the
    replica whose log holds it, `rank` the rank that raised, `type` the exception's type name.
    """

    def __init__(self, message: str, pod: str, traceback: str, rank: int | None = None, type: str = "") -> None:
        super().__init__(message, pod=pod, traceback=traceback, rank=rank, type=type)

    @property
    def pod(self) -> str:
        return str(self.fields.get("pod", ""))

    @property
    def traceback(self) -> str:
        return str(self.fields.get("traceback", ""))


_BY_NAME: dict[str, type[DTrainError]] = {
    cls.__name__: cls
    for cls in (DTrainError, InvalidJob, InvalidRequest, RequestTooLarge, JobNotFound, NotFound, JobExists,
                Forbidden, ClusterError, BackendUnavailable, RemoteError)
}
