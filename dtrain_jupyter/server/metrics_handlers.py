"""REST handlers of job metrics: a job's points read incrementally (long-poll), and live jobs' progress.

Same manners as `handlers.py`: `@web.authenticated` and `@authorized` on every verb, one service
call each, errors raised for `DTrainHandler.write_error`. Routes are in `handlers.py`.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..errors import InvalidRequest
from .base import DTrainHandler


class MetricsHandler(DTrainHandler):
    """The job's metric points after cursor `since`, waiting up to `wait` seconds for newer ones."""

    @web.authenticated
    @authorized
    async def get(self, backend: str, namespace: str, plural: str, name: str) -> None:
        since = self.int_arg("since", default=0, minimum=0)
        page = await self.service.metrics(backend, namespace, self.kind_of(plural), name,
                                          since=since, wait=self._wait())
        self.write_json(page.to_dict())

    def _wait(self) -> float:
        """The `wait` argument as a number; its range is the service's to check (JobService.metrics)."""
        raw = self.get_query_argument("wait", None)
        if raw is None or raw == "":
            return 0.0
        try:
            return float(raw)
        except ValueError:
            raise InvalidRequest(f"query argument wait={raw!r} is not a number of seconds", argument="wait") from None


class ProgressHandler(DTrainHandler):
    """Every live job whose code reported progress: fraction, ETA, when."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"jobs": [p.to_dict() for p in await self.service.progress()]})
