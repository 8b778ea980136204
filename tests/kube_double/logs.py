"""Container logs as the kubelet keeps them: per container instance, with timestamps, followable.

Each (namespace, pod, container) has a current instance and, after a restart, the previous
one (what `?previous=true` reads). A follower gets every new line of the current instance
and a final `None` when the container terminates, which is when a real `logs -f` ends.
Thread-safe: the simulator writes from its thread, the server reads on its loop.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

LogKey = tuple[str, str, str]  # (namespace, pod, container)
Follower = Callable[["str | None"], None]


def rfc3339_nano(ts: float) -> str:
    """The kubelet's timestamp prefix: RFC3339 with nanoseconds, UTC."""
    whole = datetime.fromtimestamp(int(ts), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{int((ts % 1) * 1e9):09d}Z"


@dataclass
class _Instance:
    lines: list[tuple[float, str]] = field(default_factory=list)
    terminated: bool = False


class LogStore:
    """Log lines per container instance, with followers for `follow=true`."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._current: dict[LogKey, _Instance] = {}
        self._previous: dict[LogKey, _Instance] = {}
        self._followers: dict[LogKey, list[Follower]] = {}
        self._follow_ts: dict[int, bool] = {}  # follower id -> wants timestamps

    def write(self, key: LogKey, text: str, ts: float | None = None) -> None:
        """Append one line (without its newline) to the current instance."""
        ts = time.time() if ts is None else ts
        with self._lock:
            inst = self._current.setdefault(key, _Instance())
            if inst.terminated:
                return
            inst.lines.append((ts, text))
            for f in list(self._followers.get(key, ())):
                f(self._format(ts, text, self._follow_ts.get(id(f), False)))

    def restart(self, key: LogKey) -> None:
        """The container restarted: the current instance becomes `previous`."""
        with self._lock:
            self._previous[key] = self._current.get(key, _Instance())
            self._previous[key].terminated = True
            self._current[key] = _Instance()

    def terminate(self, key: LogKey) -> None:
        """The container exited: followers get their final None."""
        with self._lock:
            inst = self._current.setdefault(key, _Instance())
            inst.terminated = True
            for f in self._followers.pop(key, []):
                f(None)

    def forget_pod(self, namespace: str, pod: str) -> None:
        with self._lock:
            for store in (self._current, self._previous):
                for key in [k for k in store if k[:2] == (namespace, pod)]:
                    store.pop(key)
            for key in [k for k in self._followers if k[:2] == (namespace, pod)]:
                for f in self._followers.pop(key):
                    f(None)

    def has_previous(self, key: LogKey) -> bool:
        with self._lock:
            return key in self._previous

    def read(self, key: LogKey, *, previous: bool = False, tail: int | None = None,
             since_seconds: float | None = None, timestamps: bool = False) -> list[str]:
        """Formatted lines (each ending in a newline) of one instance after the filters."""
        with self._lock:
            inst = (self._previous if previous else self._current).get(key, _Instance())
            lines = list(inst.lines)
        if since_seconds is not None:
            cutoff = time.time() - since_seconds
            lines = [(ts, t) for ts, t in lines if ts >= cutoff]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        return [self._format(ts, t, timestamps) for ts, t in lines]

    def read_and_follow(self, key: LogKey, callback: Follower, *, tail: int | None = None,
                        since_seconds: float | None = None,
                        timestamps: bool = False) -> tuple[list[str], bool, Callable[[], None]]:
        """`read` then `follow` under one lock, so a line written in between is neither lost nor repeated."""
        with self._lock:
            lines = self.read(key, tail=tail, since_seconds=since_seconds, timestamps=timestamps)
            done, stop = self.follow(key, callback, timestamps)
        return lines, done, stop

    def follow(self, key: LogKey, callback: Follower, timestamps: bool = False) -> tuple[bool, Callable[[], None]]:
        """Register for new lines; returns (already terminated, unsubscribe)."""
        with self._lock:
            inst = self._current.setdefault(key, _Instance())
            if inst.terminated:
                return True, lambda: None
            self._followers.setdefault(key, []).append(callback)
            self._follow_ts[id(callback)] = timestamps

        def stop() -> None:
            with self._lock:
                if callback in self._followers.get(key, []):
                    self._followers[key].remove(callback)
                self._follow_ts.pop(id(callback), None)

        return False, stop

    @staticmethod
    def _format(ts: float, text: str, timestamps: bool) -> str:
        return f"{rfc3339_nano(ts)} {text}\n" if timestamps else f"{text}\n"
