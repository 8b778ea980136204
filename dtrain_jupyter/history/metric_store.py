"""The metric points of every job record, in a SQLite file of its own in the history folder.

    <history folder>/metrics.sqlite3

Its own file, not a table of `history.sqlite3`: points arrive hundreds a second while jobs log,
and each batch is a write transaction; in the records' database they would queue behind (and
hold up) the recorder's writes and the listings' reads. WAL mode lets the API read while the
metric reader process (`metric_worker`) writes.

Points belong to a series: (record id, replica, metric name, source). Every point and every
"reset" (a replica's points replaced: its log read again from the start after a restart) takes
the next number of one counter that only grows, so a caller's cursor (the last number it saw)
says what is new: points with a higher number, and `reset` when a reset came after it (then the
answer holds all points, for the caller to redraw).

Bounded: a series keeps at most `max_points` points. Past that, every second point of its older
half goes, so the newest stretch stays whole and older stretches grow sparser the older they
are: a chart of the whole run keeps its shape from the first step (keeping only the newest
points would lose the start of training, what a loss curve is read against). A record's points
go with the record (`forget`, called by the history's forget and retention).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from ..model.metric_series import MetricSeries
from .store import BUSY_TIMEOUT_MS, HistoryError

METRICS_FILE = "metrics.sqlite3"
SCHEMA_VERSION = 1
# Points kept per series before its older half is thinned.
MAX_POINTS = 10_000
# The metric whose value is the share of the job done (report(progress=...)).
PROGRESS = "progress"
# ETA: the rate of progress over this much of the most recent reports.
PROGRESS_WINDOW_S = 120.0
# Progress points read back for the ETA: enough to span the window at several reports a second.
PROGRESS_POINTS = 2000
# Record ids in one `IN (...)` (below SQLite's oldest limit of 999 parameters per statement).
IDS_PER_QUERY = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL,
    replica TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (record_id, replica, name, source)
);
CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY,
    series_id INTEGER NOT NULL,
    step INTEGER,
    time REAL NOT NULL,
    value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS points_by_series ON points (series_id, id);
CREATE TABLE IF NOT EXISTS resets (id INTEGER PRIMARY KEY, record_id INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS resets_by_record ON resets (record_id, id);
-- Records whose logs were given to the ingest (live, or read back from the archive): the others
-- were archived before metrics were kept, and are read from their archive on first request.
CREATE TABLE IF NOT EXISTS ingested (record_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS counter (value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Row:
    """One point to keep: `replica`, `name`, `source` name its series within `record_id`."""

    record_id: int
    replica: str
    name: str
    source: str
    step: int | None
    time: float
    value: float


@dataclass(frozen=True)
class StoredPage:
    """What `MetricStore.page` read: the cursor to pass back, whether the caller must redraw, the series."""

    cursor: int
    reset: bool
    series: list[MetricSeries]


@dataclass(frozen=True)
class Progress:
    """A record's last reported progress: `fraction` (0..1), `eta_seconds` (None: no rate yet),
    `updated` (epoch seconds of the report)."""

    fraction: float
    eta_seconds: float | None
    updated: float


class MetricStore:
    """The metric points of one history folder. Thread-safe, and two connections, so a read never
    waits for a write's lock in Python: the metric reader process writes through its own store,
    the server's API reads through this one (and writes only to forget records no reader process
    of its own handles).

    Args:
        folder: the history folder.
        max_points: points kept per series (see the module docstring).
    Raises:
        HistoryError: the file cannot be used (not a database, a newer layout).
    """

    def __init__(self, folder: Path, *, max_points: int = MAX_POINTS) -> None:
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, not {max_points}")
        self.path = Path(folder) / METRICS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_points = max_points
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        try:
            self._writer = self._connect()
            self._writer.execute("PRAGMA journal_mode=WAL")
            self._migrate()
            self._reader = self._connect()
        except sqlite3.DatabaseError as e:
            raise HistoryError(f"cannot open the metrics store {self.path}: {e}") from e

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False,
                             isolation_level=None)
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _migrate(self) -> None:
        version = self._writer.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise HistoryError(f"{self.path} was written by a newer dtrain-jupyter (layout {version}, this one "
                               f"reads up to {SCHEMA_VERSION})")
        self._writer.executescript(_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")
        with self._writing() as db:
            if db.execute("SELECT COUNT(*) FROM counter").fetchone()[0] == 0:
                db.execute("INSERT INTO counter (value) VALUES (0)")

    def close(self) -> None:
        with self._write_lock, self._read_lock:
            self._writer.close()
            self._reader.close()

    # -- writing (the metric reader process) ----------------------------------------------------

    def add(self, rows: Sequence[Row]) -> int:
        """Keep points (any records), in one transaction; returns the counter after them."""
        if not rows:
            return self.cursor()
        with self._writing() as db:
            series_ids: dict[tuple[int, str, str, str], int] = {}
            added: dict[int, int] = {}
            start = db.execute("SELECT value FROM counter").fetchone()[0]
            values = []
            for number, row in enumerate(rows, start + 1):
                key = (row.record_id, row.replica, row.name, row.source)
                series_id = series_ids.get(key)
                if series_id is None:
                    series_id = series_ids[key] = _series_id(db, key)
                added[series_id] = added.get(series_id, 0) + 1
                values.append((number, series_id, row.step, row.time, row.value))
            db.executemany("INSERT INTO points (id, series_id, step, time, value) VALUES (?,?,?,?,?)", values)
            end = start + len(rows)
            db.execute("UPDATE counter SET value=?", (end,))
            for series_id, count in added.items():
                total = db.execute("UPDATE series SET count=count+? WHERE id=? RETURNING count",
                                   (count, series_id)).fetchone()[0]
                if total > self.max_points:
                    self._thin(db, series_id, total)
            return end

    def _thin(self, db: sqlite3.Connection, series_id: int, total: int) -> None:
        """Drop every second point of the series' older half (see the module docstring)."""
        older = db.execute("SELECT id FROM points WHERE series_id=? ORDER BY id LIMIT ?",
                           (series_id, total // 2)).fetchall()
        # The first point stays: a chart starts where training started.
        dropped = [(point_id,) for (point_id,) in older[1::2]]
        db.executemany("DELETE FROM points WHERE id=?", dropped)
        db.execute("UPDATE series SET count=count-? WHERE id=?", (len(dropped), series_id))

    def replace(self, record_id: int, *, replica: str | None = None, sources: Iterable[str] = ()) -> bool:
        """Drop the points of `replica` (every replica: None) from `sources`, as their origin is read
        again from its start; callers holding an older cursor get `reset`. Returns whether any went."""
        sources = tuple(sources)
        where, params = "record_id=?", [record_id]
        if replica is not None:
            where += " AND replica=?"
            params.append(replica)
        if sources:
            where += f" AND source IN ({','.join('?' * len(sources))})"
            params += list(sources)
        with self._writing() as db:
            ids = [i for (i,) in db.execute(f"SELECT id FROM series WHERE {where}", params)]
            if not ids:
                return False
            db.executemany("DELETE FROM points WHERE series_id=?", [(i,) for i in ids])
            db.executemany("DELETE FROM series WHERE id=?", [(i,) for i in ids])
            number = db.execute("UPDATE counter SET value=value+1 RETURNING value").fetchone()[0]
            db.execute("INSERT INTO resets (id, record_id) VALUES (?,?)", (number, record_id))
            return True

    def mark_ingested(self, record_id: int) -> bool:
        """Note that the record's logs are being read into points; False when they were already."""
        with self._writing() as db:
            return db.execute("INSERT OR IGNORE INTO ingested (record_id) VALUES (?)", (record_id,)).rowcount > 0

    def forget(self, record_ids: Iterable[int]) -> None:
        """Remove every point of these records (their records went)."""
        ids = [(int(i),) for i in record_ids]
        if not ids:
            return
        with self._writing() as db:
            db.executemany("DELETE FROM points WHERE series_id IN (SELECT id FROM series WHERE record_id=?)", ids)
            for table in ("series", "resets", "ingested"):
                db.executemany(f"DELETE FROM {table} WHERE record_id=?", ids)

    # -- reading (the API) -----------------------------------------------------------------------

    def cursor(self) -> int:
        with self._read_lock:
            return int(self._reader.execute("SELECT value FROM counter").fetchone()[0])

    def ingested(self, record_id: int) -> bool:
        with self._read_lock:
            return self._reader.execute("SELECT 1 FROM ingested WHERE record_id=?", (record_id,)).fetchone() is not None

    def page(self, record_id: int, since: int = 0) -> StoredPage:
        """The record's points numbered after `since`, as series; all of them, with `reset`, when
        a reset came after `since`. One read transaction: the cursor matches the points."""
        with self._read_lock:
            db = self._reader
            db.execute("BEGIN")
            try:
                cursor = int(db.execute("SELECT value FROM counter").fetchone()[0])
                reset = since > 0 and db.execute("SELECT 1 FROM resets WHERE record_id=? AND id>? LIMIT 1",
                                                 (record_id, since)).fetchone() is not None
                rows = db.execute(
                    "SELECT s.id, s.replica, s.name, s.source, p.step, p.time, p.value FROM series s "
                    "JOIN points p ON p.series_id = s.id WHERE s.record_id=? AND p.id>? ORDER BY s.id, p.id",
                    (record_id, 0 if reset else since)).fetchall()
            finally:
                db.execute("COMMIT")
        series: list[MetricSeries] = []
        current = None
        for series_id, replica, name, source, step, when, value in rows:
            if series_id != current:
                current = series_id
                series.append(MetricSeries(replica, name, source))
            column = series[-1]
            column.step.append(step)
            column.time.append(when)
            column.value.append(value)
        return StoredPage(cursor, reset, series)

    def progress(self, record_id: int) -> Progress | None:
        """The record's last reported progress and the ETA its recent rate gives; None when its code
        reported none. Of several replicas reporting it, the one that reported last."""
        with self._read_lock:
            row = self._reader.execute(
                "SELECT s.id FROM series s JOIN points p ON p.id = (SELECT MAX(id) FROM points WHERE series_id=s.id) "
                "WHERE s.record_id=? AND s.name=? ORDER BY p.time DESC LIMIT 1", (record_id, PROGRESS)).fetchone()
            if row is None:
                return None
            recent = self._reader.execute("SELECT time, value FROM points WHERE series_id=? ORDER BY id DESC LIMIT ?",
                                          (row[0], PROGRESS_POINTS)).fetchall()
        return progress_of([(t, v) for t, v in reversed(recent)])

    def progress_of_each(self, record_ids: Iterable[int]) -> dict[int, Progress]:
        """The progress (see `progress`) of each of these records that reported any. Looked up by
        record (the series' (record_id, ...) index), not by scanning every series of the folder."""
        ids = sorted({int(i) for i in record_ids})
        reported: list[int] = []
        with self._read_lock:
            for start in range(0, len(ids), IDS_PER_QUERY):
                part = ids[start:start + IDS_PER_QUERY]
                marks = ",".join("?" * len(part))
                reported += [int(i) for (i,) in self._reader.execute(
                    f"SELECT DISTINCT record_id FROM series WHERE name=? AND record_id IN ({marks})", (PROGRESS, *part))]
        found = {}
        for record_id in reported:
            progress = self.progress(record_id)
            if progress is not None:
                found[record_id] = progress
        return found

    # -- internals ---------------------------------------------------------------------------------

    def _writing(self) -> "_Writing":
        return _Writing(self._writer, self._write_lock)


def progress_of(points: Sequence[tuple[float, float]], window_s: float = PROGRESS_WINDOW_S) -> Progress | None:
    """Progress from (time, fraction) reports, oldest first: the last fraction (held to 0..1) and the
    ETA at the rate of the reports within `window_s` of the last; None for no reports. The ETA is
    None while the window shows no advance (one report, or the same fraction again)."""
    if not points:
        return None
    last_time, last = points[-1]
    fraction = min(max(last, 0.0), 1.0)
    if fraction >= 1.0:
        return Progress(1.0, 0.0, last_time)
    first_time, first = last_time, last
    for when, value in reversed(points):
        if last_time - when > window_s:
            break
        first_time, first = when, value
    rate = (last - first) / (last_time - first_time) if last_time > first_time else 0.0
    eta = (1.0 - fraction) / rate if rate > 0 else None
    return Progress(fraction, eta, last_time)


def _series_id(db: sqlite3.Connection, key: tuple[int, str, str, str]) -> int:
    row = db.execute("SELECT id FROM series WHERE record_id=? AND replica=? AND name=? AND source=?", key).fetchone()
    if row is not None:
        return int(row[0])
    return int(db.execute("INSERT INTO series (record_id, replica, name, source) VALUES (?,?,?,?)", key).lastrowid)


class _Writing:
    """BEGIN IMMEDIATE ... COMMIT on the writer connection, under its lock; ROLLBACK on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db, self._lock = db, lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if kind is not None:
                self._db.execute("ROLLBACK")
            else:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error:
                    # A failed commit (a full disk) leaves the transaction open: end it, or every
                    # later BEGIN fails.
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                    raise
        finally:
            self._lock.release()

