"""Panel test fixtures: a real `jupyter server` subprocess (local backend, tmp state, token),
a real `Client` of it, and the panel built on that client.

The server runs in its own process, as it does under JupyterLab, so the panel's synchronous
client calls and its feed thread's long polls meet a live event loop. Tests press buttons with
`button.click()` and call `app.tick()` where the kernel loop would drain the feed.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Iterator

import pytest

from dtrain_jupyter.client import Client
from dtrain_jupyter.model.status import Phase
from tests.server.live import LiveServer

WAIT_TIMEOUT_S = 90
# The server's cap on one output-file read, set below what a preview asks for, so the tests see
# previews and whole-file downloads of files longer than a read may be.
OUTPUT_READ_LIMIT = 64 * 1024


@pytest.fixture(scope="session")
def dtrain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("ui-server"), (f"--DTrain.output_read_limit={OUTPUT_READ_LIMIT}",))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def client(dtrain_server: LiveServer) -> Iterator[Client]:
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
