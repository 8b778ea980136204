"""The job history under faults, through real servers and real local jobs: the server killed
while it archives, a 1 GB log, a full disk (a real 1 MiB tmpfs), two servers on one history folder.

Each archived log is compared byte for byte with the job's own log (the local backend's
`<state>/default/pytorchjobs/<name>/logs/<pod>.log`), so a torn, doubled or truncated archive fails.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import psutil
import pytest

from dtrain_jupyter import Client
from dtrain_jupyter.model.status import Phase

from ..server.live import LiveServer

# How much the server's memory may grow while it archives a 1 GiB log (a chunk at a time).
ARCHIVE_RSS_BOUND_MIB = 64
BIG_LOG_BYTES = 1 << 30


def python_job(name: str, script: str) -> dict[str, Any]:
    container = {"name": "pytorch", "image": "python:3.11", "command": [sys.executable, "-c", script]}
    spec = {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": spec}}}


def until(check: Callable[[], Any], what: str, timeout: float = 60.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {timeout} s: {what} (last: {value!r})")
        time.sleep(every)


def record_of(client: Client, name: str) -> dict[str, Any] | None:
    found = [j for j in client.history(search=name) if j.name == name]
    return found[0].record if found else None


def archived_whole(client: Client, name: str) -> dict[str, Any] | None:
    """The record once the job finished and every pod's log is archived complete, else None."""
    found = [j for j in client.history(search=name) if j.name == name]
    if found and found[0].phase.finished and found[0].record["log_bytes"] > 0 \
            and not found[0].record["incomplete_logs"] and not found[0].record["archiving"]:
        return found[0].record
    return None


def own_log(server: LiveServer, name: str) -> Path:
    """The local backend's log of the job's master pod (what the replica wrote, byte for byte)."""
    return server.root / "state" / "default" / "pytorchjobs" / name / "logs" / f"{name}-master-0.log"


def history_dir(server: LiveServer) -> Path:
    return server.root / "data" / "dtrain-history"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def problems_in(log_text: str) -> list[str]:
    return [line for line in log_text.splitlines() if "Traceback" in line or " ERROR " in line
            or "[E " in line or "could not record" in line]


# -- the server killed mid-archive -------------------------------------------------------------

def test_a_server_killed_while_archiving_loses_nothing(tmp_path: Path) -> None:
    gate = tmp_path / "stop-printing"
    script = (f"import os, time\ni = 0\nwhile not os.path.exists({str(gate)!r}):\n"
              "    print(f'line {i} ' + 'x' * 40, flush=True)\n    i += 1\n    time.sleep(0.002)\n"
              "print('end', flush=True)\n")
    live = LiveServer(tmp_path)
    try:
        with live.client() as client:
            client.create(python_job("steady", script))
            record = until(lambda: record_of(client, "steady"), "the job recorded")
            folder = history_dir(live) / "logs" / str(record["id"])
            until(lambda: any(p.stat().st_size > 20_000 for p in folder.glob("*.partial-*")),
                  "the running pod's log followed into the archive")
        live.proc.kill()  # SIGKILL: no shutdown code runs, the partial file stays as it was
        live.proc.wait(10)
        live.log.close()
        assert list(folder.glob("*.partial-*")), "the killed server left its partial file"

        live.start()
        with live.client() as client:
            listed = client.history(total=True)
            assert [j.name for j in listed] == ["steady"] and listed.total == 1
            assert client.get("steady").phase == Phase.RUNNING
            time.sleep(1)  # the job prints on while the restarted server follows it
            gate.touch()
            assert client.wait("steady", timeout=60).phase == Phase.SUCCEEDED
            record = until(lambda: archived_whole(client, "steady"), "the log archived whole again")
        archived = folder / "steady-master-0.log"
        written = own_log(live, "steady").read_bytes()
        assert written.endswith(b"end\n") and written.count(b"\n") > 1000
        assert archived.read_bytes() == written
        assert record["log_bytes"] == len(written)
        assert not list(folder.glob("*.partial-*")), "a partial file was left behind"
        assert problems_in(live.read_log()) == []
    finally:
        live.stop()


# -- a 1 GiB log --------------------------------------------------------------------------------

