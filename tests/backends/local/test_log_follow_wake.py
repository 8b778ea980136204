"""A log follow that wakes on file changes (file_watch) sees every line exactly once.

Each scenario runs twice: woken by inotify, and with inotify switched off (the 10 ms poll).
In the inotify runs the done-check and safety-poll clocks are set to an hour, so a line can
only arrive because a file event woke the follower. Waits are bounded by GUARD only so that a
broken follow fails instead of hanging; no test asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import shutil
import sys

import pytest

from dtrain_jupyter.backends.local import file_watch, logs
from dtrain_jupyter.backends.local.logs import follow

GUARD = 20.0
HOUR = 3600.0

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux's")


def events_only(monkeypatch) -> None:
    """Followers wake on inotify events and nothing else: the slower clocks are set to an hour."""
    if not sys.platform.startswith("linux"):
        pytest.skip("inotify is Linux's")
    monkeypatch.setattr(file_watch, "inotify_enabled", True)
    monkeypatch.setattr(logs, "DONE_CHECK_SECONDS", HOUR)
    monkeypatch.setattr(logs, "SAFETY_POLL_SECONDS", HOUR)


@pytest.fixture(params=["inotify", "poll"])
def wake(request, monkeypatch):
    """How followers wake: on inotify events only, or by the 10 ms poll (inotify switched off)."""
    if request.param == "inotify":
        events_only(monkeypatch)
    else:
        monkeypatch.setattr(file_watch, "inotify_enabled", False)
    return request.param


def inotify_fds() -> int:
    """How many inotify instances this process holds open."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
    return count


