"""Announcements that a job created through this server finished: who to watch, and the feed the browser polls.

"Created from this JupyterLab" means created through this Jupyter server: the panel, the `%dtrain`
magic, the Python `Client` and the `dtrain` command all POST to `dtrain/api/jobs` (or a kind's URL,
or `.../rerun`), and those handlers call `record` with the job they created. A job created any other
way (kubectl, another server, a script driving a backend directly) is never announced.

`hear` is the service's change listener (`JobService.subscribe`, like the change log). The change
that carries a watched job into Succeeded or Failed becomes one announcement, once per job
instance (uid): a later change of the same job, or the same finished job reloaded after a restart,
adds nothing. A watched job deleted before it finished is announced never.

The watch list and the latest announcements live in one JSON file in the server's state folder, so
a job created before a server restart is still announced when it ends after it (or while the server
was down: the backend reports it as it reloads), and a browser that was polling before the restart
gets what it missed. Both are bounded: a finished job is forgotten `KEEP_ENDED_SECONDS` after it
ended, and at most `MAX_WATCHED` jobs and `MAX_ANNOUNCED` announcements are kept.

Cursors number announcements. A new file starts its cursor at the wall clock in microseconds (as
the change log does), so a cursor from another file is either older (the reader gets what is kept)
or newer (the reader is moved to the current cursor) and never silently means something else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..model.job import Job
from .long_poll import LongPoll

FILE_NAME = "notifications.json"
FORMAT = 1
# A finished job's watch entry (what stops it being announced twice) and its announcement are
# kept this long: a week covers a laptop closed over a weekend; older news is in the job history.
KEEP_ENDED_SECONDS = 7 * 24 * 3600.0
MAX_WATCHED = 1000
MAX_ANNOUNCED = 200
# Finished jobs heard before anyone recorded them: a job can end between the backend creating it
# and the handler's `record` call (the change comes from the backend's own thread).
RECENT_ENDS = 256

log = logging.getLogger("dtrain_jupyter")


@dataclass
class Watched:
    """A job this server created, watched until it ends (and a while after, so it ends once)."""

    backend: str
    namespace: str
    kind: str
    name: str
    uid: str
    created: float
    ended: float | None = None

    def ref(self) -> dict[str, str]:
        return {"backend": self.backend, "namespace": self.namespace, "kind": self.kind,
                "name": self.name, "uid": self.uid}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class JobNotifications:
    """The watch list of created jobs and the cursor-numbered feed of their endings.

    Thread-safe producer side (`record`, `hear` from any backend thread), asyncio consumer side
    (`wait`, on the server loop).

    Args:
        path: the JSON file kept across restarts; None keeps everything in memory.
        clock: seconds since the epoch (tests pass their own).
    """

    def __init__(self, path: Path | None, *, clock: Callable[[], float] = time.time) -> None:
        self._path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._watched: dict[str, Watched] = {}
        self._announced: list[dict[str, Any]] = []
        self._recent_ends: dict[str, Job] = {}
        self._cursor = int(clock() * 1_000_000)
        self._write_failed = False
        self._poll = LongPoll()
        self._load()

    # -- producer side ------------------------------------------------------------------------

    @property
    def cursor(self) -> int:
        """The cursor after the newest announcement."""
        with self._lock:
            return self._cursor

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the server loop that waiters run on (called once the loop runs)."""
        self._poll.bind(loop)

    def record(self, job: Job) -> None:
        """Watch `job`, just created through this server, until it finishes."""
        if not job.uid:
            return  # a dry run's answer, or a backend that gave no uid: nothing could match it later
        with self._lock:
            if job.uid in self._watched:
                return
            self._watched[job.uid] = Watched(job.backend, job.namespace, job.kind, job.name, job.uid,
                                             created=self._clock())
            # The newest of what is known: the job as created, or how it already ended.
            latest = self._recent_ends.pop(job.uid, job)
            if latest.phase.finished:
                self._announce(latest)
            self._forget_old()
            self._save()
        self._poll.wake()

    def hear(self, change_type: str, job: Job) -> None:
        """The service's change listener: announce a watched job's end, forget a deleted one."""
        finished = job.phase.finished
        if not job.uid or not (finished or change_type == "DELETED"):
            return
        with self._lock:
            watched = self._watched.get(job.uid)
            if watched is None:
                if finished:
                    self._remember_end(job)
                return
            if watched.ended is not None:
                return
            if finished:
                self._announce(job)
            else:
                # Deleted before it ended: nothing will be announced; its entry may go in time.
                watched.ended = self._clock()
            self._save()
        if finished:
            self._poll.wake()

    def _remember_end(self, job: Job) -> None:
        self._recent_ends[job.uid] = job
        if len(self._recent_ends) > RECENT_ENDS:
            del self._recent_ends[next(iter(self._recent_ends))]

    def _announce(self, job: Job) -> None:
        """Append `job`'s ending to the feed and mark it ended (under the lock)."""
        now = self._clock()
        self._watched[job.uid].ended = now
        self._cursor += 1
        self._announced.append({
            "cursor": self._cursor,
            "job": self._watched[job.uid].ref(),
            "phase": job.phase.value,
            "reason": job.status.reason,
            "message": job.status.message,
            "finished": job.status.completion_time or _iso(now),
            "announced": now,
        })
        del self._announced[:-MAX_ANNOUNCED]

    def _forget_old(self) -> None:
        """Drop what ended more than KEEP_ENDED_SECONDS ago, then the oldest beyond MAX_WATCHED."""
        horizon = self._clock() - KEEP_ENDED_SECONDS
        self._watched = {uid: w for uid, w in self._watched.items() if w.ended is None or w.ended >= horizon}
        self._announced = [a for a in self._announced if a["announced"] >= horizon]
        if len(self._watched) > MAX_WATCHED:
            # Ended ones first (they can only prevent a repeat), then the longest-running.
            order = sorted(self._watched.values(), key=lambda w: (w.ended is None, w.ended or w.created))
            for w in order[:len(self._watched) - MAX_WATCHED]:
                del self._watched[w.uid]

    # -- consumer side ------------------------------------------------------------------------

    def since(self, cursor: int | None) -> dict[str, Any]:
        """Announcements after `cursor` right now: `{"cursor", "items"}`.

        No cursor (a browser's first call) answers none of the past, only the current cursor; a
        cursor beyond the current one (from another state folder) is moved back to it.
        """
        with self._lock:
            current = self._cursor
            if cursor is None or cursor > current:
                return {"cursor": current, "items": []}
            items = [{k: v for k, v in a.items() if k != "announced"} for a in self._announced
                     if a["cursor"] > cursor]
        return {"cursor": current, "items": items}

    async def wait(self, cursor: int | None, timeout: float) -> dict[str, Any]:
        """Like `since`, but when nothing is new waits up to `timeout` seconds for an announcement.

        Without a cursor it answers at once: the caller only wants to know where "now" is.
        """
        return await self._poll.wait(
            lambda: self.since(cursor),
            lambda answer: cursor is None or bool(answer["items"]) or answer["cursor"] < cursor, timeout)

    # -- the file -----------------------------------------------------------------------------

    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        try:
            data = json.loads(self._path.read_text())
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"not a format-{FORMAT} notifications file")
            watched = {w["uid"]: Watched(**w) for w in data["watched"]}
            announced = [a for a in data["announced"] if isinstance(a, dict) and isinstance(a.get("cursor"), int)]
            cursor = int(data["cursor"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            # Losing it costs only announcements of jobs created before now; the server goes on.
            log.warning("dtrain: job-end notifications start afresh: cannot read %s: %s", self._path, e)
            return
        self._watched, self._announced, self._cursor = watched, announced, cursor
        self._forget_old()

    def _save(self) -> None:
        """Write the file atomically (under the lock); a failure is logged once, memory goes on."""
        if self._path is None:
            return
        data = {"format": FORMAT, "cursor": self._cursor,
                "watched": [asdict(w) for w in self._watched.values()], "announced": self._announced}
        tmp = self._path.with_name(self._path.name + ".tmp")
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self._path)
            self._write_failed = False
        except OSError as e:
            if not self._write_failed:
                log.warning("dtrain: cannot keep job-end notifications in %s (%s); they last until the "
                            "server stops", self._path, e.strerror or e)
            self._write_failed = True


__all__ = ["JobNotifications", "FILE_NAME", "KEEP_ENDED_SECONDS", "MAX_WATCHED", "MAX_ANNOUNCED"]
