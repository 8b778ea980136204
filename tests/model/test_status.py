"""Phase derivation from operator conditions, and the pod sentences people read."""

from __future__ import annotations

import pytest

from dtrain_jupyter.model.status import Phase, derive_phase, describe_pod


def cond(ctype: str, status: str = "True", reason: str = "", message: str = "") -> dict:
    return {"type": ctype, "status": status, "reason": reason or f"PyTorchJob{ctype}", "message": message}


@pytest.mark.parametrize(
    "conditions, expected",
    [
        pytest.param(None, Phase.PENDING, id="no-status-yet"),
        pytest.param([cond("Created")], Phase.PENDING, id="created-only"),
        pytest.param([cond("Created"), cond("Running")], Phase.RUNNING, id="running"),
        pytest.param([cond("Created"), cond("Restarting")], Phase.RESTARTING, id="restarting"),
        pytest.param([cond("Created"), cond("Running", "False"), cond("Succeeded")], Phase.SUCCEEDED, id="succeeded"),
        pytest.param([cond("Created"), cond("Running", "False"), cond("Failed")], Phase.FAILED, id="failed"),
        pytest.param([cond("Succeeded"), cond("Failed")], Phase.FAILED, id="failed-wins"),
        pytest.param([cond("Created"), cond("Suspended")], Phase.SUSPENDED, id="suspended"),
        pytest.param([cond("Created"), cond("Suspended", "False"), cond("Running")], Phase.RUNNING, id="resumed"),
        pytest.param([{"status": "True"}, "junk", cond("Running")], Phase.RUNNING, id="malformed-entries-skipped"),
    ],
)
def test_phase_from_conditions(conditions, expected):
    phase, _reason, _message = derive_phase(conditions)
    assert phase is expected


def test_reason_and_message_come_from_the_deciding_condition():
    phase, reason, message = derive_phase([cond("Created"), cond("Failed", reason="PyTorchJobFailed", message="master-0 exit 1")])
    assert (phase, reason, message) == (Phase.FAILED, "PyTorchJobFailed", "master-0 exit 1")


def test_deleting_overrides_conditions():
    assert derive_phase([cond("Running")], deleting=True)[0] is Phase.DELETING


def test_phase_is_a_string_on_the_wire():
    assert Phase.RUNNING == "Running" and f"{Phase.FAILED}" == "Failed"
    assert Phase.SUCCEEDED.finished and not Phase.RUNNING.finished


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        pytest.param(dict(phase="Pending", waiting_reason="ImagePullBackOff"), "waiting: ImagePullBackOff — image not found or not pullable", id="image-pull"),
        pytest.param(dict(phase="Pending", unschedulable_message="0/3 nodes have 4 free nvidia.com/gpu"), "Pending: 0/3 nodes have 4 free nvidia.com/gpu", id="unschedulable"),
        pytest.param(dict(phase="Failed", terminated_reason="OOMKilled", exit_code=137), "OOMKilled", id="oom"),
        pytest.param(dict(phase="Failed", terminated_reason="Error", exit_code=1), "exit code 1", id="exit-1"),
        pytest.param(dict(phase="Failed", signal=9), "killed by signal 9", id="signal"),
        pytest.param(dict(phase="Succeeded", exit_code=0, terminated_reason="Completed"), "completed", id="done"),
        pytest.param(dict(phase="Running"), "Running", id="running"),
        pytest.param(dict(phase="Pending", waiting_reason="ContainerCreating", waiting_message=""), "waiting: ContainerCreating", id="plain-waiting"),
    ],
)
def test_pod_sentence(kwargs, expected):
    assert describe_pod(**kwargs) == expected
