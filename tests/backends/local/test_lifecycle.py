"""lifecycle.py: the condition algebra, restart rules and per-kind success rules."""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.local import lifecycle
from dtrain_jupyter.backends.local.lifecycle import set_condition, should_restart, succeeded


def test_condition_algebra():
    conds: list[dict] = []
    assert set_condition(conds, "Created", "True", "PyTorchJobCreated", "created", "t0")
    assert set_condition(conds, "Running", "True", "PyTorchJobRunning", "running", "t1")
    assert not set_condition(conds, "Running", "True", "PyTorchJobRunning", "again", "t2")  # same status+reason
    assert set_condition(conds, "Restarting", "True", "PyTorchJobRestarting", "restarting", "t3")
    assert [c["type"] for c in conds] == ["Created", "Restarting"]  # Restarting removed Running
    set_condition(conds, "Running", "True", "PyTorchJobRunning", "running", "t4")
    assert [c["type"] for c in conds] == ["Created", "Running"]
    set_condition(conds, "Failed", "True", "PyTorchJobFailed", "boom", "t5")
    assert conds[1]["status"] == "False" and conds[1]["lastTransitionTime"] == "t5"
    assert not set_condition(conds, "Succeeded", "True", "PyTorchJobSucceeded", "late", "t6")  # frozen after Failed
    assert lifecycle.is_finished(conds) and conds[-1]["type"] == "Failed"


@pytest.mark.parametrize("policy, code, restart", [
    ("Never", 1, False), ("OnFailure", 1, True), ("Always", 2, True),
    ("ExitCode", 1, False), ("ExitCode", 127, False), ("ExitCode", 128, True), ("ExitCode", 137, True),
    ("ExitCode", lifecycle.LOST_EXIT_CODE, True),
])
def test_should_restart(policy, code, restart):
    assert should_restart(policy, code) is restart


def r(rtype, index, state):
    return {"type": rtype, "index": index, "state": state}


@pytest.mark.parametrize("kind, spec, replicas, ok", [
    ("PyTorchJob", {}, [r("Master", 0, "Succeeded"), r("Worker", 0, "Running")], True),
    ("PyTorchJob", {}, [r("Master", 0, "Running"), r("Worker", 0, "Succeeded")], False),
    ("PyTorchJob", {"elasticPolicy": {}}, [r("Worker", 0, "Running"), r("Worker", 1, "Succeeded")], True),
    ("PyTorchJob", {}, [r("Worker", 0, "Running"), r("Worker", 1, "Succeeded")], False),
    ("TFJob", {}, [r("Chief", 0, "Succeeded"), r("Worker", 0, "Running")], True),
    ("TFJob", {}, [r("Worker", 0, "Succeeded"), r("Worker", 1, "Running")], True),
    ("TFJob", {"successPolicy": "AllWorkers"}, [r("Worker", 0, "Succeeded"), r("Worker", 1, "Running")], False),
    ("MPIJob", {}, [r("Launcher", None, "Succeeded"), r("Worker", 0, "Running")], True),
    ("MPIJob", {}, [r("Launcher", None, "Running"), r("Worker", 0, "Succeeded")], False),
    ("XGBoostJob", {}, [r("Master", 0, "Succeeded"), r("Worker", 0, "Running")], True),
    ("JAXJob", {}, [r("Worker", 0, "Succeeded"), r("Worker", 1, "Running")], False),
], ids=["pt-master", "pt-master-running", "pt-elastic-any", "pt-all-workers", "tf-chief", "tf-worker0",
        "tf-all-workers", "mpi-launcher", "mpi-launcher-running", "xgb-master", "jax-all"])
def test_success_rule_per_kind(kind, spec, replicas, ok):
    assert succeeded(kind, spec, replicas) is ok


def test_replica_statuses_omit_zero_counts():
    reps = [r("Master", 0, "Running"), r("Worker", 0, "Failed"), r("Worker", 1, "Pending")]
    assert lifecycle.replica_statuses(reps) == {"Master": {"active": 1}, "Worker": {"failed": 1}}
    assert lifecycle.counts(reps)["Worker"].replicas == 2


def test_describe_exit_and_backoff():
    assert lifecycle.describe_exit(3, None) == "exited with code 3"
    assert lifecycle.describe_exit(143, 15) == "was killed by signal 15 (SIGTERM)"
    assert "lost" in lifecycle.describe_exit(lifecycle.LOST_EXIT_CODE, None)
    assert [lifecycle.backoff_delay(n, 1.0, cap=5) for n in range(5)] == [1, 2, 4, 5, 5]
