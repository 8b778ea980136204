"""Reading replica log files: whole, their last N lines, or following them live.

Each replica attempt writes stdout and stderr straight into `<pod>.log` (no process in between,
so nothing is lost when the server is down); a restart renames it to `<pod>.previous.log`. A
follower keeps its file open, so a rename mid-read loses nothing: it drains the old file, then
continues with the new one from its start. Reads go in 1 MiB chunks, so memory stays flat
however large a log grows.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Any, AsyncGenerator, AsyncIterator, Callable, Iterator

from ..base import SizedChunks
from . import file_watch

CHUNK = 1 << 20
# A follow reads at most about this much per step, so its lines in memory stay bounded.
POLL_BUDGET = 8 * CHUNK
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_BLOCK = 4096
# A follower wakes when its files change (file_watch: inotify, or a 10 ms poll where that is
# missing). Issue 18: a fixed 10 ms poll was most of the write -> client latency (about 5 ms of
# 5.7), kubectl's was 0.6 ms. Two slower clocks remain: `done()` is asked every DONE_CHECK_SECONDS
# (the job's end is a state change, not a file event; the backend's monitor ticks every 50 ms),
# and the files are read every SAFETY_POLL_SECONDS whatever the events say, so an event the
# kernel dropped cannot stall a follow.
DONE_CHECK_SECONDS = 0.05
SAFETY_POLL_SECONDS = 1.0


def log_path(log_dir: Path, pod: str, previous: bool = False) -> Path:
    return log_dir / (f"{pod}.previous.log" if previous else f"{pod}.log")


def _decode(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", errors="replace")


def _fallocate():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fn = libc.fallocate
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    fn.restype = ctypes.c_int
    return fn


def trim_head(path: Path, keep: int, trimmed: int = 0) -> int:
    """Free the disk blocks of all but the last `keep` bytes of a log that is still being written.

    The replica appends to the file directly, so it cannot be rewritten; instead its head is
    punched out (a hole that reads as zeros and takes no space). Sizes and offsets stay valid,
    so followers and byte offsets keep working. Returns the new trimmed length (block-aligned);
    `trimmed` is what an earlier call already freed. File systems without hole punching are
    left as they are.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return trimmed
    cut = (size - keep) // _BLOCK * _BLOCK
    if cut <= trimmed:
        return trimmed
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError:
        return trimmed
    try:
        if _fallocate()(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, trimmed, cut - trimmed) != 0:
            return trimmed
    finally:
        os.close(fd)
    return cut


def limit_offset(path: Path, limit: int | None) -> int:
    """The offset to read from when only the last `limit` bytes are kept: the first whole line there."""
    if limit is None:
        return 0
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    floor = size - limit
    if floor <= 0:
        return 0
    with open(path, "rb") as f:
        f.seek(floor - 1)
        block = f.read(min(limit + 1, CHUNK))
    newline = block.find(b"\n")
    return size if newline < 0 else floor + newline


def tail_offset(path: Path, lines: int, floor: int = 0) -> int:
    """Byte offset where the last `lines` lines of the file start, not before `floor`."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    if lines <= 0:
        return size
    with open(path, "rb") as f:
        pos, found = size, 0
        # A final line without a newline still counts as a line.
        f.seek(max(0, size - 1))
        if size and f.read(1) == b"\n":
            pos -= 1
        while pos > floor:
            start = max(floor, pos - CHUNK)
            f.seek(start)
            block = f.read(pos - start)
            idx = len(block)
            while True:
                idx = block.rfind(b"\n", 0, idx)
                if idx < 0:
                    break
                found += 1
                if found == lines:
                    return start + idx + 1
            pos = start
    return floor


def _split(data: bytes) -> list[str]:
    """Decode a block of whole lines once and split it; far cheaper than decoding line by line."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if "\r" in text:
        lines = [ln.rstrip("\r") for ln in lines]
    return lines


