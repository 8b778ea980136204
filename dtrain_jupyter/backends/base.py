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

import collections.abc
from pathlib import Path
from typing import (
    Any, AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Generic, Protocol, TypeVar, runtime_checkable,
)

from ..errors import InvalidRequest, NotFound
from ..model.code_archive import CodeArchive
from ..model.job import Event, Job, LogLine, OutputFile, Pod

# What a backend may do beyond the core verbs. Each backend lists its own in `capabilities`;
# the service answers them on /backends, and callers decide by them, never by a backend's type
# or by looking for a method. Each name promises exactly this:
#
# create(dry_run=True) is also checked by the backend's own server (Kubernetes: admission,
# schema and quota, as `dryRun=All`), not only by the model and by what the backend can run.
CAP_DRY_RUN = "dry-run"
# events() returns what happened to the job and its pods. Without it the service answers an
# empty list and does not ask the backend.
CAP_EVENTS = "events"
# runPolicy.suspend is honoured (a suspended job makes no pods until resumed), and suspend() and
# resume() set it on a job that exists. Without it, create refuses a suspended manifest with
# InvalidJob at spec.runPolicy.suspend, and the service refuses suspend/resume with InvalidRequest.
CAP_SUSPEND = "suspend"
# outputs(), read_output() and output_bytes() can reach the output folders of this backend's
# jobs. Without it they still answer NotFound, whose message says what the job would need (the
# backend knows the job's volumes and status better than the service, so the service asks it all
# the same); output_location() answers either way.
CAP_OUTPUTS = "outputs"
# logs(previous=True) and log_bytes(previous=True) read the attempt before a replica's last
# restart. Without it the service refuses `previous` with InvalidRequest.
CAP_PREVIOUS_LOGS = "previous-logs"
# The backend knows when each log line was written: timestamps=True stamps each line with that
# time and since_seconds keeps only the lines written within the window. Without it, a stamp is
# the time the line was read, and since_seconds keeps or skips a replica's log whole, by the
# time it was last written to.
CAP_LINE_TIMES = "line-times"
# log_bytes(follow=True) follows one pod's log as the bytes it is written in. Without it the service
# follows by lines (`logs`) and joins them: an object per line, which a fast log's follow (and the
# job history's copy of it) pays on the server's loop.
CAP_FOLLOW_BYTES = "follow-bytes"

CAPABILITIES = (CAP_DRY_RUN, CAP_EVENTS, CAP_SUSPEND, CAP_OUTPUTS, CAP_PREVIOUS_LOGS, CAP_LINE_TIMES,
                CAP_FOLLOW_BYTES)

# Called by a backend, from any thread, whenever a job appears, changes or disappears:
# listener(change_type, job) with change_type in {"ADDED", "MODIFIED", "DELETED"}.
ChangeListener = Callable[[str, Job], None]

T = TypeVar("T")


class Stream(Generic[T]):
    """What `Backend.logs` and `Backend.log_bytes` return: a request for a stream, not yet opened.

    `await stream` checks the request and opens it, raising every refusal (JobNotFound,
    NotFound, InvalidRequest, a cluster's answer for one pod) before any item is promised, and
    returns the items as an async generator (close it, `aclose()`, to stop early). Iterating
    the stream itself (`async for x in stream`) does the same on its first step, for callers
    that have no use for the early answer. (The shape of asyncpg's cursors: awaitable and
    iterable.)

    Args:
        opener: the coroutine function that checks, opens and returns the generator.
    """

    def __init__(self, opener: Callable[[], Awaitable[AsyncGenerator[T, None]]]) -> None:
        self._opener = opener

    def __await__(self) -> Generator[Any, None, AsyncGenerator[T, None]]:
        return self._opener().__await__()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def _iterate(self) -> AsyncGenerator[T, None]:
        items = await self._opener()
        try:
            async for item in items:
                yield item
        finally:
            await items.aclose()


