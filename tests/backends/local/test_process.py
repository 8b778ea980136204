"""process.py and wrapper.py: exit statuses on disk, pid + start time identity, stopping trees."""

from __future__ import annotations

import os
import signal
import sys
import time

import psutil

from dtrain_jupyter.backends.local import process


def _run(tmp_path, argv, env=None):
    env = {**os.environ, "DTRAIN_JOB_UID": "uid-test", "DTRAIN_REPLICA": "r0", **(env or {})}
    started = process.spawn(argv, env, str(tmp_path), tmp_path / "r.log", tmp_path / "r.exit", tmp_path / "r.pid")
    return started


def _wait_gone(started, timeout=30):
    deadline = time.time() + timeout
    while process.alive(started.pid, started.create_time):
        assert time.time() < deadline
        time.sleep(0.02)


def test_exit_code_and_log(tmp_path):
    started = _run(tmp_path, [sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(7)"])
    _wait_gone(started)
    status = process.read_exit(tmp_path / "r.exit")
    assert (status.exit_code, status.signal) == (7, None)
    assert (tmp_path / "r.log").read_text().splitlines() == ["out", "err"]
    assert process.read_pid(tmp_path / "r.pid") != started.pid


def test_signal_is_recorded_as_128_plus_n(tmp_path):
    started = _run(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    deadline = time.time() + 10
    while process.read_pid(tmp_path / "r.pid") is None:
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(process.read_pid(tmp_path / "r.pid"), signal.SIGKILL)
    _wait_gone(started)
    status = process.read_exit(tmp_path / "r.exit")
    assert (status.exit_code, status.signal) == (137, 9)


def test_missing_command_is_127_with_a_message(tmp_path):
    started = _run(tmp_path, ["/no/such/program", "x"])
    _wait_gone(started)
    assert process.read_exit(tmp_path / "r.exit").exit_code == 127
    assert "cannot run '/no/such/program'" in (tmp_path / "r.log").read_text()


def test_a_reused_pid_is_not_mistaken_for_the_replica(tmp_path):
    started = _run(tmp_path, [sys.executable, "-c", "import time; time.sleep(60)"])
    assert process.alive(started.pid, started.create_time)
    assert not process.alive(started.pid, started.create_time - 100)
    process.stop_job("uid-test", [(started.pid, started.create_time)], grace=1)
    assert not process.alive(started.pid, started.create_time)


def test_stop_reaches_grandchildren_outside_the_group_and_term_ignorers(tmp_path):
    code = ("import signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n")
    started = _run(tmp_path, [sys.executable, "-c", code])
    deadline = time.time() + 20
    while "ready" not in (tmp_path / "r.log").read_text():
        assert time.time() < deadline
        time.sleep(0.02)
    procs = process.job_processes("uid-test", [(started.pid, started.create_time)])
    assert len(procs) == 3
    assert len(process.job_processes("uid-test", replicas=["r0"])) == 3
    assert process.job_processes("uid-test", replicas=["other"]) == []
    process.stop_job("uid-test", [(started.pid, started.create_time)], grace=0.5)
    assert process.job_processes("uid-test") == []
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs if psutil.pid_exists(p.pid))


def test_oom_kill_counter_is_read_from_vmstat(tmp_path):
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("nr_free_pages 1\noom_kill 4\npgfault 9\n")
    assert process.oom_kills(vmstat) == 4
    vmstat.write_text("nr_free_pages 1\n")
    assert process.oom_kills(vmstat) is None
    assert process.oom_kills(tmp_path / "missing") is None


def test_the_wrapper_names_itself_like_the_pod(tmp_path):
    started = _run(tmp_path, [sys.executable, "-c", "import time; time.sleep(30)"],
                   env={"DTRAIN_REPLICA": "job-worker-12345"})
    deadline = time.time() + 10
    while psutil.Process(started.pid).name() != "job-worker-1234":
        assert time.time() < deadline
        time.sleep(0.01)
    process.stop_job("uid-test", [(started.pid, started.create_time)], grace=1)
