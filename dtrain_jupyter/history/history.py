"""JobHistory: one history folder (records, archived logs, the recorder) as the service uses it.

The service asks the cluster first; when the cluster no longer has a job, it asks here
(`past_job`), and answers from the record, saying so (`Job.removed`). Reading a past job's
pods, events and logs goes through the same record.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import AsyncGenerator, Callable, Iterator

from ..errors import JobNotFound, NotFound
from ..model.code_archive import CodeArchive
from ..model.job import Job, LogLine
from .log_archive import LogArchive
from .metric_ingest import MetricIngest
from .metric_store import MetricStore
from .recorder import HistoryRecorder, JobSource, Retention
from .store import HistoryPage, HistoryQuery, HistoryRecord, HistoryStore

# A merged archived log cuts lines longer than this into pieces (see `_lines`).
LONGEST_LINE = 1 << 20

__all__ = ["JobHistory", "Retention", "HistoryQuery", "HistoryPage", "HistoryRecord"]


class JobHistory:
    """Records and logs of every job the server saw, in `folder`.

    Args:
        folder: the history folder (a local disk, or a mount every server of a team can lock).
        retention: how much is kept.
        max_follows: running pods whose logs are followed at once.
        max_points: metric points kept per series (see `MetricStore`).
        metrics: read metric points from the logs (False: the metrics API answers no points).
    Raises:
        HistoryError: the folder's database cannot be used (see `HistoryStore`).
    """

    def __init__(self, folder: Path, *, retention: Retention = Retention(), max_follows: int = 64,
                 max_points: int = 10_000, metrics: bool = True) -> None:
        self.folder = Path(folder)
        self.store = HistoryStore(self.folder)
        self.archive = LogArchive(self.folder)
        self.metrics = MetricStore(self.folder, max_points=max_points)
        self.ingest = MetricIngest(self.metrics, self.archive, enabled=metrics)
        self.retention = retention
        self.max_follows = max_follows
        self.recorder: HistoryRecorder | None = None

    async def start(self, source: JobSource, permits: Callable[[str], bool] = lambda _namespace: True) -> None:
        """Begin recording what `source` (the service) reports, of the namespaces `permits` allows."""
        self.ingest.start()
        self.recorder = HistoryRecorder(self.store, self.archive, source, retention=self.retention,
                                        max_follows=self.max_follows, permits=permits, ingest=self.ingest)
        await self.recorder.start()

    async def stop(self) -> None:
        if self.recorder is not None:
            await self.recorder.stop()
            self.recorder = None
        await self.ingest.stop()
        self.metrics.close()
        self.store.close()

    # -- answering for past jobs ------------------------------------------------------------

    def past_record(self, backend: str, namespace: str, kind: str, name: str) -> HistoryRecord:
        """The newest record of a job the cluster no longer has.

        Raises:
            JobNotFound: no record of that job either (the message says the history was asked too).
        """
        records = self.store.find(backend, namespace, kind, name)
        # The caller asks once the cluster said the job is gone; its record may not say so yet
        # (the change that says it is on its way), so the newest record answers then.
        for record in records:
            if not record.on_cluster:
                return record
        if records:
            return records[0]
        raise JobNotFound(kind, name, namespace, backend, also="nor in the job history")

    def past_job(self, backend: str, namespace: str, kind: str, name: str) -> Job:
        """The job as last seen, with `removed` set to when it left the cluster."""
        record = self.past_record(backend, namespace, kind, name)
        return as_past(record)

    def list(self, query: HistoryQuery) -> HistoryPage:
        return self.store.list(query)

    def forget(self, backend: str, namespace: str, kind: str, name: str) -> int:
        """Remove every record of that job name, logs included (the cluster's job, if any, stays).

        Raises:
            JobNotFound: no record of it.
        """
        records = self.store.find(backend, namespace, kind, name)
        if not records:
            raise JobNotFound(kind, name, namespace, backend, also="and the job history has no record of it")
        for record in records:
            self.archive.remove(record.id)
        ids = [r.id for r in records]
        self.ingest.forget(ids)
        return self.store.forget(ids)

    def log_bytes(self, record: HistoryRecord, *, pod: str | None, tail: int | None) -> AsyncGenerator[bytes, None]:
        """An archived log as chunks (one pod) or merged, lines prefixed by their pod (all pods).

        Raises:
            NotFound: nothing archived for that pod (or for any pod of the job).
        """
        parts = self._archived(record, pod)

        async def chunks() -> AsyncGenerator[bytes, None]:
            for name in parts:
                if pod is not None:
                    for chunk in self.archive.read(record.id, name, tail=tail):
                        yield chunk
                else:
                    for line in _lines(self.archive.read(record.id, name, tail=tail)):
                        yield f"[{name}] ".encode() + line

        return chunks()

    def log_lines(self, record: HistoryRecord, *, pod: str | None, tail: int | None) -> AsyncGenerator[LogLine, None]:
        """An archived log as LogLine objects, pod by pod. Raises NotFound as `log_bytes`."""
        parts = self._archived(record, pod)

        async def lines() -> AsyncGenerator[LogLine, None]:
            for name in parts:
                for line in _lines(self.archive.read(record.id, name, tail=tail)):
                    # As the live read makes a line: without its newline and a carriage return before it.
                    yield LogLine(pod=name, line=line.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "replace"))

        return lines()

    def _archived(self, record: HistoryRecord, pod: str | None) -> list[str]:
        kept = [name for name, container, _ in self.archive.logs_of(record.id) if not container]
        if pod is not None:
            if pod not in kept:
                known = ", ".join(kept) or "none"
                raise NotFound(f"the job history has no log of pod {pod!r} of {record.job.kind} "
                               f"{record.job.name!r} (archived: {known})", pod=pod)
            return [pod]
        if not kept:
            raise NotFound(f"the job history has no logs of {record.job.kind} {record.job.name!r}: no pod had "
                           "started while this server watched, or archiving was off", name=record.job.name)
        return kept

    def code_archive(self, record: HistoryRecord) -> CodeArchive | None:
        """The script folder the job ran, as kept at its first sight; None when none was kept."""
        return self.archive.code(record.id)

    def archiving(self, record: HistoryRecord) -> bool:
        """Whether a log of the record is being archived now (a running pod followed, or a finished
        job's last logs read): until it is over, the record's logs may still grow. Ask on the loop."""
        return self.recorder is not None and self.recorder.reading(record.id)

    def problem(self, record: HistoryRecord) -> str | None:
        """Why this server stopped archiving the record's logs (a full disk), or None.

        Known only to the server that hit it, until it restarts: the archive keeps no note of it.
        """
        return self.recorder.problems.get(record.id) if self.recorder is not None else None

    def stopped(self) -> str | None:
        """Why this server stopped archiving logs altogether (a full disk), in words; None while it archives."""
        return (self.recorder._full_problem or None) if self.recorder is not None else None

    def incomplete(self, record: HistoryRecord) -> list[str]:
        """Pods whose archived log was cut short."""
        return [name for name, container, _ in self.archive.logs_of(record.id)
                if not container and not self.archive.complete(record.id, name)]


def as_past(record: HistoryRecord) -> Job:
    """The record's job, marked as no longer on the cluster."""
    job = record.job
    removed = record.deleted if record.deleted is not None else record.updated
    job.removed = dt.datetime.fromtimestamp(removed, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return job


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Newline-terminated lines of a chunked log (a last line without one gets one). A line longer
    than LONGEST_LINE (a progress bar redrawn with carriage returns for hours) comes in pieces of
    that size, so memory stays bounded."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *whole, rest = rest.split(b"\n")
        for line in whole:
            yield line + b"\n"
        while len(rest) >= LONGEST_LINE:
            yield rest[:LONGEST_LINE] + b"\n"
            rest = rest[LONGEST_LINE:]
    if rest:
        yield rest + b"\n"