class SizedChunks(collections.abc.AsyncGenerator):
    """Byte chunks whose total length is known when the stream opens: an async generator with `size`.

    What a `log_bytes` stream opens as when its backend knows the length (a local log file's
    size at open). The server then sends `Content-Length` instead of chunked framing, which
    copies every 1 MiB chunk twice (issue 18: a 1 GB read ran at 0.84 of cat's rate).

    Args:
        chunks: the bytes, `size` of them in all unless the source was cut short (a file
            truncated while read): then fewer, and a reader holding to `size` says so.
        size: the number of bytes `chunks` yields.
        file: where the same bytes lie, (path, offset) of a regular file, when they are a file's:
            a server may then hand the file to the kernel (sendfile) instead of reading `chunks`.
    """

    def __init__(self, chunks: AsyncGenerator[bytes, None], size: int, file: tuple[Path, int] | None = None) -> None:
        self._chunks = chunks
        self.size = size
        self.file = file

    async def __anext__(self) -> bytes:
        return await self._chunks.__anext__()

    async def asend(self, value: Any) -> bytes:
        return await self._chunks.asend(value)

    async def athrow(self, *args: Any) -> bytes:
        return await self._chunks.athrow(*args)

    async def aclose(self) -> None:
        await self._chunks.aclose()


def check_log_request(*, follow: bool = False, tail: int | None = None, since_seconds: int | None = None,
                      previous: bool = False) -> None:
    """The rules every backend applies to a log request's arguments, before it looks anything up.

    Raises:
        InvalidRequest: tail is not a whole number >= 0; since_seconds is not a whole number
            >= 1 (a window of no seconds holds no line; Kubernetes refuses it too); previous
            together with follow (a previous attempt has ended: there is nothing to follow).
    """
    if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
        raise InvalidRequest(f"tail must be a whole number of lines >= 0, not {tail!r}", argument="tail")
    if since_seconds is not None and (isinstance(since_seconds, bool) or not isinstance(since_seconds, int)
                                      or since_seconds < 1):
        raise InvalidRequest(f"since_seconds must be a whole number of seconds >= 1, not {since_seconds!r}",
                             argument="since_seconds")
    if previous and follow:
        raise InvalidRequest("a previous log cannot be followed (that attempt has ended); ask for one or the other",
                             argument="previous")


def is_suspended(job: Job) -> bool:
    """Whether the job is asked to be suspended: its manifest's spec.runPolicy.suspend (the wish;
    the `Suspended` condition says when the operator has acted on it)."""
    spec = job.manifest.get("spec") if isinstance(job.manifest, dict) else None
    policy = spec.get("runPolicy") if isinstance(spec, dict) else None
    return isinstance(policy, dict) and policy.get("suspend") is True


def check_suspend_request(job: Job, suspend: bool) -> None:
    """The rules every backend applies before it suspends (`suspend` True) or resumes a job.

    Raises:
        InvalidRequest: suspending a finished job (the operators no longer reconcile it, so
            nothing would stop or start again), or one already suspended; resuming a job that
            is not suspended.
    """
    words = f"{job.kind} {job.name!r}"
    if suspend and job.status.phase.finished:
        raise InvalidRequest(f"{words} has {job.status.phase.value.lower()}: a finished job cannot be suspended "
                             "(run it again instead)", phase=job.status.phase.value)
    if suspend and is_suspended(job):
        raise InvalidRequest(f"{words} is suspended already; resume it to start its replicas again",
                             phase=job.status.phase.value)
    if not suspend and not is_suspended(job):
        raise InvalidRequest(f"{words} is not suspended (it is {job.status.phase.value}): there is nothing to resume",
                             phase=job.status.phase.value)


