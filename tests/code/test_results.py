"""results.py: the runner's report lines become a value, a list of values, or the remote error."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dtrain_jupyter.code.results import ResultReader, is_marker, split_lines
from dtrain_jupyter.code.runner import ERROR_MARKER, RESULT_MARKER
from dtrain_jupyter.errors import DTrainError, RemoteError
from dtrain_jupyter.model.job import Job, JobStatus, Pod
from dtrain_jupyter.model.status import Phase


def job(kind: str = "PyTorchJob", phase: Phase = Phase.SUCCEEDED, reason: str = "", message: str = "") -> Job:
    return Job(backend="local", kind=kind, api_version="kubeflow.org/v1", name="fit", namespace="default", uid="u",
               created="", manifest={}, status=JobStatus(phase=phase, reason=reason, message=message))


def pod(name: str, rtype: str, index: int | None) -> Pod:
    return Pod(name=name, namespace="default", job_name="fit", replica_type=rtype, replica_index=index,
               phase="Succeeded")


PT_PODS = [pod("fit-worker-1", "Worker", 1), pod("fit-worker-0", "Worker", 0), pod("fit-master-0", "Master", 0)]


def result(rank: int, value: Any, size: int = 3, every_rank: bool = False, **extra: Any) -> str:
    return RESULT_MARKER + json.dumps({"rank": rank, "size": size, "where": "fit", "pod": "",
                                       "every_rank": every_rank, "value": value, **extra})


def error(rank: int, at: float, kind: str = "ValueError", pod_name: str = "") -> str:
    return ERROR_MARKER + json.dumps({"rank": rank, "size": 3, "where": "fit", "pod": pod_name, "time": at,
                                      "type": kind, "message": f"boom {rank}",
                                      "traceback": f"Traceback (most recent call last):\n{kind}: boom {rank}\n"})


@pytest.mark.parametrize(("kind", "pods", "order"), [
    ("PyTorchJob", PT_PODS, ["fit-master-0", "fit-worker-0", "fit-worker-1"]),
    ("PyTorchJob", PT_PODS[:2], ["fit-worker-0", "fit-worker-1"]),
    ("TFJob", [pod("fit-ps-0", "PS", 0), pod("fit-worker-1", "Worker", 1), pod("fit-chief-0", "Chief", 0)],
     ["fit-chief-0", "fit-worker-1", "fit-ps-0"]),
    ("MPIJob", [pod("fit-worker-0", "Worker", 0), pod("fit-launcher-x7", "Launcher", None)], ["fit-launcher-x7"]),
], ids=["pytorch", "pytorch-workers-only", "tf-chief", "mpi-launcher-only"])
def test_rank_zero_pod_is_read_first(kind: str, pods: list[Pod], order: list[str]) -> None:
    assert ResultReader(job(kind), pods).pods == order


def test_rank_zero_value_is_the_result_and_later_lines_do_not_confuse_it() -> None:
    reader = ResultReader(job(), PT_PODS)
    reader.feed("fit-master-0", ["step 1", RESULT_MARKER + "{cut", result(0, {"loss": 0.5}), "after exit"])
    assert reader.done and reader.outcome() == {"loss": 0.5}


def test_every_rank_gathers_one_value_per_rank_in_rank_order() -> None:
    reader = ResultReader(job(), PT_PODS)
    reader.feed("fit-master-0", [result(0, "a", every_rank=True)])
    assert not reader.done
    reader.feed("fit-worker-1", [result(2, "c", every_rank=True)])
    reader.feed("fit-worker-0", [result(1, "b", every_rank=True)])
    assert reader.done and reader.outcome() == ["a", "b", "c"]


def test_a_missing_rank_is_an_error_naming_it() -> None:
    reader = ResultReader(job(), PT_PODS)
    reader.feed("fit-master-0", [result(0, "a", every_rank=True)])
    with pytest.raises(DTrainError, match=r"ranks \[1, 2\] reported no result"):
        reader.outcome()


def test_no_report_at_all_says_where_it_looked() -> None:
    reader = ResultReader(job(), PT_PODS)
    reader.feed("fit-master-0", ["plain output"])
    with pytest.raises(DTrainError) as info:
        reader.outcome()
    assert "fit-master-0" in info.value.message and "reported no result" in info.value.message


def test_a_value_that_was_not_json_raises_with_its_repr() -> None:
    reader = ResultReader(job(), PT_PODS)
    reader.feed("fit-master-0", [RESULT_MARKER + json.dumps({"rank": 0, "size": 1, "where": "fit",
                                                             "type": "torch.Tensor", "repr": "tensor([1.])"})])
    with pytest.raises(DTrainError) as info:
        reader.outcome()
    assert info.value.fields["repr"] == "tensor([1.])" and "tolist()" in info.value.message


def test_a_failed_job_raises_the_earliest_remote_exception() -> None:
    reader = ResultReader(job(phase=Phase.FAILED), PT_PODS)
    reader.feed("fit-master-0", [error(0, at=20.0, kind="RuntimeError")])
    reader.feed("fit-worker-0", [error(1, at=10.0, pod_name="fit-worker-0")])
    reader.feed("fit-worker-0", [error(1, at=10.0, pod_name="fit-worker-0")])  # read twice: counted once
    assert len(reader.errors) == 2 and not reader.done
    with pytest.raises(RemoteError) as info:
        reader.outcome()
    err = info.value
    assert (err.pod, err.fields["rank"], err.fields["type"]) == ("fit-worker-0", 1, "ValueError")
    assert err.message.startswith("fit() raised ValueError on rank 1 in pod fit-worker-0: boom 1")
    assert err.message.endswith(err.traceback.rstrip()) and "Traceback (most recent call last)" in err.traceback


def test_an_mpi_rank_error_names_the_launcher_when_the_rank_did_not_know_its_pod() -> None:
    reader = ResultReader(job("MPIJob", Phase.FAILED), [pod("fit-launcher", "Launcher", None)])
    reader.feed("fit-launcher", [error(1, at=1.0)])
    with pytest.raises(RemoteError) as info:
        reader.outcome()
    assert info.value.pod == "fit-launcher"


def test_packages_pip_could_not_install_come_back_in_pips_words() -> None:
    reader = ResultReader(job(phase=Phase.FAILED), PT_PODS)
    pip_says = "ERROR: No matching distribution found for einops==99"
    reader.feed("fit-worker-0", [ERROR_MARKER + json.dumps({
        "rank": 1, "size": 3, "where": "fit", "pod": "fit-worker-0", "time": 1.0, "stage": "packages",
        "type": "PackageInstallError", "message": f"pip could not install 'einops==99': {pip_says}",
        "traceback": f"Looking in indexes: https://pypi.org/simple\n{pip_says}"})])
    with pytest.raises(RemoteError) as info:
        reader.outcome()
    err = info.value
    assert (err.pod, err.fields["rank"], err.fields["type"]) == ("fit-worker-0", 1, "PackageInstallError")
    # The code never ran, so nothing says it raised; the first line is pip's verdict (the magic shows it).
    assert err.message.splitlines()[0] == f"pip could not install 'einops==99': {pip_says}"
    assert "while preparing fit() on rank 1 in pod fit-worker-0" in err.message and "raised" not in err.message
    assert err.traceback.endswith(pip_says)


def test_a_failed_job_without_a_report_says_why_it_failed() -> None:
    reader = ResultReader(job(phase=Phase.FAILED, reason="PyTorchJobFailed", message="OOMKilled"), PT_PODS)
    reader.feed("fit-master-0", ["Killed"])
    with pytest.raises(DTrainError) as info:
        reader.outcome()
    assert type(info.value) is DTrainError and "OOMKilled" in info.value.message


def test_remote_error_travels_as_json_like_the_other_errors() -> None:
    err = RemoteError("fit() raised ...", pod="p-0", traceback="Traceback ...", rank=2, type="KeyError")
    again = DTrainError.from_dict(json.loads(json.dumps(err.to_dict())))
    assert type(again) is RemoteError and (again.pod, again.traceback, again.fields["rank"]) == ("p-0", "Traceback ...", 2)


def test_split_lines_joins_lines_cut_between_chunks() -> None:
    chunks = [b"one\ntw", b"o\r\nthr", b"ee", b"\n\xff last"]
    assert list(split_lines(chunks)) == ["one", "two", "three", "\ufffd last"]
    assert is_marker(result(0, 1)) and is_marker(error(0, 1.0)) and not is_marker("DTRAIN_RESULTS are in")
