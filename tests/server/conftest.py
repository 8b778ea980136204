"""A real Jupyter server with the dtrain extension on the local backend, and small REST helpers."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
from traitlets.config import Config

API = ("dtrain", "api")

# Each replica prints a line and writes rank-<RANK>.txt. The job succeeds when the Master does
# (the operator's rule), so the Master waits (up to 60 s) for rank 1's file: by then every
# line and file the test expects exists, however slow the machine.
RANK_SCRIPT = (
    "import os, pathlib, time; r = os.environ['RANK']; d = pathlib.Path(os.environ['DTRAIN_OUTPUT_DIR']); "
    "print('hello from rank', r, flush=True); (d / ('rank-' + r + '.txt')).write_text('rank ' + r); "
    "[time.sleep(0.05) for _ in range(1200) if r == '0' and os.environ.get('WORLD_SIZE', '1') != '1' "
    "and not (d / 'rank-1.txt').exists()]"
)


def pytorch_manifest(name: str, *, script: str | None = None, workers: int = 1, namespace: str | None = None) -> dict[str, Any]:
    """A small PyTorchJob whose replicas are real Python processes (no torch needed to run)."""
    script = script or RANK_SCRIPT
    container = {"name": "pytorch", "image": "python:3.11", "command": ["python", "-c", script]}
    spec = {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
    meta: dict[str, Any] = {"name": name, "labels": {"dtrain-test": "server"}}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": meta,
            "spec": {"pytorchReplicaSpecs": {"Master": spec, "Worker": {**spec, "replicas": workers}}}}


def unique(prefix: str = "job") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def dtrain_config(tmp_path: Path) -> dict[str, Any]:
    """`c.DTrain` of the test server; override in a module to change it."""
    return {"backend": "local", "state_dir": str(tmp_path / "dtrain-state"), "grace_seconds": 1.0}


@pytest.fixture
def jp_server_config(dtrain_config: dict[str, Any]) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"dtrain_jupyter": True}},
        "DTrain": dtrain_config,
    })


Call = Callable[..., Awaitable[tuple[int, Any, Any]]]


@pytest.fixture
def api(jp_fetch: Any) -> Call:
    """`await api("jobs", method="POST", body=...)` -> (status, parsed JSON or bytes, headers); never raises on 4xx/5xx."""

    async def call(*parts: str, method: str = "GET", body: Any = None, params: dict | None = None,
                   headers: dict | None = None, raw: bool = False, **kw: Any) -> tuple[int, Any, Any]:
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if method == "POST" and body is None:
            body = ""
        r = await jp_fetch(*API, *parts, method=method, body=body, params=params, headers=headers,
                           raise_error=False, allow_nonstandard_methods=True, **kw)
        data = r.body
        if not raw:
            ctype = r.headers.get("Content-Type", "")
            if ctype.startswith("application/json"):
                data = json.loads(r.body or b"null")
            elif ctype.startswith("application/x-ndjson"):
                data = [json.loads(line) for line in r.body.decode().splitlines() if line.strip()]
        return r.code, data, r.headers

    return call


async def wait_finished(api: Call, job_path: tuple[str, ...], timeout: float = 60) -> dict[str, Any]:
    """Poll one job over REST until its phase is Succeeded or Failed."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        code, job, _ = await api(*job_path)
        assert code == 200, job
        if job["status"]["phase"] in ("Succeeded", "Failed"):
            return job
        assert loop.time() < end, f"job still {job['status']['phase']}"
        await asyncio.sleep(0.2)


def job_path(job: dict[str, Any]) -> tuple[str, ...]:
    return (job["backend"], "namespaces", job["namespace"], job["kind"].lower() + "s", job["name"])
