"""One thread that starts log reader threads, shuts their streams and runs timed chores, so the
server loop never waits for any of them.

`Thread.start` blocks until the new thread has run; with every core busy that wait held the
loop for milliseconds per pod (issue 18: 50 clients following logs spent a tenth of the loop's
time in it). Shutting a reader's TLS stream sends its close_notify: 6% of the loop under the
same load, once `Thread.start` had moved here. `start`, `call` and `call_later` only queue.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from typing import Any, Callable

log = logging.getLogger(__name__)


class Housekeeper:
    """Runs queued work, and work due at a time, on a daemon thread of its own (started on first use)."""

    def __init__(self) -> None:
        self._pending: queue.SimpleQueue[Callable[[], Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._due: list[tuple[float, int, Callable[[], Any]]] = []  # a heap: (when, order, work)
        self._order = itertools.count()
        self._own: threading.Thread | None = None

    def start(self, thread: threading.Thread) -> None:
        self.call(thread.start)

    def call(self, work: Callable[[], Any]) -> None:
        self._pending.put(work)
        with self._lock:
            if self._own is None:
                self._own = threading.Thread(target=self._run, name="dtrain-log-housekeeping", daemon=True)
                self._own.start()

    def call_later(self, delay: float, work: Callable[[], Any]) -> None:
        with self._lock:
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), work))
        self.call(lambda: None)  # wakes the thread, which then waits until the earliest is due

    def _run(self) -> None:
        while True:
            with self._lock:
                wait = max(0.0, self._due[0][0] - time.monotonic()) if self._due else None
            try:
                self._do(self._pending.get(timeout=wait))
            except queue.Empty:
                pass
            now = time.monotonic()
            while True:
                with self._lock:
                    if not self._due or self._due[0][0] > now:
                        break
                    work = heapq.heappop(self._due)[2]
                self._do(work)

    @staticmethod
    def _do(work: Callable[[], Any]) -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - one stream's failure to close must not stop the others
            log.debug("log reader housekeeping failed", exc_info=True)


HOUSEKEEPER = Housekeeper()
