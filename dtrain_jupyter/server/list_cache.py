"""Encoded job lists shared by concurrent identical requests while no job has changed.

Under load (many panels and clients polling the same list of 1,000 jobs) building and encoding
the list once per request keeps the server loop busy: with 50 clients (tests/reliability/load.py,
10 s, 2 shared cores) a list took 1,030 ms at the median and 2,856 ms at p99, the first line of a
followed log 3.5 s; with this cache 272 / 1,068 ms and 1.05 s. The answer only changes when a job changes, and
every job change passes through the change log, so an encoded list is reused while the log's
cursor is where it was when the list was built, for at most `ttl` seconds (what backends know
without publishing a change, such as a cluster becoming unreachable, shows within that time).
Requests that arrive while the same list is being built wait for that one build.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Hashable

# Seconds an encoded list may be reused although no change was published.
DEFAULT_TTL = 1.0
# Distinct filter combinations kept; each entry holds one encoded list.
DEFAULT_SIZE = 32


@dataclass
class _Entry:
    cursor: int
    made: float
    future: asyncio.Future


class ListCache:
    """`get_or_build(key, build)`: the encoded list for `key`, built at most once per change.

    Args:
        cursor: returns the change log's current cursor (any job change moves it).
        ttl: seconds an entry may be reused without a change.
        size: entries kept (least recently built dropped first).
    """

    def __init__(self, cursor: Callable[[], int], ttl: float = DEFAULT_TTL, size: int = DEFAULT_SIZE) -> None:
        self._cursor = cursor
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    async def get_or_build(self, key: Hashable, build: Callable[[], Awaitable[tuple[Any, bool]]]) -> Any:
        """The body for `key`: reused when still current, else from `build()`.

        A body is whatever `build` makes (the jobs handler's is a `job_json.ListBody`); every
        request for a current entry gets that same object.

        `build` returns `(body, cacheable)`; an answer that is not cacheable (one listing a
        backend's problem) is handed to the requests already waiting for it and then dropped.
        An error raised by `build` reaches every waiting request and is not kept.
        """
        cursor = self._cursor()
        entry = self._entries.get(key)
        if entry is not None and entry.cursor == cursor and time.monotonic() - entry.made < self._ttl:
            return await asyncio.shield(entry.future)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = _Entry(cursor, time.monotonic(), future)
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        try:
            body, cacheable = await build()
        except Exception as e:
            self._drop(key, entry)
            future.set_exception(e)
            future.exception()  # retrieved here, so an error no one else waited for is not logged twice
            raise
        except BaseException:  # cancelled: the requests waiting for it build their own
            self._drop(key, entry)
            future.cancel()
            raise
        future.set_result(body)
        # A list built while a change arrived may already be stale: keep only current ones.
        if not cacheable or self._cursor() != cursor:
            self._drop(key, entry)
        return body

    def _drop(self, key: Hashable, entry: _Entry) -> None:
        if self._entries.get(key) is entry:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()


__all__ = ["ListCache", "DEFAULT_TTL"]
