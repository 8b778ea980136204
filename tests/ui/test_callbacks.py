"""The one handler guard: failures are logged with their traceback and reach the error line."""

from __future__ import annotations

import logging

import ipywidgets as widgets
import pytest

from dtrain_jupyter.errors import InvalidJob, JobNotFound, ValidationIssue
from dtrain_jupyter.ui.callbacks import ErrorForwarder, describe_error, guarded


class Part(ErrorForwarder):
    def __init__(self) -> None:
        self.button = widgets.Button()
        self.button.on_click(self.boom)

    @guarded
    def boom(self, _button) -> None:
        raise JobNotFound("PyTorchJob", "gone", "default")


def test_a_click_that_fails_reaches_the_owner_and_the_log(caplog: pytest.LogCaptureFixture) -> None:
    part = Part()
    seen: list[BaseException] = []
    part.on_error = seen.append
    with caplog.at_level(logging.ERROR, logger="dtrain_jupyter.ui"):
        part.button.click()
    assert isinstance(seen[0], JobNotFound) and isinstance(part.last_error, JobNotFound)
    assert "Traceback" in caplog.text or caplog.records[0].exc_info is not None


@pytest.mark.parametrize("exc, expected", [
    (JobNotFound("TFJob", "x", "default"), "TFJob 'x' not found in namespace 'default'"),
    (InvalidJob([ValidationIssue("metadata.name", "bad", line=3, column=2)]), "The job is not valid:\n• 3:2: metadata.name: bad"),
    (ValueError("odd"), "Unexpected error (ValueError): odd"),
], ids=["ours", "invalid-job", "unexpected"])
def test_describe_error(exc: BaseException, expected: str) -> None:
    assert describe_error(exc) == expected


def test_a_taken_name_says_so_and_where() -> None:
    """The server's JobExists reads as a taken name, not as an invalid job (issue 17)."""
    from dtrain_jupyter.errors import DTrainError, JobExists

    exc = JobExists("PyTorchJob", "mnist", "default")
    assert describe_error(exc) == ("Name taken: a job named 'mnist' already exists in namespace 'default'. "
                                   "Choose another name, or delete the old job first.")
    # As the client rebuilds it from the server's JSON, which names the backend.
    wire = DTrainError.from_dict(JobExists("PyTorchJob", "mnist", "default", backend="local").to_dict(), 409)
    assert isinstance(wire, JobExists) and wire.fields["backend"] == "local"
    assert describe_error(wire) == ("Name taken: a job named 'mnist' already exists in local/default. "
                                    "Choose another name, or delete the old job first.")
    assert not describe_error(wire).startswith("The job is not valid")
