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

What is kept per job is its bytes and, for a job not found by identity and seen before, its
status as JSON (about 0.4 KB) to compare with: the status dict kept before was about 1.2 KB a
job, 60 MB of a 50,000-job list (issue 18, benchmarks/findings/watch-cache-memory.md). A job
seen for the first time, or found by identity, keeps no status at all: the next list finds it
the same way, or it is a new object, which a cache builds when the job changed.

The list is never joined into one body: `encode` answers a `ListBody` holding the jobs' kept
bytes, and the server writes it in chunks of `CHUNK_BYTES`. At 50,000 jobs (a 56 MB list) a
joined body was one more copy while listing, and Tornado's `finish(body)` copied it once more
per request (`HTTP1Connection.write_headers` adds the body to the header bytes), so a list took
three copies of itself above the kept bytes (benchmarks/findings/watch-cache-memory.md).
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from ..model.job import Job


# Bytes the server writes at a time: large enough that a list of 1,000 jobs (about 1 MB) goes in a
# few writes, small enough that a request in flight holds little besides the kept bytes.
CHUNK_BYTES = 256 * 1024

_SEPARATOR = b", "


class ListBody:
    """An encoded job list as its pieces, in order: the list's head, each job's bytes, its tail.

    The pieces are the encoder's kept bytes (shared with the next list for every unchanged
    job), so holding a `ListBody` costs a reference per job. `bytes(body)` is the whole body,
    byte for byte what `json.dumps` gives for the list; `chunks()` gives the same bytes in pieces
    of about `CHUNK_BYTES` to write one after another. Read-only once built.
    """

    __slots__ = ("_head", "_jobs", "_tail", "_length")

    def __init__(self, head: bytes, jobs: list[bytes], tail: bytes) -> None:
        self._head, self._jobs, self._tail = head, jobs, tail
        self._length = len(head) + len(tail) + sum(map(len, jobs)) + len(_SEPARATOR) * max(len(jobs) - 1, 0)

    def __len__(self) -> int:
        return self._length

    def pieces(self) -> Iterator[bytes]:
        """The body's bytes in order, as kept (nothing is copied): to hash or to join."""
        yield self._head
        for index, data in enumerate(self._jobs):
            if index:
                yield _SEPARATOR
            yield data
        yield self._tail

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        """The body in chunks of at least `size` bytes, `CHUNK_BYTES` by default (the last may be
        shorter); a job's bytes are never split, and a chunk that is one job's bytes is not copied."""
        size = size or CHUNK_BYTES
        group: list[bytes] = []
        filled = 0
        for piece in self.pieces():
            group.append(piece)
            filled += len(piece)
            if filled >= size:
                yield b"".join(group)
                group, filled = [], 0
        if group:
            yield b"".join(group)

    def __bytes__(self) -> bytes:
        return b"".join(self.pieces())


# The `_kept` entry of a job encoded once, found neither by identity nor by key: it holds nothing.
_FIRST_SIGHT: tuple = ()


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
        # key -> (manifest object, status as JSON, scalars, encoded job), or _FIRST_SIGHT, for
        # jobs not found by identity
        self._kept: dict[tuple[str, str, str, str], tuple] = {}
        # id(job) -> (job, encoded job); holding the job keeps its id from being reused
        self._same: dict[int, tuple[Job, bytes]] = {}

    def encode(self, jobs: Iterable[Job], problems: list[Any]) -> ListBody:
        """The list body; as bytes, what `json.dumps({"items": [j.to_dict() ...], "problems": ...})` gives."""
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
            entry = kept.get(key)
            if entry is None:
                # Seen for the first time: nothing to compare with later but that it was seen. A
                # backend that hands out the same object again finds it by identity and never
                # compares (a first list kept statuses and scalars for that: 0.9 KB a job shaped
                # like a real cluster's); one that builds jobs afresh encodes the job once more,
                # on its next list, and keeps what to compare with from then on.
                data = json.dumps(job.to_dict()).encode()
                fresh[key] = _FIRST_SIGHT
            else:
                status, scalars = _status_json(job), _scalars(job)
                if entry is not _FIRST_SIGHT and entry[0] is job.manifest and entry[1] == status \
                        and entry[2] == scalars:
                    data = entry[3]
                else:
                    data = json.dumps(job.to_dict()).encode()
                fresh[key] = (job.manifest, status, scalars, data)
            fresh_same[id(job)] = (job, data)
            parts.append(data)
        self._kept, self._same = fresh, fresh_same
        return ListBody(b'{"items": [', parts, b'], "problems": ' + json.dumps(problems).encode() + b"}")


__all__ = ["CHUNK_BYTES", "JobListEncoder", "ListBody"]
