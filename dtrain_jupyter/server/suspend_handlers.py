"""REST handlers that suspend and resume a job (runPolicy.suspend; backends with CAP_SUSPEND).

Same manners as `handlers.py`: `@web.authenticated` and `@authorized` on every verb, one
service call each, errors raised for `DTrainHandler.write_error`. Routes are in `handlers.py`.
Both are POSTs on a sub-resource of the job, as `rerun` is: they act, they read nothing, and a
repeat is refused (the job is suspended already, or not suspended) rather than done twice.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .base import DTrainHandler


class SuspendHandler(DTrainHandler):
    """Suspend a job: its replicas stop, the job, its logs and outputs stay; answers the job."""

    @web.authenticated
    @authorized
    async def post(self, backend: str, namespace: str, plural: str, name: str) -> None:
        job = await self.service.suspend(backend, namespace, self.kind_of(plural), name)
        self.write_json(job.to_dict())


class ResumeHandler(DTrainHandler):
    """Resume a suspended job: its replicas start again as on create; answers the job."""

    @web.authenticated
    @authorized
    async def post(self, backend: str, namespace: str, plural: str, name: str) -> None:
        job = await self.service.resume(backend, namespace, self.kind_of(plural), name)
        self.write_json(job.to_dict())
