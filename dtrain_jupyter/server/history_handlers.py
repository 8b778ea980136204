"""REST handlers of the job history: page through records, forget one, re-run a job.

Same manners as `handlers.py`: `@web.authenticated` and `@authorized` on every verb, one
service call each, errors raised for `DTrainHandler.write_error`. Routes are in `handlers.py`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import InvalidRequest
from ..history.history import as_past
from ..history.store import HistoryQuery, HistoryRecord, Show
from ..model.time_bounds import parse_bound
from .base import DTrainHandler
from .notification_handlers import record_created

# Records in one page when the request does not say.
DEFAULT_PAGE = 100


def record_json(record: HistoryRecord, incomplete: list[str], problem: str | None = None,
                archiving: bool = False) -> dict[str, Any]:
    """A record as the API sends it: the job (with `removed` when it left the cluster) and `record`,
    with `archive_problem` saying why its logs stopped being archived (a full disk), else null, and
    `archiving` whether a log of it is being archived now."""
    job = record.job.to_dict()
    if record.deleted is not None:
        job = as_past(record).to_dict()
    job["record"] = {"id": record.id, "finished": record.finished, "deleted": record.deleted,
                     "updated": record.updated, "log_bytes": record.log_bytes,
                     "pods": len(record.pods), "events": len(record.events), "incomplete_logs": incomplete,
                     "archive_problem": problem, "archiving": archiving}
    return job


class HistoryHandler(DTrainHandler):
    """Job records, newest first: filters, search and keyset paging (`next`)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        show = self.get_query_argument("show", Show.ALL)
        if show not in Show.CHOICES:
            raise InvalidRequest(f"show must be one of {', '.join(Show.CHOICES)}, not {show!r}", argument="show")
        query = HistoryQuery(
            show=show, text=self.get_query_argument("q", ""),
            backend=self.get_query_argument("backend", None) or None,
            namespace=self.get_query_argument("namespace", None) or None,
            kind=self.get_query_argument("kind", None) or None,
            phase=self.get_query_argument("phase", None) or None,
            name=self.get_query_argument("name", None) or None,
            created_from=self.bound("from"), created_to=self.bound("to"),
            after=self.get_query_argument("after", None) or None,
            limit=self.int_arg("limit", default=DEFAULT_PAGE, minimum=1, maximum=1000) or DEFAULT_PAGE,
        )
        page = await self.service.history_page(query)
        history = self.service.history
        items = [record_json(r, history.incomplete(r), history.problem(r), history.archiving(r)) for r in page.records]
        total = await asyncio.to_thread(history.store.count, query) if self.flag("total") else None
        self.write_json({"items": items, "next": page.next, "problem": history.stopped(),
                         **({"total": total} if total is not None else {})})


    def bound(self, name: str) -> str | None:
        """The `from`/`to` query argument as the store compares it. Raises InvalidRequest."""
        try:
            return parse_bound(self.get_query_argument(name, ""), name) or None
        except ValueError as e:
            raise InvalidRequest(str(e), argument=name) from None


class HistoryJobHandler(DTrainHandler):
    """Forget a past job: its records and archived logs go (the job must have left the cluster)."""

    @web.authenticated
    @authorized
    async def delete(self, backend: str, namespace: str, plural: str, name: str) -> None:
        forgotten = await self.service.forget(backend, namespace, self.kind_of(plural), name)
        self.write_json({"forgotten": forgotten})


class RerunHandler(DTrainHandler):
    """Run a job again, live or past: the same manifest (or the edited one sent), a new name."""

    @web.authenticated
    @authorized
    async def post(self, backend: str, namespace: str, plural: str, name: str) -> None:
        form, body = self._body()
        if form != "json" or (body is not None and not isinstance(body, dict)):
            raise InvalidRequest('send {"name": ..., "backend": ..., "namespace": ..., "manifest": {...} or '
                                 '"yaml": "..."} as JSON (every field optional)')
        body = body or {}
        for field in ("name", "backend", "namespace"):
            if body.get(field) is not None and not isinstance(body[field], str):
                raise InvalidRequest(f"{field} must be a string", field=field)
        if body.get("manifest") is not None and not isinstance(body["manifest"], dict):
            raise InvalidRequest("manifest must be a job manifest (an object)", field="manifest")
        if body.get("yaml") is not None and not isinstance(body["yaml"], str):
            raise InvalidRequest("yaml must be the manifest's YAML text", field="yaml")
        edited = body.get("manifest") if body.get("manifest") is not None else body.get("yaml")
        job = await self.service.rerun(
            backend, namespace, self.kind_of(plural), name, new_name=body.get("name") or None,
            to_backend=body.get("backend") or None, to_namespace=body.get("namespace") or None,
            manifest=edited, dry_run=self.flag("dry_run"),
        )
        record_created(self, job)
        self.write_created(job)
