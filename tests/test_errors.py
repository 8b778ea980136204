"""Errors survive the trip through JSON with their type and fields."""

from __future__ import annotations

import json

import pytest

from dtrain_jupyter import errors


@pytest.mark.parametrize(
    "error",
    [
        errors.JobNotFound("PyTorchJob", "mnist", "default", backend="local"),
        errors.JobExists("TFJob", "dist", "team-a"),
        errors.Forbidden("pytorchjobs is forbidden", verb="create", resource="pytorchjobs", namespace="x"),
        errors.ClusterError("boom", reason="InternalError", code=500),
        errors.BackendUnavailable("cluster unreachable"),
        errors.InvalidRequest("tail must be a number"),
        errors.NotFound("no such pod"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_round_trip_keeps_type_message_and_fields(error):
    wire = json.loads(json.dumps(error.to_dict()))
    again = errors.DTrainError.from_dict(wire)
    assert type(again) is type(error)
    assert again.message == error.message
    assert again.fields == error.fields
    assert again.status_code == error.status_code


def test_invalid_job_carries_every_issue():
    issues = [errors.ValidationIssue("spec.x", "bad", 3, 5), errors.ValidationIssue("metadata.name", "too long")]
    err = errors.InvalidJob(issues)
    again = errors.DTrainError.from_dict(json.loads(json.dumps(err.to_dict())))
    assert isinstance(again, errors.InvalidJob)
    assert again.issues == issues
    assert again.status_code == 422
    assert "2 problems" in err.message


def test_unknown_error_type_from_a_server_still_raises_our_base():
    err = errors.DTrainError.from_dict({"message": "Unhandled error"}, 500)
    assert type(err) is errors.DTrainError and err.message == "Unhandled error"


def test_issue_text_names_line_column_and_path():
    assert str(errors.ValidationIssue("spec.a", "wrong", 2, 7)) == "2:7: spec.a: wrong"
