"""Archived logs: appended chunk by chunk, read whole or by tail, replaced atomically, a full disk in words."""

from __future__ import annotations

import errno

import pytest

from dtrain_jupyter.history import log_archive
from dtrain_jupyter.history.log_archive import ArchiveFull, LogArchive


@pytest.fixture
def archive(tmp_path):
    return LogArchive(tmp_path)


def test_appended_chunks_read_back_whole(archive):
    with archive.open_for_append(7, "a-worker-0") as out:
        for i in range(1000):
            out.write(f"line {i}\n".encode())
    with archive.open_for_append(7, "a-worker-0") as out:
        out.write(b"partial")
    text = b"".join(archive.read(7, "a-worker-0"))
    assert text == b"".join(f"line {i}\n".encode() for i in range(1000)) + b"partial"
    assert archive.logs_of(7) == [("a-worker-0", "", len(text))]
    assert archive.size(7) == len(text)


@pytest.mark.parametrize("tail", [0, 1, 2, 5, 999, 1000, 1001, 5000])
@pytest.mark.parametrize("last_newline", [True, False])
def test_tail_gives_the_last_lines_across_read_chunks(archive, monkeypatch, tail, last_newline):
    monkeypatch.setattr(log_archive, "READ_CHUNK", 7)  # many chunk boundaries inside lines
    lines = [f"{i:04d} some words".encode() for i in range(1000)]
    body = b"\n".join(lines) + (b"\n" if last_newline else b"")
    archive.replace(1, "p", iter([body]))
    got = b"".join(archive.read(1, "p", tail=tail))
    assert got.splitlines() == (lines[-tail:] if tail else [])


def test_containers_get_their_own_files_and_bad_names_are_refused(archive):
    archive.replace(2, "pod-a", iter([b"x\n"]), container="sidecar")
    archive.replace(2, "pod-a", iter([b"y\n"]))
    assert archive.logs_of(2) == [("pod-a", "", 2), ("pod-a", "sidecar", 2)]
    for pod, container in (("../etc", ""), ("a/b", ""), ("", ""), ("ok", "..")):
        with pytest.raises(ValueError):
            archive.path(2, pod, container)
    with pytest.raises(FileNotFoundError):
        archive.read(2, "never")
    archive.remove(2)
    assert archive.logs_of(2) == []


class FullDisk:
    """A file whose writes fail as a full disk does, after `room` bytes."""

    def __init__(self, room: int) -> None:
        self.room = room

    def write(self, chunk: bytes) -> int:
        if len(chunk) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(chunk)
        return len(chunk)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_a_full_disk_is_archive_full_and_replace_keeps_the_old_log(archive):
    archive.replace(3, "p", iter([b"old\n"]))
    writer = archive.open_for_append(3, "p")
    writer.close()
    writer._file = FullDisk(room=4)  # the one place this test stands in for the kernel
    writer.write(b"abc\n")
    with pytest.raises(ArchiveFull, match=r"no room left to archive p.log \(4 bytes kept\)"):
        writer.write(b"more\n")

    original = log_archive.ArchiveWriter.write

    def full(self, chunk):
        if self.written >= 2:
            raise ArchiveFull(errno.ENOSPC, "no room", str(self.path))
        return original(self, chunk)

    log_archive.ArchiveWriter.write = full
    try:
        with pytest.raises(ArchiveFull):
            archive.replace(3, "p", iter([b"new", b"er\n"]))
    finally:
        log_archive.ArchiveWriter.write = original
    assert b"".join(archive.read(3, "p")) == b"old\n"
    assert [p.name for p in archive.path(3, "p").parent.iterdir()] == ["p.log"]
