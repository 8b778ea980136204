"""Panel test fixtures: a real `jupyter server` subprocess (local backend, tmp state, token),
a real `Client` of it, and the panel built on that client.

The server runs in its own process, as it does under JupyterLab, so the panel's synchronous
client calls and its feed thread's long polls meet a live event loop. Tests press buttons with
`button.click()` and call `app.tick()` where the kernel loop would drain the feed.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from dtrain_jupyter.client import Client
from dtrain_jupyter.model.status import Phase

STARTUP_TIMEOUT_S = 90
WAIT_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DTrainServer:
    """`jupyter server` with the dtrain extension on the local backend, on a port we choose.

    Choosing the port lets a test stop the server and start another on the same address, which
    is how the panel's outage banner and its recovery are exercised for real.
    """

    def __init__(self, root: Path, port: int | None = None, token: str | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.token = token or secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}/"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "DTrainServer":
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.root / "runtime"),
               "JUPYTER_DATA_DIR": str(self.root / "data"), "JUPYTER_CONFIG_DIR": str(self.root / "config")}
        env.pop("JPY_PARENT_PID", None)
        (self.root / "work").mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
                f"--port={self.port}", "--port-retries=0", "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root / 'work'}",
                "--ServerApp.jpserver_extensions={'dtrain_jupyter': True}",
                f"--DTrain.state_dir={self.root / 'state'}", "--DTrain.grace_seconds=1"]
        log = open(self.root / "server.log", "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter server exited:\n{self.log_tail()}")
            try:
                r = httpx.get(self.url + "dtrain/api/backends", timeout=5,
                              headers={"Authorization": f"token {self.token}"})
                if r.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"jupyter server not ready:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, chars: int = 3000) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def client(self) -> Client:
        return Client(url=self.url, token=self.token)


@pytest.fixture(scope="session")
def dtrain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DTrainServer]:
    server = DTrainServer(tmp_path_factory.mktemp("ui-server")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def client(dtrain_server: DTrainServer) -> Iterator[Client]:
    c = dtrain_server.client()
    yield c
    c.close()


@pytest.fixture
def app(client: Client) -> Iterator[Any]:
    """A fresh panel on the live server, its feed polling (short polls so teardown is quick)."""
    from dtrain_jupyter.ui.app import DTrainApp

    panel = DTrainApp(client, poll_timeout=1.0)
    yield panel
    panel.close()


def unique(prefix: str = "ui") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def until(app: Any, predicate: Callable[[], Any], timeout: float = WAIT_TIMEOUT_S, what: str = "") -> Any:
    """Drain the panel's feed (as the kernel loop would) until `predicate()` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        app.tick()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}; panel error: {app.error!r}")
        time.sleep(0.1)


def job_named(app: Any, name: str) -> Any:
    return next((j for j in app.jobs if j.name == name), None)


def finished(app: Any, name: str) -> Any:
    job = job_named(app, name)
    return job if job is not None and job.phase in (Phase.SUCCEEDED, Phase.FAILED) else None


def python_job(name: str, program: str, *, kind: str = "PyTorchJob", workers: int = 1,
               labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
               env: dict[str, str] | None = None) -> dict[str, Any]:
    """A small manifest whose replicas run `python -c program` (no torch import: fast)."""
    from dtrain_jupyter.model.kinds import lookup

    fw = lookup("kubeflow.org/v1", kind)
    assert fw is not None
    container: dict[str, Any] = {"name": fw.default_container, "image": "python:3.11",
                                 "command": ["python", "-c", program]}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    role = {"restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
    if kind == "PyTorchJob":
        replicas = {"Master": {**role, "replicas": 1}, "Worker": {**role, "replicas": workers}}
    else:
        replicas = {"Worker": {**role, "replicas": workers}}
    meta: dict[str, Any] = {"name": name, "labels": {"dtrain-test": "ui", **(labels or {})}}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": fw.api_version, "kind": kind, "metadata": meta, "spec": {fw.replica_key: replicas}}
