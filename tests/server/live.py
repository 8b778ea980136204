"""A real `jupyter server` subprocess with the dtrain extension, and a real kernel it starts.

Used by the client, command and magic tests: the kernel is created through the server's REST API
and driven over its websocket, so `JPY_PARENT_PID` in the kernel is the server's pid, exactly as
in JupyterLab.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import httpx

if TYPE_CHECKING:
    from dtrain_jupyter.client import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`jupyter server` on 127.0.0.1 with a token, its runtime dir and dtrain state under `root`.

    It starts at once unless `start=False`. `stop()` then `start()` brings it back on the same port
    with the same token and state, which is how outages and server restarts are tested for real.
    """

    def __init__(self, root: Path, extra_args: tuple[str, ...] = (), *, port: int | None = None,
                 token: str | None = None, start: bool = True) -> None:
        self.root = root
        self.token = token or secrets.token_hex(16)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.runtime_dir = root / "runtime"
        self.env = {
            **os.environ,
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTER_DATA_DIR": str(root / "data"),
            "JUPYTER_CONFIG_DIR": str(root / "config"),
            "DTRAIN_URL": "", "DTRAIN_TOKEN": "",
        }
        self.env.pop("JPY_PARENT_PID", None)
        (root / "work").mkdir(parents=True, exist_ok=True)
        self.argv = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
                     f"--port={self.port}", "--port-retries=0", "--ServerApp.ip=127.0.0.1",
                     f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root / 'work'}",
                     "--ServerApp.jpserver_extensions={'dtrain_jupyter': True}",
                     f"--DTrain.state_dir={root / 'state'}", "--DTrain.grace_seconds=1", *extra_args]
        self.proc: subprocess.Popen | None = None
        if start:
            self.start()

    def start(self) -> "LiveServer":
        # Appending keeps the log of an earlier run when the server is started again.
        self.log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.root)
        self.pid = self.proc.pid
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        info = self.runtime_dir / f"jpserver-{self.pid}.json"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited: {self.log_tail()}")
            if info.exists():
                try:
                    r = httpx.get(self.url + "dtrain/api/backends", headers=self.headers, timeout=5)
                    if r.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter server not ready: {self.log_tail()}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def read_log(self) -> str:
        self.log.flush()
        return (self.root / "server.log").read_text(errors="replace")

    def log_tail(self, chars: int = 3000) -> str:
        return self.read_log()[-chars:]

    def client(self) -> "Client":
        from dtrain_jupyter.client import Client

        return Client(url=self.url, token=self.token)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()

    def start_kernel(self) -> "Kernel":
        r = httpx.post(self.url + "api/kernels", json={"name": "python3"}, headers=self.headers, timeout=60)
        r.raise_for_status()
        return Kernel(self, r.json()["id"])


class Kernel:
    """A kernel of the live server, driven over the server's websocket (kernel protocol 5.3)."""

    def __init__(self, server: LiveServer, kernel_id: str) -> None:
        self.server, self.id = server, kernel_id
        self.session = uuid.uuid4().hex

    def execute(self, code: str, timeout: float = 120) -> dict[str, Any]:
        """Run `code`; returns {"stdout", "stderr", "error", "displays": [mime bundles]}."""
        return asyncio.run(self._execute(code, timeout))

    async def _execute(self, code: str, timeout: float) -> dict[str, Any]:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        url = (f"ws://127.0.0.1:{self.server.port}/api/kernels/{self.id}/channels?session_id={self.session}")
        ws = await websocket_connect(HTTPRequest(url, headers=self.server.headers), max_message_size=64 << 20)
        msg_id = uuid.uuid4().hex
        header = {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session, "username": "test",
                  "version": "5.3", "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}
        ws.write_message(json.dumps({
            "header": header, "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        out: dict[str, Any] = {"stdout": "", "stderr": "", "error": None, "displays": []}
        replied = idle = False
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        try:
            while not (replied and idle):
                raw = await asyncio.wait_for(ws.read_message(), max(0.1, end - loop.time()))
                if raw is None:
                    raise RuntimeError("kernel websocket closed")
                if isinstance(raw, bytes):
                    continue  # binary frames carry widget buffers; everything we read is JSON text
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["header"]["msg_type"], msg["content"]
                if kind == "stream":
                    out[content["name"]] += content["text"]
                elif kind in ("display_data", "execute_result", "update_display_data"):
                    out["displays"].append(content["data"])
                elif kind == "error":
                    out["error"] = "\n".join(content.get("traceback", [])) or content.get("evalue")
                elif kind == "execute_reply":
                    replied = True
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True
        finally:
            ws.close()
        return out

    def shutdown(self) -> None:
        httpx.delete(self.server.url + f"api/kernels/{self.id}", headers=self.server.headers, timeout=30)


def pytorch_yaml(name: str, message: str = "hello") -> str:
    """A two-replica PyTorchJob as YAML running `conftest.RANK_SCRIPT` (print, write a file, exit 0)."""
    from .conftest import RANK_SCRIPT

    script = RANK_SCRIPT.replace("'hello from rank'", repr(f"{message} from rank"))
    replica = ("      replicas: 1\n      restartPolicy: Never\n      template:\n        spec:\n"
               "          containers:\n            - name: pytorch\n              image: python:3.11\n"
               f"              command: [python, -c, {json.dumps(script)}]\n")
    return ("apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata:\n"
            f"  name: {name}\n  labels: {{dtrain-test: live}}\nspec:\n  pytorchReplicaSpecs:\n"
            f"    Master:\n{replica}    Worker:\n{replica}")


def module_server(folder: str, *extra_args: str) -> Any:
    """A module-scoped fixture `server`: one LiveServer (state under a temp folder named `folder`)
    for every test of the module that takes it. Use as `server = module_server("x-server")`."""
    import pytest

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
        live = LiveServer(tmp_path_factory.mktemp(folder), tuple(extra_args))
        yield live
        live.stop()
    return server


def module_client() -> Any:
    """A module-scoped fixture `client`: a `Client` of the module's `server` fixture.
    Use as `client = module_client()`."""
    import pytest

    from dtrain_jupyter.client import Client

    @pytest.fixture(scope="module")
    def client(server: LiveServer) -> Iterator[Client]:
        with Client(url=server.url, token=server.token) as c:
            yield c
    return client
