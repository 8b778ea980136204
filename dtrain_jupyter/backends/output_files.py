"""A job's output files, listed and read under one safety rule, for every backend.

The rule: a requested path is relative and has no `..`; its real path (every symlink
resolved) must lie inside the real output folder; the file is then opened one component at a
time from the folder's descriptor with O_NOFOLLOW, so nothing swapped for a link after the
check can lead elsewhere; only a regular file is read, and never more than the caller's limit
(a capped read) or than the size it had when it was opened (a streamed whole read, so a job
still appending to a file cannot make a download endless).
A symlink a job planted that points inside its folder is followed (a `latest.pt` link works);
one that points outside is NotFound, never read. Listing applies the same rule, so whatever
is listed can be read, and nothing that leads outside is listed; a linked folder is not entered
(a link to an ancestor would never end), its files inside the folder are listed where they lie.

Both backends pass their output folder here (local: the job's DTRAIN_OUTPUT_DIR; Kubernetes:
where the job's volume claim is mounted in the Jupyter server). Times are ISO 8601 UTC.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import time
from pathlib import Path, PurePosixPath
from typing import AsyncGenerator, BinaryIO

from ..errors import InvalidRequest, NotFound
from ..model.job import OutputFile

# Bytes per read(): the step of a capped read, and the most a streamed read holds at once.
READ_CHUNK = 1 << 20
# What an open that meets a link, a missing component or a non-folder mid-path fails with.
_GONE = {errno.ELOOP, errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.ENXIO}


def iso_utc(timestamp: float) -> str:
    """Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`, the form of every time in a Job."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def check_path(path: str) -> PurePosixPath:
    """The relative path a request names, refused when it could not stay inside a folder.

    Raises:
        InvalidRequest: empty, not text, holds NUL, absolute, or has a `..` component.
    """
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidRequest("an output path is required (relative to the job's output folder)", path=str(path))
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("\\") or ".." in pure.parts:
        raise InvalidRequest(f"output path {path!r} must be relative to the job's output folder, without '..'",
                             path=path)
    if not pure.parts:
        raise InvalidRequest(f"output path {path!r} names the output folder itself, not a file", path=path)
    return pure


def _real_root(root: Path) -> Path:
    real = Path(os.path.realpath(root))
    if not real.is_dir():
        raise NotFound(f"the output folder {root} does not exist")
    return real


def _inside(real_root: Path, candidate: Path) -> Path | None:
    """The real path of `candidate` when it lies inside `real_root`, else None."""
    target = Path(os.path.realpath(candidate))
    return target if target.is_relative_to(real_root) else None


def list_files(root: Path) -> list[OutputFile]:
    """Every regular file under `root` that `read_file` would serve, sorted by path.

    Linked folders are not entered (a link to an ancestor would never end); a linked file is
    listed under the link's path, with its target's size and time.

    Raises:
        NotFound: `root` is not a folder.
    """
    real_root = _real_root(root)
    files: list[OutputFile] = []
    for folder, dirs, names in os.walk(real_root, followlinks=False):
        dirs.sort()
        for name in names:
            full = Path(folder, name)
            target = _inside(real_root, full)
            if target is None:
                continue
            try:
                st = os.stat(target)
            except OSError:
                continue  # removed while we walked, or unreadable: not a file we could serve
            if stat.S_ISREG(st.st_mode):
                files.append(OutputFile(path=full.relative_to(real_root).as_posix(), size=st.st_size,
                                        mtime=iso_utc(st.st_mtime)))
    files.sort(key=lambda f: f.path)
    return files


def _open_beneath(real_root: Path, parts: tuple[str, ...]) -> int:
    """A read descriptor of `parts` under `real_root`, no component followed if it is a link.

    O_NONBLOCK: a FIFO a job planted must not hang the server in open(); it is refused below.
    """
    fd = os.open(real_root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)


def open_file(root: Path, path: str) -> tuple[BinaryIO, int]:
    """One output file opened for reading under the rule above, with its size when opened.

    The caller closes the file (an unclosed one is closed when collected).

    Raises:
        InvalidRequest: `path` fails `check_path`.
        NotFound: no such regular file, or its real path lies outside `root`.
    """
    pure = check_path(path)
    real_root = _real_root(root)
    target = _inside(real_root, real_root.joinpath(*pure.parts))
    if target is None:
        raise NotFound(f"output file {path!r} not found (it points outside the job's output folder)", path=path)
    parts = target.relative_to(real_root).parts
    if not parts:
        raise NotFound(f"output file {path!r} not found (it is the output folder itself)", path=path)
    try:
        fd = _open_beneath(real_root, parts)
    except OSError as e:
        if e.errno in _GONE:
            raise NotFound(f"output file {path!r} not found", path=path) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotFound(f"output file {path!r} not found (it is not a regular file)", path=path)
        return os.fdopen(fd, "rb", buffering=0), st.st_size
    except BaseException:
        os.close(fd)
        raise


def read_file(root: Path, path: str, limit: int) -> bytes:
    """At most `limit` bytes from the start of one output file, under the rule above.

    Raises:
        InvalidRequest: `limit` is not a whole number >= 0, or `path` fails `check_path`.
        NotFound: no such regular file, or its real path lies outside `root`.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidRequest(f"limit must be a whole number of bytes >= 0, not {limit!r}", argument="limit")
    handle, _ = open_file(root, path)
    with handle:
        chunks: list[bytes] = []
        left = limit
        while left > 0:
            chunk = handle.read(min(left, READ_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


async def stream_file(root: Path, path: str) -> AsyncGenerator[bytes, None]:
    """One whole output file as chunks of at most READ_CHUNK bytes, under the rule above.

    The file is opened, and every refusal raised, when this is awaited, before any byte; the
    chunks stop at the size the file had then. Memory holds one chunk at a time; `aclose()` on
    the generator (or reaching its end) closes the file.

    Raises:
        InvalidRequest: `path` fails `check_path`.
        NotFound: no such regular file, or its real path lies outside `root`.
    """
    handle, size = await asyncio.to_thread(open_file, root, path)
    return _chunks(handle, size)


async def _chunks(handle: BinaryIO, size: int) -> AsyncGenerator[bytes, None]:
    try:
        left = size
        while left > 0:
            chunk = await asyncio.to_thread(handle.read, min(left, READ_CHUNK))
            if not chunk:
                break  # the file shrank since it was opened: what is left of it is sent
            left -= len(chunk)
            yield chunk
    finally:
        handle.close()
