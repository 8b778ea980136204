"""runner.py, run the way a replica runs it: the manifest's own command, in a fresh Python without
site-packages (so without this library), with the rank in the environment as each operator sets it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from dtrain_jupyter.code import runner
from dtrain_jupyter.code.job import FunctionJob, cell_job, runner_program

from .conftest import notebook

NB = notebook(
    """
    import json
    import pickle
    SCALE = 10
    class Point:
        def __init__(self, x):
            self.x = x
        def scaled(self):
            return self.x * SCALE
    def helper(x):
        return Point(x).scaled()
    def train(x, fail=False):
        if fail:
            raise ValueError(f"bad x {x}")
        # A class defined by the carried code pickles as it would in the notebook.
        again = pickle.loads(pickle.dumps(Point(x)))
        return {"value": helper(again.x), "json": json.dumps([1])}
    def opaque():
        return Point(1)
    async def later(x):
        return x + 1
    """)


def container(manifest: dict[str, Any]) -> dict[str, Any]:
    specs = next(v for k, v in manifest["spec"].items() if k.endswith("ReplicaSpecs"))
    first = specs.get("Master") or specs.get("Launcher") or specs["Worker"]
    return first["template"]["spec"]["containers"][0]


def replica(manifest: dict[str, Any], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the manifest's python command as a replica would, with only `env` set."""
    c = container(manifest)
    command = c["command"]
    start = command.index("python")  # an MPIJob's Launcher has mpirun first
    argv = [sys.executable, "-I", "-S", *command[start + 1:], *c["args"]]
    return subprocess.run(argv, env={"PATH": os.environ.get("PATH", ""), **(env or {})}, capture_output=True,
                          text=True, timeout=60)


def markers(out: str, marker: str) -> list[dict[str, Any]]:
    return [json.loads(line[len(marker):]) for line in out.splitlines() if line.startswith(marker)]


def test_the_runner_imports_the_standard_library_only() -> None:
    tree = ast.parse(runner_program())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not any(isinstance(n, ast.ImportFrom) for n in ast.walk(tree))
    assert imported and imported <= set(sys.stdlib_module_names), imported


@pytest.mark.parametrize(("env", "rank", "size"), [
    ({}, 0, 1),
    ({"RANK": "2", "WORLD_SIZE": "3"}, 2, 3),
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "4", "RANK": "0"}, 1, 4),
    ({"PMI_RANK": "3", "PMI_SIZE": "5"}, 3, 5),
    ({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"], "ps": ["d:1"]},
                               "task": {"type": "worker", "index": 1}})}, 2, 3),
    ({"TF_CONFIG": json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:1"]},
                               "task": {"type": "chief", "index": 0}})}, 0, 2),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["b:1"], "ps": ["d:1"]},
                               "task": {"type": "ps", "index": 0}})}, None, 1),
], ids=["none", "pytorch", "openmpi-before-rank", "mpich", "tf-worker", "tf-chief", "tf-ps"])
def test_rank_and_size_from_each_operators_environment(env: dict, rank: int | None, size: int) -> None:
    assert runner.rank_and_size(env) == (rank, size)


def test_rank_zero_reports_the_return_value_and_other_ranks_stay_quiet() -> None:
    manifest = FunctionJob(NB["train"], args={"x": 4}, workers=1).to_manifest()
    first = replica(manifest, {"RANK": "0", "WORLD_SIZE": "2", "DTRAIN_REPLICA": "job-master-0"})
    assert first.returncode == 0, first.stderr
    [report] = markers(first.stdout, runner.RESULT_MARKER)
    assert report == {"rank": 0, "size": 2, "where": "train", "pod": "job-master-0", "every_rank": False,
                      "value": {"value": 40, "json": "[1]"}}
    other = replica(manifest, {"RANK": "1", "WORLD_SIZE": "2"})
    assert other.returncode == 0 and markers(other.stdout, runner.RESULT_MARKER) == []


