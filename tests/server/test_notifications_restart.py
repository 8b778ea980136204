"""Job-end notifications survive a server restart: a job created before it is announced after it, once."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from .conftest import pytorch_manifest, unique
from .live import LiveServer


def _poll(server: LiveServer, since: int | None, wait: float) -> dict[str, Any]:
    params = {"wait": wait, **({"since": since} if since is not None else {})}
    r = httpx.get(server.url + "dtrain/api/notifications", params=params, headers=server.headers,
                  timeout=wait + 30)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_job_that_ends_while_the_server_is_down_is_announced_after_the_restart(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    name = unique("restart")
    # The replicas wait for the gate file, so the job is still running when the server stops.
    script = (f"import pathlib, time; [time.sleep(0.05) for _ in iter(lambda: pathlib.Path({str(gate)!r})"
              f".exists(), True)]; print('through the gate')")
    server = LiveServer(tmp_path / "server")
    try:
        cursor = _poll(server, None, 0)["cursor"]
        r = httpx.post(server.url + "dtrain/api/jobs", json={"manifest": pytorch_manifest(name, script=script)},
                       headers=server.headers, timeout=60)
        assert r.status_code == 201, r.text
        uid = r.json()["uid"]

        server.stop()
        gate.write_text("open")  # the replicas outlive the server and end while it is down
        time.sleep(1.0)
        server.start()

        items: list[dict[str, Any]] = []
        deadline = time.monotonic() + 90
        while not items:
            assert time.monotonic() < deadline, "the job's end was never announced after the restart"
            answer = _poll(server, cursor, 10)
            items, cursor = answer["items"], answer["cursor"]
        assert [(i["job"]["name"], i["job"]["uid"], i["phase"]) for i in items] == [(name, uid, "Succeeded")]

        # Restarting again reloads the finished job; it is not announced a second time.
        server.stop()
        server.start()
        # Reading the job starts the backend, which reports every job it reloads before answering.
        r = httpx.get(server.url + f"dtrain/api/local/namespaces/default/pytorchjobs/{name}",
                      headers=server.headers, timeout=60)
        assert r.status_code == 200 and r.json()["status"]["phase"] == "Succeeded", r.text
        assert _poll(server, cursor, 1)["items"] == []
    finally:
        server.stop()
