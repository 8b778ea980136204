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
import logging
from dataclasses import dataclass
from typing import Any, AsyncGenerator, Callable, Mapping, Sequence

from .backends.base import CAP_EVENTS, CAP_PREVIOUS_LOGS, Backend, ChangeListener
from .backends.listeners import Listeners
from .backends.namespaces import NamespacePolicy
from .errors import BackendUnavailable, ClusterError, DTrainError, InvalidRequest, NotFound
from .model.job import Event, Job, LogLine, OutputFile, Pod
from .model.kinds import known_kinds, lookup
from .model.valid_manifest import ValidManifest
from .model.status import Phase

BackendFactory = Callable[[], Backend]

# The backends this project ships: the one list, which c.DTrain.backend is checked against too.
# One of them left out of c.DTrain.backend is a server that could serve it but does not (503);
# any other name is a mistake in the request (404).
SHIPPED_BACKENDS = ("local", "kubernetes")


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
    """

    def __init__(
        self,
        factories: Mapping[str, BackendFactory],
        *,
        default_backend: str | None = None,
        namespace: str = "",
        allowed_namespaces: Sequence[str] = (),
        log: logging.Logger | None = None,
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

    async def start_all(self) -> None:
        """Start every configured backend; failures are logged, the next request retries."""
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
    ) -> Job:
        """Validate, then create one job. `kind`, when given, must match the manifest's kind.

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
        return await target.create(manifest, dry_run=dry_run)

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
        target, ns = await self._target(backend, namespace)
        return await target.get(canonical_kind(kind), name, ns)

    async def delete(self, backend: str | None, namespace: str | None, kind: str, name: str) -> Job:
        target, ns = await self._target(backend, namespace)
        return await target.delete(canonical_kind(kind), name, ns)

    async def pods(self, backend: str | None, namespace: str | None, kind: str, name: str) -> list[Pod]:
        target, ns = await self._target(backend, namespace)
        return await target.pods(canonical_kind(kind), name, ns)

    async def events(self, backend: str | None, namespace: str | None, kind: str, name: str) -> list[Event]:
        """Events of the job and its pods; none from a backend without CAP_EVENTS. Raises JobNotFound."""
        target, ns = await self._target(backend, namespace)
        if CAP_EVENTS not in target.capabilities:
            await target.get(canonical_kind(kind), name, ns)  # a wrong name is still JobNotFound
            return []
        return await target.events(canonical_kind(kind), name, ns)

    async def outputs(self, backend: str | None, namespace: str | None, kind: str, name: str) -> OutputListing:
        """The files in the job's output location, and that location.

        Raises:
            JobNotFound; NotFound when the files cannot be listed (its `location` field says where
            they are when the job has a location).
        """
        target, ns = await self._target(backend, namespace)
        kind = canonical_kind(kind)
        location = await target.output_location(kind, name, ns)
        return OutputListing(await target.outputs(kind, name, ns), location)

    async def read_output(
        self, backend: str | None, namespace: str | None, kind: str, name: str, path: str, *, limit: int,
    ) -> bytes:
        """At most `limit` bytes of one output file. Raises NotFound, InvalidRequest."""
        if not path or "\x00" in path:
            raise InvalidRequest("an output path is required (relative to the job's output folder)")
        if limit <= 0:
            raise InvalidRequest(f"limit must be a positive number of bytes, not {limit}")
        target, ns = await self._target(backend, namespace)
        return await target.read_output(canonical_kind(kind), name, ns, path, limit=limit)

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
        return await target.output_bytes(canonical_kind(kind), name, ns, path)

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
        target, ns = await self._target(backend, namespace)
        _check_previous(target, options)
        return await target.logs(canonical_kind(kind), name, ns, **options)

    async def log_text(
        self, backend: str | None, namespace: str | None, kind: str, name: str, **options: Any,
    ) -> AsyncGenerator[bytes, None]:
        """The log as plain text bytes (lines joined by newlines), chunked; same options and refusals as `logs`.

        One pod's full read or tail is the backend's `log_bytes`, the bytes as written (no
        object per line: the 1 GB-log path); anything else is the lines of `logs`, joined in blocks.
        """
        target, ns = await self._target(backend, namespace)
        _check_previous(target, options)
        kind = canonical_kind(kind)
        plain = not (options.get("follow") or options.get("timestamps") or options.get("since_seconds") is not None)
        if options.get("pod") and plain:
            return await target.log_bytes(kind, name, ns, pod=options["pod"], container=options.get("container"),
                                          tail=options.get("tail"), previous=bool(options.get("previous")))
        lines = await target.logs(kind, name, ns, **options)
        return _join_lines(lines, bool(options.get("follow")))


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
