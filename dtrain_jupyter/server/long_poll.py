"""Where the readers of a server feed wait for its next item (the change log, the notifications).

A feed is written from any thread (a backend's watch, a local process's reaper) and read by
requests on the server's loop that wait up to a timeout for something new. One asyncio.Event at a
time serves every waiter: a write sets it (through the loop when the writer is another thread)
and drops it, so the next waiter makes a fresh one.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class LongPoll:
    """The waiting side of one feed."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the server loop that waiters run on (called once the loop runs)."""
        self._loop = loop

    def wake(self) -> None:
        """Something new was written: wake every waiter. Callable from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._set()
        else:
            loop.call_soon_threadsafe(self._set)

    def _set(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait(self, answer: Callable[[], T], ready: Callable[[T], bool], timeout: float) -> T:
        """`answer()` as soon as `ready` says it holds something, else once `timeout` seconds passed."""
        if self._loop is None:
            self.bind(asyncio.get_running_loop())
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            now = answer()
            left = deadline - time.monotonic()
            if ready(now) or left <= 0:
                return now
            if self._event is None:
                self._event = asyncio.Event()
            event = self._event
            try:
                await asyncio.wait_for(event.wait(), left)
            except asyncio.TimeoutError:
                return answer()
