"""`report()`: the line it prints, the per-rank files, bad values, and the recognizer reading it back."""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import math
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtrain_jupyter.model.metrics import MARKER, MetricReader, recognize

# The module itself (named apart from the function, so `dtrain_jupyter.report` stays the function).
report_module = importlib.import_module("dtrain_jupyter.reporting")
report = report_module.report
RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "RANK", "WORLD_SIZE",
                  "TF_CONFIG", "DTRAIN_OUTPUT_DIR")


def _forget_state() -> None:
    report_module._warned.clear()
    report_module._rank_cache.clear()
    for handle in report_module._files.values():
        handle.close()
    report_module._files.clear()


@pytest.fixture(autouse=True)
def outside_a_job(monkeypatch):
    """No rank variables, no output folder, and report()'s memory of warnings and files cleared."""
    for name in RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    _forget_state()
    yield
    _forget_state()


def printed(capsys) -> list[dict]:
    lines = capsys.readouterr().out.splitlines()
    assert all(line.startswith(MARKER) for line in lines), lines
    return [json.loads(line[len(MARKER):]) for line in lines]


def test_outside_a_job_it_prints_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report(step=10, loss=0.21, accuracy=0.93, progress=0.4)
    [record] = printed(capsys)
    assert list(record) == ["step", "loss", "accuracy", "progress", "rank", "time"]
    assert {k: record[k] for k in ("step", "loss", "accuracy", "progress", "rank")} == {
        "step": 10, "loss": 0.21, "accuracy": 0.93, "progress": 0.4, "rank": 0}
    assert math.isfinite(record["time"])
    assert list(tmp_path.iterdir()) == []  # no output folder: no file anywhere