def read_blocks(path: Path, offset: int = 0) -> Iterator[list[str]]:
    """The lines of a file from `offset`, a list per 1 MiB chunk (the final line may lack a newline)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    with f:
        f.seek(offset)
        rest = b""
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                rest = data
                continue
            rest = data[cut + 1:]
            yield _split(data[:cut])
        if rest:
            yield _split(rest)


def sized_chunks(path: Path, offset: int = 0) -> SizedChunks:
    """The raw bytes of a file from `offset` to the size it has now, in 1 MiB chunks.

    A full read is the log as it was when opened: what a replica writes meanwhile is left for a
    follow, so the length is known at once and the server can send it as `Content-Length`. A file
    cut shorter while read (copytruncate) ends the chunks early, fewer than `size`.
    """
    try:
        size = max(0, path.stat().st_size - offset)
    except FileNotFoundError:
        size = 0
    return SizedChunks(read_chunks(path, offset, size), size, file=(path, offset))


async def read_chunks(path: Path, offset: int, size: int) -> AsyncGenerator[bytes, None]:
    """`size` raw bytes of a file (fewer if it ends first) from `offset`, in 1 MiB chunks, yielding to
    the loop between them.

    Nothing is decoded or split: a reader that only relays the bytes (a full read or a tail
    over HTTP) pays one read per MiB, not one object per line.
    """
    if size <= 0:
        return
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return
    left = size
    with f:
        f.seek(offset)
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
            await asyncio.sleep(0)


def read_lines(path: Path, offset: int = 0) -> Iterator[str]:
    """Every complete or final line of a file from `offset`."""
    for block in read_blocks(path, offset):
        yield from block


class Follower:
    """Reads what a set of pods' log files gained since the last call; survives rotation and truncation.

    Rotation (the file renamed away, a new one at its path): the old file, still open, is
    drained first, then the new one is read from its start. Truncation (copytruncate: the file
    cut to 0 and written again): reading restarts at 0 once the file is seen shorter than what
    was read. As with any copytruncate, what was written and cut between two reads is lost, and
    a file that regrew past the read position before the next read is read on from there. A
    deleted file is kept open and waited on, as its path may get a new file.

    With `raw`, a poll gives (pod, bytes): each read's complete lines as written, in one block
    (what a relay or an archive copies needs no object per line), instead of (pod, line) decoded.
    """

    def __init__(self, files: dict[str, tuple[Path, int]], *, raw: bool = False) -> None:
        # pod -> [path, open file or None, partial line, offset to start at when opened]
        self._state: dict[str, list] = {pod: [path, None, b"", offset] for pod, (path, offset) in files.items()}
        self._raw = raw
        # Whether the last poll stopped at its budget with bytes still unread.
        self.more = False

    @property
    def paths(self) -> list[Path]:
        return [st[0] for st in self._state.values()]

    def _open(self, st: list) -> None:
        path, _, _, offset = st
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return
        f.seek(min(offset, os.fstat(f.fileno()).st_size))
        st[1], st[3] = f, 0

    def _cut_partial(self, pod: str, st: list, out: list[tuple[str, Any]]) -> None:
        """A partial line whose file ends under it (rotated or truncated) is a line of its own."""
        if st[2]:
            out.append((pod, st[2] + b"\n" if self._raw else _decode(st[2])))
            st[2] = b""

    def _add_lines(self, pod: str, st: list, chunk: bytes, out: list[tuple[str, Any]]) -> None:
        """The complete lines of what was read (after the pod's partial line), kept partial is the rest."""
        if self._raw:
            data = st[2] + chunk
            cut = data.rfind(b"\n") + 1
            if cut:
                out.append((pod, data[:cut]))
            st[2] = data[cut:]
            return
        parts = (st[2] + chunk).split(b"\n")
        st[2] = parts.pop()
        out.extend((pod, _decode(p)) for p in parts)

    def poll(self, final: bool = False, budget: int = POLL_BUDGET) -> list[tuple[str, Any]]:
        """New complete lines as (pod, line), or (pod, block of lines) when raw; with `final`, also
        each file's unterminated tail (a line of its own, ended by a newline when raw).

        At most about `budget` bytes are read in one call, so a log written faster than it is
        followed never sits in memory whole; `more` then says to call again at once (and a
        file's tail is only cut with `final` once that file is drained).
        """
        out: list[tuple[str, Any]] = []
        self.more = False
        for pod, st in self._state.items():
            if st[1] is None:
                self._open(st)
                if st[1] is None:
                    continue
            drained = True
            while True:
                if budget <= 0:
                    self.more, drained = True, False
                    break
                chunk = st[1].read(CHUNK)
                budget -= len(chunk)
                if chunk and not st[2] and chunk[:1] == b"\0":
                    chunk = chunk.lstrip(b"\0")  # a trimmed head overtook a slow reader
                    if not chunk:
                        continue
                if chunk:
                    self._add_lines(pod, st, chunk, out)
                    continue
                opened = os.fstat(st[1].fileno())
                if opened.st_size < st[1].tell():
                    self._cut_partial(pod, st, out)
                    st[1].seek(0)
                    continue
                try:
                    rotated = os.stat(st[0]).st_ino != opened.st_ino
                except FileNotFoundError:
                    rotated = False
                if not rotated:
                    break
                # The attempt was restarted: its file became `.previous`; go on with the new one.
                self._cut_partial(pod, st, out)
                st[1].close()
                st[1], st[3] = None, 0
                self._open(st)
                if st[1] is None:
                    break
            if final and drained:
                self._cut_partial(pod, st, out)
        return out

    def close(self) -> None:
        for st in self._state.values():
            if st[1] is not None:
                st[1].close()


async def follow(files: dict[str, tuple[Path, int]], done: Callable[[], bool], *,
                 raw: bool = False) -> AsyncIterator[tuple[str, Any]]:
    """Yield (pod, line) as lines arrive, or with `raw` (pod, bytes: the lines each read found, as
    written); end once `done()` holds and every file is drained.

    The files are read when a change at their paths wakes the follower, when `done()` holds,
    and at least every SAFETY_POLL_SECONDS.
    """
    follower = Follower(files, raw=raw)
    loop = asyncio.get_running_loop()
    try:
        with file_watch.Waiter(follower.paths) as waiter:
            changed, last_read = True, 0.0
            while True:
                finished = done()
                if changed or finished or loop.time() - last_read >= SAFETY_POLL_SECONDS:
                    if not changed:
                        waiter.recheck()  # the safety read: also the time to notice a folder made anew
                    last_read = loop.time()
                    for item in follower.poll(final=finished):
                        yield item
                    if follower.more:
                        changed = True  # more is written than one read takes: read on at once
                        continue
                if finished:
                    return
                # A waiter that polls (no inotify) returns every 10 ms without an event: read then too.
                changed = await waiter.wait(DONE_CHECK_SECONDS) or waiter.polling
    finally:
        follower.close()
