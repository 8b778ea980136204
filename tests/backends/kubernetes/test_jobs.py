"""Custom objects become Jobs; a malformed one still does, with `error` set."""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.kubernetes.jobs import cached_job, job_from_object
from dtrain_jupyter.model.kinds import lookup
from dtrain_jupyter.model.status import Phase

PT = lookup("kubeflow.org/v1", "PyTorchJob")


def obj(**over):
    base = {
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": "pt", "namespace": "default", "uid": "u1", "resourceVersion": "7",
                     "creationTimestamp": "2024-01-01T00:00:00Z", "managedFields": [{}],
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}", "team": "a"}},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {}}, "Worker": {"template": {}}}},
        "status": {"conditions": [{"type": "Created", "status": "True", "reason": "PyTorchJobCreated"},
                                  {"type": "Running", "status": "True", "reason": "PyTorchJobRunning"}],
                   "replicaStatuses": {"Master": {"active": 1}, "Worker": {"active": 1}},
                   "startTime": "2024-01-01T00:00:05Z"},
    }
    base.update(over)
    return base


def test_well_formed_job():
    j = job_from_object(obj(), PT, "ctx")
    assert (j.backend, j.kind, j.name, j.namespace, j.uid, j.context, j.error) == (
        "kubernetes", "PyTorchJob", "pt", "default", "u1", "ctx", "")
    assert j.status.phase is Phase.RUNNING and j.status.reason == "PyTorchJobRunning"
    assert j.status.replicas["Worker"].replicas == 1 and j.status.replicas["Master"].active == 1
    assert j.manifest["metadata"] == {"name": "pt", "namespace": "default", "annotations": {"team": "a"}}
    assert "status" not in j.manifest and j.status.start_time == "2024-01-01T00:00:05Z"


def test_deletion_timestamp_means_deleting():
    o = obj()
    o["metadata"]["deletionTimestamp"] = "2024-01-01T00:01:00Z"
    assert job_from_object(o, PT, "ctx").status.phase is Phase.DELETING


@pytest.mark.parametrize(
    "over, words",
    [
        ({"spec": "oops"}, "spec is missing"),
        ({"spec": {"pytorchReplicaSpecs": ["Master"]}}, "spec.pytorchReplicaSpecs is missing or not a mapping"),
        ({"spec": {"pytorchReplicaSpecs": {"Worker": {"replicas": "two"}}}}, "replicas is 'two'"),
        ({"status": {"conditions": "Running"}}, "status.conditions is not a list"),
    ],
    ids=["spec-not-mapping", "replica-specs-list", "replicas-text", "conditions-text"],
)
def test_malformed_object_is_a_job_with_error(over, words):
    j = job_from_object(obj(**over), PT, "ctx")
    assert j.name == "pt" and j.status.phase is Phase.UNKNOWN
    assert words in j.error


def test_cached_job_keeps_resource_version():
    c = cached_job(obj(), PT, "ctx")
    assert (c.resource_version, c.uid, c.job.name) == ("7", "u1", "pt")


def test_cached_job_holds_its_uid_once_and_its_version_as_a_number():
    # The uid is the job's own (interned) string, and a plain resourceVersion a number, read back as given.
    c = cached_job(obj(), PT, "ctx")
    assert c.uid is c.job.uid and c.version == 7
    for version in ("007", "v7", ""):
        raw = obj()
        raw["metadata"]["resourceVersion"] = version
        assert cached_job(raw, PT, "ctx").resource_version == version
