"""Followers of one pod share one stream from the API server, and each starts where it asked.

Through the backend on the API test double (one `pods/log` request per shared stream, counted in
the double's request log), with the stream read on the loop and, as where a proxy is configured,
on a thread; and the kept lines' rules on a stream the test writes itself.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from typing import Any

import pytest

from dtrain_jupyter.backends.kubernetes import shared_follow
from dtrain_jupyter.backends.kubernetes.api import Api
from dtrain_jupyter.backends.kubernetes.logs import REOPEN_AFTER_S
from dtrain_jupyter.backends.kubernetes.shared_follow import (
    SharedFollows, Start, Subscription, key_of_time, ts_key,
)

from .conftest import eventually
from .test_backend import pytorch
from .test_logs import running

POD = "sf-worker-0"


@pytest.fixture(params=["on-loop", "on-thread"])
def backend(request, backend, monkeypatch):  # noqa: F811 - conftest's backend, read both ways
    """The backend, its followed streams read on the loop, or on threads (a cluster behind a proxy)."""
    if request.param == "on-thread":
        monkeypatch.setattr(Api, "streams_on_loop", property(lambda self: False))
    backend.reads_on = request.param
    return backend


def reader_threads(pod: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == f"dtrain-log-{pod}")


def follow_requests(kube_double: Any, pod: str) -> int:
    return sum(1 for _, path, query in kube_double.request_log
               if path.endswith(f"/pods/{pod}/log") and query.get("follow") == "true")


class Follower:
    """Reads one follow into `lines` on the test's loop until closed."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[Any] = []
        self._stream = stream
        self.task = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        self._agen = await self._stream
        async for line in self._agen:
            self.lines.append(line)

    def texts(self) -> list[str]:
        return [ln.line for ln in self.lines]

    async def close(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self._agen.aclose()


async def _running_job(backend: Any, kube_double: Any, name: str, monkeypatch: Any) -> None:
    """A job whose pods run until told, and log only what the test writes."""
    monkeypatch.setattr(kube_double.simulator, "log_lines", 0)
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    await backend.create(pytorch(name))
    await eventually(lambda: running(backend, name, 2))


async def test_followers_of_one_pod_share_one_stream_each_from_its_own_tail(backend, kube_double, monkeypatch):
    await _running_job(backend, kube_double, "sf", monkeypatch)
    for i in range(5):
        kube_double.simulator.write_log(POD, f"before {i}")
    first = Follower(backend.logs("PyTorchJob", "sf", "default", pod=POD, follow=True, tail=3, timestamps=True))
    await eventually(lambda: len(first.lines) == 3)
    kube_double.simulator.write_log(POD, "after 0")  # the stream has caught up: it sent a line written since
    await eventually(lambda: first.texts()[-1:] == ["after 0"])
    second = Follower(backend.logs("PyTorchJob", "sf", "default", pod=POD, follow=True, tail=2))
    await eventually(lambda: len(second.lines) == 2)
    kube_double.simulator.write_log(POD, "after 1")
    await eventually(lambda: first.texts()[-1:] == ["after 1"] and second.texts()[-1:] == ["after 1"])
    assert first.texts() == ["before 2", "before 3", "before 4", "after 0", "after 1"]
    assert second.texts() == ["before 4", "after 0", "after 1"]
    # The line times go to the follower that asked for them only.
    assert all(ln.timestamp for ln in first.lines) and not any(ln.timestamp for ln in second.lines)
    assert follow_requests(kube_double, POD) == 1
    assert reader_threads(POD) == (1 if backend.reads_on == "on-thread" else 0)
    await first.close()
    await second.close()


async def test_a_follow_the_kept_lines_cannot_start_opens_a_stream_of_its_own(backend, kube_double, monkeypatch):
    await _running_job(backend, kube_double, "sf", monkeypatch)
    for i in range(4):
        kube_double.simulator.write_log(POD, f"line {i}")
    short = Follower(backend.logs("PyTorchJob", "sf", "default", pod=POD, follow=True, tail=1))
    await eventually(lambda: short.texts() == ["line 3"])
    # The whole log: the shared stream began at the last line, so this one asks for its own.
    whole = Follower(backend.logs("PyTorchJob", "sf", "default", pod=POD, follow=True))
    await eventually(lambda: whole.texts() == [f"line {i}" for i in range(4)])
    assert follow_requests(kube_double, POD) == 2
    # A third follow of the whole log shares the second stream, which holds it from its first line.
    again = Follower(backend.logs("PyTorchJob", "sf", "default", pod=POD, follow=True))
    await eventually(lambda: again.texts() == [f"line {i}" for i in range(4)])
    kube_double.simulator.write_log(POD, "line 4")
    for f in (short, whole, again):
        await eventually(lambda f=f: f.texts()[-1:] == ["line 4"])
        await f.close()
    assert follow_requests(kube_double, POD) == 2


async def test_a_shared_stream_is_closed_once_its_last_follower_has_left_for_a_while(backend, kube_double,
                                                                                      monkeypatch):
    monkeypatch.setattr(shared_follow, "LINGER_S", 0.3)
    await _running_job(backend, kube_double, "sf", monkeypatch)
    kube_double.simulator.write_log(POD, "hello")
    one = Follower(backend.logs("PyTorchJob", "sf", "default", pod=POD, follow=True))
    await eventually(lambda: one.texts() == ["hello"])
    followers = kube_double.logs._followers
    assert sum(len(f) for k, f in followers.items() if k[1] == POD) == 1
    await one.close()
    await eventually(lambda: sum(len(f) for k, f in followers.items() if k[1] == POD) == 0)
    assert shared_follow.FOLLOWS.open_count() == 0


async def test_stopping_the_backend_closes_its_shared_streams(backend, kube_double, monkeypatch):
    await _running_job(backend, kube_double, "sf", monkeypatch)
    kube_double.simulator.write_log(POD, "hello")
    one = Follower(backend.logs("PyTorchJob", "sf", "default", pod=POD, follow=True))
    await eventually(lambda: one.texts() == ["hello"])
    followers = kube_double.logs._followers
    await backend.stop()
    assert shared_follow.FOLLOWS.open_count() == 0
    # The connection itself is gone: the API server has no follower of the pod left.
    await eventually(lambda: sum(len(f) for k, f in followers.items() if k[1] == POD) == 0)
    one.task.cancel()  # it may have ended already: the stopped backend refuses the re-open
    await asyncio.gather(one.task, return_exceptions=True)


@pytest.mark.parametrize("pod", [None, POD], ids=["merged", "one-pod"])
async def test_followers_of_a_cut_stream_go_on_after_their_last_line_without_repeats(backend, kube_double, monkeypatch,
                                                                                     pod):
    await _running_job(backend, kube_double, "sf", monkeypatch)
    kube_double.simulator.write_log(POD, "step 0")
    a = Follower(backend.logs("PyTorchJob", "sf", "default", pod=pod, follow=True))
    b = Follower(backend.logs("PyTorchJob", "sf", "default", pod=pod, follow=True, tail=1))
    await eventually(lambda: a.texts() == ["step 0"] and b.texts() == ["step 0"])
    kube_double.simulator.write_log(POD, "step 1")
    await eventually(lambda: a.texts()[-1] == "step 1" and b.texts()[-1] == "step 1")
    # A stream is re-opened once it has lasted this long (one that ends at once is a container
    # that exited, which the pod cache may not say yet).
    await asyncio.sleep(REOPEN_AFTER_S)
    kube_double.drop_watches()  # cuts the shared log stream while the container runs on
    for i in range(2, 6):
        kube_double.simulator.write_log(POD, f"step {i}")
        await asyncio.sleep(0.3)
    expected = [f"step {i}" for i in range(6)]
    await eventually(lambda: a.texts() == expected and b.texts() == expected, timeout=15)
    await a.close()
    await b.close()


@pytest.mark.parametrize("pod", [None, POD], ids=["merged", "one-pod"])
async def test_a_follow_whose_stream_is_cut_in_its_first_second_goes_on(backend, kube_double, monkeypatch, pod):
    # Too soon to re-open at once (a stream that ends at once may be a container that has just
    # exited), but the container runs on: the stream is re-opened a little later, not given up.
    await _running_job(backend, kube_double, "sf", monkeypatch)
    kube_double.simulator.write_log(POD, "step 0")
    a = Follower(backend.logs("PyTorchJob", "sf", "default", pod=pod, follow=True))
    await eventually(lambda: a.texts() == ["step 0"])
    kube_double.drop_watches()
    kube_double.simulator.write_log(POD, "step 1")
    await eventually(lambda: a.texts() == ["step 0", "step 1"], timeout=15)
    assert not a.task.done()
    assert follow_requests(kube_double, POD) == 2
    await a.close()


# ---- the kept lines, on a stream this test writes ------------------------------------------

class ScriptedStream:
    """A log response whose chunks the test sends; `shutdown` ends it, as the real one's does."""

    def __init__(self) -> None:
        self.chunks: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.opened = threading.Event()

    def stream(self, amt: Any = None, decode_content: bool = True) -> Any:
        while (chunk := self.chunks.get()) is not None:
            yield chunk

    def shutdown(self) -> None:
        self.chunks.put(None)

    def release_conn(self) -> None:
        pass

    close = shutdown


def stamp(second: int, frac: str = "", year: int = 2099) -> str:
    """A kubelet timestamp; by default after any stream here was opened (a line written since)."""
    return f"{year}-12-06T10:00:{second:02d}{'.' + frac if frac else ''}Z"


class Collected:
    def __init__(self) -> None:
        self.lines: list[tuple[str | None, str]] = []
        self.ended = threading.Event()
        self.sub = Subscription(lambda ts, text: self.lines.append((ts, text)), lambda _error: self.ended.set())


def _open(registry: SharedFollows, start: Start, stream: ScriptedStream, holds_from: str | None = None) -> Collected:
    c = Collected()
    registry.follow("key", start, c.sub, lambda: stream, "test-follow", holds_from=holds_from)
    return c


def _join(registry: SharedFollows, start: Start) -> Collected:
    c = Collected()
    registry.follow("key", start, c.sub, lambda: pytest.fail("a joining follow opened a stream"), "test-join")
    return c


def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.01)


