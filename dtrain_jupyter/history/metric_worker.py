"""The metric reader process: archived log bytes into metric points, outside the server's process.

    python -m dtrain_jupyter.history.metric_worker HISTORY_FOLDER [--max-points N]

(The server starts it with `-c`, from the history folder: see `MetricIngest._spawn`.)

Recognition is pure Python (10-20 s per GB, `benchmarks/metrics_bench.py`): in a thread of the
server it held the GIL while the event loop relayed logs to readers, and a 1 GB log read through
the API slowed by a third. Here it runs in a process of its own, at the lowest priority (`os.nice`),
so a busy machine gives the server the CPU first, and it writes the points into the history's
`metrics.sqlite3` itself (WAL: the server reads while this process writes).

The server (`MetricIngest`) sends requests on stdin, each a frame: 4 bytes of length (big-endian)
then a pickled tuple `(seq, what, *arguments)`, `seq` growing by one per request. Everything
waiting on stdin when this process wakes is one batch. Its points are written together, in one
transaction, at its end; a begin, a scalars reset or a forget within it first writes the points
read before it, then commits its own change (so the replaced points are never the newer ones),
and an archive read back whole writes every WRITE_EVERY points. After each batch it writes one
line on stdout, `{"seq": the last seq handled, "touched": [record ids with new points or a
reset]}`, which the server turns into wake-ups of the requests waiting for those records.
End of stdin (the server stopped, or died) ends this process once the batch in hand is written.

Requests (`what`): begin (record, job name, pod, files), feed (record, pod, bytes or a length,
time), end (record, pod, time), backfill (record, job name), scalars (record, output folder, last:
the job finished and its folder's reader goes after this read), forget (record ids),
sync (nothing: an acknowledgement to wait for).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pickle
import select
import sqlite3
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterable

from ..model.metrics import MetricReader
from .log_archive import LogArchive
from .metric_store import MAX_POINTS, MetricStore, Row

log = logging.getLogger(__name__)

# Sources a pod's log gives (our own report() lines, and lines recognised in ordinary output).
LOG_SOURCES = ("report", "log")
TENSORBOARD = "tensorboard"
# A line without its newline yet is kept at most this long (a progress bar redrawn with carriage
# returns for hours): past it, only the text after its last carriage return is kept.
LONGEST_LINE = 1 << 20
# Requests handled in one batch at most.
BATCH_ITEMS = 512
# Points held before they are written within a long batch (an archive read back whole).
WRITE_EVERY = 50_000
# How far below the server this process runs: the person reading a log comes first. At 10 a
# 1 GB read through the API on a busy 2-core machine still went 0.79 of its pace without metrics,
# at 19 0.96 (benchmarks/findings/metrics-ingest.md); a niced process still gets a share of a
# busy CPU, so points keep coming (report() -> /metrics stayed ~30 ms p50).
NICENESS = 19
FRAME = struct.Struct(">I")


def frame(item: tuple[Any, ...]) -> bytes:
    """One request as the server writes it."""
    body = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME.pack(len(body)) + body


def replica_of(job_name: str, pod: str) -> str:
    """The replica's name within its job: the pod's name less the job's (`mnist-worker-0` -> `worker-0`)."""
    prefix = f"{job_name}-"
    return pod[len(prefix):] if job_name and pod.startswith(prefix) and len(pod) > len(prefix) else pod


def rank_of(replica: str) -> int | None:
    """The index a replica's name ends with (`worker-1` -> 1), for points that carry no rank."""
    tail = replica.rpartition("-")[2]
    return int(tail) if tail.isdigit() else None


@dataclass
class _Pod:
    """One pod's log as it is read: its reader and the start of a line not yet ended."""

    replica: str
    reader: MetricReader
    rest: bytes = b""
    # The archive file the pod's bytes are read from (feeds then carry lengths), if any.
    file: BinaryIO | None = None


@dataclass
class _Batch:
    rows: list[Row] = field(default_factory=list)
    touched: set[int] = field(default_factory=set)


