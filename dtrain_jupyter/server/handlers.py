"""REST handlers of the dtrain API; the route table is at the bottom.

Every verb is `@web.authenticated` and `@authorized` (resource "dtrain"), parses its input with
the helpers of `base.DTrainHandler`, makes one call on the JobService and writes JSON. Errors
are raised, never written here: `DTrainHandler.write_error` is the one translation point.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, AsyncIterator

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import DTrainError, InvalidRequest, NotFound
from ..model.job import LogLine
from .base import DTrainHandler, plural_of
from .job_json import JobListEncoder
from .openapi import openapi_document

log = logging.getLogger(__name__)

# Long-polls never hold a connection longer than this (proxies drop idle requests near 60 s).
MAX_POLL_SECONDS = 55.0
# Without follow, flush every this many lines: fewer, larger writes for big logs.
FLUSH_EVERY = 500


class OpenAPIHandler(DTrainHandler):
    """The OpenAPI 3 document of this API."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(openapi_document(self.base_url))


class BackendsHandler(DTrainHandler):
    """Configured backends and where they point."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"items": self.service.describe()})


class JobsHandler(DTrainHandler):
    """Jobs of every backend (filters in the query); create into any backend."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        filters, backend = self.list_filters(), self.get_query_argument("backend", None)
        key = (backend, tuple(sorted(filters.items())))
        body = await self.list_cache.get_or_build(key, lambda: self._build(filters, backend))
        self.set_header("Content-Type", "application/json; charset=UTF-8")
        self.finish(body)

    async def _build(self, filters: dict[str, Any], backend: str | None) -> tuple[bytes, bool]:
        """The encoded list, and whether it may be reused (not when a backend had a problem)."""
        problems: list = []
        if backend:
            items = await self.service.list(backend=backend, **filters)
        else:
            items, problems = await self.service.list_everywhere(**filters)
        # Unchanged jobs reuse their encoded bytes (job_json.py): a change re-encodes one job, not all.
        encoder = self.settings.setdefault("dtrain_job_encoder", JobListEncoder())
        return encoder.encode(items, problems), not problems

    @web.authenticated
    @authorized
    async def post(self) -> None:
        job = await self.service.create(
            self.manifest_source(), backend=self.get_query_argument("backend", None),
            namespace=self.get_query_argument("namespace", None), dry_run=self.flag("dry_run"),
        )
        self.write_created(job)


class ValidateHandler(DTrainHandler):
    """Offline validation of a manifest or YAML text: every issue, nothing created."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.write_json(self.service.validate(self.manifest_source()))


class ChangesHandler(DTrainHandler):
    """Long-poll change feed: `?cursor=N&timeout=S` -> {cursor, changes, resync}."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        cursor = self.int_arg("cursor", minimum=0)
        timeout = self.float_arg("timeout", default=25.0, minimum=0.0, maximum=MAX_POLL_SECONDS)
        self.write_json(await self.feed.wait(cursor, timeout))


class KindHandler(DTrainHandler):
    """Jobs of one kind in one namespace of one backend; create one there."""

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str) -> None:
        items = await self.service.list(backend=backend, namespace=namespace, kind=self.kind_of(plural),
                                        phase=self.get_query_argument("phase", None))
        self.write_json({"items": [j.to_dict() for j in items]})

    @web.authenticated
    @authorized
    async def post(self, backend: str, namespace: str, plural: str) -> None:
        job = await self.service.create(self.manifest_source(), backend=backend, namespace=namespace,
                                        kind=self.kind_of(plural), dry_run=self.flag("dry_run"))
        self.write_created(job)


class JobHandler(DTrainHandler):
    """One job: status, conditions, replica counts; delete it."""

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str) -> None:
        self.write_json((await self.service.get(backend, namespace, self.kind_of(plural), name)).to_dict())

    @web.authenticated
    @authorized
    async def delete(self, backend: str, namespace: str, plural: str, name: str) -> None:
        job = await self.service.delete(backend, namespace, self.kind_of(plural), name)
        self.write_json(job.to_dict(), status=202)


class PodsHandler(DTrainHandler):
    """The job's replicas with their status and reason."""

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str) -> None:
        pods = await self.service.pods(backend, namespace, self.kind_of(plural), name)
        self.write_json({"items": [p.to_dict() for p in pods]})


class EventsHandler(DTrainHandler):
    """Events of the job and its pods, oldest first."""

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str) -> None:
        events = await self.service.events(backend, namespace, self.kind_of(plural), name)
        self.write_json({"items": [e.to_dict() for e in events]})


class OutputsHandler(DTrainHandler):
    """Files in the job's output location."""

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str) -> None:
        files = await self.service.outputs(backend, namespace, self.kind_of(plural), name)
        self.write_json({"items": [f.to_dict() for f in files]})


class OutputFileHandler(DTrainHandler):
    """One output file's bytes, at most `limit` (the server's cap when absent)."""

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str, path: str) -> None:
        cap = self.limits["output"]
        limit = self.int_arg("limit", default=cap, minimum=1, maximum=cap)
        # One byte more than asked tells whether the file was cut.
        data = await self.service.read_output(backend, namespace, self.kind_of(plural), name, path, limit=limit + 1)
        self.write_bytes(data[:limit], truncated=len(data) > limit)