def test_timestamp_keys_sort_by_time_where_the_strings_do_not() -> None:
    # RFC3339Nano drops the fraction's trailing zeros: as strings, .1 sorts after .12, and a
    # whole second after any of its fractions.
    assert stamp(5, "1") > stamp(5, "12") and stamp(5) > stamp(5, "5")
    assert ts_key(stamp(5, "1")) < ts_key(stamp(5, "12"))
    assert ts_key(stamp(4, "999999999")) < ts_key(stamp(5)) < ts_key(stamp(5, "05")) < ts_key(stamp(5, "1"))
    assert key_of_time(1796551205.5) == "2026-12-06T10:00:05.500000000"
    assert ts_key(stamp(5, "5", year=2026)) == key_of_time(1796551205.5)


def test_the_whole_log_is_shared_until_its_first_lines_are_dropped(monkeypatch) -> None:
    monkeypatch.setattr(shared_follow, "RING_LINES", 4)
    registry, stream = SharedFollows(), ScriptedStream()
    creator = _open(registry, Start(), stream)
    stream.chunks.put(b"".join(f"{stamp(i)} line {i}\n".encode() for i in range(3)))
    _until(lambda: len(creator.lines) == 3)
    assert [t for _, t in _join(registry, Start()).lines] == ["line 0", "line 1", "line 2"]
    assert [t for _, t in _join(registry, Start(tail=10)).lines] == ["line 0", "line 1", "line 2"]
    stream.chunks.put(f"{stamp(3)} line 3\n{stamp(4)} line 4\n".encode())  # line 0 no longer kept
    _until(lambda: len(creator.lines) == 5)
    assert registry.can_join("key", Start(tail=4)) and not registry.can_join("key", Start(tail=5))
    assert not registry.can_join("key", Start())
    late = _join(registry, Start(since=ts_key(stamp(2))))
    assert [t for _, t in late.lines] == ["line 2", "line 3", "line 4"]
    assert not registry.can_join("key", Start(since=ts_key(stamp(0))))
    resumed = _join(registry, Start(after=ts_key(stamp(3))))
    assert [t for _, t in resumed.lines] == ["line 4"]
    stream.shutdown()
    _until(lambda: creator.ended.is_set() and late.ended.is_set() and resumed.ended.is_set())
    assert registry.open_count() == 0 and not registry.can_join("key", Start(tail=1))


