"""Faults of the local backend, with real processes and a real `jupyter server` subprocess.

A replica killed with SIGKILL; the server itself killed with SIGKILL while jobs run and then
restarted on the same state (jobs re-attached or marked lost, logs intact, nothing left running
after delete); a replica whose log cannot grow (RLIMIT_FSIZE set by the replica on itself, the
portable stand-in for a full disk) and, where `mount` works, a state folder on a 2 MiB tmpfs that
really fills up; two clients creating the same name at once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.server.live import LiveServer
from tests.server.conftest import pytorch_manifest, unique

from .conftest import assert_clean_answer

# Prints a line every 0.1 s until the file named by $RELEASE exists, then exits 0.
WAITER = ("import os, time, pathlib; r = pathlib.Path(os.environ['RELEASE']); i = 0\n"
          "while not r.exists():\n    print('tick', i, flush=True); i += 1; time.sleep(0.1)\n"
          "print('released', flush=True)")


def one_replica(name: str, script: str, *, restart: str = "Never", env: dict | None = None) -> dict:
    manifest = pytorch_manifest(name, script=script)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    master = manifest["spec"]["pytorchReplicaSpecs"]["Master"]
    master["restartPolicy"] = restart
    if env:
        master["template"]["spec"]["containers"][0]["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return manifest


def job_path(name: str) -> str:
    return f"local/namespaces/default/pytorchjobs/{name}"


def wait(http: httpx.Client, name: str, pred, timeout: float = 90, what: str = "") -> dict:
    end = time.monotonic() + timeout
    while True:
        job = http.get(job_path(name)).json()
        if pred(job):
            return job
        assert time.monotonic() < end, f"{what}: {job.get('status', job)}"
        time.sleep(0.1)


def pods(http: httpx.Client, name: str) -> list[dict]:
    return http.get(job_path(name) + "/pods").json()["items"]


def log_lines(http: httpx.Client, name: str) -> list[str]:
    return [json.loads(x)["line"] for x in http.get(job_path(name) + "/log").text.splitlines() if x.strip()]


def running_pid(http: httpx.Client, name: str) -> int:
    end = time.monotonic() + 60
    while True:
        found = [p for p in pods(http, name) if p["phase"] == "Running" and p.get("pid")]
        if found and len(log_lines(http, name)) >= 2:
            return found[0]["pid"]
        assert time.monotonic() < end, pods(http, name)
        time.sleep(0.1)


def finished(job: dict) -> bool:
    return job["status"]["phase"] in ("Succeeded", "Failed")


@pytest.fixture
def server(tmp_path: Path):
    started: list[LiveServer] = []

    def start() -> LiveServer:
        s = LiveServer(tmp_path)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.stop()


def client(s: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=s.url + "dtrain/api/", headers=s.headers, timeout=60)


def test_a_replica_killed_with_sigkill(http: httpx.Client, tmp_path: Path) -> None:
    # restartPolicy Never: the job fails and says the replica was killed (exit 137, as on Kubernetes).
    name = unique("kill")
    http.post("jobs", json={"manifest": one_replica(name, WAITER, env={"RELEASE": str(tmp_path / "never")})})
    os.kill(running_pid(http, name), signal.SIGKILL)
    job = wait(http, name, finished, what="after SIGKILL")
    assert job["status"]["phase"] == "Failed"
    [pod] = pods(http, name)
    assert pod["exit_code"] == 137 and pod["reason"], pod
    assert log_lines(http, name)[0] == "tick 0"
    http.delete(job_path(name))

    # restartPolicy OnFailure: the replica is started again and the job goes on.
    name = unique("restart")
    release = tmp_path / "release"
    http.post("jobs", json={"manifest": one_replica(name, WAITER, restart="OnFailure", env={"RELEASE": str(release)})})
    first = running_pid(http, name)
    os.kill(first, signal.SIGKILL)
    end = time.monotonic() + 60
    while not any(p["restarts"] >= 1 and p["phase"] == "Running" for p in pods(http, name)):
        assert time.monotonic() < end, pods(http, name)
        time.sleep(0.1)
    release.touch()
    job = wait(http, name, finished, what="after restart")
    assert job["status"]["phase"] == "Succeeded" and "released" in log_lines(http, name)
    http.delete(job_path(name))


def test_server_killed_and_restarted_while_jobs_run(server, tmp_path: Path) -> None:
    release = tmp_path / "release"
    first = server()
    http = client(first)
    keep, lose, drop = unique("keep"), unique("lose"), unique("drop")
    for name in (keep, lose, drop):
        r = http.post("jobs", json={"manifest": one_replica(name, WAITER, env={"RELEASE": str(release)})})
        assert r.status_code == 201, r.text
    pids = {name: running_pid(http, name) for name in (keep, lose, drop)}
    lines_before = len(log_lines(http, keep))
    http.close()

    first.proc.send_signal(signal.SIGKILL)  # no shutdown hook runs
    first.proc.wait(30)
    first.log.close()
    assert all(psutil.pid_exists(p) for p in pids.values()), "replicas must outlive the server"
    # While no server watches: `lose` dies with its wrapper (SIGKILL to its whole process group),
    # so no exit status is recorded anywhere.
    os.killpg(os.getpgid(pids[lose]), signal.SIGKILL)

    second = server()
    http = client(second)
    try:
        # Re-attached: still running, the log holds what was written before and after.
        job = wait(http, keep, lambda j: j["status"]["phase"] == "Running", what="re-attach")
        assert len(log_lines(http, keep)) >= lines_before
        lost = wait(http, lose, finished, what="lost replica")
        assert lost["status"]["phase"] == "Failed"
        reasons = json.dumps(pods(http, lose)) + json.dumps(lost["status"])
        assert "lost" in reasons.lower(), reasons
        # Delete leaves nothing behind: the replica and its wrapper are gone.
        group = os.getpgid(pids[drop])
        assert http.delete(job_path(drop)).status_code == 202
        end = time.monotonic() + 30
        while [p for p in psutil.process_iter(["pid"]) if _in_group(p, group)]:
            assert time.monotonic() < end, "processes left after delete"
            time.sleep(0.1)
        release.touch()
        job = wait(http, keep, finished, what="release")
        lines = log_lines(http, keep)
        assert job["status"]["phase"] == "Succeeded" and lines[0] == "tick 0" and lines[-1] == "released"
        ticks = [int(x.split()[1]) for x in lines if x.startswith("tick")]
        assert ticks == list(range(len(ticks))), "log lines were lost or repeated across the restart"
    finally:
        http.close()


def _in_group(proc: psutil.Process, group: int) -> bool:
    try:
        return os.getpgid(proc.pid) == group and proc.status() != psutil.STATUS_ZOMBIE
    except (ProcessLookupError, psutil.Error):
        return False


# Limits its own file size, then writes past it to stdout (its log file): the write fails, as on a full disk.
FILLER = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)); "
          "print('start', flush=True); [print('x' * 1000, flush=True) for _ in range(100)]")


def test_log_that_cannot_grow_fails_the_job_clearly(http: httpx.Client) -> None:
    name = unique("fsize")
    http.post("jobs", json={"manifest": one_replica(name, FILLER)})
    job = wait(http, name, finished, what="log limit")
    assert job["status"]["phase"] == "Failed"
    [pod] = pods(http, name)
    # Python ignores SIGXFSZ, so the write fails with EFBIG ("File too large") and the replica exits 1.
    assert pod["exit_code"] not in (None, 0) and pod["reason"], pod
    assert log_lines(http, name)[0] == "start"
    assert http.get("backends").status_code == 200  # the server keeps running
    http.delete(job_path(name))


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def test_full_disk_under_the_state_folder(tmp_path: Path) -> None:
    """The whole state folder (records and logs) on a 2 MiB tmpfs that a job fills."""
    state = tmp_path / "state"
    if not _tmpfs(state, "2m"):
        pytest.skip("mount -t tmpfs is not permitted here; the RLIMIT_FSIZE test above covers a log that cannot grow")
    try:
        s = LiveServer(tmp_path)
        http = client(s)
        try:
            name = unique("full")
            script = "import sys\nfor i in range(4000): print('y' * 1000, flush=True)\nprint('end', flush=True)"
            r = http.post("jobs", json={"manifest": one_replica(name, script)})
            assert r.status_code == 201, r.text
            job = wait(http, name, finished, timeout=120, what="disk full")
            assert job["status"]["phase"] == "Failed", job["status"]
            # Every further answer is an answer, never a 500 or a hung server; a new job cannot be
            # written, which is the server's condition, not the request's: 503 saying so.
            for r in (http.get("jobs"), http.get(job_path(name) + "/pods"), http.get(job_path(name) + "/log")):
                assert_clean_answer(r)
            more = unique("more")
            r = http.post("jobs", json={"manifest": one_replica(more, "print(1)")})
            assert r.status_code == 503 and "No space left" in r.json()["message"], r.text
            assert more not in [j["name"] for j in http.get("jobs").json()["items"]]  # no half-made job
            http.delete(job_path(name))
            assert http.get("backends").status_code == 200
        finally:
            http.close()
            s.stop()
    finally:
        subprocess.run(["umount", "-l", str(state)], capture_output=True)


def test_two_clients_create_the_same_name_at_once(http: httpx.Client, live) -> None:
    for _ in range(3):
        name = unique("race")
        answers: list[httpx.Response] = []

        def create() -> None:
            with httpx.Client(base_url=live.url + "dtrain/api/", headers=live.headers, timeout=60) as c:
                answers.append(c.post("jobs", json={"manifest": one_replica(name, "print('once')")}))

        threads = [threading.Thread(target=create) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409, 409, 409], [r.text for r in answers]
        assert all(r.json()["error"] == "JobExists" for r in answers if r.status_code == 409)
        wait(http, name, finished)
        assert log_lines(http, name) == ["once"]  # one job ran, once
        http.delete(job_path(name))
