"""`benchmarks/run_all.py`: each benchmark in a process of its own, its result or its failure
brought back, and what it leaves running still named after its process is gone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run_all  # noqa: E402

FAKE_BENCHMARKS = {
    "fake_ok_bench": """
        import os
        from common import Result, Row

        def run(size):
            return Result("fake_ok", rows=[Row("pid", str(os.getpid()))], notes=[f"size {size}"])
    """,
    "fake_raises_bench": """
        def run(size):
            raise RuntimeError("the double would not start")
    """,
    "fake_dies_bench": """
        import os

        def run(size):
            os._exit(3)
    """,
    "fake_leaves_bench": """
        import subprocess, sys
        from common import Result

        def run(size):
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
            return Result("fake_leaves")
    """,
    "fake_brief_bench": """
        import subprocess, sys
        from common import Result

        def run(size):
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"], start_new_session=True)
            return Result("fake_brief")
    """,
    "fake_norun_bench": """
        X = 1
    """,
}


@pytest.fixture
def fake_benchmarks(tmp_path, monkeypatch):
    for name, text in FAKE_BENCHMARKS.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the benchmark's process imports them
    return tmp_path


def test_a_benchmark_runs_in_a_process_of_its_own_and_its_result_comes_back(fake_benchmarks):
    result, seconds, error = run_all.run_one("fake_ok_bench", "quick")
    assert error is None
    assert result.name == "fake_ok"
    assert result.notes == ["size quick"]
    (row,) = result.rows
    assert row.measure == "pid" and int(row.ours) != os.getpid()
    assert seconds > 0
    # Nothing of the benchmark stays in this process.
    assert "fake_ok_bench" not in sys.modules


def test_a_benchmark_that_raises_is_an_error_with_its_traceback(fake_benchmarks):
    result, _, error = run_all.run_one("fake_raises_bench", "full")
    assert result.name == "fake_raises" and result.rows == []
    assert "RuntimeError: the double would not start" in error


def test_a_benchmark_whose_process_dies_is_an_error_that_says_how(fake_benchmarks):
    result, _, error = run_all.run_one("fake_dies_bench", "full")
    assert result.name == "fake_dies"
    assert error == "the benchmark's process exited with code 3 before it sent its result"


def test_a_module_without_run_is_a_note_not_an_error(fake_benchmarks):
    result, _, error = run_all.run_one("fake_norun_bench", "full")
    assert error is None
    assert "offers no run(size)" in result.notes[0]


def left_running_after(module: str) -> str:
    """The leftovers note after `module` ran, in a process of its own: adopting orphans changes the
    whole process, and this one is pytest's."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(BENCHMARKS)!r})
        import run_all, common
        run_all._adopt_orphans()
        result, _, error = run_all.run_one({module!r}, "quick")
        assert error is None, error
        settled = common.quiet_machine(limit_s=0)
        for child in __import__("psutil").Process().children():
            child.kill()
        print(settled.note())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_process_left_running_is_named_after_the_benchmark_process_exits(fake_benchmarks):
    out = left_running_after("fake_leaves_bench")
    assert out.startswith("Still running from the benchmarks before it: python (pid "), out
    assert out.count("(pid ") == 1, out


def test_a_process_that_ended_meanwhile_is_not_named(fake_benchmarks):
    # It ends during quiet_machine's window, adopted and not yet waited for (a zombie).
    assert left_running_after("fake_brief_bench") == "\n"
