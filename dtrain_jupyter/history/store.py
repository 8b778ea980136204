"""The history store: a record of every job the server saw, kept after the cluster forgets it.

One SQLite database (the standard library's `sqlite3`) in a folder of its own: a row per job
instance (backend + uid, so a name used again is a second record), holding the job as the
service last saw it (`Job.to_dict()`: manifest, status, conditions, timings), its pods' last
states and its events as JSON, when it finished and when it left the cluster. Logs are files
beside it (`log_archive.py`); the store only counts their bytes, for retention.

Each write is one `BEGIN IMMEDIATE ... COMMIT` transaction, so a server killed in the middle
leaves the previous row, never half of one; a row whose JSON cannot be read is skipped by `list`
with a warning, not an error. The database runs in WAL mode with a busy timeout, so servers that
share one history folder (a team's mount) all read and write it: SQLite's locks take their writes
in turn, and records are keyed by backend + uid, so each job is one row whoever records it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..model.job import Event, Job, Pod
from ..model.status import Phase
from ..model.time_bounds import upper

log = logging.getLogger(__name__)

DATABASE_FILE = "history.sqlite3"
# Bumped when the table layout changes; an older file is migrated, a newer one refused.
SCHEMA_VERSION = 1
# Another connection holds the write lock: wait this long before giving up (SQLite's own wait).
BUSY_TIMEOUT_MS = 5000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    backend TEXT NOT NULL,
    namespace TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    created TEXT NOT NULL,
    phase TEXT NOT NULL,
    finished REAL,
    deleted REAL,
    updated REAL NOT NULL,
    job TEXT NOT NULL,
    pods TEXT NOT NULL DEFAULT '[]',
    events TEXT NOT NULL DEFAULT '[]',
    log_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (backend, uid)
);
CREATE INDEX IF NOT EXISTS jobs_by_name ON jobs (backend, namespace, kind, name, created);
CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created DESC, id DESC);
CREATE INDEX IF NOT EXISTS jobs_by_finished ON jobs (finished);
"""


@dataclass(frozen=True)
class HistoryRecord:
    """One job instance as the store keeps it.

    `deleted` and `finished` are epoch seconds (None: still on the cluster / not finished).
    """

    id: int
    job: Job
    pods: list[Pod]
    events: list[Event]
    finished: float | None
    deleted: float | None
    updated: float
    log_bytes: int

    @property
    def on_cluster(self) -> bool:
        return self.deleted is None


class Show:
    """Which records a listing shows (the panel's filter)."""

    LIVE = "live"          # still on the cluster and not finished
    FINISHED = "finished"  # finished, on the cluster or not
    ALL = "all"
    CHOICES = (LIVE, FINISHED, ALL)


@dataclass(frozen=True)
class HistoryQuery:
    """A page of records, newest first.

    Args:
        show: one of `Show.CHOICES`.
        text: words every record must contain in its name, kind, namespace, phase or backend (any case).
        backend, namespace, kind, phase, name: exact matches when given.
        created_from, created_to: ISO-8601 bounds on the job's creation time (inclusive).
        after: the `next` cursor of the previous page.
        limit: records per page (1-1000).
    """

    show: str = Show.ALL
    text: str = ""
    backend: str | None = None
    namespace: str | None = None
    kind: str | None = None
    phase: str | None = None
    name: str | None = None
    # When non-empty, only records in these namespaces (the server's allowed_namespaces).
    namespaces: tuple[str, ...] = ()
    created_from: str | None = None
    created_to: str | None = None
    after: str | None = None
    limit: int = 100


@dataclass
class HistoryPage:
    records: list[HistoryRecord] = field(default_factory=list)
    # The cursor of the next page, or None on the last one.
    next: str | None = None


class HistoryError(Exception):
    """The history folder cannot be used (unreadable, a newer layout, a bad query)."""


