"""JobListEncoder: the same bytes as json.dumps, reused only for jobs that did not change."""

from __future__ import annotations

import dataclasses
import json

from dtrain_jupyter.model.job import Job, JobStatus, ReplicaCounts
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.server.job_json import JobListEncoder


def _job(name: str, phase: Phase = Phase.RUNNING) -> Job:
    return Job(backend="kubernetes", kind="PyTorchJob", api_version="kubeflow.org/v1", name=name, namespace="default",
               uid=f"uid-{name}", created="2026-01-01T00:00:00Z",
               manifest={"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name, "note": "é<>"}},
               status=JobStatus(phase=phase, conditions=[{"type": "Running", "status": "True"}],
                                replicas={"Master": ReplicaCounts(replicas=1, active=1)}),
               context="ctx", notes=["a note"])


def _plain(jobs: list[Job], problems: list) -> bytes:
    return json.dumps({"items": [j.to_dict() for j in jobs], "problems": problems}).encode()


def test_encoding_matches_json_dumps_and_reuses_unchanged_jobs() -> None:
    enc = JobListEncoder()
    jobs = [_job("a"), _job("b")]
    assert enc.encode(jobs, []) == _plain(jobs, [])
    before = {key: entry[3] for key, entry in enc._kept.items()}
    # Copies sharing manifest and status (what the Kubernetes cache hands out) reuse the bytes.
    copies = [dataclasses.replace(j) for j in jobs]
    body = enc.encode(copies, [{"backend": "local", "error": "X"}])
    assert body == _plain(copies, [{"backend": "local", "error": "X"}])
    assert all(enc._kept[key][3] is data for key, data in before.items())


def test_a_changed_job_is_encoded_afresh() -> None:
    enc = JobListEncoder()
    jobs = [_job("a"), _job("b")]
    enc.encode(jobs, [])
    # A new status object (a watch event), a status edited in place, a new manifest, a new note.
    jobs[0] = dataclasses.replace(jobs[0], status=JobStatus(phase=Phase.SUCCEEDED))
    assert json.loads(enc.encode(jobs, []))["items"][0]["status"]["phase"] == "Succeeded"
    # A new Job object whose status object was edited in place (a backend building jobs afresh
    # around shared parts): compared by value, so it is encoded afresh too.
    jobs[1] = dataclasses.replace(jobs[1])
    jobs[1].status.replicas["Master"].active = 0
    jobs[1].status.message = "edited in place"
    body = json.loads(enc.encode(jobs, []))
    assert body["items"][1]["status"]["message"] == "edited in place"
    assert body["items"][1]["status"]["replicas"]["Master"]["active"] == 0
    jobs[1] = dataclasses.replace(jobs[1], manifest={"kind": "PyTorchJob", "metadata": {"name": "b", "x": 1}})
    assert json.loads(enc.encode(jobs, []))["items"][1]["manifest"]["metadata"]["x"] == 1
    jobs[1] = dataclasses.replace(jobs[1], notes=["another"])
    assert json.loads(enc.encode(jobs, []))["items"][1]["notes"] == ["another"]
    assert enc.encode(jobs, []) == _plain(jobs, [])


def test_jobs_gone_from_the_list_are_forgotten() -> None:
    enc = JobListEncoder()
    enc.encode([_job("a"), _job("b")], [])
    assert enc.encode([_job("b")], []) == _plain([_job("b")], [])
    assert [k[3] for k in enc._kept] == ["b"]
    assert enc.encode([], []) == b'{"items": [], "problems": []}' and enc._kept == {}


def test_the_same_job_object_again_reuses_its_bytes_without_looking_inside() -> None:
    # The Kubernetes cache's list hands out its own read-only Job objects: the same object
    # again is the same job, found by identity (nothing per job is built to compare it).
    enc = JobListEncoder()
    jobs = [_job("a"), _job("b")]
    first = enc.encode(jobs, [])
    kept = {id(j): enc._same[id(j)][1] for j in jobs}
    changed = dataclasses.replace(jobs[1], status=JobStatus(phase=Phase.FAILED))
    body = enc.encode([jobs[0], changed], [])
    assert enc._same[id(jobs[0])][1] is kept[id(jobs[0])]
    assert json.loads(body)["items"][1]["status"]["phase"] == "Failed"
    assert body == _plain([jobs[0], changed], [])
    # The old object of the changed job is no longer held.
    assert id(jobs[1]) not in enc._same or enc._same[id(jobs[1])][0] is not jobs[1]
    assert enc.encode(jobs, []) == first