class LogHandler(DTrainHandler):
    """Log lines as NDJSON (one LogLine object per line); streams while `follow` is set.

    An error after the first line has been sent arrives as a last line `{"error": ...}`.
    """

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str) -> None:
        follow = self.flag("follow")
        fmt = self.get_query_argument("format", "ndjson")
        if fmt not in ("ndjson", "text"):
            raise InvalidRequest(f"format must be 'ndjson' or 'text', not {fmt!r}", field="format")
        options = dict(
            follow=follow, pod=self.get_query_argument("pod", None) or None,
            container=self.get_query_argument("container", None) or None,
            tail=self.int_arg("tail", minimum=0), since_seconds=self.int_arg("since_seconds", minimum=0),
            previous=self.flag("previous"), timestamps=self.flag("timestamps"),
        )
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")  # let reverse proxies pass lines through at once
        if fmt == "text":
            chunks = await self.service.log_text(backend, namespace, self.kind_of(plural), name, **options)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.set_header("X-Content-Type-Options", "nosniff")
            await self._stream_text(chunks)
            return
        lines = await self.service.logs(backend, namespace, self.kind_of(plural), name, **options)
        self.set_header("Content-Type", "application/x-ndjson")
        await self._stream(lines, every=1 if follow else FLUSH_EVERY, follow=follow)

    async def _stream_text(self, chunks: AsyncIterator[bytes]) -> None:
        """Relay byte chunks, each flushed before the next is read: memory holds about one chunk.

        Plain text has no way to say "error" after the first byte, and ending the body normally
        would pass a cut log off as whole. So the connection is dropped without the body's end:
        the client sees an incomplete transfer (httpx: RemoteProtocolError) and can say so.
        """
        sent = False
        try:
            async for chunk in chunks:
                self.write(chunk)
                sent = True
                await self.flush()
        except StreamClosedError:
            return
        except DTrainError as e:
            if not sent:
                raise
            log.warning("text log stream cut by an error after its first bytes: %s", e.message)
            self.request.connection.close()
            return
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        self.finish()

    async def _stream(self, lines: AsyncIterator[LogLine], every: int, follow: bool = False) -> None:
        closed = self._closed = asyncio.Event()
        iterator = lines.__aiter__()
        count = 0
        try:
            while True:
                if follow:
                    # A follower may wait long for its next line: race it against the client leaving.
                    step = asyncio.ensure_future(iterator.__anext__())
                    gone = asyncio.ensure_future(closed.wait())
                    done, _ = await asyncio.wait({step, gone}, return_when=asyncio.FIRST_COMPLETED)
                    gone.cancel()
                    if step not in done:  # the client went away while we waited for a line
                        step.cancel()
                        return
                elif closed.is_set():
                    return
                try:
                    # Without follow the next line is at hand: no task per line (that cost was
                    # most of a large read's time).
                    line = step.result() if follow else await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except DTrainError as e:
                    if count == 0:
                        raise
                    self.write(json.dumps(e.to_dict()) + "\n")
                    break
                self.write(json.dumps(line.to_dict()) + "\n")
                count += 1
                if count % every == 0:
                    await self.flush()
            self.finish(set_content_type="application/x-ndjson")
        except StreamClosedError:
            return
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except (RuntimeError, DTrainError):
                    pass  # a generator already closed or cancelled mid-step

    def on_connection_close(self) -> None:
        closed = getattr(self, "_closed", None)
        if closed is not None:
            closed.set()
        super().on_connection_close()


class UnknownPathHandler(DTrainHandler):
    """Any other path under dtrain/api: a JSON 404 (never Jupyter's HTML page) naming the document."""

    @web.authenticated
    @authorized
    async def get(self, rest: str) -> None:
        raise NotFound(f"no dtrain API path {'/' + rest!r} for {self.request.method}; the routes are "
                       "listed in dtrain/api/openapi.json", path=rest)

    post = put = patch = delete = get


# -- route table ----------------------------------------------------------------------------

API = "/dtrain/api"
_JOB = "/{backend}/namespaces/{namespace}/{plural}/{name}"
_PARAM_RE = {"backend": r"[a-z][a-z0-9-]*", "namespace": r"[^/]+", "plural": r"[a-z]+",
             "name": r"[^/]+", "path": r".+"}

# (path template under <base_url>/dtrain/api, handler); openapi.py documents each one.
ROUTE_TEMPLATES: list[tuple[str, type[DTrainHandler]]] = [
    ("/openapi.json", OpenAPIHandler),
    ("/backends", BackendsHandler),
    ("/jobs", JobsHandler),
    ("/validate", ValidateHandler),
    ("/changes", ChangesHandler),
    ("/{backend}/namespaces/{namespace}/{plural}", KindHandler),
    (_JOB, JobHandler),
    (_JOB + "/pods", PodsHandler),
    (_JOB + "/log", LogHandler),
    (_JOB + "/events", EventsHandler),
    (_JOB + "/outputs", OutputsHandler),
    (_JOB + "/outputs/{path}", OutputFileHandler),
]


def template_to_regex(template: str) -> str:
    """`/{backend}/x` -> `/(?P<backend>[a-z][a-z0-9-]*)/x`, anchored by tornado."""
    return re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>{_PARAM_RE[m.group(1)]})",
                  url_path_join(API, template.replace(".", r"\.")))


ROUTES: list[tuple[str, type[DTrainHandler]]] = [(template_to_regex(t), h) for t, h in ROUTE_TEMPLATES]
# Added after ROUTES, so it only catches what no route matched (an empty name, a mistyped path).
FALLBACK_ROUTE: tuple[str, type[DTrainHandler]] = (url_path_join(API, "(?P<rest>.*)"), UnknownPathHandler)

__all__ = ["ROUTES", "FALLBACK_ROUTE", "ROUTE_TEMPLATES", "API", "plural_of", "template_to_regex"]
