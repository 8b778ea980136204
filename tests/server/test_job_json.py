"""JobListEncoder: the same bytes as json.dumps, reused only for jobs that did not change."""

from __future__ import annotations

import dataclasses
import json

from dtrain_jupyter.model.job import Job, JobStatus, ReplicaCounts
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.server.job_json import CHUNK_BYTES, JobListEncoder, ListBody


def _job(name: str, phase: Phase = Phase.RUNNING) -> Job:
    return Job(backend="kubernetes", kind="PyTorchJob", api_version="kubeflow.org/v1", name=name, namespace="default",
               uid=f"uid-{name}", created="2026-01-01T00:00:00Z",
               manifest={"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name, "note": "é<>"}},
               status=JobStatus(phase=phase, conditions=[{"type": "Running", "status": "True"}],
                                replicas={"Master": ReplicaCounts(replicas=1, active=1)}),
               context="ctx", notes=["a note"])


def _plain(jobs: list[Job], problems: list) -> bytes:
    return json.dumps({"items": [j.to_dict() for j in jobs], "problems": problems}).encode()


def _bytes(body: ListBody) -> bytes:
    """The body's bytes, once its length and its chunks (of any size) are seen to say the same."""
    whole = bytes(body)
    assert len(body) == len(whole)
    for size in (1, 100, 1000, CHUNK_BYTES):
        assert b"".join(body.chunks(size)) == whole
    return whole


def test_encoding_matches_json_dumps_and_reuses_unchanged_jobs() -> None:
    enc = JobListEncoder()
    jobs = [_job("a"), _job("b")]
    assert _bytes(enc.encode(jobs, [])) == _plain(jobs, [])
    # A job seen for the first time keeps no status snapshot: the same object again is found by
    # identity; new objects for it (copies) are encoded once more, and their status kept.
    assert list(enc._kept.values()) == [(), ()]
    copies = [dataclasses.replace(j) for j in jobs]
    assert _bytes(enc.encode(copies, [])) == _plain(copies, [])
    assert all(entry[1] == json.dumps(j.status.to_dict()).encode() for j, entry in zip(jobs, enc._kept.values()))
    before = {key: entry[3] for key, entry in enc._kept.items()}
    # Copies sharing manifest and status (what a backend building jobs afresh hands out) reuse the bytes.
    copies = [dataclasses.replace(j) for j in jobs]
    body = _bytes(enc.encode(copies, [{"backend": "local", "error": "X"}]))
    assert body == _plain(copies, [{"backend": "local", "error": "X"}])
    assert all(enc._kept[key][3] is data for key, data in before.items())


def test_a_changed_job_is_encoded_afresh() -> None:
    enc = JobListEncoder()
    jobs = [_job("a"), _job("b")]
    enc.encode(jobs, [])
    # A new status object (a watch event), a status edited in place, a new manifest, a new note.
    jobs[0] = dataclasses.replace(jobs[0], status=JobStatus(phase=Phase.SUCCEEDED))
    assert json.loads(_bytes(enc.encode(jobs, [])))["items"][0]["status"]["phase"] == "Succeeded"
    # A new Job object whose status object was edited in place (a backend building jobs afresh
    # around shared parts): compared by value, so it is encoded afresh too.
    jobs[1] = dataclasses.replace(jobs[1])
    jobs[1].status.replicas["Master"].active = 0
    jobs[1].status.message = "edited in place"
    body = json.loads(_bytes(enc.encode(jobs, [])))
    assert body["items"][1]["status"]["message"] == "edited in place"
    assert body["items"][1]["status"]["replicas"]["Master"]["active"] == 0
    jobs[1] = dataclasses.replace(jobs[1], manifest={"kind": "PyTorchJob", "metadata": {"name": "b", "x": 1}})
    assert json.loads(_bytes(enc.encode(jobs, [])))["items"][1]["manifest"]["metadata"]["x"] == 1
    jobs[1] = dataclasses.replace(jobs[1], notes=["another"])
    assert json.loads(_bytes(enc.encode(jobs, [])))["items"][1]["notes"] == ["another"]
    assert _bytes(enc.encode(jobs, [])) == _plain(jobs, [])


def test_jobs_gone_from_the_list_are_forgotten() -> None:
    enc = JobListEncoder()
    enc.encode([_job("a"), _job("b")], [])
    assert _bytes(enc.encode([_job("b")], [])) == _plain([_job("b")], [])
    assert [k[3] for k in enc._kept] == ["b"]
    assert _bytes(enc.encode([], [])) == b'{"items": [], "problems": []}' and enc._kept == {}


def test_the_same_job_object_again_reuses_its_bytes_without_looking_inside() -> None:
    # The Kubernetes cache's list hands out its own read-only Job objects: the same object
    # again is the same job, found by identity (nothing per job is built to compare it).
    enc = JobListEncoder()
    jobs = [_job("a"), _job("b")]
    first = _bytes(enc.encode(jobs, []))
    kept = {id(j): enc._same[id(j)][1] for j in jobs}
    changed = dataclasses.replace(jobs[1], status=JobStatus(phase=Phase.FAILED))
    body = _bytes(enc.encode([jobs[0], changed], []))
    assert enc._same[id(jobs[0])][1] is kept[id(jobs[0])]
    assert json.loads(body)["items"][1]["status"]["phase"] == "Failed"
    assert body == _plain([jobs[0], changed], [])
    # The old object of the changed job is no longer held.
    assert id(jobs[1]) not in enc._same or enc._same[id(jobs[1])][0] is not jobs[1]
    assert _bytes(enc.encode(jobs, [])) == first


def test_the_body_is_the_kept_bytes_in_chunks_never_a_split_job() -> None:
    # The list is not joined into one body: its pieces are the jobs' kept bytes (an unchanged
    # job's kept bytes are the same object in the next list), written in chunks of about the size asked.
    # A list this small keeps them plain (see DEFLATE_FROM_JOBS).
    enc = JobListEncoder()
    jobs = [_job(f"job-{i}") for i in range(40)]
    body = enc.encode(jobs, [{"backend": "local", "error": "X"}])
    assert _bytes(body) == _plain(jobs, [{"backend": "local", "error": "X"}])
    kept = [enc._same[id(j)][1] for j in jobs]
    assert list(body.pieces())[1::2] == kept == [json.dumps(j.to_dict()).encode() for j in jobs]
    job_size = len(kept[0])
    chunks = list(body.chunks(3 * job_size))
    assert len(chunks) > 5
    assert all(3 * job_size <= len(c) < 5 * job_size for c in chunks[:-1])
    # Every chunk ends where a job's bytes (or a separator after them) end.
    ends = {sum(len(c) for c in chunks[:i + 1]) for i in range(len(chunks))}
    whole = bytes(body)
    assert all(whole[:end].endswith((b"}", b"}, ")) for end in ends)
    # One job changed: the next list holds the others' very bytes, and a new object for it.
    jobs[3] = dataclasses.replace(jobs[3], status=JobStatus(phase=Phase.FAILED))
    again = enc.encode(jobs, [])
    pieces = list(again.pieces())[1::2]
    assert all(pieces[i] is kept[i] for i in range(40) if i != 3) and pieces[3] is not kept[3]
    assert _bytes(again) == _plain(jobs, [])
    # A chunk that is one job's bytes is that object, not a copy.
    assert next(iter(enc.encode(jobs[:1], []).chunks(1))) == b'{"items": ['
    assert list(enc.encode(jobs[:1], []).chunks(1))[1] is enc._same[id(jobs[0])][1]


def test_kept_bytes_are_deflated_against_the_first_list() -> None:
    # What stays between lists is each job's JSON deflated against a dictionary made of the first
    # list's jobs (one per kind): jobs alike keep a small part of their size (issue 18).
    enc = JobListEncoder(deflate_from=100)
    jobs = [_job(f"job-{i}") for i in range(200)]
    tf = dataclasses.replace(_job("tf-0"), kind="TFJob")
    _bytes(enc.encode([*jobs, tf], []))
    kept = [enc._same[id(j)][1] for j in jobs]
    plain = [json.dumps(j.to_dict()).encode() for j in jobs]
    assert [k.length for k in kept] == list(map(len, plain))
    assert sum(len(k.data) for k in kept) * 4 < sum(map(len, plain))
    # The dictionary stays what the first list made it: later lists (other jobs, other kinds,
    # characters beyond ASCII) still come out as json.dumps makes them.
    others = [dataclasses.replace(_job(f"other-\u00e9-{i}"), kind="MPIJob", notes=["\u2603"] * i) for i in range(5)]
    assert _bytes(enc.encode(others + jobs[:3], [])) == _plain(others + jobs[:3], [])
    assert _bytes(enc.encode([], [])) == _plain([], [])
    assert _bytes(enc.encode(jobs[:1], [])) == _plain(jobs[:1], [])


def test_a_small_list_keeps_plain_bytes_and_a_list_crossing_the_line_mixes_both() -> None:
    # Below `deflate_from` jobs nothing is deflated (every request would inflate the list again);
    # a job keeps the form it was encoded in until it changes.
    enc = JobListEncoder(deflate_from=50)
    jobs = [_job(f"job-{i}") for i in range(40)]
    small = enc.encode(jobs, [])
    assert all(type(kept) is bytes for kept in small._jobs) and _bytes(small) == _plain(jobs, [])
    more = jobs + [_job(f"more-{i}") for i in range(20)]
    mixed = enc.encode(more, [])
    assert [type(kept) is bytes for kept in mixed._jobs] == [True] * 40 + [False] * 20
    assert _bytes(mixed) == _plain(more, []) and len(mixed) == len(_plain(more, []))
    fewer = enc.encode(more[:30] + more[45:], [])
    assert _bytes(fewer) == _plain(more[:30] + more[45:], [])


def test_an_empty_list_and_problems_only() -> None:
    body = JobListEncoder().encode([], [{"backend": "kubernetes", "error": "unreachable \u00e9"}])
    assert _bytes(body) == _plain([], [{"backend": "kubernetes", "error": "unreachable \u00e9"}])
    assert list(body.chunks()) == [_plain([], [{"backend": "kubernetes", "error": "unreachable \u00e9"}])]