def test_output_folder_gets_one_file_per_rank(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DTRAIN_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setenv("RANK", "1")
    report(step=1, loss=0.5)
    report(step=2, loss=0.25, epoch=0.5)
    monkeypatch.setenv("RANK", "0")
    report(step=2, loss=0.3)
    stdout = printed(capsys)
    files = sorted(p.name for p in (tmp_path / "metrics").iterdir())
    assert files == ["rank-0.jsonl", "rank-1.jsonl"]
    rank1 = [json.loads(line) for line in (tmp_path / "metrics" / "rank-1.jsonl").read_text().splitlines()]
    rank0 = [json.loads(line) for line in (tmp_path / "metrics" / "rank-0.jsonl").read_text().splitlines()]
    assert rank1 == stdout[:2] and rank0 == stdout[2:]
    assert [r["rank"] for r in stdout] == [1, 1, 0] and stdout[1]["epoch"] == 0.5


def test_an_unwritable_output_folder_is_warned_once_and_the_line_still_printed(capsys, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("DTRAIN_OUTPUT_DIR", str(blocker))  # a file: no metrics/ folder inside it
    with pytest.warns(report_module.ReportWarning, match="metrics not written"):
        report(loss=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report(loss=2.0)
    assert [r["loss"] for r in printed(capsys)] == [1.0, 2.0]


@pytest.mark.parametrize(
    "env, rank, file",
    [
        pytest.param({}, 0, "rank-0", id="no-variables"),
        pytest.param({"RANK": "3", "WORLD_SIZE": "4"}, 3, "rank-3", id="pytorch"),
        pytest.param({"OMPI_COMM_WORLD_RANK": "2", "RANK": "0"}, 2, "rank-2", id="mpi-wins-over-rank"),
        pytest.param({"PMI_RANK": "5"}, 5, "rank-5", id="pmi"),
        pytest.param({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]},
                                                "task": {"type": "worker", "index": 1}})}, 2, "rank-2",
                     id="tf-worker-after-chief"),
        pytest.param({"TF_CONFIG": json.dumps({"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}})},
                     None, "ps-0", id="tf-parameter-server"),
        pytest.param({"TF_CONFIG": "{not json"}, 0, "rank-0", id="tf-config-broken"),
    ],
)
def test_rank_from_the_environment(env, rank, file, capsys, tmp_path, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DTRAIN_OUTPUT_DIR", str(tmp_path))
    report(loss=1.0)
    [record] = printed(capsys)
    assert record["rank"] == rank
    assert [p.name for p in (tmp_path / "metrics").iterdir()] == [f"{file}.jsonl"]


class Unconvertible:
    def __float__(self) -> float:
        raise RuntimeError("a tensor with 2 elements cannot be converted to a scalar")


class Scalar:  # as numpy and torch scalars: a number through float()
    def __float__(self) -> float:
        return 0.75


@pytest.mark.parametrize(
    "kwargs, left_out, kept",
    [
        pytest.param({"loss": float("nan")}, "loss", {}, id="nan"),
        pytest.param({"loss": float("inf")}, "loss", {}, id="inf"),
        pytest.param({"loss": "0.5"}, "loss", {}, id="text"),
        pytest.param({"loss": None}, "loss", {}, id="none"),
        pytest.param({"done": True}, "done", {}, id="bool"),
        pytest.param({"loss": Unconvertible()}, "loss", {}, id="float-raises"),
        pytest.param({"step": -1, "loss": 1.0}, "step", {"loss": 1.0}, id="negative-step"),
        pytest.param({"step": 1.5}, "step", {}, id="fractional-step"),
        pytest.param({"epoch": -1}, "epoch", {}, id="negative-epoch"),
        pytest.param({"progress": 1.5}, "progress", {}, id="progress-above-one"),
        pytest.param({"progress": -0.1}, "progress", {}, id="progress-below-zero"),
        pytest.param({"progress": float("nan")}, "progress", {}, id="progress-nan"),
        pytest.param({"time": 5.0, "rank": 1}, "time", {}, id="reserved-names"),
    ],
)
def test_bad_values_are_left_out_with_a_warning(kwargs, left_out, kept, capsys):
    with pytest.warns(report_module.ReportWarning) as caught:
        report(**kwargs)
    assert any(repr(left_out) in str(w.message) or f"{left_out}=" in str(w.message) for w in caught)
    [record] = printed(capsys)
    assert {k: v for k, v in record.items() if k not in ("rank", "time")} == kept
    assert left_out not in ("time", "rank") or record["rank"] == 0  # the line's own fields stay its own


def test_each_name_is_warned_about_once(capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # so only report()'s own once-per-name rule can hold them back
        for _ in range(3):
            report(loss=float("nan"), acc=0.5)
        report(loss="x", other=float("inf"))
    assert sorted(str(w.message).split("=")[0] for w in caught) == ["metric loss", "metric other"]
    assert [r.get("acc") for r in printed(capsys)] == [0.5, 0.5, 0.5, None]


def test_whole_floats_and_number_like_scalars_are_accepted(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report(step=10.0, loss=Scalar())
    [record] = printed(capsys)
    assert record["step"] == 10 and type(record["step"]) is int and record["loss"] == 0.75


def test_no_stdout_still_writes_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("DTRAIN_OUTPUT_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdout", None)
    report(loss=0.5)
    [line] = (tmp_path / "metrics" / "rank-0.jsonl").read_text().splitlines()
    assert json.loads(line)["loss"] == 0.5


@settings(max_examples=60, deadline=None)
@given(metrics=st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True).filter(
           lambda name: name not in report_module.RESERVED),
           st.floats(allow_nan=False, allow_infinity=False) | st.integers(-10**12, 10**12), min_size=1, max_size=6),
       step=st.none() | st.integers(0, 10**12), epoch=st.none() | st.floats(0, 1000),
       progress=st.none() | st.floats(0, 1))
def test_round_trip_through_the_recognizer(metrics, step, epoch, progress):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), mock.patch.dict(os.environ, {"RANK": "4"}):
        report(step=step, epoch=epoch, progress=progress, **metrics)
    [line] = out.getvalue().splitlines()
    points = MetricReader(pod="w-0").read(line)
    expected = dict(metrics, **({} if progress is None else {"progress": progress}))
    assert {p.name: p.value for p in points} == {name: float(value) for name, value in expected.items()}
    assert {(p.step, p.epoch, p.rank, p.pod, p.source) for p in points} == {
        (step, None if epoch is None else float(epoch), 4, "w-0", "report")}
    assert len({p.time for p in points}) == 1


def test_a_training_process_reporting_is_read_from_its_stdout(tmp_path):
    """A real subprocess: its output mixes ordinary prints with report() lines."""
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""
        from dtrain_jupyter import report
        print("starting training on 2 workers")
        for step in range(1, 6):
            print(f"step {step}: data loaded")
            report(step=step, loss=1.0 / step, progress=step / 5)
        print("done")
    """))
    env = {k: v for k, v in os.environ.items() if k not in RANK_VARIABLES}
    env.update(RANK="1", DTRAIN_OUTPUT_DIR=str(tmp_path / "out"), PYTHONPATH=str(Path(__file__).parent.parent))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    points = MetricReader(pod="job-worker-1").read_lines(proc.stdout.splitlines())
    assert [(p.name, p.step, p.value) for p in points if p.name == "loss"] == [
        ("loss", s, 1.0 / s) for s in range(1, 6)]
    assert [p.value for p in points if p.name == "progress"] == [s / 5 for s in range(1, 6)]
    assert {(p.rank, p.source) for p in points} == {(1, "report")}
    written = (tmp_path / "out" / "metrics" / "rank-1.jsonl").read_text().splitlines()
    assert [recognize(MARKER + line) for line in written] == [
        recognize(line) for line in proc.stdout.splitlines() if line.startswith(MARKER)]


def test_importing_the_module_first_keeps_report_callable():
    code = ("import dtrain_jupyter.reporting\nfrom dtrain_jupyter import report\n"
            "report(loss=0.5)\nimport dtrain_jupyter\ndtrain_jupyter.report(acc=0.25)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert [recognize(line)[0].value for line in proc.stdout.splitlines()] == [0.5, 0.25]


def test_the_helper_imports_only_the_standard_library():
    code = ("import sys\nbefore = set(sys.modules)\nfrom dtrain_jupyter import report\nreport(loss=1.0)\n"
            "new = sorted(m for m in set(sys.modules) - before if m.startswith('dtrain_jupyter'))\n"
            "print(new, file=sys.stderr); assert new == ['dtrain_jupyter', 'dtrain_jupyter.reporting'], new\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
