"""The metric reader process's life: it ends with the server (stop, or the server killed), and one
that dies is started again once; a second death stops metrics while the rest goes on."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from dtrain_jupyter.history.log_archive import LogArchive
from dtrain_jupyter.history.metric_ingest import MetricIngest
from dtrain_jupyter.history.metric_store import MetricStore
from dtrain_jupyter.history.metric_worker import NICENESS, frame

from .test_metric_ingest import Ingest


def gone(pid: int, timeout: float = 20.0) -> bool:
    """Whether the process `pid` ended (or is a zombie nobody reaped) within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


async def next_pid(ingest, old: int, timeout: float = 20.0) -> int | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = ingest.pid
        if pid is not None and pid != old:
            return pid
        await asyncio.sleep(0.05)
    return None


async def test_the_process_runs_niced_and_ends_when_the_ingest_stops(tmp_path):
    async with Ingest(tmp_path) as s:
        pid = s.ingest.pid
        assert pid is not None and pid != os.getpid()
        # It lowers its priority as it starts, below this (the server's) process.
        wanted = min(os.nice(0) + NICENESS, 19)
        deadline = time.monotonic() + 20
        while psutil.Process(pid).nice() != wanted and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert psutil.Process(pid).nice() == wanted
        s.ingest.begin(1, "job", "job-master-0")
        s.ingest.feed(1, "job-master-0", b"loss=1.0\n")
        await s.ingest.stop()
        # Stopped: what it was given is written, and it is gone.
        assert gone(pid)
        assert s.store.page(1).series[0].value == [1.0]


async def test_a_killed_process_is_started_again_once_then_metrics_stop(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="dtrain_jupyter.history.metric_ingest")
    async with Ingest(tmp_path) as s:
        first = s.ingest.pid
        os.kill(first, signal.SIGKILL)
        second = await next_pid(s.ingest, first)
        assert second is not None, "no second reader process started"
        assert "starting it again" in caplog.text
        # The new process reads what comes next.
        s.ingest.begin(2, "job", "job-master-0")
        s.ingest.feed(2, "job-master-0", b"loss=0.5\n")
        await s.flushed()
        assert s.store.page(2).series[0].value == [0.5]

        waiting = s.ingest.changed(3)
        os.kill(second, signal.SIGKILL)
        await asyncio.wait_for(waiting.wait(), 20)  # waiters are let go, not left hanging
        assert s.ingest.dead and s.ingest.pid is None
        assert "metrics are off until the server restarts" in caplog.text
        s.ingest.begin(3, "job", "job-master-0")  # taken and dropped, without an error
        s.ingest.feed(3, "job-master-0", b"loss=0.25\n")
        await s.flushed()
        assert not s.ingest.busy(3) and s.store.page(3).series == []


def test_the_process_ends_when_its_server_is_killed(tmp_path: Path) -> None:
    # A stand-in server: starts the ingest, says its reader's pid, and waits to be killed.
    server = textwrap.dedent(f"""
        import asyncio, sys
        from pathlib import Path
        from dtrain_jupyter.history.log_archive import LogArchive
        from dtrain_jupyter.history.metric_ingest import MetricIngest
        from dtrain_jupyter.history.metric_store import MetricStore

        async def main():
            folder = Path({str(tmp_path)!r})
            ingest = MetricIngest(MetricStore(folder), LogArchive(folder))
            ingest.start()
            print(ingest.pid, flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", server], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        assert proc.stdout is not None
        worker = int(proc.stdout.readline())
        assert not gone(worker, timeout=0.5)
        proc.kill()
        proc.wait()
        # Its stdin reached its end with the server: it ends too.
        assert gone(worker), "the metric reader outlived its server"
    finally:
        proc.kill()
        proc.wait()


def test_the_process_ends_at_the_end_of_its_input(tmp_path: Path) -> None:
    MetricStore(tmp_path).close()
    proc = subprocess.Popen([sys.executable, "-m", "dtrain_jupyter.history.metric_worker", str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[2])
    out, _ = proc.communicate(frame((1, "begin", 1, "job", "job-master-0"))
                              + frame((2, "feed", 1, "job-master-0", b"loss=1.0\n", 5.0)), timeout=60)
    assert proc.returncode == 0
    assert out.decode().strip().splitlines()[-1] == '{"seq": 2, "touched": [1]}'
    store = MetricStore(tmp_path)
    try:
        assert store.page(1).series[0].value == [1.0]
    finally:
        store.close()


async def test_metrics_off_starts_no_process_and_keeps_nothing(tmp_path):
    store = MetricStore(tmp_path)
    ingest = MetricIngest(store, LogArchive(tmp_path), enabled=False)
    ingest.start()
    try:
        assert ingest.pid is None
        ingest.begin(1, "job", "job-master-0")
        ingest.feed(1, "job-master-0", b"loss=1.0\n")
        await asyncio.to_thread(ingest.flush)
        assert not ingest.busy(1) and store.page(1).series == []
    finally:
        await ingest.stop()
        store.close()