class HistoryStore:
    """The records of one history folder. Thread-safe: backends' watch threads and the event loop
    may both call it (one connection, one lock; each call is a short statement).

    Args:
        folder: where `history.sqlite3` lives (created if missing).
    Raises:
        HistoryError: the database was written by a newer dtrain-jupyter, or is not a database.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DATABASE_FILE
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL with synchronous=NORMAL survives a killed process (not a power cut mid-commit).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"cannot open the job history {self.path}: {e}") from e

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(f"{self.path} was written by a newer dtrain-jupyter (layout {version}, this one "
                               f"reads up to {SCHEMA_VERSION}); use a newer version or another history folder")
        # executescript commits as it goes; every statement of the layout is idempotent.
        self._db.executescript(_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing --------------------------------------------------------------------------

    def record_job(self, job: Job, *, now: float | None = None) -> int:
        """Keep the job as it is now (insert or update by backend + uid); returns its record id.

        A job seen again after `mark_deleted` (a watch replayed it) is on the cluster again.
        """
        now = time.time() if now is None else now
        finished = now if job.phase.finished else None
        with self._transaction():
            row = self._db.execute("SELECT id, finished FROM jobs WHERE backend=? AND uid=?",
                                   (job.backend, _uid(job))).fetchone()
            text = json.dumps(job.to_dict(), separators=(",", ":"))
            if row is None:
                cursor = self._db.execute(
                    "INSERT INTO jobs (backend, namespace, kind, name, uid, created, phase, finished, updated, job) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (job.backend, job.namespace, job.kind, job.name, _uid(job), job.created, job.phase.value,
                     finished, now, text))
                return int(cursor.lastrowid or 0)
            record_id, was_finished = row
            self._db.execute(
                "UPDATE jobs SET phase=?, finished=?, deleted=NULL, updated=?, job=? WHERE id=?",
                (job.phase.value, was_finished if was_finished is not None and finished is not None else finished,
                 now, text, record_id))
            return int(record_id)

    def record_pods(self, record_id: int, pods: Iterable[Pod]) -> None:
        """Keep the pods' latest states; a pod absent from `pods` but kept before stays (the
        operator's cleanPodPolicy removed it, its last state is what a person wants to see)."""
        with self._transaction():
            row = self._db.execute("SELECT pods FROM jobs WHERE id=?", (record_id,)).fetchone()
            if row is None:
                return
            by_name = {p.get("name"): p for p in _json_list(row[0])}
            for pod in pods:
                by_name[pod.name] = pod.to_dict()
            self._db.execute("UPDATE jobs SET pods=?, updated=? WHERE id=?",
                             (json.dumps(list(by_name.values()), separators=(",", ":")), time.time(), record_id))

    def record_events(self, record_id: int, events: Iterable[Event]) -> None:
        """Keep the job's events, merged with those kept before (by kind, name, reason, message)."""
        with self._transaction():
            row = self._db.execute("SELECT events FROM jobs WHERE id=?", (record_id,)).fetchone()
            if row is None:
                return
            merged = {_event_key(e): e for e in _json_list(row[0])}
            for event in events:
                merged[_event_key(event.to_dict())] = event.to_dict()
            self._db.execute("UPDATE jobs SET events=? WHERE id=?",
                             (json.dumps(list(merged.values()), separators=(",", ":")), record_id))

    def add_log_bytes(self, record_id: int, size: int) -> None:
        with self._transaction():
            self._db.execute("UPDATE jobs SET log_bytes=log_bytes+? WHERE id=?", (size, record_id))

    def mark_deleted(self, backend: str, uid: str, *, now: float | None = None) -> bool:
        """The job left the cluster (deleted by anyone, or by its TTL); its record stays."""
        with self._transaction():
            cursor = self._db.execute("UPDATE jobs SET deleted=? WHERE backend=? AND uid=? AND deleted IS NULL",
                                      (time.time() if now is None else now, backend, uid))
            return cursor.rowcount > 0

    def forget(self, record_ids: Iterable[int]) -> int:
        """Remove records for good; the caller removes their log files. Returns how many went."""
        ids = list(record_ids)
        with self._transaction():
            return sum(self._db.execute("DELETE FROM jobs WHERE id=?", (i,)).rowcount for i in ids)

    # -- reading --------------------------------------------------------------------------

    def record(self, record_id: int) -> HistoryRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id=?", (record_id,)).fetchone()
        return None if row is None else _record(row)

    def find(self, backend: str, namespace: str, kind: str, name: str) -> list[HistoryRecord]:
        """Every record of that job name, newest first (a name used again is several)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE backend=? AND namespace=? AND kind=? AND name=? "
                "ORDER BY created DESC, id DESC", (backend, namespace, kind, name)).fetchall()
        return [r for r in map(_record, rows) if r is not None]

    def find_uid(self, backend: str, uid: str) -> HistoryRecord | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE backend=? AND uid=?",
                                   (backend, uid)).fetchone()
        return None if row is None else _record(row)

    def phase_of(self, backend: str, uid: str) -> str | None:
        """The recorded phase of a job instance, or None when it has no record (no JSON is read:
        the recorder asks this for every change it hears)."""
        with self._lock:
            row = self._db.execute("SELECT phase FROM jobs WHERE backend=? AND uid=?", (backend, uid)).fetchone()
        return None if row is None else str(row[0])

    def list(self, query: HistoryQuery) -> HistoryPage:
        """One page of records, newest first; paging by keyset (the last row's created + id), so
        a page deep in 10,000 records costs what the first does.

        Raises:
            HistoryError: an unknown `show`, a limit out of range or a cursor this store did not give.
        """
        if query.show not in Show.CHOICES:
            raise HistoryError(f"show must be one of {', '.join(Show.CHOICES)}, not {query.show!r}")
        if not 1 <= query.limit <= 1000:
            raise HistoryError(f"limit must be between 1 and 1000, not {query.limit}")
        where, params = _filters(query)
        if query.after:
            created, record_id = _parse_cursor(query.after)
            where.append("(created < ? OR (created = ? AND id < ?))")
            params += [created, created, record_id]
        sql = f"SELECT {_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [*params, query.limit + 1]).fetchall()
        more = len(rows) > query.limit
        rows = rows[:query.limit]
        page = HistoryPage(records=[r for r in map(_record, rows) if r is not None])
        if more and rows:
            page.next = f"{rows[-1][_CREATED]}|{rows[-1][_ID]}"
        return page

    def count(self, query: HistoryQuery | None = None) -> int:
        where, params = _filters(query or HistoryQuery())
        sql = "SELECT COUNT(*) FROM jobs" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            return int(self._db.execute(sql, params).fetchone()[0])

    # -- retention ------------------------------------------------------------------------

    def over_retention(self, *, max_records: int, max_age_s: float, max_log_bytes: int,
                       now: float | None = None) -> list[int]:
        """Records to forget, oldest first, so that what stays keeps within every limit.

        Only records of jobs that finished or left the cluster are ever chosen: a running job's
        record is never forgotten. Limits of 0 are no limit.
        """
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT id, COALESCE(deleted, finished), log_bytes FROM jobs "
                "WHERE finished IS NOT NULL OR deleted IS NOT NULL ORDER BY created ASC, id ASC").fetchall()
            total = self._db.execute("SELECT COUNT(*), COALESCE(SUM(log_bytes), 0) FROM jobs").fetchone()
        records, log_bytes = int(total[0]), int(total[1])
        chosen = []
        for record_id, ended, size in rows:
            too_many = max_records and records > max_records
            too_old = max_age_s and ended is not None and now - ended > max_age_s
            too_big = max_log_bytes and log_bytes > max_log_bytes
            if not (too_many or too_old or too_big):
                continue
            chosen.append(int(record_id))
            records -= 1
            log_bytes -= int(size)
        return chosen

    # -- internals ------------------------------------------------------------------------

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db, self._lock)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT under the store's lock; ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> None:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        try:
            if kind is not None:
                self._db.execute("ROLLBACK")
                return
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                # A commit that failed (a full disk) leaves the transaction open: end it, or every
                # later BEGIN would fail until the server restarts.
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
        finally:
            self._lock.release()


_COLUMNS = "id, job, pods, events, finished, deleted, updated, log_bytes, created"
_ID, _CREATED = 0, 8


def _record(row: tuple[Any, ...]) -> HistoryRecord | None:
    try:
        return HistoryRecord(
            id=int(row[0]), job=Job.from_dict(json.loads(row[1])),
            pods=[Pod.from_dict(p) for p in _json_list(row[2])],
            events=[Event.from_dict(e) for e in _json_list(row[3])],
            finished=row[4], deleted=row[5], updated=row[6], log_bytes=int(row[7]))
    except (ValueError, KeyError, TypeError) as e:
        log.warning("job history record %s cannot be read (%s); it is left out", row[0], e)
        return None


def _json_list(text: str) -> list[dict[str, Any]]:
    value = json.loads(text or "[]")
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _event_key(event: dict[str, Any]) -> tuple[Any, ...]:
    return (event.get("object_kind"), event.get("object_name"), event.get("reason"), event.get("message"))


def _uid(job: Job) -> str:
    # A job without a uid (a malformed object) is still kept, once per name and creation time.
    return job.uid or f"{job.namespace}/{job.kind}/{job.name}@{job.created}"


def _filters(query: HistoryQuery) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    terminal = (Phase.SUCCEEDED.value, Phase.FAILED.value)
    if query.show == Show.LIVE:
        where.append("deleted IS NULL AND phase NOT IN (?, ?)")
        params += terminal
    elif query.show == Show.FINISHED:
        where.append("phase IN (?, ?)")
        params += terminal
    if query.namespaces:
        where.append(f"namespace IN ({', '.join('?' * len(query.namespaces))})")
        params += list(query.namespaces)
    for column in ("backend", "namespace", "kind", "phase", "name"):
        value = getattr(query, column)
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if query.created_from:
        where.append("created >= ?")
        params.append(query.created_from)
    if query.created_to:
        where.append("created <= ?")
        # An ISO date alone ("2026-12-05") includes that whole day.
        params.append(upper(query.created_to))
    for word in query.text.split():
        where.append("(name LIKE ? ESCAPE '\\' OR kind LIKE ? ESCAPE '\\' OR namespace LIKE ? ESCAPE '\\' "
                      "OR phase LIKE ? ESCAPE '\\' OR backend LIKE ? ESCAPE '\\')")
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        params += [pattern] * 5
    return where, params


def _parse_cursor(cursor: str) -> tuple[str, int]:
    created, _, record_id = cursor.rpartition("|")
    if not created or not record_id.isdigit():
        raise HistoryError(f"not a page cursor of this history: {cursor!r}")
    return created, int(record_id)


def iter_all(store: HistoryStore, query: HistoryQuery) -> Iterator[HistoryRecord]:
    """Every record matching `query`, page after page."""
    while True:
        page = store.list(query)
        yield from page.records
        if page.next is None:
            return
        query = HistoryQuery(**{**query.__dict__, "after": page.next})
