"""REST handlers of the dtrain API; the route table is at the bottom.

Every verb is `@web.authenticated` and `@authorized` (resource "dtrain"), parses its input with
the helpers of `base.DTrainHandler`, makes one call on the JobService and writes JSON. Errors
are raised, never written here: `DTrainHandler.write_error` is the one translation point.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import NotFound
from .base import DTrainHandler
from .history_handlers import HistoryHandler, HistoryJobHandler, RerunHandler
from .job_json import JobListEncoder, ListBody
from .log_stream import LogRelay, log_query
from .metrics_handlers import MetricsHandler, ProgressHandler
from .notification_handlers import NotificationsHandler, record_created
from .openapi import openapi_document
from .output_send import READ, read_mode, send_capped, send_whole
from .panel_session import PanelSessionHandler
from .suspend_handlers import ResumeHandler, SuspendHandler
from .tensorboard_handlers import TensorBoardHandler

# Long-polls never hold a connection longer than this (proxies drop idle requests near 60 s).
MAX_POLL_SECONDS = 55.0


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


# How many lists' ETags are remembered: the latest body of each of this many filter sets.
ETAGS_KEPT = 16


class JobsHandler(DTrainHandler):
    """Jobs of every backend (filters in the query); create into any backend."""

    accepts_code = True

    _listed: tuple[Any, ListBody] | None = None  # (list key, body) of this request

    @web.authenticated
    @authorized
    async def get(self) -> None:
        filters, backend = self.list_filters(), self.get_query_argument("backend", None)
        key = (backend, tuple(sorted(filters.items())))
        body = await self.list_cache.get_or_build(key, lambda: self._build(filters, backend))
        self._listed = (key, body)
        # What APIHandler.finish sets; set here because the headers go out with the first chunk.
        self.set_header("Content-Type", "application/json")
        # The body goes out in chunks (job_json.ListBody: a 56 MB list of 50,000 jobs is never
        # joined, and finish(body) would copy it once per request), so the ETag is set and checked
        # here: Tornado's finish() does that only for a response not flushed yet.
        self.set_etag_header()
        if self.check_etag_header():
            self.set_status(304)
            self.finish()
            return
        self.set_header("Content-Length", len(body))
        try:
            for chunk in body.chunks():
                self.write(chunk)
                await self.flush()  # one chunk in flight per request, not the whole list
        except StreamClosedError:
            return  # the client went away
        self.finish()

    def compute_etag(self) -> str | None:
        """Tornado's ETag (a SHA-1 of the body), computed once per encoded list, not once per request.

        The list cache hands every request the same body object until a job changes; hashing
        its megabyte again for each of 50 clients was a few percent of the loop's time (issue 18).
        """
        if self._listed is None:
            return super().compute_etag()
        key, body = self._listed
        etags: dict[Any, tuple[ListBody, str | None]] = self.settings.setdefault("dtrain_list_etags", {})
        known = etags.get(key)
        if known is not None and known[0] is body:
            return known[1]
        hasher = hashlib.sha1()  # as Tornado's compute_etag hashes its write buffer
        for piece in body.pieces():
            hasher.update(piece)
        etag = f'"{hasher.hexdigest()}"'
        if key not in etags and len(etags) >= ETAGS_KEPT:
            etags.clear()
        etags[key] = (body, etag)
        return etag

    async def _build(self, filters: dict[str, Any], backend: str | None) -> tuple[ListBody, bool]:
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
            code=self.code_archive(),
        )
        record_created(self, job)
        self.write_created(job)


class ValidateHandler(DTrainHandler):
    """Offline validation of a manifest or YAML text: every issue, nothing created."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.write_json(self.service.validate(self.manifest_source()))


class ChangesHandler(DTrainHandler):
    """Long-poll of the server's change log: `?cursor=N&timeout=S` -> {cursor, changes, resync}."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        cursor = self.int_arg("cursor", minimum=0)
        timeout = self.float_arg("timeout", default=25.0, minimum=0.0, maximum=MAX_POLL_SECONDS)
        self.write_json(await self.change_log.wait(cursor, timeout))


class KindHandler(DTrainHandler):
    """Jobs of one kind in one namespace of one backend; create one there."""

    accepts_code = True

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
                                        kind=self.kind_of(plural), dry_run=self.flag("dry_run"),
                                        code=self.code_archive())
        record_created(self, job)
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
    """Files in the job's output location, and that location."""

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str) -> None:
        listing = await self.service.outputs(backend, namespace, self.kind_of(plural), name)
        self.write_json(listing.to_dict())


