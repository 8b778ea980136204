"""The proxy of this server's TensorBoard at `<base_url>dtrain/tensorboard/` (see tensorboard_handlers.py).

A module of its own so that jupyter-server-proxy (and the aiohttp it imports) is loaded on the
first TensorBoard request, not at every server's start-up.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import LocalProxyHandler
from tornado import web

from .tensorboard_handlers import PROXY_PATH


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
