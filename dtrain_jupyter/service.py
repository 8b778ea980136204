"""JobService: the one façade the server calls; knows no HTTP and no backend type.

The service owns the configured backends (built and started lazily, on first use), resolves
namespaces against the configuration (`allowed_namespaces` -> `Forbidden`), validates manifests
through `model.validation` before any backend sees them, and forwards each verb to the backend a
request names. It imports nothing from tornado or jupyter_server, so it runs the same under the
server, in a test, or in a script.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import dataclasses
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncGenerator, Callable, Mapping, Sequence

from .backends.base import CAP_EVENTS, CAP_FOLLOW_BYTES, CAP_PREVIOUS_LOGS, CAP_SUSPEND, Backend, ChangeListener
from .backends.listeners import Listeners
from .backends.namespaces import NamespacePolicy
from .errors import BackendUnavailable, ClusterError, DTrainError, InvalidRequest, JobNotFound, NotFound
from .history.history import JobHistory, as_past
from .history.recorder import FINAL_LOOK_SECONDS
from .history.store import HistoryError, HistoryPage, HistoryQuery, HistoryRecord
from .model.code_archive import CODE_VOLUME, CodeArchive, code_configmap_of
from .model.job import Event, Job, LogLine, OutputFile, Pod
from .model.kinds import known_kinds, lookup
from .model.metric_series import JobProgress, MetricsPage
from .model.rerun import next_run_name, rerun_manifest
from .model.valid_manifest import ValidManifest
from .model.status import Phase

BackendFactory = Callable[[], Backend]

# The backends this project ships: the one list, which c.DTrain.backend is checked against too.
# One of them left out of c.DTrain.backend is a server that could serve it but does not (503);
# any other name is a mistake in the request (404).
SHIPPED_BACKENDS = ("local", "kubernetes")
# The longest a metrics request waits for new points (below the proxies' and browsers' idle limits).
MAX_METRICS_WAIT_S = 25.0
# A live job's TensorBoard event files are read this often while someone waits on its metrics.
SCALARS_EVERY_S = 5.0


@dataclass(frozen=True)
class OutputListing:
    """The answer of `JobService.outputs`: the files, and where they are (`Backend.output_location`)."""

    files: list[OutputFile]
    location: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"items": [f.to_dict() for f in self.files], "location": dict(self.location)}


def canonical_kind(kind: str) -> str:
    """`pytorchjob`, `PyTorchJob`, `pytorchjobs` -> `PyTorchJob` (kubectl accepts all three).

    Raises:
        InvalidRequest: the word names no known job kind.
    """
    word = str(kind).strip().lower()
    for known in known_kinds():
        if word in (known.lower(), known.lower() + "s"):
            return known
    raise InvalidRequest(
        f"unknown job kind {kind!r}; known kinds: {', '.join(known_kinds())}", kind=str(kind)
    )


def parse_phase(phase: str) -> Phase:
    """A phase name, case-insensitive. Raises InvalidRequest for an unknown one."""
    for p in Phase:
        if p.value.lower() == str(phase).strip().lower():
            return p
    raise InvalidRequest(
        f"unknown phase {phase!r}; use one of {', '.join(p.value for p in Phase)}", phase=str(phase)
    )


class JobService:
    """Every job verb over the configured backends.

    Args:
        factories: backend name -> a callable building it. A backend is built and started the
            first time a request needs it (or by `start_all`), so an unused Kubernetes client
            costs nothing at server start-up.
        default_backend: the backend a request without one goes to (default: the first factory).
        namespace: default namespace; empty means "what the backend says" (its kube context's
            namespace), then "default".
        allowed_namespaces: when non-empty, the only namespaces any request may touch.
        log: where background failures are reported.
        history: the job history; with it, every job the backends report is recorded, and a job
            the cluster no longer has is answered from its record (`Job.removed` set).
    """

    def __init__(
        self,
        factories: Mapping[str, BackendFactory],
        *,
        default_backend: str | None = None,
        namespace: str = "",
        allowed_namespaces: Sequence[str] = (),
        log: logging.Logger | None = None,
        history: JobHistory | None = None,
    ) -> None:
        if not factories:
            raise BackendUnavailable("no backend is configured; set c.DTrain.backend")
        self._factories = dict(factories)
        self.default_backend = default_backend or next(iter(self._factories))
        if self.default_backend not in self._factories:
            raise BackendUnavailable(f"default backend {self.default_backend!r} is not configured")
        self.namespace = namespace
        self.namespaces = NamespacePolicy(allowed_namespaces)
        self.log = log or logging.getLogger("dtrain_jupyter")
        self._backends: dict[str, Backend] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        # Every backend is subscribed to `notify` once, when built; listeners come and go here.
        self._listeners: Listeners[[str, Job]] = Listeners(self.log, "dtrain: job change listener")
        self._failures: dict[str, DTrainError] = {}
        self.history = history
        self._history_started = False
        # TensorBoard watches of live jobs' output folders, by history record, held while someone
        # asks for the job's metrics and dropped once its points are all read (`finished`).
        self._scalar_readers: dict[int, _ScalarWatch] = {}

    # -- backends ---------------------------------------------------------------------------

    @property
    def backend_names(self) -> tuple[str, ...]:
        return tuple(self._factories)

    def subscribe(self, listener: ChangeListener) -> None:
        """Receive every backend's changes (also from backends built later)."""
        self._listeners.add(listener)

    def unsubscribe(self, listener: ChangeListener) -> None:
        """Stop sending changes to `listener`."""
        self._listeners.remove(listener)

    async def backend(self, name: str | None = None) -> Backend:
        """The named backend, built and started on first use.

        Raises:
            NotFound: no backend of that name exists at all.
            BackendUnavailable: not configured, or it failed to build or start.
        """
        name = name or self.default_backend
        if name not in self._factories and name not in SHIPPED_BACKENDS:
            raise NotFound(
                f"there is no backend {name!r}; this server's backends: {', '.join(self._factories)}",
                backend=name,
            )
        if name not in self._factories:
            raise BackendUnavailable(
                f"backend {name!r} is not configured on this server; configured: "
                f"{', '.join(self._factories)} (c.DTrain.backend)", backend=name,
            )
        ready = self._backends.get(name)
        if ready is not None:
            return ready
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name in self._backends:
                return self._backends[name]
            try:
                backend = self._factories[name]()
                backend.subscribe(self._listeners.notify)
                await backend.start()
            except DTrainError as e:
                self._failures[name] = e
                raise
            except Exception as e:  # an import or client failure: say which backend and why
                self.log.exception("dtrain: the %s backend failed to start", name)
                err = BackendUnavailable(f"the {name} backend failed to start: {e}", backend=name)
                self._failures[name] = err
                raise err from e
            self._failures.pop(name, None)
            self._backends[name] = backend
            return backend

    async def start_history(self) -> None:
        """Begin recording the job history (before any backend starts, so it hears every job)."""
        if self.history is not None and not self._history_started:
            self._history_started = True
            await self.history.start(self, permits=self.namespaces.permits)

    async def start_all(self) -> None:
        """Start the history and every configured backend; failures are logged, the next request retries."""
        await self.start_history()
        for name in self._factories:
            try:
                await self.backend(name)
            except DTrainError as e:
                self.log.warning("dtrain: %s backend not started: %s", name, e.message)

    async def stop(self) -> None:
        """Stop the started backends (local replicas keep running; they outlive the server)."""
        for name, backend in list(self._backends.items()):
            try:
                await backend.stop()
            except Exception:
                self.log.exception("dtrain: stopping the %s backend failed", name)
        self._backends.clear()
        if self.history is not None and self._history_started:
            self._history_started = False
            await self.history.stop()

    def describe(self) -> list[dict[str, Any]]:
        """One dict per configured backend: where it points and whether it is ready."""
        out = []
        for name in self._factories:
            backend = self._backends.get(name)
            if backend is not None:
                info = dict(backend.describe())
                info.setdefault("ready", True)
            else:
                failure = self._failures.get(name)
                info = {"backend": name, "ready": False,
                        "message": failure.message if failure else "not started yet (starts on first use)"}
            info["backend"] = name
            info["default"] = name == self.default_backend
            info["capabilities"] = sorted(backend.capabilities) if backend is not None else []
            out.append(info)
        return out

    # -- namespaces -------------------------------------------------------------------------

    def namespace_for(self, backend: Backend, namespace: str | None) -> str:
        """The namespace a request means: its own, else the configured, else the backend's.

        See `NamespacePolicy.default` for how an allow-list narrows the backend's own.

        Raises:
            Forbidden: that namespace is not allowed.
        """
        return self.namespaces.check(
            namespace or self.namespaces.default(self.namespace, str(backend.describe().get("namespace") or "")))

    # -- validation -------------------------------------------------------------------------

    def validate(self, source: Mapping[str, Any] | str) -> dict[str, Any]:
        """Offline validation of a manifest or YAML text (no backend involved).

        Returns:
            `{"valid": bool, "issues": [ValidationIssue dicts], "manifests": [dicts]}`.
        Raises:
            InvalidRequest: `source` is neither a mapping nor a string.
        """
        from .model import validation

        if isinstance(source, str):
            docs, issues = validation.validate_text(source)
        elif isinstance(source, Mapping):
            docs, issues = [dict(source)], validation.validate_manifest(dict(source))
        else:
            raise InvalidRequest("a manifest must be a JSON object or YAML text")
        return {"valid": not issues, "issues": [i.to_dict() for i in issues],
                "manifests": [d for d in docs if isinstance(d, dict)]}

    def _one_manifest(self, source: Mapping[str, Any] | str) -> ValidManifest:
        """The one manifest of a request, validated: backends read it without checking it again."""
        from .model import validation

        if not isinstance(source, (str, Mapping)):
            raise InvalidRequest("a manifest must be a JSON object or YAML text")
        docs = validation.ensure_valid(source if isinstance(source, str) else dict(source))
        if len(docs) != 1:
            raise InvalidRequest(
                f"one job per request: the text holds {len(docs)} documents; submit them one by one"
            )
        framework = lookup(docs[0]["apiVersion"], docs[0]["kind"])
        assert framework is not None  # validation identified the kind
        return ValidManifest(copy.deepcopy(docs[0]), framework)

    # -- verbs ------------------------------------------------------------------------------

    async def create(
        self, source: Mapping[str, Any] | str, *, backend: str | None = None,
        namespace: str | None = None, kind: str | None = None, dry_run: bool = False,
        code: CodeArchive | None = None,
    ) -> Job:
        """Validate, then create one job. `kind`, when given, must match the manifest's kind.

        `code` is a script folder's archive, which the manifest's `dtrain-code` volume names
        (see `model.code_archive`); the backend stores it with the job.

        Raises:
            InvalidJob, InvalidRequest, Forbidden, JobExists, BackendUnavailable, ClusterError.
        """
        manifest = self._one_manifest(source)
        if kind is not None and manifest.get("kind") != kind:
            raise InvalidRequest(
                f"this URL creates {kind} objects, the manifest is a {manifest.get('kind')}",
                kind=kind,
            )
        target = await self.backend(backend)
        meta = manifest.setdefault("metadata", {})
        own = meta.get("namespace")
        if own and namespace and own != namespace:
            raise InvalidRequest(
                f"the manifest's namespace {own!r} does not match the requested namespace {namespace!r}"
            )
        meta["namespace"] = self.namespace_for(target, own or namespace)
        if code is not None and code_configmap_of(manifest) is None:
            raise InvalidRequest(f"the request sends a code archive, but no replica of the manifest mounts a "
                                 f"volume {CODE_VOLUME!r} from a ConfigMap: build the job with FolderJob",
                                 field="code")
        if code is None:
            # A backend written before code archives still creates every job that has none.
            return await target.create(manifest, dry_run=dry_run)
        return await target.create(manifest, dry_run=dry_run, code=code)

    async def list(
        self, *, backend: str | None = None, namespace: str | None = None,
        all_namespaces: bool = False, kind: str | None = None, phase: str | None = None,
        name: str | None = None,
    ) -> list[Job]:
        """Jobs of one backend (default: the default one) matching every given filter.

        `all_namespaces` lists every namespace the configuration allows.
        Raises:
            InvalidRequest (unknown kind or phase), Forbidden, BackendUnavailable, ClusterError.
        """
        want_kind = canonical_kind(kind) if kind else None
        want_phase = parse_phase(phase) if phase else None
        target = await self.backend(backend)
        if all_namespaces:
            found = [j for j in await target.list(None) if self.namespaces.permits(j.namespace)]
        else:
            found = await target.list(self.namespace_for(target, namespace))
        return [
            j for j in found
            if (want_kind is None or j.kind == want_kind)
            and (want_phase is None or j.phase == want_phase)
            and (name is None or j.name == name)
        ]

    async def list_everywhere(self, **filters: Any) -> tuple[list[Job], list[dict[str, Any]]]:
        """`list` over every configured backend.

        A backend that cannot answer (no cluster) does not hide the others' jobs: its error is
        returned as a problem `{"backend", "error", "message"}` beside the jobs that were found.
        Errors in the filters themselves (a bad kind, a forbidden namespace) still raise.
        """
        jobs: list[Job] = []
        problems: list[dict[str, Any]] = []
        for name in self._factories:
            try:
                jobs.extend(await self.list(backend=name, **filters))
            except (BackendUnavailable, ClusterError) as e:
                problems.append({"backend": name, **e.to_dict()})
        return jobs, problems

    async def _target(self, backend: str | None, namespace: str | None) -> tuple[Backend, str]:
        target = await self.backend(backend)
        return target, self.namespace_for(target, namespace)

    async def get(self, backend: str | None, namespace: str | None, kind: str, name: str) -> Job:
        """The job; one the cluster no longer has comes from the job history (`removed` set). Raises JobNotFound."""
        target, ns = await self._target(backend, namespace)
        try:
            return await target.get(canonical_kind(kind), name, ns)
        except JobNotFound as e:
            return as_past(self._past(e, target, ns, kind, name))

    async def delete(self, backend: str | None, namespace: str | None, kind: str, name: str) -> Job:
        target, ns = await self._target(backend, namespace)
        return await target.delete(canonical_kind(kind), name, ns)

    async def suspend(self, backend: str | None, namespace: str | None, kind: str, name: str) -> Job:
        """Suspend a job: its replicas stop, the job stays (see `Backend.suspend`).

        Raises:
            InvalidRequest (a backend without CAP_SUSPEND; a finished or suspended job), JobNotFound,
            Forbidden, ClusterError, BackendUnavailable.
        """
        target, ns = await self._suspending(backend, namespace, "suspend")
        return await target.suspend(canonical_kind(kind), name, ns)

    async def resume(self, backend: str | None, namespace: str | None, kind: str, name: str) -> Job:
        """Resume a suspended job: its replicas start again (see `Backend.resume`).

        Raises:
            InvalidRequest (a backend without CAP_SUSPEND; a job that is not suspended), JobNotFound,
            Forbidden, ClusterError, BackendUnavailable.
        """
        target, ns = await self._suspending(backend, namespace, "resume")
        return await target.resume(canonical_kind(kind), name, ns)

    async def _suspending(self, backend: str | None, namespace: str | None, verb: str) -> tuple[Backend, str]:
        target, ns = await self._target(backend, namespace)
        if CAP_SUSPEND not in target.capabilities:
            raise InvalidRequest(f"the {target.name} backend cannot {verb} jobs (it has no capability "
                                 f"{CAP_SUSPEND!r})", capability=CAP_SUSPEND)
        return target, ns

    async def pods(self, backend: str | None, namespace: str | None, kind: str, name: str, *,
                   history: bool = True) -> list[Pod]:
        """The job's pods; a past job's as last seen (with `history`, the default). Raises JobNotFound."""
        target, ns = await self._target(backend, namespace)
        try:
            return await target.pods(canonical_kind(kind), name, ns)
        except JobNotFound as e:
            return self._past(e, target, ns, kind, name, history).pods

    async def events(self, backend: str | None, namespace: str | None, kind: str, name: str, *,
                     history: bool = True) -> list[Event]:
        """Events of the job and its pods (a past job's as kept); none from a backend without
        CAP_EVENTS. Raises JobNotFound."""
        target, ns = await self._target(backend, namespace)
        try:
            if CAP_EVENTS not in target.capabilities:
                await target.get(canonical_kind(kind), name, ns)  # a wrong name is still JobNotFound
                return []
            return await target.events(canonical_kind(kind), name, ns)
        except JobNotFound as e:
            return self._past(e, target, ns, kind, name, history).events

    async def rerun(
        self, backend: str | None, namespace: str | None, kind: str, name: str, *, new_name: str | None = None,
        to_backend: str | None = None, to_namespace: str | None = None,
        manifest: Mapping[str, Any] | str | None = None, dry_run: bool = False,
    ) -> Job:
        """Create a job again from another one, still on the cluster or only in the job history.

        Args:
            new_name: the new job's name; default the edited manifest's own name when it was
                changed, else the first free "<name>-runN" (`model.rerun.next_run_name`).
            to_backend, to_namespace: where it runs (default: where the old one ran).
            manifest: an edited manifest (or its YAML text) to run instead of the old one ("Edit
                and re-run"); it must be of the same kind, and is validated as any new job.
            dry_run: validate (and on Kubernetes ask the API server) without creating.
        Raises:
            JobNotFound (neither on the cluster nor in the history), InvalidRequest (another kind;
            a script-folder job whose code is no longer kept), and what `create` raises.
        """
        old = await self.get(backend, namespace, kind, name)
        target = await self.backend(to_backend or old.backend)
        ns = self.namespace_for(target, to_namespace or old.namespace)
        if isinstance(manifest, Mapping) and manifest.get("kind") != old.kind:
            # Said before validation, which would judge it as the other kind.
            raise InvalidRequest(f"a re-run of {old.kind} {old.name!r} must be a {old.kind}, not a "
                                 f"{manifest.get('kind')}", field="manifest.kind")
        source = dict(self._one_manifest(manifest)) if manifest is not None else old.manifest
        if source.get("kind") != old.kind:
            raise InvalidRequest(f"a re-run of {old.kind} {old.name!r} must be a {old.kind}, not a "
                                 f"{source.get('kind')}", field="manifest.kind")
        edited_name = (source.get("metadata") or {}).get("name") if manifest is not None else None
        if new_name is None and edited_name and edited_name != old.name:
            new_name = edited_name
        if new_name is None:
            taken = {j.name for j in await target.list(ns) if j.kind == old.kind}
            new_name = next_run_name(old.name, taken)
        fresh = rerun_manifest(source, new_name, ns)
        code = await self._code_for_rerun(old, fresh)
        return await self.create(fresh, backend=target.name, namespace=ns, dry_run=dry_run, code=code)

    async def code_archive(self, backend: str | None, namespace: str | None, kind: str, name: str, *,
                           history: bool = True) -> CodeArchive | None:
        """The script folder a job runs (`model.code_archive`); None for a job without one.
        A past job's comes from the job history. Raises JobNotFound."""
        target, ns = await self._target(backend, namespace)
        try:
            return await target.code_archive(canonical_kind(kind), name, ns)
        except JobNotFound as e:
            record = self._past(e, target, ns, kind, name, history)
            return self._history_or_raise().code_archive(record)

    async def _code_for_rerun(self, old: Job, fresh: Mapping[str, Any]) -> CodeArchive | None:
        if code_configmap_of(fresh) is None:
            return None
        code = await self.code_archive(old.backend, old.namespace, old.kind, old.name)
        if code is None:
            raise InvalidRequest(f"{old.kind} {old.name!r} ran code from a script folder, and its code is no longer "
                                 "kept (its ConfigMap or job folder is gone and the job history has no copy): run "
                                 "the folder again with Client.run(script, workdir=...)", field="code")
        return code

    # -- the job history ----------------------------------------------------------------------

    def _past(self, error: JobNotFound, target: Backend, namespace: str, kind: str, name: str,
              history: bool = True) -> HistoryRecord:
        """The record of a job `target` no longer has; `error` again when there is none (or no history)."""
        if self.history is None or not history:
            raise error
        try:
            return self.history.past_record(target.name, namespace, canonical_kind(kind), name)
        except sqlite3.Error as e:  # locked past its timeout, or unreadable
            raise BackendUnavailable(f"the job history cannot be read now: {e}") from None

    def _history_or_raise(self) -> JobHistory:
        if self.history is None:
            raise NotFound("this server keeps no job history (c.DTrain.history is False)")
        return self.history

    async def history_page(self, query: HistoryQuery) -> HistoryPage:
        """A page of job records, newest first (see `HistoryQuery`). Raises NotFound without a history,
        InvalidRequest for a bad query."""
        history = self._history_or_raise()
        if query.backend is not None and query.backend not in self._factories:
            raise InvalidRequest(f"there is no backend {query.backend!r}; this server's backends: "
                                 f"{', '.join(self._factories)}", argument="backend")
        if query.namespace is not None:
            self.namespaces.check(query.namespace)
        elif self.namespaces.allowed:
            query = dataclasses.replace(query, namespaces=self.namespaces.allowed)
        try:
            return await asyncio.to_thread(history.list, query)
        except HistoryError as e:
            raise InvalidRequest(str(e)) from None
        except sqlite3.Error as e:  # locked past its timeout, or unreadable: an answer, not a crash
            raise BackendUnavailable(f"the job history cannot be read now: {e}") from None

    async def forget(self, backend: str | None, namespace: str | None, kind: str, name: str) -> int:
        """Remove a past job's records and archived logs; returns how many records went.

        Raises:
            InvalidRequest: the job is still on the cluster (delete it first).
            JobNotFound: the history has no record of it. NotFound: no history on this server.
        """
        history = self._history_or_raise()
        target, ns = await self._target(backend, namespace)
        kind = canonical_kind(kind)
        try:
            await target.get(kind, name, ns)
        except JobNotFound:
            return await asyncio.to_thread(history.forget, target.name, ns, kind, name)
        raise InvalidRequest(f"{kind} {name!r} is still on the {target.name} backend: delete it first, then "
                             "forget its record", name=name)

    # -- metrics ----------------------------------------------------------------------------------

    async def metrics(self, backend: str | None, namespace: str | None, kind: str, name: str, *,
                      since: int = 0, wait: float = 0.0) -> MetricsPage:
        """The job's metric points numbered after `since` (0: all), as the job history read them from its
        logs (and from its TensorBoard event files, when its output folder is readable here).

        With `wait` > 0, waits up to that many seconds for newer points (or the job's end) when none
        are there yet. A live job's TensorBoard scalars are read every `SCALARS_EVERY_S` while someone
        waits (and by the history's recorder once more when it finishes).

        Raises:
            InvalidRequest (since < 0, wait outside 0..MAX_METRICS_WAIT_S), JobNotFound (neither on
            the cluster nor in the history), NotFound (no job history on this server),
            BackendUnavailable (the history cannot be read now).
        """
        if isinstance(since, bool) or not isinstance(since, int) or since < 0:
            raise InvalidRequest(f"since must be a whole number >= 0 (a cursor this server gave), not {since!r}",
                                 argument="since")
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_METRICS_WAIT_S:
            raise InvalidRequest(f"wait must be between 0 and {MAX_METRICS_WAIT_S:g} seconds, not {wait!r}",
                                 argument="wait")
        history = self._history_or_raise()
        target, ns = await self._target(backend, namespace)
        kind = canonical_kind(kind)
        try:
            job: Job | None = await target.get(kind, name, ns)
            record = await asyncio.to_thread(history.store.find_uid, target.name, job.uid) if job.uid else None
        except JobNotFound as e:
            job, record = None, self._past(e, target, ns, kind, name)
        except (HistoryError, sqlite3.Error) as e:
            raise BackendUnavailable(f"the job history cannot be read now: {e}") from None
        if record is None:
            # On the cluster and not recorded yet (created a moment ago): nothing read from it yet.
            # A waiting caller waits a moment (the recorder records it as it hears of it), so a
            # follower asking again and again does not spin.
            await asyncio.sleep(min(wait, 1.0))
            return MetricsPage(since, False, [], None, False)
        if not history.archiving(record) and not await asyncio.to_thread(history.metrics.ingested, record.id):
            # Archived before metrics were kept (or while no recorder ran): read its archive once.
            history.ingest.backfill(record.id, record.job.name)
        scalars: _ScalarWatch | None = None
        looked_for_scalars = job is None  # only a job on the cluster still writes event files
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            changed = history.ingest.changed(record.id)
            # `reading` on the loop: the recorder's copies change there (read in the thread, they
            # could change size while iterated).
            finished = await asyncio.to_thread(self._metrics_finished, history, record.id,
                                               history.archiving(record))
            if finished:
                # No more scalars: the recorder had the event files read once more as the job ended.
                self._scalar_readers.pop(record.id, None)
            else:
                if not looked_for_scalars:
                    looked_for_scalars = True
                    scalars = await self._scalar_reader(target.name, ns, kind, name, record.id, job)
                if scalars is not None:
                    self._read_scalars(history, record.id, scalars)
            try:
                stored = await asyncio.to_thread(history.metrics.page, record.id, since)
            except (HistoryError, sqlite3.Error) as e:
                raise BackendUnavailable(f"the job history's metrics cannot be read now: {e}") from None
            left = deadline - asyncio.get_running_loop().time()
            if stored.series or stored.reset or finished or left <= 0:
                break
            # Woken by the next batch of this job's points; the job's end has no batch, so it is
            # looked at again each second.
            try:
                await asyncio.wait_for(changed.wait(), min(left, 1.0))
            except asyncio.TimeoutError:
                pass
        progress = await asyncio.to_thread(history.metrics.progress, record.id)
        return MetricsPage(stored.cursor, stored.reset, stored.series,
                           None if progress is None else _job_progress(record.job, progress), finished)

    async def progress(self) -> list[JobProgress]:
        """Every live job (on the cluster, not finished) whose code reported progress, as last reported."""
        history = self.history
        if history is None or history.recorder is None:
            return []
        live = {record_id: job for record_id, job in history.recorder.live()
                if self.namespaces.permits(job.namespace)}
        if not live:
            return []
        reported = await asyncio.to_thread(history.metrics.progress_of_each, live)
        return [_job_progress(live[record_id], progress) for record_id, progress in reported.items()]

    @staticmethod
    def _metrics_finished(history: JobHistory, record_id: int, reading: bool) -> bool:
        """Whether no more points will come: the job ended (or left the cluster), no log of it is being
        read (`reading`, asked on the loop), the ingest has written all it was given, and every
        archived log was read whole or the recorder's last look at the job is over (a log cut short
        then stays so)."""
        record = history.store.record(record_id)
        if record is None or (record.finished is None and record.deleted is None):
            return False
        recorder = history.recorder
        if reading or history.ingest.busy(record_id):
            return False
        ended = min(t for t in (record.finished, record.deleted) if t is not None)
        return (recorder is None or time.time() - ended > FINAL_LOOK_SECONDS + 2.0
                or not history.incomplete(record))

    async def _scalar_reader(self, backend: str, namespace: str, kind: str, name: str, record_id: int,
                             job: Job) -> "_ScalarWatch | None":
        """The watch of a live job's output folder (kept per record), or None when the folder cannot
        be read here."""
        reader = self._scalar_readers.get(record_id)
        if reader is None:
            try:
                root = await self.output_root(backend, namespace, kind, name)
            except DTrainError:
                return None  # no output folder (yet), or not mounted here: no scalars
            reader = self._scalar_readers[record_id] = _ScalarWatch(root)
        return reader

    def _read_scalars(self, history: JobHistory, record_id: int, watch: "_ScalarWatch") -> None:
        """Queue a read of new scalars every SCALARS_EVERY_S (in the metric reader process, which
        keeps one reader per folder and so reads only what was written since)."""
        now = asyncio.get_running_loop().time()
        if now - watch.last_read >= SCALARS_EVERY_S:
            watch.last_read = now
            history.ingest.scalars(record_id, watch.root)

    async def outputs(self, backend: str | None, namespace: str | None, kind: str, name: str) -> OutputListing:
        """The files in the job's output location, and that location.

        Raises:
            JobNotFound; NotFound when the files cannot be listed (its `location` field says where
            they are when the job has a location), and for a job only the job history remembers
            (it keeps records and logs, not output files).
        """
        target, ns = await self._target(backend, namespace)
        kind = canonical_kind(kind)
        try:
            location = await target.output_location(kind, name, ns)
            return OutputListing(await target.outputs(kind, name, ns), location)
        except JobNotFound as e:
            record = self._past(e, target, ns, kind, name)
        # Raised outside the except: the backend's "not found" is no cause of this answer.
        raise _no_past_outputs(record, target.name)

    async def output_root(self, backend: str | None, namespace: str | None, kind: str, name: str) -> Path:
        """The folder on this server's machine holding the job's outputs, for readers that walk it
        whole (TensorBoard, its event files): a local job's own folder, or where this server mounts a
        Kubernetes job's output claim (c.DTrain.output_mounts).

        Raises:
            JobNotFound; NotFound (with words and the job's `location`) when the folder does not
            exist (yet), the claim is not mounted here, or only the job history remembers the job.
        """
        target, ns = await self._target(backend, namespace)
        kind = canonical_kind(kind)
        try:
            return await target.output_root(kind, name, ns)
        except JobNotFound as e:
            record = self._past(e, target, ns, kind, name)
        # Raised outside the except: the backend's "not found" is no cause of this answer.
        raise _no_past_outputs(record, target.name)

    async def read_output(
        self, backend: str | None, namespace: str | None, kind: str, name: str, path: str, *, limit: int,
    ) -> bytes:
        """At most `limit` bytes of one output file. Raises NotFound, InvalidRequest."""
        if not path or "\x00" in path:
            raise InvalidRequest("an output path is required (relative to the job's output folder)")
        if limit <= 0:
            raise InvalidRequest(f"limit must be a positive number of bytes, not {limit}")
        target, ns = await self._target(backend, namespace)
        try:
            return await target.read_output(canonical_kind(kind), name, ns, path, limit=limit)
        except JobNotFound as e:
            record = self._past(e, target, ns, kind, name)
        raise _no_past_outputs(record, target.name)

    async def output_bytes(
        self, backend: str | None, namespace: str | None, kind: str, name: str, path: str,
    ) -> AsyncGenerator[bytes, None]:
        """One whole output file as chunks (`Backend.output_bytes`), opened now.

        Every refusal is raised here, before any byte; close the generator (`aclose()`) to stop early.

        Raises:
            JobNotFound, NotFound, InvalidRequest.
        """
        if not path or "\x00" in path:
            raise InvalidRequest("an output path is required (relative to the job's output folder)")
        target, ns = await self._target(backend, namespace)
        try:
            return await target.output_bytes(canonical_kind(kind), name, ns, path)
        except JobNotFound as e:
            record = self._past(e, target, ns, kind, name)
        raise _no_past_outputs(record, target.name)

    async def logs(
        self, backend: str | None, namespace: str | None, kind: str, name: str, **options: Any,
    ) -> AsyncGenerator[LogLine, None]:
        """Log lines of one pod or all pods merged; `options` are the Backend.logs keywords.

        Awaiting this opens the backend's stream, so every refusal (a wrong job, pod, container
        or argument) is raised here, before any line is promised.

        Raises:
            InvalidRequest (also `previous` on a backend without CAP_PREVIOUS_LOGS), JobNotFound,
            NotFound, Forbidden, BackendUnavailable, ClusterError.
        """
        history = options.pop("history", True)
        target, ns = await self._target(backend, namespace)
        _check_previous(target, options)
        try:
            return await target.logs(canonical_kind(kind), name, ns, **options)
        except JobNotFound as e:
            record = self._past(e, target, ns, kind, name, history)
            _check_archived_read(options)
            return self._history_or_raise().log_lines(record, pod=options.get("pod"), tail=options.get("tail"))

    async def log_text(
        self, backend: str | None, namespace: str | None, kind: str, name: str, **options: Any,
    ) -> AsyncGenerator[bytes, None]:
        """The log as plain text bytes (lines joined by newlines), chunked; same options and refusals as `logs`.

        One pod's full read or tail is the backend's `log_bytes`, the bytes as written (no
        object per line: the 1 GB-log path), as `SizedChunks` when the backend knows their length
        at open (the server then sends Content-Length); so is one pod's follow where the backend
        follows bytes (CAP_FOLLOW_BYTES). Anything else is the lines of `logs`, joined in blocks.
        A past job's log is its archive (each line of a merged read prefixed by its pod).
        """
        history = options.pop("history", True)
        target, ns = await self._target(backend, namespace)
        _check_previous(target, options)
        kind = canonical_kind(kind)
        follow = bool(options.get("follow"))
        plain = not (options.get("timestamps") or options.get("since_seconds") is not None)
        as_written = plain and (not follow or CAP_FOLLOW_BYTES in target.capabilities)
        try:
            if options.get("pod") and as_written:
                # `follow` only when following: a backend without follow-bytes need not know the word.
                more = {"follow": True} if follow else {}
                return await target.log_bytes(kind, name, ns, pod=options["pod"], container=options.get("container"),
                                              tail=options.get("tail"), previous=bool(options.get("previous")),
                                              **more)
            lines = await target.logs(kind, name, ns, **options)
        except JobNotFound as e:
            record = self._past(e, target, ns, kind, name, history)
            _check_archived_read(options)
            return self._history_or_raise().log_bytes(record, pod=options.get("pod"), tail=options.get("tail"))
        return _join_lines(lines, bool(options.get("follow")))