@pytest.mark.parametrize("follows", [
    pytest.param(0, id="read-whole-when-it-ends"),
    # The local follower reads at most POLL_BUDGET a step (backends/local/logs.py), so a replica
    # that writes faster than the archive reads never puts its backlog in memory.
    pytest.param(64, id="followed-while-it-runs"),
])
def test_archiving_a_1_gib_log_uses_bounded_memory(tmp_path: Path, follows: int) -> None:
    free = shutil.disk_usage(tmp_path).free
    if free < 4 * 2**30:
        pytest.skip(f"archiving a 1 GiB log needs 4 GiB free in {tmp_path} (the log and its archive); "
                    f"{free / 2**30:.1f} GiB free")
    blocks = BIG_LOG_BYTES // 65536
    script = ("import sys\nblock = b'y' * 65535 + b'\\n'\nout = sys.stdout.buffer\n"
              f"for _ in range({blocks}):\n    out.write(block)\nout.flush()\n")
    live = LiveServer(tmp_path, (f"--DTrain.history_max_follows={follows}",))
    server = psutil.Process(live.pid)
    peak = {"rss": server.memory_info().rss}
    base = peak["rss"]
    halt = threading.Event()

    def sample() -> None:
        while not halt.wait(0.02):
            peak["rss"] = max(peak["rss"], server.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with live.client() as client:
            client.create(python_job("big", script))
            assert client.wait("big", timeout=300).phase == Phase.SUCCEEDED
            record = until(lambda: archived_whole(client, "big"), "the 1 GiB log archived", timeout=600, every=1)
        halt.set()
        sampler.join()
        original = own_log(live, "big")
        archived = history_dir(live) / "logs" / str(record["id"]) / "big-master-0.log"
        assert original.stat().st_size == BIG_LOG_BYTES
        assert archived.stat().st_size == BIG_LOG_BYTES == record["log_bytes"]
        assert sha256(archived) == sha256(original)
        growth = (peak["rss"] - base) / 2**20
        assert growth < ARCHIVE_RSS_BOUND_MIB, f"the server grew {growth:.0f} MiB archiving a 1 GiB log"
    finally:
        halt.set()
        live.stop()
        shutil.rmtree(tmp_path / "state", ignore_errors=True)
        shutil.rmtree(tmp_path / "data", ignore_errors=True)


# -- a full disk ---------------------------------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 1 MiB tmpfs (root in a container may mount one), unmounted after the test."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"a real full disk needs a tmpfs mount, refused here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_archive_not_the_job_and_the_record_says_why(tmp_path: Path, tiny_disk: Path) -> None:
    # 3 MiB of output on a 1 MiB disk: the archive fills it mid-log.
    script = ("import sys\nfor i in range(30000):\n    print(f'line {i:06d} ' + 'z' * 90)\n"
              "sys.stdout.flush()\n")
    live = LiveServer(tmp_path, (f"--DTrain.history_dir={tiny_disk}",))
    try:
        with live.client() as client:
            client.create(python_job("flood", script))
            assert client.wait("flood", timeout=120).phase == Phase.SUCCEEDED
            written = own_log(live, "flood").read_bytes()
            assert written.count(b"\n") == 30000, "the job's own log is whole"

            def told() -> dict[str, Any] | None:
                record = record_of(client, "flood")
                return record if record and record["archive_problem"] else None
            record = until(told, "the record says why its log is incomplete")
            assert "disk is full" in record["archive_problem"] or "No space left" in record["archive_problem"]
            assert record["incomplete_logs"] == ["flood-master-0"]
            listed = client.history(search="flood")
            assert [j.name for j in listed] == ["flood"] and listed[0].phase == Phase.SUCCEEDED
            # What the panel's banner shows: the server stopped archiving, and why.
            assert listed.problem and "disk is full" in listed.problem
            assert client.get("flood").phase == Phase.SUCCEEDED
            # What was archived is a head of the log, cut at a chunk, never garbage.
            archived = (tiny_disk / "logs" / str(record["id"]) / "flood-master-0.log").read_bytes()
            assert 0 < len(archived) < len(written) and written.startswith(archived)
        assert live.read_log().count("disk is full") == 1
        assert problems_in(live.read_log()) == []
    finally:
        live.stop()


# -- two servers, one history folder -------------------------------------------------------------

def test_two_servers_share_one_history_folder(tmp_path: Path) -> None:
    shared = tmp_path / "team-history"
    servers = [LiveServer(tmp_path / name, (f"--DTrain.history_dir={shared}",)) for name in ("one", "two")]
    names = {"one": [f"one-{i}" for i in range(3)], "two": [f"two-{i}" for i in range(3)]}
    script = "for i in range(2000):\n    print(f'{i} ' + 'w' * 60, flush=True)\n"
    try:
        clients = {"one": servers[0].client(), "two": servers[1].client()}
        # Both servers create and archive at the same time, so their writes to the store interleave.
        for i in range(3):
            for who, client in clients.items():
                client.create(python_job(names[who][i], script))
        for who, client in clients.items():
            for name in names[who]:
                assert client.wait(name, timeout=120).phase == Phase.SUCCEEDED
        for who, client in clients.items():
            for name in names[who]:
                until(lambda: archived_whole(client, name), f"{name} archived by server {who}")
        everything = sorted(names["one"] + names["two"])
        for who, client in clients.items():
            listed = client.history(total=True)
            assert sorted(j.name for j in listed) == everything and listed.total == 6, who
        for server, who in zip(servers, ("one", "two")):
            with server.client() as client:
                for name in names[who]:
                    record = record_of(client, name)
                    archived = shared / "logs" / str(record["id"]) / f"{name}-master-0.log"
                    assert archived.read_bytes() == own_log(server, name).read_bytes()
        assert not list((shared / "logs").glob("*/*.partial-*"))
        for server in servers:
            assert problems_in(server.read_log()) == [], server.log_tail()
        for client in clients.values():
            client.close()
    finally:
        for server in servers:
            server.stop()


def test_the_history_api_answers_while_another_server_writes(tmp_path: Path) -> None:
    """A reader's listing never fails with "database is locked" while the other server commits."""
    shared = tmp_path / "team-history"
    writer, reader = (LiveServer(tmp_path / name, (f"--DTrain.history_dir={shared}",)) for name in ("w", "r"))
    try:
        with writer.client() as client:
            for i in range(4):
                client.create(python_job(f"busy-{i}", "for i in range(500):\n    print(i, flush=True)\n"))
            deadline = time.monotonic() + 20
            statuses = []
            while time.monotonic() < deadline and len(statuses) < 200:
                r = httpx.get(reader.url + "dtrain/api/history", params={"total": "true"}, headers=reader.headers,
                              timeout=30)
                statuses.append(r.status_code)
            for i in range(4):
                client.wait(f"busy-{i}", timeout=120)
        assert set(statuses) == {200}
    finally:
        writer.stop()
        reader.stop()
