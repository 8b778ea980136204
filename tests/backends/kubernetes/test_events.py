"""Events in plain words: the scheduler's, the kubelet's and the operators' causes."""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.kubernetes.events import (
    event_from_object, job_events, plain_sentence, scheduling_sentence, slim_event,
)


@pytest.mark.parametrize(
    "message, requests, expected",
    [
        ("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", {"nvidia.com/gpu": "4"},
         "0/3 nodes have 4 free nvidia.com/gpu"),
        ("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.", None, "0/3 nodes have enough free nvidia.com/gpu"),
        ("0/5 nodes are available: 2 Insufficient cpu, 3 node(s) had untolerated taint {gpu: true}. "
         "preemption: 0/5 nodes are available: 5 Preemption is not helpful for scheduling.",
         {"cpu": "8"}, "0/5 nodes have 8 free cpu; 3 node(s) had untolerated taint {gpu: true}"),
        ("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.", {},
         "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector"),
        ("something else entirely.", {}, "something else entirely"),
    ],
    ids=["gpu-with-request", "gpu-no-request", "cpu-and-taint", "affinity-only", "unknown"],
)
def test_scheduling_sentence(message, requests, expected):
    assert scheduling_sentence(message, requests) == expected


@pytest.mark.parametrize(
    "reason, message, starts",
    [
        ("FailedScheduling", "0/1 nodes are available: 1 Insufficient memory.", "Pending: 0/1 nodes have"),
        ("Failed", 'Failed to pull image "nope:1": not found', "cannot pull image nope:1"),
        ("BackOff", 'Back-off pulling image "nope:1"', "waiting: ImagePullBackOff — image nope:1"),
        ("BackOff", "Back-off restarting failed container pytorch in pod x", "waiting: CrashLoopBackOff"),
        ("FailedMount", 'Unable to attach or mount volumes: persistentvolumeclaim "data" not found',
         "Pending: the volume claim 'data' does not exist"),
        ("FailedCreatePod", 'Error creating: pods "x" is forbidden: exceeded quota', "the operator could not create a pod"),
        ("Scheduled", "Successfully assigned default/x to node-1", "Successfully assigned default/x to node-1"),
    ],
    ids=["scheduling", "pull", "pull-backoff", "crashloop", "mount", "create", "unknown-kept"],
)
def test_plain_sentence(reason, message, starts):
    assert plain_sentence(reason, message, {"memory": "64Gi"}).startswith(starts)


def raw_event(kind, name, reason, message, ts, namespace="default"):
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{name}.{ts}", "namespace": namespace, "resourceVersion": "1", "managedFields": [{}]},
        "involvedObject": {"kind": kind, "name": name, "namespace": namespace},
        "type": "Warning", "reason": reason, "message": message, "count": 2,
        "firstTimestamp": ts, "lastTimestamp": ts,
    }


def test_slim_keeps_job_and_pod_events_only():
    assert slim_event(raw_event("Node", "n1", "NodeReady", "ready", "2024-01-01T00:00:00Z")) is None
    slim = slim_event(raw_event("PyTorchJob", "pt", "PyTorchJobCreated", "created", "2024-01-01T00:00:00Z"))
    assert slim["involvedObject"]["name"] == "pt" and "managedFields" not in slim["metadata"]


def test_job_events_are_the_jobs_and_its_pods_oldest_first():
    evs = [slim_event(e) for e in (
        raw_event("Pod", "pt-worker-0", "FailedScheduling", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
                  "2024-01-01T00:00:02Z"),
        raw_event("PyTorchJob", "pt", "PyTorchJobCreated", "created", "2024-01-01T00:00:01Z"),
        raw_event("Pod", "other-worker-0", "Scheduled", "x", "2024-01-01T00:00:00Z"),
        raw_event("PyTorchJob", "pt", "PyTorchJobCreated", "other namespace", "2024-01-01T00:00:00Z", namespace="b"),
        raw_event("TFJob", "pt", "TFJobCreated", "same name, other kind", "2024-01-01T00:00:00Z"),
    )]
    got = job_events("PyTorchJob", "pt", "default", ["pt-worker-0"], evs, {"pt-worker-0": {"nvidia.com/gpu": "4"}})
    assert [(e.object_kind, e.object_name) for e in got] == [("PyTorchJob", "pt"), ("Pod", "pt-worker-0")]
    assert got[1].message == "Pending: 0/3 nodes have 4 free nvidia.com/gpu"
    assert got[1].count == 2 and got[1].type == "Warning"


def test_event_from_events_k8s_io_shape():
    ev = {"metadata": {"name": "e", "namespace": "default", "creationTimestamp": "2024-01-01T00:00:00Z"},
          "regarding": {"kind": "Pod", "name": "p"}, "reason": "Pulled", "note": "pulled image",
          "type": "Normal", "eventTime": "2024-01-01T00:00:00.000000Z"}
    e = event_from_object(slim_event(ev))
    assert (e.object_name, e.message, e.first_time) == ("p", "pulled image", "2024-01-01T00:00:00.000000Z")