def test_a_stream_opened_for_a_window_shares_what_lies_in_it() -> None:
    registry, stream = SharedFollows(), ScriptedStream()
    creator = _open(registry, Start(since=ts_key(stamp(10))), stream, holds_from=ts_key(stamp(10)))
    assert registry.can_join("key", Start(since=ts_key(stamp(20))))  # nothing there yet, and none missed
    assert not registry.can_join("key", Start(since=ts_key(stamp(9))))
    assert not registry.can_join("key", Start(tail=1))  # no line kept yet: the last one is not known
    stream.chunks.put(f"{stamp(11)} a\n{stamp(12, '5')} b\n{stamp(12, '25')} c\n".encode())
    _until(lambda: len(creator.lines) == 3)
    assert [t for _, t in _join(registry, Start(since=ts_key(stamp(12, "3")))).lines] == ["b"]
    assert [t for _, t in _join(registry, Start(since=ts_key(stamp(12)), tail=1)).lines] == ["c"]
    stream.shutdown()


def test_a_resumed_creator_skips_what_it_had_read() -> None:
    registry, stream = SharedFollows(), ScriptedStream()
    creator = _open(registry, Start(after=ts_key(stamp(5, "5"))), stream, holds_from=ts_key(stamp(4)))
    stream.chunks.put(f"{stamp(4, '9')} old\n{stamp(5, '5')} old too\n{stamp(5, '75')} new\n{stamp(6)} newer\n".encode())
    _until(lambda: len(creator.lines) == 2)
    assert [t for _, t in creator.lines] == ["new", "newer"]
    stream.shutdown()


