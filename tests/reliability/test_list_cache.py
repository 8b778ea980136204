"""The job-list cache of the server (dtrain_jupyter/server/list_cache.py): reuse, coalescing, staleness."""

from __future__ import annotations

import asyncio

import pytest

from dtrain_jupyter.errors import BackendUnavailable
from dtrain_jupyter.server.list_cache import ListCache


class Counter:
    """A build function that counts its calls and can be made slow or failing."""

    def __init__(self, body: bytes = b"[]", cacheable: bool = True) -> None:
        self.calls = 0
        self.body, self.cacheable = body, cacheable
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self) -> tuple[bytes, bool]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return self.body + str(self.calls).encode(), self.cacheable


def test_reused_until_the_feed_moves() -> None:
    cursor = [0]
    cache, build = ListCache(lambda: cursor[0], ttl=60), Counter()

    async def scenario() -> list[bytes]:
        a = await cache.get_or_build("k", build)
        b = await cache.get_or_build("k", build)
        other = await cache.get_or_build("other", build)
        cursor[0] += 1  # a job changed
        c = await cache.get_or_build("k", build)
        return [a, b, other, c]

    a, b, other, c = asyncio.run(scenario())
    assert a == b == b"[]1" and other == b"[]2" and c == b"[]3" and build.calls == 3


def test_concurrent_requests_share_one_build() -> None:
    cache, build = ListCache(lambda: 0, ttl=60), Counter()

    async def scenario() -> list[bytes]:
        build.gate = asyncio.Event()
        waiting = [asyncio.ensure_future(cache.get_or_build("k", build)) for _ in range(20)]
        await asyncio.sleep(0.01)
        build.gate.set()
        return await asyncio.gather(*waiting)

    assert set(asyncio.run(scenario())) == {b"[]1"} and build.calls == 1


def test_a_list_with_problems_or_a_change_mid_build_is_not_kept() -> None:
    cursor = [0]
    cache = ListCache(lambda: cursor[0], ttl=60)
    problems = Counter(cacheable=False)

    async def moving() -> tuple[bytes, bool]:
        cursor[0] += 1  # a change arrives while the list is built
        return b"x", True

    async def scenario() -> None:
        await cache.get_or_build("p", problems)
        await cache.get_or_build("p", problems)
        await cache.get_or_build("m", moving)
        await cache.get_or_build("m", moving)

    asyncio.run(scenario())
    assert problems.calls == 2 and cursor[0] == 2


def test_errors_reach_every_waiter_and_are_not_kept() -> None:
    cache, build = ListCache(lambda: 0, ttl=60), Counter()
    build.error = BackendUnavailable("down")

    async def scenario() -> list:
        build.gate = asyncio.Event()
        waiting = [asyncio.ensure_future(cache.get_or_build("k", build)) for _ in range(3)]
        await asyncio.sleep(0.01)
        build.gate.set()
        return await asyncio.gather(*waiting, return_exceptions=True)

    results = asyncio.run(scenario())
    assert all(isinstance(r, BackendUnavailable) for r in results) and build.calls == 1
    build.error, build.gate = None, None
    assert asyncio.run(cache.get_or_build("k", build)) == b"[]2"


def test_entries_expire_after_ttl() -> None:
    cache, build = ListCache(lambda: 0, ttl=0.0), Counter()

    async def scenario() -> None:
        await cache.get_or_build("k", build)
        await cache.get_or_build("k", build)

    asyncio.run(scenario())
    assert build.calls == 2


@pytest.mark.parametrize("size", [1, 3])
def test_size_is_bounded(size: int) -> None:
    cache, build = ListCache(lambda: 0, ttl=60, size=size), Counter()

    async def scenario() -> None:
        for key in range(5):
            await cache.get_or_build(key, build)
        await cache.get_or_build(4, build)   # newest kept
        await cache.get_or_build(0, build)   # oldest dropped: built again

    asyncio.run(scenario())
    assert build.calls == 6
