"""Listeners: the one fan-out of change callbacks, used by the service, both backends and the informers.

Each source of changes (a backend's jobs, an informer's store, the service over its backends)
keeps one `Listeners` and calls `notify`; every listener hears each change, and one that raises
is logged without keeping the others from hearing it or stopping the source (a watch thread, the
local monitor). Listeners may be added and removed from any thread while changes are sent.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Generic, ParamSpec

P = ParamSpec("P")


class Listeners(Generic[P]):
    """The callables that hear one source's changes.

    Args:
        log: where a failing listener's traceback goes.
        what: the listeners in words, for that log line ("job change listener").
    """

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self._lock = threading.Lock()
        # Replaced, never changed in place: `notify` reads it without the lock, so a listener
        # added or removed meanwhile neither breaks nor joins a notification under way.
        self._all: tuple[Callable[P, object], ...] = ()

    def add(self, listener: Callable[P, object]) -> None:
        """Start calling `listener` on every change (twice if added twice)."""
        with self._lock:
            self._all = (*self._all, listener)

    def remove(self, listener: Callable[P, object]) -> None:
        """Stop calling `listener` (its latest addition); one never added is ignored."""
        with self._lock:
            for i in range(len(self._all) - 1, -1, -1):
                if self._all[i] == listener:
                    self._all = self._all[:i] + self._all[i + 1:]
                    return

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Call every listener with these arguments; a listener that raises is logged and skipped."""
        for listener in self._all:
            try:
                listener(*args, **kwargs)
            except Exception:  # noqa: BLE001 - one listener's bug must not silence the others or the source
                self._log.exception("%s %r failed", self._what, listener)

    def __len__(self) -> int:
        return len(self._all)