def test_a_follower_that_leaves_does_not_stop_the_others(monkeypatch) -> None:
    monkeypatch.setattr(shared_follow, "LINGER_S", 0.05)
    registry, stream = SharedFollows(), ScriptedStream()
    creator = _open(registry, Start(), stream)
    other = _join(registry, Start())
    creator.sub.leave()
    stream.chunks.put(f"{stamp(1)} still here\n".encode())
    _until(lambda: other.lines == [(stamp(1), "still here")])
    assert creator.lines == []
    other.sub.leave()
    _until(lambda: registry.open_count() == 0)  # closed after the linger, and its stream shut
    assert not registry.can_join("key", Start()) and not other.ended.is_set()


def test_a_follow_that_joins_before_the_stream_has_sent_anything_skips_what_precedes_its_start() -> None:
    # Two followers resume after a cut; the second joins the first's re-opened stream before its
    # first lines (asked for a window of whole seconds) have come.
    registry, stream = SharedFollows(), ScriptedStream()
    first = _open(registry, Start(after=ts_key(stamp(5, "5"))), stream, holds_from=ts_key(stamp(3)))
    second = _join(registry, Start(after=ts_key(stamp(5, "25"))))
    windowed = _join(registry, Start(since=ts_key(stamp(5, "3"))))
    assert second.lines == [] and windowed.lines == []
    stream.chunks.put(f"{stamp(4)} a\n{stamp(5, '25')} b\n{stamp(5, '5')} c\n{stamp(6)} d\n".encode())
    _until(lambda: len(first.lines) == 1 and len(second.lines) == 2 and len(windowed.lines) == 2)
    assert [t for _, t in first.lines] == ["d"]
    assert [t for _, t in second.lines] == ["c", "d"]
    assert [t for _, t in windowed.lines] == ["c", "d"]
    stream.shutdown()


def test_a_tail_waits_for_a_stream_that_is_still_sending_the_logs_earlier_lines() -> None:
    # The job history reads a running pod's log from its first line: until a line written since
    # the stream opened comes, the lines kept are not the log's last ones.
    registry, stream = SharedFollows(), ScriptedStream()
    creator = _open(registry, Start(), stream)
    stream.chunks.put(b"".join(f"{stamp(i, year=2001)} old {i}\n".encode() for i in range(3)))
    _until(lambda: len(creator.lines) == 3)
    assert not registry.can_join("key", Start(tail=1))
    # Those that want the earlier lines join at once.
    assert registry.can_join("key", Start()) and registry.can_join("key", Start(after=ts_key(stamp(0, year=2001))))
    stream.chunks.put(f"{stamp(1)} new\n".encode())
    _until(lambda: len(creator.lines) == 4)
    assert [t for _, t in _join(registry, Start(tail=2)).lines] == ["old 2", "new"]
    stream.shutdown()
