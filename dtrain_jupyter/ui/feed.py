"""The panel's link to the server's change feed: a worker thread polls, the kernel loop applies.

jupyter-notes §5.4: widgets must be changed from one place, the kernel's asyncio loop. So a
daemon thread long-polls `Client.changes()` (and reloads the full list after any outage) and
only puts `FeedItem`s on a queue; one asyncio task on the kernel loop calls `drain()` every
~250 ms, which hands the queued items to the app in one batch (the app applies them inside
`hold_sync`) and runs the registered pumps (the log view's throttled flush, age refresh).
Where no loop is running (a plain Python test), nobody schedules `drain()`: the caller does.

A second daemon thread reads `Client.progress()` every PROGRESS_EVERY_S, but only while the app
says a running job is listed (`want_progress`): a panel of finished jobs asks nothing. A server
without the progress endpoint (NotFound) is not asked again.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import NotFound
from .callbacks import describe_error

log = logging.getLogger("dtrain_jupyter.ui")

# Seconds between re-reading the backends' descriptions: often while one is not ready (so its
# banner clears soon after the cluster is back), rarely while all are well.
BACKENDS_EVERY_DEGRADED_S = 5.0
BACKENDS_EVERY_S = 60.0
# How long start(prime=True) waits for the first job list before the panel shows without it.
PRIME_WAIT_S = 3.0
# Seconds between reads of the running jobs' progress (the rows' bars and ETAs): a bar that moves
# every few seconds reads as live, and the read is one small request for every job at once.
PROGRESS_EVERY_S = 3.0

# Item kinds the thread produces.
SNAPSHOT = "snapshot"    # payload: list[Job], the full list after (re)connecting
CHANGE = "change"        # payload: JobChange
BACKENDS = "backends"    # payload: list[dict], describe() of each backend
PROBLEMS = "problems"    # payload: list[str], backends that could not list their jobs
OUTAGE = "outage"        # payload: str, why the server cannot be reached
RECOVERED = "recovered"  # payload: None, the feed works again
PROGRESS = "progress"    # payload: list[JobProgress], every live job whose code reported progress


@dataclass
class FeedItem:
    kind: str
    payload: Any = None


@dataclass
class _Backoff:
    """Retry delay after a failed poll: doubles from `first` up to `limit` seconds."""

    first: float = 1.0
    limit: float = 10.0
    current: float = field(default=0.0)

    def next(self) -> float:
        self.current = self.first if not self.current else min(self.current * 2, self.limit)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class ChangeFeed:
    """Owns the polling thread and the drain task; `start()` once, `stop()` on close.

    Args:
        client: a `dtrain_jupyter.client.Client` (used only from the worker thread here).
        apply: called on the kernel loop with each non-empty batch of `FeedItem`s; None leaves them
            queued until it is set (a feed started before its app is built).
        interval: seconds between drains (the panel's update rate, ~4 per second).
        poll_timeout: seconds each long poll of the change feed may wait on the server.
    """

    def __init__(
        self,
        client: Any,
        apply: Callable[[list[FeedItem]], None] | None,
        *,
        interval: float = 0.25,
        poll_timeout: float = 25.0,
        progress_every: float = PROGRESS_EVERY_S,
    ) -> None:
        self.client = client
        self.apply = apply
        self.interval = interval
        self.poll_timeout = poll_timeout
        self.queue: "queue.Queue[FeedItem]" = queue.Queue()
        self._pumps: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task | None = None
        self._outage = ""
        self._degraded = False
        self._backends_at = 0.0
        self._first_answer = threading.Event()  # set once the first snapshot or outage is queued
        self._primed = False
        self.progress_every = progress_every
        self._want_progress = threading.Event()
        self._progress_thread: threading.Thread | None = None
        self.on_error: Callable[[BaseException], None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start_reading(self) -> None:
        """Start only the polling thread, so the first job list is read while the caller goes on."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._poll_forever, name="dtrain-feed", daemon=True)
            self._thread.start()
        if self._progress_thread is None:
            self._progress_thread = threading.Thread(target=self._progress_forever, name="dtrain-progress",
                                                     daemon=True)
            self._progress_thread.start()

    def want_progress(self, wanted: bool) -> None:
        """Read progress while `wanted` (a running job is listed); the thread sleeps otherwise."""
        if wanted:
            self._want_progress.set()
        else:
            self._want_progress.clear()

    def start(self, prime: bool = False) -> None:
        """Start the polling thread and, when a loop runs here (a kernel), the drain task.

        With `prime`, wait (at most PRIME_WAIT_S) for the thread's first job list or its first
        failure and apply it before returning, so a panel displayed right after shows its jobs in
        the same render rather than a drain interval later; a slow server only delays the panel
        by that bound, and the list then arrives as usual.
        """
        self.start_reading()
        if prime and not self._primed:
            self._primed = True
            self._first_answer.wait(PRIME_WAIT_S)
            self.drain()
        if self._task is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._task = loop.create_task(self._drain_forever())

    def stop(self) -> None:
        """Stop draining and ask the thread to end (it is a daemon; a pending poll may finish)."""
        self._stop.set()
        self._want_progress.set()  # wakes the progress thread, which then sees the stop
        if self._task is not None:
            self._task.cancel()
            self._task = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def add_pump(self, pump: Callable[[], None]) -> None:
        """Run `pump()` on every drain, on the kernel loop (for throttled widget updates)."""
        self._pumps.append(pump)

    # ------------------------------------------------------------------ kernel-loop side
    def drain(self) -> int:
        """Apply every queued item in one batch and run the pumps; returns how many items."""
        if self.apply is None:
            return 0
        items: list[FeedItem] = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        if items:
            self._safely(self.apply, items)
        for pump in tuple(self._pumps):
            self._safely(pump)
        return len(items)

    def _safely(self, fn: Callable[..., None], *args: Any) -> None:
        # The drain task must outlive one bad update, and the failure must still show.
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001
            log.exception("panel update failed")
            if self.on_error is not None:
                self.on_error(exc)

    async def _drain_forever(self) -> None:
        while not self._stop.is_set():
            self.drain()
            await asyncio.sleep(self.interval)

    # ------------------------------------------------------------------ worker-thread side
    def _put(self, kind: str, payload: Any = None) -> None:
        self.queue.put(FeedItem(kind, payload))

    def _poll_forever(self) -> None:
        backoff = _Backoff()
        cursor: Any = None
        need_snapshot = True
        while not self._stop.is_set():
            try:
                if need_snapshot:
                    cursor = self._resync()
                    need_snapshot = False
                if time.monotonic() - self._backends_at > (
                        BACKENDS_EVERY_DEGRADED_S if self._degraded else BACKENDS_EVERY_S):
                    self._read_backends()
                # While a backend is down, poll in short steps so its recovery shows promptly.
                wait = min(self.poll_timeout, BACKENDS_EVERY_DEGRADED_S) if self._degraded else self.poll_timeout
                cursor, changes = self.client.changes(cursor, timeout=wait)
                if getattr(changes, "resync", False):
                    # The server no longer holds our cursor (it restarted, or we fell behind).
                    need_snapshot = True
                    continue
                for change in changes:
                    self._put(CHANGE, change)
                backoff.reset()
            except Exception as exc:  # noqa: BLE001 - any failure means "cannot reach"; retry
                message = describe_error(exc)
                if message != self._outage:
                    log.warning("dtrain change feed: %s", message)
                    self._outage = message
                    self._put(OUTAGE, message)
                self._first_answer.set()
                need_snapshot = True
                self._stop.wait(backoff.next())

    def _progress_forever(self) -> None:
        while not self._stop.is_set():
            self._want_progress.wait()
            if self._stop.is_set():
                return
            try:
                self._put(PROGRESS, list(self.client.progress()))
            except NotFound:
                log.info("the server reports no progress (an older server): not asked again")
                return
            except Exception as exc:  # noqa: BLE001 - the change feed reports an outage; try later
                log.debug("progress read failed: %s", describe_error(exc))
            self._stop.wait(self.progress_every)

    def _resync(self) -> Any:
        """Reload backends, cursor and the full job list; clear the outage if there was one."""
        self._read_backends()
        # Take the cursor before the list, so a change between the two is seen twice, never lost.
        cursor, _ = self.client.changes(None, timeout=0)
        jobs = self.client.list(all_namespaces=True)
        self._put(SNAPSHOT, list(jobs))
        problems = [f"{p.get('backend', '?')}: {p.get('message', '')}" for p in getattr(jobs, "problems", None) or []]
        self._put(PROBLEMS, problems)
        if self._outage:
            self._outage = ""
            self._put(RECOVERED)
        self._first_answer.set()
        return cursor

    def _read_backends(self) -> None:
        backends = list(self.client.backends())
        self._backends_at = time.monotonic()
        self._degraded = any(not b.get("ready", True) for b in backends)
        self._put(BACKENDS, backends)
