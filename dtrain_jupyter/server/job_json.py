"""Encoding job lists: each job's JSON is kept and reused while that job is unchanged.

A list of 5,000 jobs spent most of its build in `json.dumps` (about 16 µs a job, the manifest
half of it), although between two lists usually one job changed. Backends hand out jobs whose
`manifest` and `status` objects are replaced, never edited, when the job changes (the
Kubernetes cache builds a new Job per watch event; its copies share those objects), so a job
whose manifest is the same object, whose status says the same, and whose other fields are equal
encodes to the same bytes. The status is compared by value (its dict is cheap to build), so a
backend that did edit a status in place still gets fresh bytes.

A backend that hands out the very same Job object again (the Kubernetes cache's list, whose jobs
are read-only by the Backend.list contract) skips even that comparison: the object is looked up
by identity, and for 10,000 unchanged jobs a list then allocates nothing per job, so the garbage
collector stays out of the way and the cost per job stays flat as lists grow.

What is kept per job is its bytes and, for a job not found by identity, its status as JSON
(about 0.4 KB) to compare with: the status dict kept before was about 1.2 KB a job, 60 MB of a
50,000-job list (issue 18, benchmarks/findings/watch-cache-memory.md). A job found by identity
keeps no status at all: the next list finds it the same way, or it is a new object, which a
cache builds when the job changed.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from ..model.job import Job


def _scalars(job: Job) -> tuple:
    return (job.kind, job.api_version, job.uid, job.created, job.context, tuple(job.notes), job.error)


def _status_json(job: Job) -> bytes:
    return json.dumps(job.status.to_dict()).encode()


class JobListEncoder:
    """Encodes `{"items": [...], "problems": [...]}` bodies, reusing each unchanged job's bytes.

    Holds the bytes of the jobs of the last list built only (a job gone from it is forgotten),
    so memory stays about one encoded list. Not thread-safe: used from the server loop.
    """

    def __init__(self) -> None:
        # key -> (manifest object, status as JSON, scalars, encoded job), for jobs not found by identity
        self._kept: dict[tuple[str, str, str, str], tuple[Any, bytes, tuple, bytes]] = {}
        # id(job) -> (job, encoded job); holding the job keeps its id from being reused
        self._same: dict[int, tuple[Job, bytes]] = {}

    def encode(self, jobs: Iterable[Job], problems: list[Any]) -> bytes:
        """The list body, byte for byte what `json.dumps({"items": [j.to_dict() ...], "problems": ...})` gives."""
        kept, fresh = self._kept, {}
        same, fresh_same = self._same, {}
        parts = []
        for job in jobs:
            hit = same.get(id(job))
            if hit is not None and hit[0] is job:
                fresh_same[id(job)] = hit
                parts.append(hit[1])
                continue
            key = job.key
            status = _status_json(job)
            scalars = _scalars(job)
            entry = kept.get(key)
            if entry is not None and entry[0] is job.manifest and entry[1] == status and entry[2] == scalars:
                data = entry[3]
            else:
                data = json.dumps(job.to_dict()).encode()
            fresh[key] = (job.manifest, status, scalars, data)
            fresh_same[id(job)] = (job, data)
            parts.append(data)
        self._kept, self._same = fresh, fresh_same
        head, tail = b'{"items": [', b'], "problems": ' + json.dumps(problems).encode() + b"}"
        if not parts:
            return head + tail
        # One join makes the body: head and tail go onto the first and last job's bytes (a copy of
        # a kilobyte each), not around the joined list, which at 50,000 jobs would copy its 56 MB
        # twice more and hold up to three copies at once.
        parts[0] = head + parts[0]
        parts[-1] = parts[-1] + tail
        return b", ".join(parts)


__all__ = ["JobListEncoder"]