def waiting_line(reason: str) -> str:
    """The one log line a pod without a log yet shows: "waiting: <reason>" (pod reason words, see
    `model.status.describe_pod`, without their "waiting: " or "Pending: " head)."""
    for head in ("waiting: ", "Pending: "):
        if reason.startswith(head):
            reason = reason[len(head):]
    if reason in ("Pending", "Unknown", ""):
        reason = "the pod is Pending (not scheduled or not started yet)"
    return f"waiting: {reason}"


async def waiting_bytes(line: str) -> AsyncGenerator[bytes, None]:
    """The raw-bytes log (`log_bytes`) of a pod without a log yet: its waiting line alone."""
    yield (line + "\n").encode("utf-8")


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
        """Register a change listener (kept in a `listeners.Listeners`: one that raises is logged and skipped)."""

    def unsubscribe(self, listener: ChangeListener) -> None:
        """Stop calling a listener given to `subscribe`; one never subscribed is ignored."""

    def describe(self) -> dict[str, Any]:
        """Where this backend points, for people: {"backend", "context", "namespace", "server", "kinds", "ready", "message"}."""

    async def create(self, manifest: dict[str, Any], *, dry_run: bool = False,
                     code: CodeArchive | None = None) -> Job:
        """Create a job from a validated manifest. Raises JobExists, InvalidJob, Forbidden.

        `code`, when given, is a script folder's archive (`model.code_archive`) that the
        manifest's replicas mount as the volume CODE_VOLUME from the ConfigMap the manifest
        names (`code_configmap_of`). The backend keeps it exactly as long as the job: on a
        cluster a ConfigMap of that name with binaryData CONFIGMAP_KEY, owned by the job (none is
        left behind when the job's create fails; dry_run creates neither); locally a copy in the
        job's own folder, unpacked once, whose folder each replica gets as DTRAIN_CODE_DIR.
        Without `code`, a manifest that mounts CODE_VOLUME relies on a ConfigMap that exists.
        """

    async def code_archive(self, kind: str, name: str, namespace: str) -> CodeArchive | None:
        """The script folder archive the job was created with (as `create` kept it), or None for
        a job without one (or whose ConfigMap is gone). Raises JobNotFound."""

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

    async def suspend(self, kind: str, name: str, namespace: str) -> Job:
        """Suspend a job (CAP_SUSPEND): spec.runPolicy.suspend becomes true, every replica stops.

        As the operators do: each replica is stopped (a cluster's pods deleted; local processes
        get SIGTERM, then SIGKILL after the grace period), which is no failure (no restart, no
        backoffLimit spent); the job, its logs, events and outputs are kept, and it gets the
        condition `Suspended` True (reason `<Kind>Suspended`), phase Suspended. A cluster's
        operator does this after the call returns: the job returned carries the new spec, its
        status follows through the change feed.

        Raises:
            JobNotFound; InvalidRequest (see `check_suspend_request`; a cluster whose CRD has no
            spec.runPolicy.suspend), Forbidden, ClusterError, BackendUnavailable.
        """

    async def resume(self, kind: str, name: str, namespace: str) -> Job:
        """Resume a suspended job (CAP_SUSPEND): spec.runPolicy.suspend becomes false and every
        replica starts again as on create (same names, ranks and environment), condition
        `Suspended` False (reason `<Kind>Resumed`), then Running; startTime is reset, so
        activeDeadlineSeconds counts from the resume. A job created suspended starts here.

        Raises:
            JobNotFound; InvalidRequest (the job is not suspended), Forbidden, ClusterError,
            BackendUnavailable.
        """

    async def pods(self, kind: str, name: str, namespace: str) -> list[Pod]:
        """The job's replicas with their status, role and index order."""

    def logs(
        self, kind: str, name: str, namespace: str, *,
        pod: str | None = None, container: str | None = None, follow: bool = False,
        tail: int | None = None, since_seconds: int | None = None, previous: bool = False,
        timestamps: bool = False,
    ) -> Stream[LogLine]:
        """Log lines of one pod, or of all pods merged (each line names its pod).

        `tail` keeps the last N lines of each pod; `since_seconds` only recent lines (see
        CAP_LINE_TIMES); `timestamps` stamps each line (RFC 3339, UTC); `previous` reads the
        attempt before each pod's last restart (pods that never restarted are left out of a
        merged read); `follow` goes on with new lines, and with pods that appear later, until
        the job is finished and every log is drained. A pod that has no log yet shows as one
        line "waiting: <reason>" instead of being skipped.

        Awaiting the stream raises, before any line: InvalidRequest (the arguments, see
        `check_log_request`; a container the pod does not run; `previous` of a pod that never
        restarted), JobNotFound, NotFound (no such pod in the job). A failure after lines were
        sent is raised for one pod and shown as a "cannot read log: ..." line in a merged read.
        """

    def log_bytes(
        self, kind: str, name: str, namespace: str, *,
        pod: str, container: str | None = None, tail: int | None = None, previous: bool = False,
        follow: bool = False,
    ) -> Stream[bytes]:
        """One pod's whole log or its tail as the bytes it was written in, without per-line work.

        The fast path of a plain-text read, for logs of any size: the same selection and the same
        refusals as `logs(pod=...)` without timestamps or since. A full read is the log
        as it was when opened: lines written while it is read are not in it (a follow has them).
        A backend that knows the length then (a file's size) opens the stream as `SizedChunks`,
        so the server can say `Content-Length` rather than frame each chunk. `follow` (backends
        with CAP_FOLLOW_BYTES; others refuse it with InvalidRequest) goes on with what is written
        until the pod has ended, in chunks of whole lines.
        """

    async def events(self, kind: str, name: str, namespace: str) -> list[Event]:
        """Events of the job and its pods, oldest first."""

    async def outputs(self, kind: str, name: str, namespace: str) -> list[OutputFile]:
        """Files in the job's output location, by path; read by `output_files.list_files`.

        Raises:
            JobNotFound; NotFound with the reason when the job has no readable output location (and
            the `location` field of `output_location` when the job has one).
        """

    async def output_location(self, kind: str, name: str, namespace: str) -> dict[str, str]:
        """Where the job's outputs are, whether or not this server can read them.

        Returns:
            `{"folder": path}` when they are a folder on this server's machine (local jobs), or
            `{"claim": name, "path": path inside the claim, "/" for its root}` when they are on a
            PersistentVolumeClaim (Kubernetes jobs). A NotFound from `outputs` (the files cannot be
            listed here, or not yet) carries the same mapping in its `location` field.
        Raises:
            JobNotFound; NotFound when the job has no output location (no replica writes
            DTRAIN_OUTPUT_DIR onto a volume claim).
        """

    async def output_root(self, kind: str, name: str, namespace: str) -> Path:
        """The folder on this server's machine holding the job's outputs, for readers that walk it
        whole (TensorBoard and its event files): a local job's own folder, or where this server
        mounts a Kubernetes job's output claim.

        A backend whose jobs' outputs this server cannot reach keeps this default.

        Raises:
            JobNotFound; NotFound (with the job's `location` where it has one) when the folder is
            not on this machine or does not exist yet.
        """
        raise NotFound(f"the {self.name} backend cannot reach {kind} {name!r}'s output folder from this server",
                       name=name)

    async def read_output(self, kind: str, name: str, namespace: str, path: str, *, limit: int) -> bytes:
        """At most `limit` bytes of one output file, under the one rule of `output_files.read_file`.

        Raises:
            JobNotFound; InvalidRequest (a path that is absolute, has `..`, or a bad limit);
            NotFound (no such regular file, or one whose real path leaves the output folder).
        """

    def output_bytes(self, kind: str, name: str, namespace: str, path: str) -> Stream[bytes]:
        """One whole output file as chunks (`output_files.stream_file`): no limit, bounded memory.

        Awaiting the stream opens the file and raises, before any byte, what `read_output` raises
        for the same path; the chunks end at the size the file had when it was opened.
        """
