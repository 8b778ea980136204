"""The one contract every backend implements; the service knows backends only through it.

All verbs are coroutines run on the Jupyter server's event loop; a backend whose work blocks
(the kubernetes client, process management) moves it to threads itself. Both backends return
the model types of `dtrain_jupyter.model.job` and raise the errors of `dtrain_jupyter.errors`
(`JobNotFound`, `JobExists`, `InvalidJob`, `Forbidden`, `ClusterError`, `BackendUnavailable`),
never their own. Callers ask `capabilities`, never `isinstance`.

Jobs are addressed by (kind, name, namespace). The local backend has namespaces too (plain
folders of its state), so the same manifest means the same thing on both.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Protocol, runtime_checkable

from ..model.job import Event, Job, LogLine, OutputFile, Pod

# What a backend may support beyond the core verbs.
CAP_DRY_RUN = "dry-run"        # create(dry_run=True) asks the backend, not only the model
CAP_EVENTS = "events"          # events() returns real events (else an empty list, documented)
CAP_SUSPEND = "suspend"        # runPolicy.suspend is honoured
CAP_OUTPUTS = "outputs"        # outputs() can list files (else NotFound with the reason)
CAP_PREVIOUS_LOGS = "previous-logs"

# Called by a backend, from any thread, whenever a job appears, changes or disappears:
# listener(change_type, job) with change_type in {"ADDED", "MODIFIED", "DELETED"}.
ChangeListener = Callable[[str, Job], None]


@runtime_checkable
class Backend(Protocol):
    """A place where jobs run."""

    #: "local" or "kubernetes"; appears in every Job and in the REST paths.
    name: str
    #: Subset of the CAP_* names above.
    capabilities: frozenset[str]

    async def start(self) -> None:
        """Begin watching (called once, on the server loop, before the first verb)."""

    async def stop(self) -> None:
        """Stop watches and background tasks; local replicas keep running (they outlive us)."""

    def subscribe(self, listener: ChangeListener) -> None:
        """Register a change listener; the service uses it to build the change feed."""

    def describe(self) -> dict[str, Any]:
        """Where this backend points, for people: {"backend", "context", "namespace", "server", "kinds", "ready", "message"}."""

    async def create(self, manifest: dict[str, Any], *, dry_run: bool = False) -> Job:
        """Create a job from a validated manifest. Raises JobExists, InvalidJob, Forbidden."""

    async def list(self, namespace: str | None = None) -> list[Job]:
        """Jobs in one namespace, or in every namespace this backend may see when None.

        The list is the caller's, but the Job objects in it may be the backend's cached ones
        (as a client-go lister hands out its cache's objects): read them, and change a copy
        (`dataclasses.replace`), never the job itself.
        """

    async def get(self, kind: str, name: str, namespace: str) -> Job:
        """One job. Raises JobNotFound."""

    async def delete(self, kind: str, name: str, namespace: str) -> Job:
        """Delete a job and every replica of it; returns the job as last seen (phase Deleting)."""

    async def pods(self, kind: str, name: str, namespace: str) -> list[Pod]:
        """The job's replicas with their status, role and index order."""

    def logs(
        self, kind: str, name: str, namespace: str, *,
        pod: str | None = None, container: str | None = None, follow: bool = False,
        tail: int | None = None, since_seconds: int | None = None, previous: bool = False,
        timestamps: bool = False,
    ) -> AsyncIterator[LogLine]:
        """Log lines of one pod, or of all pods merged (each line names its pod)."""

    async def events(self, kind: str, name: str, namespace: str) -> list[Event]:
        """Events of the job and its pods, oldest first."""

    async def outputs(self, kind: str, name: str, namespace: str) -> list[OutputFile]:
        """Files in the job's output location. Raises NotFound with the reason when there is none."""

    async def read_output(self, kind: str, name: str, namespace: str, path: str, *, limit: int) -> bytes:
        """At most `limit` bytes of one output file; the path can never leave the output folder."""
