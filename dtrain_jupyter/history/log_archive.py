"""Archived pod logs: one file per pod (and container) of a history record, beside the database.

    <history folder>/logs/<record id>/<pod>.log            the pod's only (or first) container
    <history folder>/logs/<record id>/<pod>.<container>.log

Bytes are appended as they arrive, in the chunks they arrive in, so archiving a 1 GB log holds
one chunk in memory at a time; reading gives chunks of `READ_CHUNK` bytes, or the last lines by
reading backwards. A full disk is `ArchiveFull`, with the path and what was kept, so the caller
can say so and go on: the job itself never depends on its archive.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import BinaryIO, Iterator

from ..model.code_archive import CodeArchive

LOGS_FOLDER = "logs"
# A script-folder job's code, kept beside its logs so it can run again after its ConfigMap is gone.
CODE_FILE = "code.tar.gz"
CODE_INFO = "code.json"
# Beside a log that was cut short (the server stopped, the pod went mid-read): a later read replaces it.
INCOMPLETE = ".incomplete"
READ_CHUNK = 256 * 1024
# Pod and container names are DNS labels; anything else would not name a file safely.
_SAFE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class ArchiveFull(OSError):
    """The disk (or quota) holding the archive is full: the log from here on is not kept."""


class LogArchive:
    """The log files of every record in one history folder."""

    def __init__(self, folder: Path) -> None:
        self.root = Path(folder) / LOGS_FOLDER

    def path(self, record_id: int, pod: str, container: str = "") -> Path:
        """The file of one pod's (container's) log; ValueError for a name that is not a DNS label."""
        for what, value in (("pod", pod), ("container", container)):
            if value and not _SAFE_NAME.match(value):
                raise ValueError(f"{what} name {value!r} cannot name an archived log")
        if not pod:
            raise ValueError("an archived log needs its pod's name")
        name = f"{pod}.{container}.log" if container else f"{pod}.log"
        return self.root / str(int(record_id)) / name

    def open_for_append(self, record_id: int, pod: str, container: str = "") -> "ArchiveWriter":
        return ArchiveWriter(self.path(record_id, pod, container))

    def replace(self, record_id: int, pod: str, chunks: Iterator[bytes], container: str = "") -> int:
        """Write a whole log at once (a pod that ended before it was followed), atomically: the
        old file stays until the new one is complete. Returns the bytes written.

        Raises:
            ArchiveFull: the disk filled; the old file (if any) is kept, the partial one removed.
        """
        target = self.path(record_id, pod, container)
        partial = target.with_name(target.name + ".partial")
        written = 0
        with ArchiveWriter(partial, truncate=True) as out:
            try:
                for chunk in chunks:
                    written += out.write(chunk)
            except ArchiveFull:
                out.close()
                partial.unlink(missing_ok=True)
                raise
        os.replace(partial, target)
        return written

    def logs_of(self, record_id: int) -> list[tuple[str, str, int]]:
        """(pod, container, size) of every archived log of a record, by name."""
        folder = self.root / str(int(record_id))
        found = []
        for path in sorted(folder.glob("*.log")) if folder.is_dir() else ():
            pod, _, container = path.name[:-len(".log")].partition(".")
            found.append((pod, container, path.stat().st_size))
        return found

    def read(self, record_id: int, pod: str, container: str = "", *, tail: int | None = None) -> Iterator[bytes]:
        """The archived log in chunks; with `tail`, only its last `tail` lines.

        Raises:
            FileNotFoundError: nothing was archived for that pod.
        """
        path = self.path(record_id, pod, container)
        handle = path.open("rb")
        if tail is not None:
            handle.seek(_start_of_last_lines(handle, tail))
        return _chunks(handle)

    def complete(self, record_id: int, pod: str, container: str = "") -> bool:
        """Whether the pod's whole log is archived (not absent, not cut short by a stop or a failure)."""
        path = self.path(record_id, pod, container)
        return path.exists() and not path.with_name(path.name + INCOMPLETE).exists()

    def set_complete(self, record_id: int, pod: str, complete: bool, container: str = "") -> None:
        """Mark an archived log whole, or cut short (a marker file beside it)."""
        marker = self.path(record_id, pod, container)
        marker = marker.with_name(marker.name + INCOMPLETE)
        if complete:
            marker.unlink(missing_ok=True)
        else:
            marker.touch()

    def keep_code(self, record_id: int, code: CodeArchive) -> None:
        """Keep a job's script folder archive (at most a ConfigMap's size), written atomically."""
        folder = self.root / str(int(record_id))
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / (CODE_FILE + ".partial")
        partial.write_bytes(code.data)
        (folder / CODE_INFO).write_text(json.dumps({"files": code.files, "entry": code.entry}))
        os.replace(partial, folder / CODE_FILE)

    def code(self, record_id: int) -> CodeArchive | None:
        """The kept script folder archive of a record, or None."""
        folder = self.root / str(int(record_id))
        try:
            data = (folder / CODE_FILE).read_bytes()
            info = json.loads((folder / CODE_INFO).read_text())
        except (OSError, ValueError):
            return None
        return CodeArchive.of(data, files=int(info.get("files") or 0), entry=str(info.get("entry") or ""))

    def size(self, record_id: int) -> int:
        return sum(size for _, _, size in self.logs_of(record_id))

    def remove(self, record_id: int) -> None:
        shutil.rmtree(self.root / str(int(record_id)), ignore_errors=True)


class ArchiveWriter:
    """Appends to one archived log; the folder is made on first use."""

    def __init__(self, path: Path, *, truncate: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: BinaryIO | None = path.open("wb" if truncate else "ab")
        self.written = 0

    def write(self, chunk: bytes) -> int:
        """Append `chunk`; returns its size.

        Raises:
            ArchiveFull: the disk or the quota is full (ENOSPC, EDQUOT); nothing after it is kept.
        """
        if self._file is None:
            raise ValueError(f"{self.path} is closed")
        try:
            self._file.write(chunk)
            # Flushed per chunk: a server killed mid-log leaves every line it had received.
            self._file.flush()
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ArchiveFull(e.errno, f"no room left to archive {self.path.name} ({self.written} bytes "
                                           f"kept): {os.strerror(e.errno)}", str(self.path)) from e
            raise
        self.written += len(chunk)
        return len(chunk)

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass  # a flush that failed was already reported by write
            self._file = None

    def __enter__(self) -> "ArchiveWriter":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk


def _start_of_last_lines(handle: BinaryIO, lines: int) -> int:
    """The offset where the last `lines` lines start (a last line without a newline counts)."""
    end = handle.seek(0, os.SEEK_END)
    if lines <= 0 or end == 0:
        return end
    position, newlines = end, 0
    handle.seek(end - 1)
    if handle.read(1) == b"\n":
        newlines -= 1  # the final newline ends the last line, it does not start one
    while position > 0:
        step = min(READ_CHUNK, position)
        position -= step
        handle.seek(position)
        block = handle.read(step)
        index = len(block)
        while (index := block.rfind(b"\n", 0, index)) >= 0:
            newlines += 1
            if newlines == lines:
                return position + index + 1
    return 0
