"""The server's TensorBoard through a real Jupyter server: real local jobs that write event files with
torch.utils.tensorboard, a real TensorBoard process, its pages and scalars through the proxy."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from dtrain_jupyter import Client, NotFound

from ..server.live import LiveServer

pytest.importorskip("torch.utils.tensorboard")

# Seconds of idle time the test server allows its TensorBoard (c.DTrain.tensorboard_idle_minutes).
IDLE_SECONDS = 12

SCRIPT = (
    "import os; from torch.utils.tensorboard import SummaryWriter; "
    "w = SummaryWriter(os.environ['DTRAIN_OUTPUT_DIR']); "
    "[w.add_scalar('{tag}', 1.0 / (step + 1), step) for step in range(20)]; w.close()"
)


def manifest(name: str, script: str) -> dict[str, Any]:
    container = {"name": "pytorch", "image": "python:3.11", "command": [sys.executable, "-c", script]}
    spec = {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": spec}}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("tensorboard-server"),
                      (f"--DTrain.tensorboard_idle_minutes={IDLE_SECONDS / 60}",))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[Client]:
    with Client(url=server.url, token=server.token) as c:
        for name, tag in (("tb-loss", "loss"), ("tb-acc", "accuracy")):
            c.create(manifest(name, SCRIPT.format(tag=tag)))
        c.create(manifest("tb-none", "print('no event files')"))
        for name in ("tb-loss", "tb-acc", "tb-none"):
            assert c.wait(name, timeout=120).phase.value == "Succeeded", c.logs(name)
        yield c


def state(server: LiveServer) -> dict[str, Any]:
    r = httpx.get(server.url + "dtrain/api/tensorboard", headers=server.headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by the server) counts as gone.
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ")[-1].startswith("Z"))


def tags(server: LiveServer, url: str, timeout: float = 60) -> dict[str, Any]:
    """The scalars plugin's tags through the proxy, once TensorBoard has loaded some."""
    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url + "data/plugin/scalars/tags", headers=server.headers, timeout=10)
        assert r.status_code == 200, r.text
        if r.json() or time.monotonic() > deadline:
            return r.json()
        time.sleep(0.5)


def test_the_proxied_tensorboard_shows_the_jobs_scalars(server: LiveServer, client: Client) -> None:
    url = client.open_tensorboard(["tb-loss"])
    assert url == server.url + "dtrain/tensorboard/"
    page = httpx.get(url, headers=server.headers, timeout=30)
    assert page.status_code == 200 and "<tb-webapp>" in page.text, page.text[:500]
    assert httpx.get(url + "index.js", headers=server.headers, timeout=30).status_code == 200
    # TensorBoard names a run <logdir name>/<folder under it>; the events are in the folder itself.
    assert tags(server, url) == {"tb-loss/.": {"loss": {"displayName": "loss", "description": ""}}}
    points = httpx.get(url + "data/plugin/scalars/scalars", params={"run": "tb-loss/.", "tag": "loss"},
                       headers=server.headers, timeout=10).json()
    assert [p[1] for p in points] == list(range(20)) and points[0][2] == pytest.approx(1.0)
    # Without the server's login the proxy answers nothing of TensorBoard's.
    assert httpx.get(url + "data/plugin/scalars/tags", timeout=10).status_code in (302, 403)


def test_the_same_jobs_reuse_the_process_and_others_restart_it(server: LiveServer, client: Client) -> None:
    client.open_tensorboard(["tb-loss"])
    first = state(server)
    client.open_tensorboard(["tb-loss"])
    assert state(server)["pid"] == first["pid"] and alive(first["pid"])
    url = client.open_tensorboard(["tb-loss", "tb-acc"])
    second = state(server)
    assert second["pid"] != first["pid"] and not alive(first["pid"])
    assert set(second["logdirs"]) == {"tb-loss", "tb-acc"}
    assert set(tags(server, url, timeout=60)) <= {"tb-loss/.", "tb-acc/."}


def test_a_job_without_event_files_or_a_bad_body_gets_words(server: LiveServer, client: Client) -> None:
    with pytest.raises(NotFound, match="no TensorBoard event files") as e:
        client.open_tensorboard(["tb-none"])
    assert e.value.fields["field"] == "jobs[0]"
    r = httpx.post(server.url + "dtrain/api/tensorboard", headers=server.headers, json={"jobs": [{"kind": "x"}]})
    assert r.status_code == 400 and r.json()["field"] == "jobs[0].name"
    r = httpx.post(server.url + "dtrain/api/tensorboard", headers=server.headers, json={"jobs": []})
    assert r.status_code == 400 and "at least one job" in r.json()["message"]


def test_delete_stops_it_and_the_proxy_then_says_so(server: LiveServer, client: Client) -> None:
    url = client.open_tensorboard(["tb-acc"])
    pid = state(server)["pid"]
    r = httpx.delete(server.url + "dtrain/api/tensorboard", headers=server.headers)
    assert r.status_code == 204
    assert state(server) == {"running": False, "logdirs": {}, "pid": None} and not alive(pid)
    r = httpx.get(url, headers=server.headers, timeout=10)
    assert r.status_code == 404 and "not running" in r.text


def test_it_stops_when_idle(server: LiveServer, client: Client) -> None:
    client.open_tensorboard(["tb-acc"])
    pid = state(server)["pid"]
    deadline = time.monotonic() + IDLE_SECONDS * 4
    while state(server)["running"] and time.monotonic() < deadline:
        time.sleep(1)  # the API's GET is no proxied request: it does not keep TensorBoard up
    assert state(server)["running"] is False and not alive(pid)


def test_it_stops_with_the_server(tmp_path: Path) -> None:
    live = LiveServer(tmp_path)
    try:
        with live.client() as c:
            c.create(manifest("tb-own", SCRIPT.format(tag="loss")))
            c.wait("tb-own", timeout=120)
            c.open_tensorboard(["tb-own"])
        pid = state(live)["pid"]
        assert alive(pid)
    finally:
        live.stop()
    assert not alive(pid), live.log_tail()
