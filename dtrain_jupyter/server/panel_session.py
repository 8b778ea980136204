"""The panel's own kernel session, started so that the kernel reads ahead while it waits.

The labextension's panel runs in a kernel of its own (labextension/src/shell.ts). When the click
starts that kernel, the kernel is up after ~0.4 s and then sits idle for ~0.1 s while
jupyter_server and the browser connect to it (websocket, nudge, kernel_info, the widget
manager's comm), before the panel's bootstrap arrives. The bootstrap's imports and its first job
list took ~0.3 s after that.

So the shell asks this endpoint for its session before JupyterLab's session machinery looks for
one. Where the kernel is an IPython kernel started by this server (no gateway), it is started
with two more command-line arguments:

- `--ext=dtrain_jupyter.ui.preload`: an IPython extension that, once the kernel's loop runs,
  imports the panel and starts reading the job list on a thread (ui/preload.py);
- `--HistoryManager.enabled=False`: the bootstrap is no line of the person's IPython history;
- `--IPKernelApp.kernel_class=...PanelKernel`: an IPython kernel built without debugpy, whose
  import was ~36 ms of the kernel's start (ui/panel_kernel.py).

jupyter_client keeps them for a restart of that kernel. Any other kernel (a gateway's, another
language's spec under the same name) is started as `POST /api/sessions` would start it, and the
panel's bootstrap does the same work later. The session is the same record JupyterLab's own API
makes (same path, name and type), so the shell's SessionContext finds it by its path and
connects, as it does after a page reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, AsyncIterator

from jupyter_client.jsonutil import json_default
from jupyter_server.auth.decorator import authorized
from jupyter_server.utils import ensure_async
from tornado import web

from ..errors import DTrainError, InvalidRequest
from .base import DTrainHandler

#: The IPython extension the panel's kernel loads at its start.
PRELOAD_EXTENSION = "dtrain_jupyter.ui.preload"
#: What the panel's kernel gets on its command line when it is an IPython kernel of this server.
PRELOAD_ARGUMENTS = (f"--ext={PRELOAD_EXTENSION}", "--HistoryManager.enabled=False",
                     "--IPKernelApp.kernel_class=dtrain_jupyter.ui.panel_kernel.PanelKernel")
#: The session's type, as the shell's SessionContext names it.
SESSION_TYPE = "dtrain"
MAX_PATH_CHARS = 1024


class PathLocks:
    """One asyncio lock per path, kept only while a request holds it or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, path: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(path, asyncio.Lock())
        self._users[path] = self._users.get(path, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[path] -= 1
            if not self._users[path]:
                del self._users[path], self._locks[path]


# One start at a time for each path: two tabs opening at once must share one kernel.
_starting = PathLocks()


def _plain(text: str) -> bool:
    """No control character, and UTF-8 can write it (a lone surrogate from JSON cannot)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def preload_arguments(serverapp: Any, kernel_name: str | None) -> list[str]:
    """The arguments that make `kernel_name`'s kernel read ahead, or [] where they would not apply.

    Only an IPython kernel (its spec runs ipykernel) that this server starts itself takes them:
    a gateway starts its kernels elsewhere, with its own command lines.
    """
    gateway = getattr(serverapp, "gateway_config", None)
    if gateway is not None and getattr(gateway, "gateway_enabled", False):
        return []
    try:
        spec = serverapp.kernel_spec_manager.get_kernel_spec(kernel_name or serverapp.kernel_manager.default_kernel_name)
    except Exception:  # noqa: BLE001 - no such spec: the session start below says so
        return []
    if not any("ipykernel" in str(arg) for arg in spec.argv):
        return []
    return list(PRELOAD_ARGUMENTS)


class PanelSessionHandler(DTrainHandler):
    """POST {path, name?, kernel?}: the panel's kernel session at `path`, started if there is none.

    Answers the session model of jupyter_server's sessions API: 201 when it started one, 200
    when one was there. Checked as the sessions API is (resource "sessions"): it starts a kernel.
    """

    auth_resource = "sessions"

    @web.authenticated
    @authorized
    async def post(self) -> None:
        path, name, kernel_name = self._request_fields()
        async with _starting.hold(path):
            existing = await self._session_at(path)
            if existing is not None:
                self._answer(200, existing)
                return
            model = await self._start(path, name, kernel_name)
        self._answer(201, model)

    def _request_fields(self) -> tuple[str, str, str | None]:
        form, body = self._body()
        if form == "yaml":  # a text/plain body (fetch's default for a string) may still be JSON
            try:
                body = json.loads(body)
            except ValueError:
                body = None
        if not isinstance(body, dict):
            raise InvalidRequest('send {"path": "...", "name": "...", "kernel": "python3"} as JSON')
        path, name, kernel_name = body.get("path"), body.get("name", ""), body.get("kernel")
        if not isinstance(path, str) or not path.strip() or len(path) > MAX_PATH_CHARS or not _plain(path):
            raise InvalidRequest(f"path: a session path of 1 to {MAX_PATH_CHARS} characters, none of them a "
                                 "control character, is needed", field="path")
        if not isinstance(name, str) or len(name) > MAX_PATH_CHARS or not _plain(name):
            raise InvalidRequest(f"name: a string of at most {MAX_PATH_CHARS} characters, none of them a "
                                 "control character", field="name")
        if kernel_name is not None:
            specs = sorted(self.kernel_spec_manager.find_kernel_specs())
            if kernel_name not in specs:
                raise InvalidRequest(f"kernel: no kernel spec named {kernel_name!r} on this server "
                                     f"(it has: {', '.join(specs) or 'none'})", field="kernel")
        return path, name, kernel_name

    async def _session_at(self, path: str) -> dict[str, Any] | None:
        for session in await ensure_async(self.session_manager.list_sessions()):
            if session.get("path") == path:
                return session
        return None

    async def _start(self, path: str, name: str, kernel_name: str | None) -> dict[str, Any]:
        sessions = self.session_manager
        try:
            kernel_id = await self.kernel_manager.start_kernel(
                path=await ensure_async(self.contents_manager.get_kernel_path(path=path)),
                kernel_name=kernel_name,
                env=sessions.get_kernel_env(path, name),
                extra_arguments=preload_arguments(self.serverapp, kernel_name),
            )
        except Exception as e:  # noqa: BLE001 - the spec's command failed: say so, not "internal error"
            self.log.warning("the panel's kernel did not start: %s", e, exc_info=True)
            raise DTrainError(f"the panel's kernel ({kernel_name or 'the default spec'}) did not start: {e}") from e
        return await sessions.create_session(path=path, name=name, type=SESSION_TYPE, kernel_id=kernel_id)

    def _answer(self, status: int, model: dict[str, Any]) -> None:
        self.set_status(status)
        # The model holds datetimes (the kernel's last activity): written as jupyter_server's API does.
        self.finish(json.dumps(model, default=json_default))