def test_every_rank_reports_when_asked() -> None:
    manifest = FunctionJob(NB["train"], args={"x": 1}, every_rank=True).to_manifest()
    done = replica(manifest, {"RANK": "1", "WORLD_SIZE": "2"})
    [report] = markers(done.stdout, runner.RESULT_MARKER)
    assert (report["rank"], report["every_rank"], report["value"]["value"]) == (1, True, 10)


def test_an_exception_reports_its_traceback_and_fails_the_replica() -> None:
    manifest = FunctionJob(NB["train"], args={"x": 3, "fail": True}).to_manifest()
    done = replica(manifest, {"RANK": "1", "WORLD_SIZE": "2", "HOSTNAME": "job-worker-0"})
    assert done.returncode == 1
    [report] = markers(done.stdout, runner.ERROR_MARKER)
    assert (report["rank"], report["pod"], report["type"], report["message"]) == (1, "job-worker-0", "ValueError",
                                                                                  "bad x 3")
    trace = report["traceback"]
    # From the carried code on, with its source lines; the runner's own frames are left out.
    assert trace.startswith("Traceback (most recent call last):\n  File \"<dtrain code>\"")
    assert 'raise ValueError(f"bad x {x}")' in trace and trace.rstrip().endswith("ValueError: bad x 3")
    assert "in execute" not in trace and "in main" not in trace
    # People reading the log see the same traceback.
    assert trace in done.stderr


def test_a_result_that_is_not_json_comes_back_as_its_repr() -> None:
    done = replica(FunctionJob(NB["opaque"]).to_manifest())
    [report] = markers(done.stdout, runner.RESULT_MARKER)
    assert report["type"] == "__main__.Point" and report["repr"].startswith("<__main__.Point object")
    assert "value" not in report


def test_an_async_function_is_awaited() -> None:
    [report] = markers(replica(FunctionJob(NB["later"], args={"x": 1}).to_manifest()).stdout, runner.RESULT_MARKER)
    assert report["value"] == 2


@pytest.mark.parametrize(("cell", "value"), [
    ("x = helper(2)\nx + 1\n", 21),
    ("x = helper(2)\nx + 1;\n", None),
    ("x = helper(2)\n", None),
], ids=["last-expression", "semicolon", "no-expression"])
def test_a_cell_runs_as_a_script_and_its_last_expression_is_the_result(cell: str, value: Any) -> None:
    done = replica(cell_job(cell, NB, kind="TFJob", workers=1).to_manifest())
    assert done.returncode == 0, done.stderr
    [report] = markers(done.stdout, runner.RESULT_MARKER)
    assert report["value"] == value and report["where"] == "the cell"


def test_a_cell_traceback_numbers_the_cells_own_lines() -> None:
    done = replica(cell_job("x = helper(2)\nraise RuntimeError(x)\n", NB).to_manifest())
    [report] = markers(done.stdout, runner.ERROR_MARKER)
    assert report["where"] == "the cell" and report["message"] == "20"
    assert 'File "<cell>", line 2, in <module>\n    raise RuntimeError(x)\n' in report["traceback"]


def test_mpi_launcher_command_runs_the_same_program() -> None:
    manifest = FunctionJob(NB["train"], kind="MPIJob", workers=3, args={"x": 1}).to_manifest()
    assert container(manifest)["command"][:4] == ["mpirun", "-np", "3", "--allow-run-as-root"]
    done = replica(manifest, {"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "3"})
    [report] = markers(done.stdout, runner.RESULT_MARKER)
    assert (report["size"], report["value"]["value"]) == (3, 10)


def test_a_hand_written_cell_call_runs_the_whole_source_as_the_cell() -> None:
    # A person may edit the saved manifest's CALL down to {"cell": true, "last_expression": true}.
    source = "x = 2\nx * 21\n"
    done = subprocess.run([sys.executable, "-I", "-S", "-c", runner_program(), source,
                           json.dumps({"cell": True, "last_expression": True})], capture_output=True, text=True,
                          timeout=60, env={})
    [report] = markers(done.stdout, runner.RESULT_MARKER)
    assert report["value"] == 42
