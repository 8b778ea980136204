"""Start, find, watch and stop replica processes; none of it relies on being their parent.

Each replica runs under `wrapper.py` in a new session (so it outlives the server and has its own
process group). A process is identified by pid *and* start time (psutil `create_time`), so a pid
the system reused is never mistaken for the replica. Every process of a job, grandchildren
included (mpirun's ranks, torchrun's workers, even ones that left the process group), carries
`DTRAIN_JOB_UID` in its environment; stopping a job signals all of them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Collection, Iterable

import psutil

WRAPPER = str(Path(__file__).with_name("wrapper.py"))
# Start times from /proc have 10 ms resolution; allow for rounding between reads.
_CTIME_SLACK = 0.05
# Popen objects of replicas this server started, so their exits are reaped (no zombies).
_CHILDREN: dict[int, subprocess.Popen] = {}


@dataclass
class Started:
    pid: int
    create_time: float


@dataclass
class ExitStatus:
    exit_code: int
    signal: int | None
    finished: float


def spawn(argv: list[str], env: dict[str, str], cwd: str, log_path: Path, exit_file: Path, pid_file: Path) -> Started:
    """Start one replica attempt under the wrapper, stdout and stderr appended to `log_path`.

    No shell is involved: argv goes to exec as given.
    """
    for f in (exit_file, pid_file):
        f.unlink(missing_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as log:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", WRAPPER, str(exit_file), str(pid_file), "--", *argv],
            env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    try:
        ctime = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        ctime = time.time()
    return Started(pid=proc.pid, create_time=ctime)


def reap() -> None:
    """Collect exit statuses of our own finished children so they do not linger as zombies."""
    for pid, proc in list(_CHILDREN.items()):
        if proc.poll() is not None:
            del _CHILDREN[pid]


def alive(pid: int | None, create_time: float | None) -> bool:
    """True when `pid` is still the process started at `create_time` and has not exited."""
    if not pid or create_time is None:
        return False
    proc = _CHILDREN.get(pid)
    if proc is not None and proc.poll() is not None:
        return False
    try:
        p = psutil.Process(pid)
        if abs(p.create_time() - create_time) > _CTIME_SLACK:
            return False
        return p.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def read_exit(exit_file: Path) -> ExitStatus | None:
    """The status the wrapper wrote, or None when it wrote none (still running, or lost)."""
    try:
        data = json.loads(exit_file.read_text())
        return ExitStatus(int(data["exit_code"]), data.get("signal"), float(data.get("finished") or time.time()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def oom_kills(vmstat: Path = Path("/proc/vmstat")) -> int | None:
    """The kernel's count of OOM kills so far (None where the kernel does not report it).

    A replica killed by SIGKILL while this count grew was, in all likelihood, killed for
    running out of memory: the local counterpart of a container's `OOMKilled` reason.
    """
    try:
        for line in vmstat.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return None


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def job_processes(uid: str, roots: Iterable[tuple[int | None, float | None]] = (),
                  replicas: Collection[str] | None = None) -> list[psutil.Process]:
    """Every live process of a job (or of some replicas, by pod name): the wrappers' trees and
    anything carrying its uid (and one of those replicas' `DTRAIN_REPLICA`)."""
    wanted = None if replicas is None else {f"DTRAIN_REPLICA={r}".encode() for r in replicas}
    found: dict[int, psutil.Process] = {}
    for pid, ctime in roots:
        if alive(pid, ctime):
            try:
                root = psutil.Process(pid)  # type: ignore[arg-type]
                found[root.pid] = root
                for child in root.children(recursive=True):
                    found[child.pid] = child
            except psutil.NoSuchProcess:
                pass
    marker = f"DTRAIN_JOB_UID={uid}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in found or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        fields = environ.split(b"\0")
        if marker in fields and (wanted is None or not wanted.isdisjoint(fields)):
            try:
                found[int(entry)] = psutil.Process(int(entry))
            except psutil.NoSuchProcess:
                pass
    return [p for p in found.values() if _running(p)]


def _running(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _signal_all(procs: list[psutil.Process], sig: int) -> None:
    groups = set()
    for p in procs:
        try:
            groups.add(os.getpgid(p.pid))
        except OSError:
            pass
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    for g in groups:
        if g != os.getpgid(0):
            try:
                os.killpg(g, sig)
            except OSError:
                pass


def stop(procs: list[psutil.Process], grace: float) -> None:
    """SIGTERM every process (and its group), then SIGKILL whatever is left after `grace` seconds."""
    if not procs:
        return
    _signal_all(procs, signal.SIGTERM)
    _, left = psutil.wait_procs(procs, timeout=max(grace, 0.0))
    left = [p for p in left if _running(p)]
    if left:
        _signal_all(left, signal.SIGKILL)
        psutil.wait_procs(left, timeout=5)
    reap()


def stop_job(uid: str, roots: Iterable[tuple[int | None, float | None]], grace: float,
             replicas: Collection[str] | None = None) -> None:
    """Stop every process of a job (or of some replicas), sweeping again for any started meanwhile.

    With `replicas`, `roots` must be those replicas' own wrappers: the other replicas of the job
    may be meant to run on (cleanPodPolicy None).
    """
    roots = list(roots)
    for _ in range(3):
        procs = job_processes(uid, roots, replicas)
        if not procs:
            return
        stop(procs, grace)