@dataclass
class _ScalarWatch:
    """A live job's output folder, where its TensorBoard event files are, and when it was last read."""

    root: Path
    last_read: float = float("-inf")


def _job_progress(job: Job, progress: Any) -> JobProgress:
    updated = dt.datetime.fromtimestamp(progress.updated, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return JobProgress(job.backend, job.namespace, job.kind, job.name, job.uid or "", progress.fraction,
                       progress.eta_seconds, updated)


def _no_past_outputs(record: HistoryRecord, backend: str) -> NotFound:
    """The answer to an output request for a job only the job history remembers."""
    job = as_past(record)
    return NotFound(f"{job.kind} {job.name!r} is no longer on the {backend} backend (removed {job.removed}): the job "
                    "history keeps its record and logs, not its output files (a local job's output folder went "
                    "with it; a Kubernetes job's files stay in their volume)", name=job.name, removed=job.removed)


def _check_archived_read(options: Mapping[str, Any]) -> None:
    """What an archived log can answer: the last attempt's lines, whole or by tail (a follow just ends)."""
    for option, why in (("previous", "it keeps each pod's last attempt"),
                        ("since_seconds", "it keeps no time per line"),
                        ("container", "it keeps each pod's first container")):
        if options.get(option):
            raise InvalidRequest(f"the job has left the cluster and its archived log cannot answer {option}: {why}",
                                 argument=option)


def _check_previous(target: Backend, options: Mapping[str, Any]) -> None:
    if options.get("previous") and CAP_PREVIOUS_LOGS not in target.capabilities:
        raise InvalidRequest(f"the {target.name} backend keeps no previous logs (it has no capability "
                             f"{CAP_PREVIOUS_LOGS!r})", argument="previous")


async def _join_lines(lines: AsyncGenerator[LogLine, None], follow: bool) -> AsyncGenerator[bytes, None]:
    """Log lines as newline-terminated UTF-8 blocks of about 64 KiB (one line at a time when following)."""
    block: list[str] = []
    size = 0
    try:
        async for line in lines:
            block.append(line.line)
            size += len(line.line) + 1
            if follow or size >= 65536:
                yield ("\n".join(block) + "\n").encode("utf-8", errors="replace")
                block, size = [], 0
        if block:
            yield ("\n".join(block) + "\n").encode("utf-8", errors="replace")
    finally:
        await lines.aclose()  # a reader that left early stops the backend's readers too
