"""TensorBoard over the selected jobs' output folders: the REST endpoint and the proxy to it.

`TensorBoardHandler` (dtrain/api/tensorboard) starts, describes and stops this server's one
TensorBoard (`tensorboard.launcher.TensorBoardLauncher`, in the settings as "dtrain_tensorboard").
`TensorBoardProxyHandler` serves it at `<base_url>dtrain/tensorboard/`: jupyter-server-proxy's
local proxy handler, given the launcher's port on each request, so the page has this server's
origin and login; each request it passes on counts as TensorBoard being used (the idle stop).
Routes: the API route is in `handlers.py`, the proxy's `PROXY_ROUTE` is added by `app.py`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import LocalProxyHandler
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


class TensorBoardProxyHandler(LocalProxyHandler):
    """`<base_url>dtrain/tensorboard/...` passed on whole to this server's TensorBoard (its --path_prefix)."""

    auth_resource = "dtrain"

    def initialize(self, **kwargs: Any) -> None:
        # The path TensorBoard sees is the request's own (jupyter-server-proxy's "absolute" mode);
        # proxy_base names it for the Location headers that handler rewrites.
        self.proxy_base = PROXY_PATH

    def _get_context_path(self, host: str, port: int) -> str:
        # The decoded path, which the proxy quotes once when it passes the request on: the base URL
        # as the server has it (`/user/a%40b/`) would be quoted twice, and TensorBoard, which
        # compares the decoded path with its --path_prefix, would answer 404.
        return unquote(url_path_join(self.base_url, PROXY_PATH))

    def _port(self) -> int:
        launcher = self.settings["dtrain_tensorboard"]
        port = launcher.port
        if port is None:
            raise web.HTTPError(404, reason="TensorBoard is not running: open it again from the dtrain panel "
                                            "(it stops after a while without use)")
        launcher.touch()
        return port

    # Every verb is authenticated here as well as in ProxyHandler.prepare, so jupyter_server's
    # start-up check sees each one protected.
    @web.authenticated
    @authorized
    async def http_get(self, proxied_path: str) -> Any:  # type: ignore[override]
        return await self.proxy(self._port(), proxied_path)

    @web.authenticated
    @authorized
    async def post(self, proxied_path: str) -> Any:  # type: ignore[override]
        return await self.proxy(self._port(), proxied_path)

    @web.authenticated
    @authorized
    async def head(self, proxied_path: str) -> Any:  # type: ignore[override]
        return await self.proxy(self._port(), proxied_path)

    @web.authenticated
    @authorized
    async def get(self, proxied_path: str) -> Any:  # type: ignore[override]
        # TensorBoard serves no websocket: every GET is a plain request.
        return await self.http_get(proxied_path)

    async def open(self, proxied_path: str) -> None:  # type: ignore[override]
        raise web.HTTPError(400, reason="TensorBoard serves no websocket")

    @web.authenticated
    @authorized
    async def put(self, proxied_path: str) -> Any:  # type: ignore[override]
        return await self.proxy(self._port(), proxied_path)

    @web.authenticated
    @authorized
    async def delete(self, proxied_path: str) -> Any:  # type: ignore[override]
        return await self.proxy(self._port(), proxied_path)

    @web.authenticated
    @authorized
    async def patch(self, proxied_path: str) -> Any:  # type: ignore[override]
        return await self.proxy(self._port(), proxied_path)

    @web.authenticated
    @authorized
    async def options(self, proxied_path: str) -> Any:  # type: ignore[override]
        return await self.proxy(self._port(), proxied_path)


# Added by app.py beside the API routes (it is no DTrainHandler); "absolute_url": TensorBoard
# sees the whole path, which its --path_prefix expects.
PROXY_ROUTE = (f"/{PROXY_PATH}(/.*|)", TensorBoardProxyHandler, {"absolute_url": True})
