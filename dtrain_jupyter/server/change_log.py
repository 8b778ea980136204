"""The server's change log: a bounded, cursor-numbered log of job changes that clients long-poll.

It is what `GET dtrain/api/changes` answers from (the panel's `ui.feed.ChangeFeed` is one of its
readers). A client lists once, then asks `changes(cursor)`; the answer holds every change after
the cursor and the cursor to use next, or a `resync` marker when the cursor is older than what
the log still holds (or comes from an earlier server run), in which case the client lists again.
Cursors start at the server's start time in microseconds, so a cursor from a previous run is
always "too old" rather than silently meaning something else.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Any

from ..model.job import Job, JobChange
from .long_poll import LongPoll

CHANGE_TYPES = ("ADDED", "MODIFIED", "DELETED")


class JobChangeLog:
    """The server's cursor-numbered log of job changes.

    Thread-safe producer side (`publish`, the backends' listener), asyncio consumer side (`wait`).

    Args:
        size: how many changes are kept; a client further behind gets a resync.
    """

    def __init__(self, size: int = 1000) -> None:
        self._size = max(1, int(size))
        self._entries: deque[tuple[int, JobChange]] = deque(maxlen=self._size)
        # The cursor value *before* the first change ever published.
        self._base = time.time_ns() // 1000
        self._last = self._base
        self._lock = threading.Lock()
        self._poll = LongPoll()

    @property
    def cursor(self) -> int:
        """The cursor after the newest change."""
        with self._lock:
            return self._last

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the server loop that waiters run on (called once the loop runs)."""
        self._poll.bind(loop)

    def publish(self, change_type: str, job: Job) -> None:
        """Record a change; callable from any thread (a backend's watch or process reaper)."""
        if change_type not in CHANGE_TYPES:
            change_type = "MODIFIED"
        with self._lock:
            self._last += 1
            self._entries.append((self._last, JobChange(change_type, job)))
        self._poll.wake()

    def since(self, cursor: int | None) -> dict[str, Any]:
        """Changes after `cursor` right now: `{"cursor", "changes", "resync"}`."""
        with self._lock:
            last = self._last
            oldest = self._entries[0][0] if self._entries else last + 1
            if cursor is None or cursor > last or cursor < min(oldest - 1, last):
                return {"cursor": last, "changes": [], "resync": True}
            changes = [c.to_dict() for seq, c in self._entries if seq > cursor]
        return {"cursor": last, "changes": changes, "resync": False}

    async def wait(self, cursor: int | None, timeout: float) -> dict[str, Any]:
        """Like `since`, but when nothing is new waits up to `timeout` seconds for a change."""
        return await self._poll.wait(lambda: self.since(cursor),
                                     lambda answer: answer["resync"] or bool(answer["changes"]), timeout)