class MetricWorker:
    """Handles the server's requests against `store` (see the module docstring)."""

    def __init__(self, store: MetricStore, archive: LogArchive) -> None:
        self.store, self.archive = store, archive
        self._pods: dict[tuple[int, str], _Pod] = {}
        # TensorBoard readers by (record, output folder): each keeps its files' positions.
        self._scalar_readers: dict[tuple[int, str], Any] = {}

    def handle(self, items: Iterable[tuple[Any, ...]]) -> set[int]:
        """Handle one batch of requests (without their seq); returns the records touched."""
        batch = _Batch()
        for item in items:
            try:
                getattr(self, f"_{item[0]}")(batch, *item[1:])
            except (OSError, sqlite3.Error, ValueError) as e:
                # One pod's bad bytes or a locked store must not end the process: its points
                # are lost, the next read of that log brings them back.
                log.warning("dtrain: metric ingest could not %s: %s", item[0], e)
            except Exception:  # noqa: BLE001 - one request the reader did not foresee ends no process
                log.exception("dtrain: metric ingest failed to %s; its points are left out", item[0])
        self._write(batch)
        return batch.touched

    def _write(self, batch: _Batch) -> None:
        rows, batch.rows = batch.rows, []
        if rows:
            try:
                self.store.add(rows)
            except sqlite3.Error as e:
                log.warning("dtrain: metric ingest could not keep %d points: %s", len(rows), e)
            except Exception:  # noqa: BLE001 - a point the store refuses loses its batch, not the process
                log.exception("dtrain: metric ingest could not keep %d points", len(rows))

    def _sync(self, batch: _Batch) -> None:
        """Nothing to do: the server waits for this request's acknowledgement."""

    def _begin(self, batch: _Batch, record_id: int, job_name: str, pod: str,
               files: tuple[str, str] | None = None) -> None:
        replica = replica_of(job_name, pod)
        # Points read before this one are written first: the replacement must come after them.
        self._write(batch)
        self.store.mark_ingested(record_id)
        self.store.replace(record_id, replica=replica, sources=LOG_SOURCES)
        self._close((record_id, pod))
        state = self._pods[(record_id, pod)] = _Pod(replica, MetricReader(pod=replica, rank=rank_of(replica)))
        batch.touched.add(record_id)
        if files is not None:
            state.file = _open_either(*files)

    def _close(self, key: tuple[int, str]) -> None:
        state = self._pods.pop(key, None)
        if state is not None and state.file is not None:
            state.file.close()

    def _feed(self, batch: _Batch, record_id: int, pod: str, data: bytes | int, when: float) -> None:
        state = self._pods.get((record_id, pod))
        if state is None:
            return  # forgotten meanwhile, or its begin went to a reader process that died
        if isinstance(data, int):
            # Written and flushed before it was fed: the next `data` bytes of the file are there
            # (fewer only where a full disk gave back the end of the file).
            data = state.file.read(data) if state.file is not None else b""
        text = state.rest + data
        cut = text.rfind(b"\n")
        if cut < 0:
            state.rest = _bounded(text)
            return
        state.rest = _bounded(text[cut + 1:])
        self._read(batch, record_id, state, text[:cut], when)

    def _end(self, batch: _Batch, record_id: int, pod: str, when: float) -> None:
        state = self._pods.get((record_id, pod))
        self._close((record_id, pod))
        if state is not None and state.rest:
            self._read(batch, record_id, state, state.rest, when)

    def _read(self, batch: _Batch, record_id: int, state: _Pod, text: bytes, when: float) -> None:
        points = state.reader.read_text(text.decode("utf-8", "replace"), when)
        batch.touched.add(record_id)
        batch.rows.extend(Row(record_id, state.replica, p.name, p.source, p.step,
                              p.time if p.time is not None else when, p.value) for p in points)

    def _backfill(self, batch: _Batch, record_id: int, job_name: str) -> None:
        if self.store.ingested(record_id):
            return
        for pod, container, _size in self.archive.logs_of(record_id):
            if container or (record_id, pod) in self._pods:
                continue
            # The archive keeps no time per line: its points take the time the log was last written.
            when = self.archive.path(record_id, pod).stat().st_mtime
            self._begin(batch, record_id, job_name, pod)
            for chunk in self.archive.read(record_id, pod):
                self._feed(batch, record_id, pod, chunk, when)
                if len(batch.rows) >= WRITE_EVERY:
                    self._write(batch)
            self._end(batch, record_id, pod, when)
        self.store.mark_ingested(record_id)

    def _scalars(self, batch: _Batch, record_id: int, root: str, last: bool = False) -> None:
        key = (record_id, root)
        reader = self._scalar_readers.pop(key, None) if last else self._scalar_readers.get(key)
        if reader is None:
            from ..tensorboard.scalars import EventScalars  # TensorBoard's reader, imported when first needed
            reader = EventScalars(Path(root))
            if not last:
                self._scalar_readers[key] = reader
        reset, points = reader.read_new()
        if reset:
            self._write(batch)
            self.store.replace(record_id, sources=(TENSORBOARD,))
        batch.touched.add(record_id)
        now = time.time()
        batch.rows.extend(Row(record_id, p.pod or ".", p.name, TENSORBOARD, p.step,
                              p.time if p.time is not None else now, p.value) for p in points)

    def _forget(self, batch: _Batch, record_ids: set[int]) -> None:
        self._write(batch)
        for key in [k for k in self._pods if k[0] in record_ids]:
            self._close(key)
        for key in [k for k in self._scalar_readers if k[0] in record_ids]:
            del self._scalar_readers[key]
        self.store.forget(record_ids)


