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
from dtrain_jupyter.history.metric_store import MetricStore, Row
from dtrain_jupyter.history.metric_worker import NICENESS, MetricWorker, frame
from dtrain_jupyter.model.metrics import MetricPoint

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


def test_one_bad_request_ends_no_process(tmp_path: Path) -> None:
    # Anything a request raises (here a TypeError: text where bytes belong) is logged; the
    # requests after it are still handled, and the process goes on.
    MetricStore(tmp_path).close()
    proc = subprocess.Popen([sys.executable, "-m", "dtrain_jupyter.history.metric_worker", str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=Path(__file__).resolve().parents[2])
    out, err = proc.communicate(frame((1, "begin", 1, "job", "job-master-0"))
                                + frame((2, "feed", 1, "job-master-0", "loss=9.0\n", 5.0))
                                + frame((3, "feed", 1, "job-master-0", b"loss=1.0\n", 5.0)), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip().splitlines()[-1] == '{"seq": 3, "touched": [1]}'
    assert b"metric ingest failed to feed" in err
    store = MetricStore(tmp_path)
    try:
        assert store.page(1).series[0].value == [1.0]
    finally:
        store.close()


class _Scalars:
    """A TensorBoard reader that gives one point with the step given."""

    def __init__(self, step: int) -> None:
        self.step = step

    def read_new(self) -> tuple[bool, list[MetricPoint]]:
        return False, [MetricPoint("loss", 0.5, self.step, time=1.0, pod=".", source="tensorboard")]


def test_points_the_store_refuses_lose_their_batch_not_the_process(tmp_path: Path) -> None:
    store = MetricStore(tmp_path)
    try:
        worker = MetricWorker(store, LogArchive(tmp_path))
        worker._scalar_readers[(1, "out")] = _Scalars(2**64)  # past SQLite's integers: the final write fails
        assert worker.handle([("scalars", 1, "out")]) == {1}
        worker._scalar_readers[(1, "out")] = _Scalars(7)
        worker.handle([("scalars", 1, "out")])
        assert store.page(1).series[0].step == [7]
    finally:
        store.close()


def test_the_last_scalars_read_lets_go_of_the_folders_reader(tmp_path: Path) -> None:
    store = MetricStore(tmp_path)
    try:
        worker = MetricWorker(store, LogArchive(tmp_path))
        out = tmp_path / "out"
        out.mkdir()
        worker.handle([("scalars", 1, str(out))])
        assert list(worker._scalar_readers) == [(1, str(out))]  # kept: the next read goes on from here
        worker.handle([("scalars", 1, str(out), True)])
        assert worker._scalar_readers == {}
    finally:
        store.close()


async def test_a_step_past_64_bits_in_a_log_ends_no_process(tmp_path):
    async with Ingest(tmp_path) as s:
        pid = s.ingest.pid
        s.ingest.begin(1, "job", "job-master-0")
        s.ingest.feed(1, "job-master-0", b"step 123456789012345678901234 loss=2.0\nstep 3 loss=1.0\n")
        await s.flushed()
        [loss] = s.store.page(1).series
        assert (loss.step, loss.value) == ([None, 3], [2.0, 1.0])
        assert s.ingest.pid == pid and not s.ingest.dead


async def test_a_notebooks_json_py_does_not_break_the_process(tmp_path, monkeypatch):
    # `python -m` puts the working directory first on the module path: started in the server's
    # (the notebooks' root), a json.py there replaced the standard library's in the process.
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for module in ("json", "select"):
        (notebooks / f"{module}.py").write_text("raise SystemExit('a notebook module was imported')\n")
    monkeypatch.chdir(notebooks)
    async with Ingest(tmp_path / "history") as s:
        pid = s.ingest.pid
        s.ingest.begin(1, "job", "job-master-0")
        s.ingest.feed(1, "job-master-0", b"loss=1.0\n")
        await s.flushed()
        assert s.store.page(1).series[0].value == [1.0]
        assert s.ingest.pid == pid and not s.ingest.dead


async def test_one_reader_process_per_history_folder(tmp_path, caplog):
    # Two servers sharing a history folder: the first one's process reads; the second reads
    # nothing itself (each point would come twice), says why once, and reads the first one's points.
    caplog.set_level(logging.WARNING, logger="dtrain_jupyter.history.metric_ingest")
    async with Ingest(tmp_path) as first, Ingest(tmp_path) as second:
        assert first.ingest.pid is not None and first.ingest.enabled
        assert second.ingest.pid is None and not second.ingest.enabled
        assert caplog.text.count("another server sharing the history folder") == 1
        for ingest in (first.ingest, second.ingest):
            ingest.begin(1, "job", "job-master-0")
            ingest.feed(1, "job-master-0", b"loss=1.0\n")
        await first.flushed()
        await second.flushed()
        assert second.store.page(1).series[0].value == [1.0]  # once
        second.ingest.forget([1])  # with no process of its own: in the store at once
        assert first.store.page(1).series == []
    # The lock goes with the server that held it: the next server reads again.
    async with Ingest(tmp_path) as third:
        assert third.ingest.pid is not None and third.ingest.enabled


async def test_forget_without_a_process_removes_the_points_at_once(tmp_path):
    store = MetricStore(tmp_path)
    store.add([Row(record_id, "master-0", "loss", "log", 1, 1.0, 0.5) for record_id in (1, 2)])
    ingest = MetricIngest(store, LogArchive(tmp_path), enabled=False)
    ingest.start()
    try:
        ingest.forget([1])
        assert store.page(1).series == [] and store.page(2).series != []
    finally:
        await ingest.stop()
        store.close()


async def test_forget_after_the_process_died_for_good_removes_the_points(tmp_path):
    async with Ingest(tmp_path) as s:
        s.ingest.begin(1, "job", "job-master-0")
        s.ingest.feed(1, "job-master-0", b"loss=1.0\n")
        await s.flushed()
        # Killed, started again once, killed again: metrics are off.
        first = s.ingest.pid
        os.kill(first, signal.SIGKILL)
        second = await next_pid(s.ingest, first)
        waiting = s.ingest.changed(1)
        os.kill(second, signal.SIGKILL)
        await asyncio.wait_for(waiting.wait(), 20)
        assert s.ingest.dead
        s.ingest.forget([1])
        assert s.store.page(1).series == []
