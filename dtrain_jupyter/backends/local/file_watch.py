"""Waking log followers when a file changes, instead of polling it.

One inotify instance per event loop watches the folders of the followed files; its descriptor
sits in the loop's selector (`add_reader`), so a write to a followed file wakes its waiters
within the loop's next turn. Folder watches (not file watches) also see a file created,
renamed over or deleted at a followed path, which is how a restarted replica's new log
appears. Each folder is watched once however many waiters follow files in it; the watch goes
when its last waiter closes, the instance when its last folder goes.

Where inotify is not to be had (not Linux, no libc symbol, out of instances or watches, a
folder that does not exist yet), a waiter polls every POLL_SECONDS instead: slower, never
wrong. A waiter never trusts events alone either: `wait` always returns after its timeout, so
a missed event costs a caller at most that long.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import logging
import os
import struct
import sys
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

# How often a waiter without inotify looks again; bounds the write -> read latency there.
POLL_SECONDS = 0.01

_IN_MODIFY = 0x00000002
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_DELETE = 0x00000200
_IN_DELETE_SELF = 0x00000400
_IN_MOVE_SELF = 0x00000800
_IN_Q_OVERFLOW = 0x00004000
_IN_IGNORED = 0x00008000
_IN_ONLYDIR = 0x01000000
# Growth and truncation are IN_MODIFY; rotation is MOVED_FROM/MOVED_TO/CREATE; the rest say the
# folder itself went (its watch is gone: waiters fall back to polling).
_MASK = (_IN_MODIFY | _IN_CREATE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVE_SELF
         | _IN_ONLYDIR)
_FOLDER_GONE = _IN_DELETE_SELF | _IN_MOVE_SELF | _IN_IGNORED
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name
_NONBLOCK, _CLOEXEC = os.O_NONBLOCK, getattr(os, "O_CLOEXEC", 0)
_READ_SIZE = 64 * 1024

# Off switch: where this is False every waiter polls (tests force the fallback with it).
inotify_enabled = sys.platform.startswith("linux")
_fallback_said = False


def _say_fallback(why: str) -> None:
    """Log the first fallback to polling of this process, at debug: polling works, only slower."""
    global _fallback_said
    if not _fallback_said:
        _fallback_said = True
        log.debug("log followers poll every %.0f ms instead of waking on inotify: %s", POLL_SECONDS * 1000, why)


class _Libc:
    """The three inotify calls, through ctypes (the standard library has no binding)."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.init1 = libc.inotify_init1
        self.init1.argtypes, self.init1.restype = [ctypes.c_int], ctypes.c_int
        self.add_watch = libc.inotify_add_watch
        self.add_watch.argtypes, self.add_watch.restype = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32], ctypes.c_int
        self.rm_watch = libc.inotify_rm_watch
        self.rm_watch.argtypes, self.rm_watch.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int


_libc: _Libc | None = None


def _load_libc() -> _Libc | None:
    global _libc, inotify_enabled
    if _libc is None and inotify_enabled:
        try:
            _libc = _Libc()
        except (OSError, AttributeError) as e:  # no libc by that name, or one without inotify
            inotify_enabled = False
            _say_fallback(f"no inotify in the C library ({e})")
    return _libc


class _Hub:
    """One inotify instance of one event loop: folder watches, and the waiters of each file name.

    Waiters are kept per watch descriptor, which each waiter remembers: a folder removed and
    made again at the same path is a new inode with a new descriptor, while waiters of the old
    one are still to move over (see `Waiter.recheck`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: _Libc, fd: int) -> None:
        self.loop, self.libc, self.fd = loop, libc, fd
        self.wds: dict[Path, int] = {}                        # folder -> its current watch descriptor
        self.inodes: dict[int, tuple[int, int]] = {}          # watch descriptor -> the folder's (device, inode)
        self.waiters: dict[int, dict[str, set[Waiter]]] = {}  # watch descriptor -> file name -> waiters
        loop.add_reader(fd, self._readable)

    @property
    def open(self) -> bool:
        return self.fd >= 0

    def attach(self, waiter: "Waiter", path: Path) -> int | None:
        """Have events at `path` wake `waiter`; its watch descriptor, or None when the folder cannot be watched."""
        folder = path.parent
        # Asked every time: the kernel answers the same descriptor for a folder already watched.
        wd = self.libc.add_watch(self.fd, os.fsencode(folder), _MASK)
        if wd < 0:
            err = ctypes.get_errno()
            if err != errno.ENOENT:  # a folder yet to be made is ordinary, not worth a word
                _say_fallback(f"cannot watch {folder}: {os.strerror(err)}")
            return None
        if wd not in self.inodes:
            try:
                st = os.stat(folder)
            except OSError:
                self._drop(wd)
                return None
            self.inodes[wd] = (st.st_dev, st.st_ino)
        self.wds[folder] = wd
        self.waiters.setdefault(wd, {}).setdefault(path.name, set()).add(waiter)
        return wd

    def current(self, path: Path, wd: int) -> bool:
        """Whether `wd` still watches the folder now at `path`'s parent (it may have been replaced)."""
        try:
            st = os.stat(path.parent)
        except OSError:
            return False
        return self.inodes.get(wd) == (st.st_dev, st.st_ino)

    def detach(self, waiter: "Waiter", path: Path, wd: int) -> None:
        names = self.waiters.get(wd)
        if names is not None:
            waiting = names.get(path.name, set())
            waiting.discard(waiter)
            if not waiting:
                names.pop(path.name, None)
            if not names:
                self._drop(wd)
        if not self.waiters:
            self.close()

    def _drop(self, wd: int) -> None:
        self._forget(wd)
        self.libc.rm_watch(self.fd, wd)  # fails harmlessly when the kernel has dropped it already

    def _forget(self, wd: int) -> None:
        self.waiters.pop(wd, None)
        self.inodes.pop(wd, None)
        for folder in [f for f, w in self.wds.items() if w == wd]:
            del self.wds[folder]

    def close(self) -> None:
        if not self.open:
            return
        if _hubs.get(self.loop) is self:
            del _hubs[self.loop]
        self.loop.remove_reader(self.fd)
        os.close(self.fd)
        self.fd = -1
        self.wds.clear()
        self.inodes.clear()
        self.waiters.clear()

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, _READ_SIZE)
        except BlockingIOError:
            return
        woken: set[Waiter] = set()
        pos = 0
        while pos + _EVENT.size <= len(data):
            wd, mask, _, size = _EVENT.unpack_from(data, pos)
            name = data[pos + _EVENT.size:pos + _EVENT.size + size].rstrip(b"\0")
            pos += _EVENT.size + size
            if mask & _IN_Q_OVERFLOW:  # events were dropped: anyone may have missed one
                for names in self.waiters.values():
                    for waiting in names.values():
                        woken |= waiting
                continue
            names = self.waiters.get(wd)
            if names is None:
                continue  # a watch removed a moment ago
            if mask & _FOLDER_GONE:
                # The kernel dropped this watch; its waiters poll until the folder can be
                # watched again (a follow whose job folder went is about to end anyway).
                self._forget(wd)
                for waiting in names.values():
                    for waiter in waiting:
                        waiter.unwatched(self, wd)
                        woken.add(waiter)
                continue
            woken |= names.get(os.fsdecode(name), set())
        for waiter in woken:
            waiter.wake()
        if not self.waiters:
            self.close()