def _open_either(written: str, renamed: str) -> BinaryIO | None:
    """The archive file being written, or, when it was renamed meanwhile (this process is behind
    the recorder), the same file under its final name; None when neither opens."""
    for path in (written, renamed):
        try:
            return open(path, "rb")
        except FileNotFoundError:
            continue
    log.warning("dtrain: metric ingest found no archive file %s to read", renamed)
    return None


def _bounded(rest: bytes) -> bytes:
    """A line's start kept for its end: past LONGEST_LINE, only what follows its last carriage return."""
    if len(rest) <= LONGEST_LINE:
        return rest
    tail = rest[rest.rfind(b"\r") + 1:]
    return tail if len(tail) <= LONGEST_LINE else b""


def serve(worker: MetricWorker, requests: int, answers: IO[str]) -> None:
    """Handle framed requests from the file descriptor `requests` until it ends, acknowledging each
    batch on `answers`."""
    pending = bytearray()
    ended = False
    while not ended:
        items: list[tuple[Any, ...]] = []
        while len(items) < BATCH_ITEMS:
            if len(pending) >= FRAME.size:
                (size,) = FRAME.unpack_from(pending)
                if len(pending) >= FRAME.size + size:
                    items.append(pickle.loads(bytes(pending[FRAME.size:FRAME.size + size])))
                    del pending[:FRAME.size + size]
                    continue
            # A batch ends where the server has sent nothing more yet: its waiters are woken now.
            if items and not select.select([requests], [], [], 0)[0]:
                break
            data = os.read(requests, 1 << 20)
            if not data:
                ended = True
                break
            pending += data
        if not items:
            continue
        touched = worker.handle(item[1:] for item in items)
        answers.write(json.dumps({"seq": items[-1][0], "touched": sorted(touched)}) + "\n")
        answers.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the history folder")
    parser.add_argument("--max-points", type=int, default=MAX_POINTS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="[dtrain metric reader] %(message)s")
    # stdout carries the acknowledgements only: anything else printed (a library's notice) goes to stderr.
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        os.nice(NICENESS)
    except OSError:
        pass  # not allowed here: run at the server's priority
    store = MetricStore(args.folder, max_points=args.max_points)
    try:
        serve(MetricWorker(store, LogArchive(args.folder)), sys.stdin.fileno(), answers)
    except BrokenPipeError:
        pass  # the server went while an acknowledgement was written
    finally:
        store.close()


if __name__ == "__main__":
    main()