class Reader:
    """Runs one follow in a task and collects its lines."""

    def __init__(self, files, done=lambda: False) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._new = asyncio.Event()
        self.task = asyncio.ensure_future(self._run(follow(files, done)))

    async def _run(self, lines) -> None:
        async for _, line in lines:
            self.lines.append(line)
            self._new.set()
        self.ended = True
        self._new.set()

    async def until(self, count: int) -> list[str]:
        """The lines once there are `count` of them (or the follow ended)."""
        async def enough() -> None:
            while len(self.lines) < count and not self.ended:
                self._new.clear()
                await self._new.wait()
        await asyncio.wait_for(enough(), GUARD)
        return list(self.lines)

    async def finished(self) -> list[str]:
        await asyncio.wait_for(asyncio.shield(self.task), GUARD)
        return list(self.lines)

    async def cancel(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def append(path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


async def turn() -> None:
    """Let the follower run (and read what is there) before the next write."""
    await asyncio.sleep(0.03)


async def seen_exactly(reader: Reader, path, expected: list[str]) -> None:
    """`expected`, then a last marker line, and nothing else: no line lost or repeated."""
    append(path, b"END\n")
    assert await reader.until(len(expected) + 1) == [*expected, "END"]


def test_many_small_writes_and_a_partial_line(tmp_path, jp_asyncio_loop, wake):
    log = tmp_path / "p.log"
    log.write_bytes(b"")

    async def scenario():
        reader = Reader({"p": (log, 0)})
        await turn()
        expected = []
        with open(log, "ab", buffering=0) as out:  # one writer fd, as a replica's stdout
            for i in range(60):
                text = f"line {i} " + "x" * (i % 7)
                expected.append(text)
                cut = len(text) // 2
                out.write(text[:cut].encode())  # half a line, the rest in a later write
                if i % 3 == 0:
                    await asyncio.sleep(0)
                out.write(text[cut:].encode() + b"\n")
                if i % 10 == 0:
                    await reader.until(len(expected))
            await reader.until(len(expected))
            out.write(b"par")
            await turn()
            out.write(b"tial\n")
            expected.append("partial")
        await seen_exactly(reader, log, expected)
        await reader.cancel()

    jp_asyncio_loop.run_until_complete(scenario())


def test_copytruncate_restarts_at_the_file_start(tmp_path, jp_asyncio_loop, wake):
    log = tmp_path / "p.log"
    log.write_bytes(b"")

    async def scenario():
        reader = Reader({"p": (log, 0)})
        with open(log, "ab", buffering=0) as out:  # O_APPEND: after the cut it writes at the new end
            out.write(b"before one\nbefore two\n")
            assert await reader.until(2) == ["before one", "before two"]
            os.truncate(log, 0)  # what logrotate's copytruncate does once it has copied the file
            out.write(b"after\n")
            assert await reader.until(3) == ["before one", "before two", "after"]
            # The cut is seen as the file being shorter than what was read: the new text must
            # still be shorter when the follower looks (true of any copytruncate follower).
            os.truncate(log, 0)
            out.write(b"2nd\n")
            assert await reader.until(4) == ["before one", "before two", "after", "2nd"]
        await seen_exactly(reader, log, ["before one", "before two", "after", "2nd"])
        await reader.cancel()

    jp_asyncio_loop.run_until_complete(scenario())


def test_rotation_drains_the_old_file_then_reads_the_new_one(tmp_path, jp_asyncio_loop, wake):
    log, previous = tmp_path / "p.log", tmp_path / "p.previous.log"
    log.write_bytes(b"")

    async def scenario():
        reader = Reader({"p": (log, 0)})
        old = open(log, "ab", buffering=0)
        old.write(b"old one\n")
        assert await reader.until(1) == ["old one"]
        old.write(b"old two, half")
        await turn()
        os.replace(log, previous)  # a restart: the attempt's file becomes `.previous`
        await turn()
        old.write(b" and the rest\n")  # the old attempt's last words land in the renamed file
        old.close()
        append(log, b"new one\n")
        await seen_exactly(reader, log, ["old one", "old two, half and the rest", "new one"])
        await reader.cancel()

    jp_asyncio_loop.run_until_complete(scenario())


def test_a_deleted_file_is_waited_on_until_its_path_has_a_new_one(tmp_path, jp_asyncio_loop, wake):
    log = tmp_path / "p.log"
    log.write_bytes(b"first\n")
    state = {"done": False}

    async def scenario():
        reader = Reader({"p": (log, 0)}, lambda: state["done"])
        assert await reader.until(1) == ["first"]
        log.unlink()
        await turn()
        assert not reader.ended  # deletion does not end a follow; only done() does
        append(log, b"second\n")
        assert await reader.until(2) == ["first", "second"]
        state["done"] = True
        append(tmp_path / "other.log", b"x\n")
        await turn()
        if wake == "inotify":  # with the clocks at an hour, only a change at p.log wakes its follower
            assert not reader.ended
            log.unlink()
        assert await reader.finished() == ["first", "second"]

    jp_asyncio_loop.run_until_complete(scenario())


def test_a_folder_made_anew_is_watched_again(tmp_path, jp_asyncio_loop, monkeypatch):
    # A file still open in a removed folder keeps the folder's inode, and so its watch, alive
    # (no IN_DELETE_SELF): the safety read is what notices the new folder, which is then
    # watched like the first.
    events_only(monkeypatch)
    monkeypatch.setattr(logs, "DONE_CHECK_SECONDS", 0.05)
    monkeypatch.setattr(logs, "SAFETY_POLL_SECONDS", 0.1)
    folder = tmp_path / "logs"
    folder.mkdir()
    log = folder / "p.log"
    log.write_bytes(b"one\n")

    async def scenario():
        reader = Reader({"p": (log, 0)})
        assert await reader.until(1) == ["one"]
        with open(folder / "held.log", "ab"):
            shutil.rmtree(folder)
            await turn()
            folder.mkdir()
            log.write_bytes(b"two\n")
            assert await reader.until(2) == ["one", "two"]
        hub = file_watch._hubs[asyncio.get_running_loop()]
        assert hub.current(log, hub.wds[folder])  # the new folder is the one watched
        monkeypatch.setattr(logs, "SAFETY_POLL_SECONDS", HOUR)
        monkeypatch.setattr(logs, "DONE_CHECK_SECONDS", HOUR)
        await seen_exactly(reader, log, ["one", "two"])
        await reader.cancel()

    jp_asyncio_loop.run_until_complete(scenario())


def test_a_waiter_whose_folder_is_removed_polls_until_it_is_back(tmp_path, jp_asyncio_loop, monkeypatch):
    events_only(monkeypatch)
    folder = tmp_path / "logs"
    folder.mkdir()
    log = folder / "p.log"
    log.write_bytes(b"")

    async def scenario():
        with file_watch.Waiter([log]) as waiter:
            assert not waiter.polling
            shutil.rmtree(folder)  # nothing open in it: the kernel ends the watch (IN_DELETE_SELF)
            while not waiter.polling:
                assert await asyncio.wait_for(waiter.wait(HOUR), GUARD)
            folder.mkdir()
            # Watched again on the next wait, which counts as a change: nothing was watching before.
            assert await asyncio.wait_for(waiter.wait(HOUR), GUARD)
            assert not waiter.polling
            append(log, b"x\n")
            assert await asyncio.wait_for(waiter.wait(HOUR), GUARD)

    jp_asyncio_loop.run_until_complete(scenario())


@linux_only
def test_fifty_followers_of_one_file_share_one_inotify_instance(tmp_path, jp_asyncio_loop, wake):
    log = tmp_path / "p.log"
    log.write_bytes(b"")
    before = inotify_fds()

    async def scenario():
        readers = [Reader({"p": (log, 0)}) for _ in range(50)]
        await turn()
        assert inotify_fds() == before + (1 if wake == "inotify" else 0)
        expected = []
        for i in range(20):
            append(log, f"line {i}\n".encode())
            expected.append(f"line {i}")
            if i % 5 == 0:
                await turn()
        append(log, b"END\n")
        for reader in readers:
            assert await reader.until(21) == [*expected, "END"]
        for reader in readers:
            await reader.cancel()
        assert inotify_fds() == before  # the last follower gone, the instance goes too
        assert asyncio.get_running_loop() not in file_watch._hubs

    jp_asyncio_loop.run_until_complete(scenario())


def test_a_cancelled_follower_gives_back_its_watch(tmp_path, jp_asyncio_loop, monkeypatch):
    events_only(monkeypatch)
    a, b = tmp_path / "a.log", tmp_path / "b" / "b.log"
    b.parent.mkdir()
    a.write_bytes(b"")
    b.write_bytes(b"")

    async def scenario():
        loop = asyncio.get_running_loop()
        both = Reader({"a": (a, 0), "b": (b, 0)})
        only_a = Reader({"a": (a, 0)})
        await turn()
        hub = file_watch._hubs[loop]
        assert set(hub.wds) == {a.parent, b.parent}
        append(b, b"to both\n")
        assert await both.until(1) == ["to both"]
        await both.cancel()  # cancelled while waiting for its next line
        assert set(hub.wds) == {a.parent}  # b's folder had no other follower: its watch is gone
        assert [len(w) for w in hub.waiters[hub.wds[a.parent]].values()] == [1]
        append(a, b"still here\n")
        assert await only_a.until(1) == ["still here"]
        await only_a.cancel()
        assert not hub.open and loop not in file_watch._hubs

    jp_asyncio_loop.run_until_complete(scenario())


class _FailingLibc:
    """inotify calls that fail as an exhausted system's do."""

    def __init__(self, fail_init: bool) -> None:
        self.fail_init = fail_init
        self.real = file_watch._Libc()

    def init1(self, flags: int) -> int:
        if self.fail_init:
            ctypes.set_errno(errno.EMFILE)  # too many inotify instances
            return -1
        return self.real.init1(flags)

    def add_watch(self, fd: int, path: bytes, mask: int) -> int:
        ctypes.set_errno(errno.ENOSPC)  # out of watches
        return -1

    def rm_watch(self, fd: int, wd: int) -> int:
        return self.real.rm_watch(fd, wd)


@linux_only
@pytest.mark.parametrize("fail_init", [True, False], ids=["EMFILE", "ENOSPC"])
def test_without_inotify_resources_it_polls_and_says_so_once_at_debug(tmp_path, jp_asyncio_loop, monkeypatch,
                                                                        caplog, fail_init):
    monkeypatch.setattr(file_watch, "inotify_enabled", True)
    monkeypatch.setattr(file_watch, "_libc", _FailingLibc(fail_init))
    monkeypatch.setattr(file_watch, "_fallback_said", False)
    log = tmp_path / "p.log"
    log.write_bytes(b"")

    async def scenario():
        readers = [Reader({"p": (log, 0)}) for _ in range(3)]
        await turn()
        for i in range(5):
            append(log, f"line {i}\n".encode())
            await turn()
        append(log, b"END\n")
        for reader in readers:
            assert await reader.until(6) == [*(f"line {i}" for i in range(5)), "END"]
            await reader.cancel()

    with caplog.at_level(logging.DEBUG, logger=file_watch.__name__):
        jp_asyncio_loop.run_until_complete(scenario())
    said = [r for r in caplog.records if r.name == file_watch.__name__]
    assert len(said) == 1 and said[0].levelno == logging.DEBUG
    assert ("EMFILE" in said[0].getMessage() or "Too many open files" in said[0].getMessage()) if fail_init \
        else "No space left on device" in said[0].getMessage()
