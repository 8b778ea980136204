"""REST side of job-end notifications: the long-polled feed, and the create handlers' one call.

Same manners as `handlers.py`: `@web.authenticated` and `@authorized`, errors raised for
`DTrainHandler.write_error`. The route is in `handlers.py`; the feed is `notifications.py`.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..model.job import Job
from .base import DTrainHandler
from .notifications import JobNotifications

# Long-polls never hold a connection longer than this (proxies drop idle requests near 60 s).
MAX_WAIT_SECONDS = 55.0


def notifications_of(handler: DTrainHandler) -> JobNotifications:
    return handler.settings["dtrain_notifications"]


def record_created(handler: DTrainHandler, job: Job) -> None:
    """Watch a job the handler just created, so its end is announced (a dry run created nothing)."""
    if not handler.flag("dry_run"):
        notifications_of(handler).record(job)


class NotificationsHandler(DTrainHandler):
    """Jobs created through this server that finished: `?since=CURSOR&wait=S` -> {cursor, items}.

    Without `since` it answers at once with the current cursor and no items: a browser that
    connects now is told of what ends from now on, not greeted with every ending it missed.
    """

    @web.authenticated
    @authorized
    async def get(self) -> None:
        since = self.int_arg("since", minimum=0)
        wait = self.float_arg("wait", default=25.0, minimum=0.0, maximum=MAX_WAIT_SECONDS)
        self.write_json(await notifications_of(self).wait(since, wait))