class OutputFileHandler(DTrainHandler):
    """One output file: at most `limit` bytes (the server's cap when absent), or whole with
    `download` or `view`; how a browser may treat it is `output_send`'s rule."""

    @property
    def content_security_policy(self) -> str:
        # A job's output is untrusted: whatever a browser makes of it runs no script and gets an
        # origin of its own. On error answers too (set_default_headers reads this).
        return super().content_security_policy + "; sandbox"

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str, path: str) -> None:
        mode, kind = read_mode(self), self.kind_of(plural)
        if mode != READ:
            chunks = await self.service.output_bytes(backend, namespace, kind, name, path)
            await send_whole(self, path, chunks, mode=mode)
            return
        cap = self.limits["output"]
        limit = self.int_arg("limit", default=cap, minimum=1, maximum=cap)
        # One byte more than asked tells whether the file was cut.
        data = await self.service.read_output(backend, namespace, kind, name, path, limit=limit + 1)
        send_capped(self, path, data[:limit], truncated=len(data) > limit)


class LogHandler(DTrainHandler):
    """Log lines as NDJSON (one LogLine object per line) or plain text; streams while `follow` is set.

    An error after the first line has been sent arrives as a last line `{"error": ...}`.
    """

    relay: LogRelay | None = None

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str) -> None:
        fmt, options = log_query(self)
        if fmt == "text":
            chunks = await self.service.log_text(backend, namespace, self.kind_of(plural), name, **options)
            await self._relay().text(chunks, follow=options["follow"])
        else:
            lines = await self.service.logs(backend, namespace, self.kind_of(plural), name, **options)
            await self._relay().ndjson(lines, follow=options["follow"])

    def _relay(self) -> LogRelay:
        self.relay = LogRelay(self)
        return self.relay

    def on_connection_close(self) -> None:
        if self.relay is not None:
            self.relay.client_left()
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
    ("/notifications", NotificationsHandler),
    ("/{backend}/namespaces/{namespace}/{plural}", KindHandler),
    (_JOB, JobHandler),
    (_JOB + "/pods", PodsHandler),
    (_JOB + "/log", LogHandler),
    (_JOB + "/events", EventsHandler),
    (_JOB + "/outputs", OutputsHandler),
    (_JOB + "/rerun", RerunHandler),
    ("/tensorboard", TensorBoardHandler),
    ("/history", HistoryHandler),
    ("/history" + _JOB, HistoryJobHandler),
    (_JOB + "/suspend", SuspendHandler),
    (_JOB + "/resume", ResumeHandler),
    (_JOB + "/metrics", MetricsHandler),
    ("/progress", ProgressHandler),
    ("/panel-session", PanelSessionHandler),
    # Last: its {path} takes the rest of the URL.
    (_JOB + "/outputs/{path}", OutputFileHandler),
]


def template_to_regex(template: str) -> str:
    """`/{backend}/x` -> `/(?P<backend>[a-z][a-z0-9-]*)/x`, anchored by tornado."""
    return re.sub(r"\{(\w+)\}", lambda m: f"(?P<{m.group(1)}>{_PARAM_RE[m.group(1)]})",
                  url_path_join(API, template.replace(".", r"\.")))


ROUTES: list[tuple[str, type[DTrainHandler]]] = [(template_to_regex(t), h) for t, h in ROUTE_TEMPLATES]
# Added after ROUTES, so it only catches what no route matched (an empty name, a mistyped path).
FALLBACK_ROUTE: tuple[str, type[DTrainHandler]] = (url_path_join(API, "(?P<rest>.*)"), UnknownPathHandler)

__all__ = ["ROUTES", "FALLBACK_ROUTE", "ROUTE_TEMPLATES", "API", "template_to_regex"]
