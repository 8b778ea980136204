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

The list is never joined: `encode` answers a `ListBody` holding the jobs' kept bytes, and the
server writes it in chunks of `CHUNK_BYTES`. At 50,000 jobs (a 56 MB list) a joined body was one
more copy while listing, and Tornado's `finish(body)` copied it once more per request
(`HTTP1Connection.write_headers` adds the body to the header bytes), so a list took three copies
of itself above the kept bytes (benchmarks/findings/watch-cache-memory.md).

The kept bytes are deflated, each job's on its own against a preset dictionary (the first job of
each kind in the first list with jobs): jobs made from a few notebooks repeat their manifests, so a
job of the 50,000-job list keeps about 100 bytes instead of 1.1 KB, and the one copy of the list
that stayed (56 MB, the server's peak over its 400 MiB goal, issue 18) is about 5 MB. Each job
is deflated when it is encoded (about 12 µs) and inflated each time the body is read (about
1-2 µs); a job on its own, so that one changed job costs one job's deflate, never a block's.
Only in lists of `DEFLATE_FROM_JOBS` jobs or more: a smaller list keeps its jobs' bytes plain,
since inflating them for every request (1-2 ms a 1,000-job list) would cost the loop more, under
many clients listing at once, than the few MB it saves. A job keeps the form it was encoded in
until it changes, so a list that crosses the line holds both for a while.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Iterable, Iterator

from ..model.job import Job


# Bytes the server writes at a time: large enough that a list of 1,000 jobs (about 1 MB) goes in a
# few writes, small enough that a request in flight holds little besides the kept bytes.
CHUNK_BYTES = 256 * 1024

_SEPARATOR = b", "
# Raw deflate (no zlib header or checksum: 6 bytes a job less); 32 KiB is deflate's window, all
# of a preset dictionary it can use.
_WBITS = -15
_DICTIONARY_BYTES = 32 * 1024
DEFLATE_FROM_JOBS = 10_000


class Deflated:
    """A job's JSON as kept between lists: deflated against the encoder's dictionary, and its length."""

    __slots__ = ("data", "length")

    def __init__(self, data: bytes, length: int) -> None:
        self.data, self.length = data, length

    def __len__(self) -> int:
        """The length of the job's JSON (not of its deflated bytes)."""
        return self.length


class _Codec:
    """Deflates and inflates jobs' JSON against one preset dictionary (fixed for its life)."""

    __slots__ = ("dictionary",)

    def __init__(self, dictionary: bytes) -> None:
        self.dictionary = dictionary

    def deflate(self, plain: bytes) -> Deflated:
        # A fresh compressor per job: `copy()` of a primed one costs more than loading the dictionary.
        deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, _WBITS, zdict=self.dictionary)
        return Deflated(deflater.compress(plain) + deflater.flush(), len(plain))

    def inflate(self, kept: Deflated) -> bytes:
        return zlib.decompressobj(_WBITS, zdict=self.dictionary).decompress(kept.data)


class ListBody:
    """An encoded job list as its pieces, in order: the list's head, each job's bytes, its tail.

    The jobs' pieces are the encoder's kept (deflated) bytes, shared with the next list for every
    unchanged job, so holding a `ListBody` costs a reference per job. `bytes(body)` is the whole
    body, byte for byte what `json.dumps` gives for the list; `pieces()` and `chunks()` give the
    same bytes, inflated one job at a time as they are read. Read-only once built.
    """

    __slots__ = ("_head", "_jobs", "_tail", "_codec", "_length")

    def __init__(self, head: bytes, jobs: list[bytes | Deflated], tail: bytes, codec: _Codec | None) -> None:
        self._head, self._jobs, self._tail, self._codec = head, jobs, tail, codec
        self._length = len(head) + len(tail) + sum(map(len, jobs)) + len(_SEPARATOR) * max(len(jobs) - 1, 0)

    def __len__(self) -> int:
        return self._length

    def pieces(self) -> Iterator[bytes]:
        """The body's bytes in order (each job's inflated as it is reached): to hash or to join."""
        yield self._head
        inflate = self._codec.inflate if self._codec is not None else None
        for index, kept in enumerate(self._jobs):
            if index:
                yield _SEPARATOR
            # A Deflated job was deflated by this codec: the encoder keeps one for its life.
            yield kept if type(kept) is bytes else inflate(kept)  # type: ignore[misc, arg-type]
        yield self._tail

    def chunks(self, size: int | None = None) -> Iterator[bytes]:
        """The body in chunks of at least `size` bytes, `CHUNK_BYTES` by default (the last may be
        shorter); a job's bytes are never split."""
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


def _plain(job: Job) -> bytes:
    return json.dumps(job.to_dict()).encode()


def _dictionary(jobs: list[Job]) -> bytes:
    """The first job of each kind, encoded: what most jobs of a list repeat (their manifests'
    templates, their status's keys). The last `_DICTIONARY_BYTES`, the part deflate reaches."""
    firsts: dict[str, Job] = {}
    for job in jobs:
        firsts.setdefault(job.kind, job)
    return b"".join(map(_plain, firsts.values()))[-_DICTIONARY_BYTES:]


class JobListEncoder:
    """Encodes `{"items": [...], "problems": [...]}` bodies, reusing each unchanged job's bytes.

    Holds the bytes of the jobs of the last list built only (a job gone from it is forgotten), so
    memory stays about one list, deflated when it has `deflate_from` jobs or more. The dictionary
    jobs are deflated against is made from the first such list and kept: a kind that list lacked
    deflates less well. Not thread-safe: used from the server loop.
    """

    def __init__(self, deflate_from: int = DEFLATE_FROM_JOBS) -> None:
        # key -> (manifest object, status as JSON, scalars, kept bytes), or _FIRST_SIGHT, for jobs
        # not found by identity
        self._kept: dict[tuple[str, str, str, str], tuple] = {}
        # id(job) -> (job, kept bytes); holding the job keeps its id from being reused
        self._same: dict[int, tuple[Job, bytes | Deflated]] = {}
        self._codec: _Codec | None = None
        self._deflate_from = deflate_from

    def _kept_bytes(self, job: Job, deflate: bool) -> bytes | Deflated:
        plain = _plain(job)
        return self._codec.deflate(plain) if deflate and self._codec is not None else plain

    def encode(self, jobs: Iterable[Job], problems: list[Any]) -> ListBody:
        """The list body; as bytes, what `json.dumps({"items": [j.to_dict() ...], "problems": ...})` gives."""
        jobs = list(jobs)
        deflate = len(jobs) >= self._deflate_from
        if deflate and self._codec is None:
            self._codec = _Codec(_dictionary(jobs))
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
                data = self._kept_bytes(job, deflate)
                fresh[key] = _FIRST_SIGHT
            else:
                status, scalars = _status_json(job), _scalars(job)
                if entry is not _FIRST_SIGHT and entry[0] is job.manifest and entry[1] == status \
                        and entry[2] == scalars:
                    data = entry[3]
                else:
                    data = self._kept_bytes(job, deflate)
                fresh[key] = (job.manifest, status, scalars, data)
            fresh_same[id(job)] = (job, data)
            parts.append(data)
        self._kept, self._same = fresh, fresh_same
        return ListBody(b'{"items": [', parts, b'], "problems": ' + json.dumps(problems).encode() + b"}", self._codec)


__all__ = ["CHUNK_BYTES", "Deflated", "JobListEncoder", "ListBody"]
