"""logs.py: tail, offsets, chunked reads and a follower that survives log rotation."""

from __future__ import annotations

import asyncio
import os

from dtrain_jupyter.backends.local import logs
from dtrain_jupyter.backends.local.logs import Follower, follow, read_lines, tail_offset


def test_tail_offset_counts_lines_from_the_end(tmp_path):
    f = tmp_path / "a.log"
    f.write_bytes(b"one\ntwo\nthree\n")
    assert list(read_lines(f, tail_offset(f, 2))) == ["two", "three"]
    assert list(read_lines(f, tail_offset(f, 10))) == ["one", "two", "three"]
    assert list(read_lines(f, tail_offset(f, 0))) == []
    f.write_bytes(b"one\ntwo\npartial")
    assert list(read_lines(f, tail_offset(f, 1))) == ["partial"]
    assert tail_offset(tmp_path / "missing.log", 3) == 0


def test_reads_cross_chunk_boundaries_and_bad_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "CHUNK", 7)
    f = tmp_path / "a.log"
    f.write_bytes(b"a long first line\r\nsecond\n\xff\xfe third\n")
    assert list(read_lines(f)) == ["a long first line", "second", "\ufffd\ufffd third"]
    assert list(read_lines(f, tail_offset(f, 2))) == ["second", "\ufffd\ufffd third"]


def test_follower_drains_a_rotated_file_then_reads_the_new_one(tmp_path):
    cur, prev = tmp_path / "p.log", tmp_path / "p.previous.log"
    cur.write_bytes(b"first\nhalf")
    follower = Follower({"p": (cur, 0)})
    assert follower.poll() == [("p", "first")]
    with open(cur, "ab") as f:
        f.write(b" done\n")
    os.replace(cur, prev)
    cur.write_bytes(b"second attempt\n")
    assert follower.poll() == [("p", "half done"), ("p", "second attempt")]
    follower.close()


def test_follow_ends_when_done_and_drained(tmp_path, jp_asyncio_loop):
    f = tmp_path / "p.log"
    f.write_bytes(b"")
    state = {"done": False}

    async def writer():
        for i in range(3):
            with open(f, "ab") as fh:
                fh.write(f"line {i}\n".encode())
            await asyncio.sleep(0.02)
        with open(f, "ab") as fh:
            fh.write(b"no newline")
        state["done"] = True

    async def reader():
        return [line async for _, line in follow({"p": (f, 0)}, lambda: state["done"])]

    async def both():
        got, _ = await asyncio.gather(reader(), writer())
        return got

    assert jp_asyncio_loop.run_until_complete(both()) == ["line 0", "line 1", "line 2", "no newline"]


def test_trim_head_frees_the_head_and_keeps_offsets(tmp_path):
    f = tmp_path / "big.log"
    with open(f, "wb") as fh:
        for i in range(20000):
            fh.write(b"%09d " % i + b"x" * 89 + b"\n")  # 100-byte lines, 2 MB
    size = f.stat().st_size
    trimmed = logs.trim_head(f, 64 * 1024)
    assert trimmed == (size - 64 * 1024) // 4096 * 4096
    assert f.stat().st_size == size  # offsets stay valid
    assert f.stat().st_blocks * 512 <= 64 * 1024 + 2 * 4096  # the head's blocks are freed
    start = logs.limit_offset(f, 64 * 1024)
    lines = list(read_lines(f, start))
    assert lines[-1].startswith("000019999 ") and all(len(ln) == 99 for ln in lines)
    assert len(lines) == (size - start) // 100
    assert tail_offset(f, 10 ** 6, floor=start) == start


def test_a_follower_reads_a_large_backlog_in_bounded_steps(tmp_path) -> None:
    """A log written faster than it is followed comes out in steps of about the budget, each line once."""
    budget = logs.CHUNK
    path = tmp_path / "big.log"
    lines = [f"line {i:07d} " + "x" * 100 for i in range(40_000)]  # about 4.6 MiB
    path.write_text("\n".join(lines) + "\ntail without newline")
    follower = Follower({"p": (path, 0)})
    got, steps = [], 0
    while True:
        step = follower.poll(final=True, budget=budget)
        steps += 1
        assert len(step) <= budget // 100 + 1  # never more than a budget's worth of lines
        got += [line for _, line in step]
        if not follower.more:
            break
    follower.close()
    assert got == lines + ["tail without newline"] and steps >= 4


def test_a_raw_follower_gives_the_bytes_as_written_in_blocks_of_whole_lines(tmp_path) -> None:
    """Raw: no decoding, no \\r stripped, a partial line held back until its newline (or its file's end)."""
    cur, prev = tmp_path / "p.log", tmp_path / "p.previous.log"
    cur.write_bytes(b"first\r\n\xff second\nhalf")
    raw, lines = Follower({"p": (cur, 0)}, raw=True), Follower({"p": (cur, 0)})
    assert raw.poll() == [("p", b"first\r\n\xff second\n")]
    assert lines.poll() == [("p", "first"), ("p", "\ufffd second")]
    with open(cur, "ab") as f:
        f.write(b" done\nnext")
    assert raw.poll() == [("p", b"half done\n")]
    # Rotation: the old file's last partial line is a line of its own, then the new file from its start.
    os.replace(cur, prev)
    cur.write_bytes(b"second attempt\n")
    assert raw.poll() == [("p", b"next\n"), ("p", b"second attempt\n")]
    # copytruncate: the file cut under the reader is read again from its start.
    with open(cur, "r+b") as f:
        f.truncate(0)
    assert raw.poll() == []
    cur.write_bytes(b"after the cut\nno newline")
    assert raw.poll(final=True) == [("p", b"after the cut\n"), ("p", b"no newline\n")]
    raw.close()
    lines.close()


def test_a_raw_follower_and_a_line_follower_read_the_same_lines(tmp_path) -> None:
    """Across chunk and budget boundaries the raw blocks, split, are the line follower's lines."""
    path = tmp_path / "big.log"
    lines = [f"line {i:07d} " + "é" * (i % 50) for i in range(30_000)]
    path.write_text("\n".join(lines) + "\nlast without newline")
    raw = Follower({"p": (path, 0)}, raw=True)
    blocks = []
    while True:
        blocks += [block for _, block in raw.poll(final=True, budget=logs.CHUNK)]
        if not raw.more:
            break
    raw.close()
    assert len(blocks) > 1 and all(block.endswith(b"\n") for block in blocks)
    assert b"".join(blocks).decode().split("\n")[:-1] == lines + ["last without newline"]


def test_a_raw_follow_ends_when_done_and_drained(tmp_path, jp_asyncio_loop) -> None:
    f = tmp_path / "p.log"
    f.write_bytes(b"")
    state = {"done": False}

    async def writer():
        for i in range(3):
            with open(f, "ab") as fh:
                fh.write(f"line {i}\r\n".encode())
            await asyncio.sleep(0.02)
        with open(f, "ab") as fh:
            fh.write(b"no newline")
        state["done"] = True

    async def reader():
        return b"".join([block async for _, block in follow({"p": (f, 0)}, lambda: state["done"], raw=True)])

    async def both():
        got, _ = await asyncio.gather(reader(), writer())
        return got

    assert jp_asyncio_loop.run_until_complete(both()) == b"line 0\r\nline 1\r\nline 2\r\nno newline\n"