_hubs: dict[asyncio.AbstractEventLoop, _Hub] = {}


def _hub() -> _Hub | None:
    """This loop's hub, made on first use; None where inotify cannot be had."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is not None:
        return hub
    libc = _load_libc()
    if libc is None:
        return None
    fd = libc.init1(_NONBLOCK | _CLOEXEC)
    if fd < 0:
        _say_fallback(f"inotify_init1: {os.strerror(ctypes.get_errno())}")  # EMFILE: out of instances
        return None
    hub = _hubs[loop] = _Hub(loop, libc, fd)
    return hub


class Waiter:
    """Waits until one of some files may have changed; use as a context manager, inside the loop.

    `wait` returns True when an event at one of the paths arrived since the last `wait` (or
    during it), and False after `timeout` otherwise. A path whose folder cannot be watched makes
    the waiter poll: its timeout shrinks to POLL_SECONDS, and it tries to watch again each time
    (the folder of a replica that has not started yet appears later).
    """

    def __init__(self, paths: Iterable[Path]) -> None:
        self.paths = list(dict.fromkeys(Path(p) for p in paths))
        self.watched: dict[Path, int] = {}  # path -> the watch descriptor it was attached with
        self._hub: _Hub | None = None
        self._fired = False
        self._future: asyncio.Future[bool] | None = None

    def __enter__(self) -> "Waiter":
        self._attach()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def polling(self) -> bool:
        """True while some path is not watched, so that waiting falls back to the poll interval."""
        return len(self.watched) < len(self.paths)

    def _attach(self) -> None:
        if not inotify_enabled:
            _say_fallback("inotify is off or not on this system")
            return
        if self._hub is None or not self._hub.open:
            self._hub = _hub()
            self.watched.clear()
            if self._hub is None:
                return
        for path in self.paths:
            if path not in self.watched:
                wd = self._hub.attach(self, path)
                if wd is not None:
                    self.watched[path] = wd

    def recheck(self) -> None:
        """Let go of watches on folders that were removed or replaced since; `wait` watches anew.

        A folder watch ends with IN_DELETE_SELF only once nothing in the folder is open, and a
        follower keeps its (deleted) file open: so this is asked now and then, not waited for.
        """
        hub = self._hub
        if hub is None:
            return
        for path, wd in list(self.watched.items()):
            if not hub.current(path, wd):
                del self.watched[path]
                hub.detach(self, path, wd)

    def unwatched(self, hub: _Hub, wd: int) -> None:
        """The hub lost watch `wd` (its folder deleted or moved): poll until it can be watched again."""
        if hub is self._hub:
            self.watched = {p: w for p, w in self.watched.items() if w != wd}

    def wake(self) -> None:
        self._fired = True
        self._settle(True)

    def _settle(self, fired: bool) -> None:
        if self._future is not None and not self._future.done():
            self._future.set_result(fired)

    async def wait(self, timeout: float) -> bool:
        """Return True once a watched path changed, False after `timeout` (POLL_SECONDS while polling)."""
        if self.polling:
            before = len(self.watched)
            self._attach()
            if len(self.watched) > before:
                self._fired = True  # a change between the last read and the new watch had no event
            if self.polling:
                timeout = min(timeout, POLL_SECONDS)
        if not self._fired:
            loop = asyncio.get_running_loop()
            self._future = loop.create_future()
            timer = loop.call_later(timeout, self._settle, False)  # cheaper than a wait_for task
            try:
                await self._future
            finally:
                timer.cancel()
                self._future = None
        fired, self._fired = self._fired, False
        return fired

    def close(self) -> None:
        """Give back every watch; the last waiter of a folder removes its watch."""
        hub, self._hub = self._hub, None
        watched, self.watched = self.watched, {}
        if hub is not None and hub.open:
            for path, wd in watched.items():
                hub.detach(self, path, wd)
