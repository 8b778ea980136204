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
    assert lifecycle.replica_statuses(lifecycle.counts(reps)) == {"Master": {"active": 1}, "Worker": {"failed": 1}}
    assert lifecycle.counts(reps)["Worker"].replicas == 2


@pytest.mark.parametrize("ok, statuses", [
    (True, {"Master": {"succeeded": 1}, "Worker": {"succeeded": 1, "failed": 1}}),
    (False, {"Master": {"active": 1}, "Worker": {"active": 1, "failed": 1}}),
], ids=["success-moves-active-to-succeeded", "failure-keeps-active"])
def test_counts_at_the_end_are_kept_whatever_the_replicas_do_after(ok, statuses):
    reps = [r("Master", 0, "Running"), r("Worker", 0, "Running"), r("Worker", 1, "Failed"), r("Worker", 2, "Pending")]
    record = {"replicas": reps, "final_counts": lifecycle.finished_counts(reps, ok)}
    reps[0]["state"] = reps[1]["state"] = "Failed"  # replicas that ran on and failed after the job's end
    assert lifecycle.replica_statuses(lifecycle.job_counts(record)) == statuses
    assert lifecycle.job_counts(record)["Worker"].replicas == 3
    assert lifecycle.job_counts({"replicas": reps})["Master"].failed == 1  # no end yet: live counts


@pytest.mark.parametrize("kind, api_version, spec, policy", [
    ("PyTorchJob", "kubeflow.org/v1", {}, "None"),
    ("TFJob", "kubeflow.org/v1", {"runPolicy": {"cleanPodPolicy": "Running"}}, "Running"),
    ("PyTorchJob", "kubeflow.org/v1", {"runPolicy": {"cleanPodPolicy": "All"}}, "All"),
    ("MPIJob", "kubeflow.org/v1", {"cleanPodPolicy": "Running"}, "Running"),
    ("MPIJob", "kubeflow.org/v1", {"cleanPodPolicy": "Running", "runPolicy": {"cleanPodPolicy": "None"}}, "None"),
    ("MPIJob", "kubeflow.org/v2beta1", {"cleanPodPolicy": "Running"}, "None"),
    ("PyTorchJob", "kubeflow.org/v1", {"cleanPodPolicy": "All"}, "None"),
    ("PyTorchJob", "kubeflow.org/v1", {"runPolicy": {"cleanPodPolicy": "Sometimes"}}, "None"),
], ids=["default-none", "run-policy-running", "run-policy-all", "mpi-v1-deprecated-field", "mpi-v1-run-policy-wins",
        "mpi-v2-has-no-top-level-field", "pytorch-has-no-top-level-field", "unknown-reads-none"])
def test_clean_pod_policy(kind, api_version, spec, policy):
    assert lifecycle.clean_pod_policy(kind, api_version, spec) == policy


def test_describe_exit_and_backoff():
    assert lifecycle.describe_exit(3, None) == "exited with code 3"
    assert lifecycle.describe_exit(143, 15) == "was killed by signal 15 (SIGTERM)"
    assert "lost" in lifecycle.describe_exit(lifecycle.LOST_EXIT_CODE, None)
    assert [lifecycle.backoff_delay(n, 1.0, cap=5) for n in range(5)] == [1, 2, 4, 5, 5]
