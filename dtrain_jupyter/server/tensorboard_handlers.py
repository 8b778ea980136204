"""TensorBoard over the selected jobs' output folders: the REST endpoint and the proxy to it.

`TensorBoardHandler` (dtrain/api/tensorboard) starts, describes and stops this server's one
TensorBoard (`tensorboard.launcher.TensorBoardLauncher`, in the settings as "dtrain_tensorboard").
`TensorBoardProxyHandler` (tensorboard_proxy.py, imported on the first request through
`TensorBoardProxyRoute`) serves it at `<base_url>dtrain/tensorboard/`: jupyter-server-proxy's
local proxy handler, given the launcher's port on each request, so the page has this server's
origin and login; each request it passes on counts as TensorBoard being used (the idle stop).
Routes: the API route is in `handlers.py`, the proxy's `PROXY_ROUTE` is added by `app.py`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from tornado import web

from ..errors import InvalidRequest, NotFound
from ..tensorboard import has_event_files
from .base import DTrainHandler

# Where TensorBoard is proxied, under the server's base URL; its --path_prefix is the same path.
PROXY_PATH = "dtrain/tensorboard"
JOB_FIELDS = ("backend", "namespace", "kind", "name")


class TensorBoardHandler(DTrainHandler):
    """POST: run TensorBoard over jobs' outputs; GET: whether it runs and over what; DELETE: stop it."""

    @property
    def launcher(self) -> Any:
        return self.settings["dtrain_tensorboard"]

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.launcher.state())

    @web.authenticated
    @authorized
    async def post(self) -> None:
        jobs = _jobs(self._body()[1])
        roots = [await self._event_root(job, i) for i, job in enumerate(jobs)]
        logdirs = await self.launcher.open(dict(zip(_run_names(jobs), roots)))
        self.write_json({"url": url_path_join(self.base_url, PROXY_PATH) + "/", "logdirs": logdirs})

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        await self.launcher.stop()
        self.set_status(204)
        self.finish()

    async def _event_root(self, job: dict[str, str], index: int) -> Path:
        """The job's output folder, which must hold event files. Raises JobNotFound, NotFound."""
        root = await self.service.output_root(job.get("backend"), job.get("namespace"), job["kind"], job["name"])
        if not await asyncio.to_thread(has_event_files, root):
            raise NotFound(f"{job['kind']} {job['name']!r} has no TensorBoard event files (events.out.tfevents.*) "
                           f"in its output folder {root}: its code writes them under $DTRAIN_OUTPUT_DIR, e.g. "
                           "SummaryWriter(os.environ['DTRAIN_OUTPUT_DIR'])", field=f"jobs[{index}]",
                           name=job["name"])
        return root


def _jobs(body: Any) -> list[dict[str, str]]:
    """The `jobs` of the request body, each checked: `name` and `kind` strings, the rest optional strings."""
    if not isinstance(body, dict) or not isinstance(body.get("jobs"), list) or not body["jobs"]:
        raise InvalidRequest('send {"jobs": [{"backend", "namespace", "kind", "name"}, ...]} with at least one job',
                             field="jobs")
    jobs = []
    for i, job in enumerate(body["jobs"]):
        if not isinstance(job, dict):
            raise InvalidRequest(f"jobs[{i}] must be an object with backend, namespace, kind and name",
                                 field=f"jobs[{i}]")
        for key in JOB_FIELDS:
            value = job.get(key)
            required = key in ("kind", "name")
            if (required and not value) or (value is not None and not isinstance(value, str)):
                raise InvalidRequest(f"jobs[{i}].{key} must be {'a non-empty' if required else 'a'} string",
                                     field=f"jobs[{i}].{key}")
        jobs.append({k: job[k] for k in JOB_FIELDS if job.get(k)})
    return jobs


def _run_names(jobs: list[dict[str, str]]) -> list[str]:
    """Each job's run name in TensorBoard: its name, or backend/namespace/kind/name (the fields the
    request gave) when two jobs share a name."""
    names = [job["name"] for job in jobs]
    return [job["name"] if names.count(job["name"]) == 1
            else "/".join(job[k] for k in JOB_FIELDS if job.get(k)) for job in jobs]


class TensorBoardProxyRoute(web.RequestHandler):
    """The proxy route's handler class: each request gets a `TensorBoardProxyHandler`, built here.

    jupyter-server-proxy imports aiohttp: 120 ms of every server's start-up (issue 18's start-up
    row: 26 -> 141 ms over a bare server) for a page most sessions never open. Tornado makes a
    route's handler by calling its class, so returning the proxy handler from `__new__` moves the
    import to the first TensorBoard request. This class serves nothing itself (no verb of its own:
    jupyter_server's start-up check finds nothing unauthenticated; the proxy's verbs are).
    """

    def __new__(cls, application: Any, request: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        from .tensorboard_proxy import TensorBoardProxyHandler

        return TensorBoardProxyHandler(application, request, **kwargs)


# Added by app.py beside the API routes (it is no DTrainHandler); "absolute_url": TensorBoard
# sees the whole path, which its --path_prefix expects.
PROXY_ROUTE = (f"/{PROXY_PATH}(/.*|)", TensorBoardProxyRoute, {"absolute_url": True})
