"""Backend.outputs, output_location, read_output and output_bytes: one listing, one location
answer and one safety rule on every backend.

The test plants files where the backend reads the job's outputs (a job writes them there the
same way); symlinks stand for what a job could plant to reach outside its folder.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from dtrain_jupyter.backends.base import CAP_OUTPUTS
from dtrain_jupyter.backends.output_files import READ_CHUNK
from dtrain_jupyter.errors import InvalidRequest, JobNotFound, NotFound

from .harness import KIND, NAMESPACE

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def planted(harness, jp_asyncio_loop):
    """The shared finished job, its output folder holding files, links and a secret beside it."""
    if CAP_OUTPUTS not in harness.backend.capabilities:
        pytest.skip(f"{harness.label} cannot read outputs here")
    name = jp_asyncio_loop.run_until_complete(harness.shared_job("finished"))
    root = harness.output_dir(name)
    if not (root / "metrics.json").exists():
        (root / "ckpt").mkdir()
        (root / "metrics.json").write_text('{"loss": 0.1}')
        (root / "ckpt" / "w.pt").write_bytes(bytes(range(256)) * 4)
        secret = harness.tmp / "secret.txt"
        secret.write_text("not yours")
        os.symlink(secret, root / "escape.txt")                   # a file outside
        os.symlink(harness.tmp, root / "escape-dir")              # a folder outside
        os.symlink("metrics.json", root / "latest.json")          # a file inside
        os.symlink("../" + root.name + "/ckpt", root / "ckpt-link")  # a folder inside, by a detour
        os.mkfifo(root / "pipe")                                  # not a regular file
    return name, root


async def test_listing_has_every_readable_file_and_nothing_else(harness, planted) -> None:
    name, root = planted
    files = await harness.backend.outputs(KIND, name, NAMESPACE)
    assert [(f.path, f.size) for f in files] == [("ckpt/w.pt", 1024), ("latest.json", 13), ("metrics.json", 13)]
    assert all(ISO_UTC.match(f.mtime) for f in files), files


async def test_reading_is_limited_and_follows_only_links_that_stay_inside(harness, planted) -> None:
    name, _ = planted
    read = harness.backend.read_output
    assert await read(KIND, name, NAMESPACE, "metrics.json", limit=100) == b'{"loss": 0.1}'
    assert await read(KIND, name, NAMESPACE, "ckpt/w.pt", limit=5) == bytes(range(5))
    assert await read(KIND, name, NAMESPACE, "ckpt/w.pt", limit=0) == b""
    assert await read(KIND, name, NAMESPACE, "latest.json", limit=100) == b'{"loss": 0.1}'
    assert await read(KIND, name, NAMESPACE, "ckpt-link/w.pt", limit=3) == bytes(range(3))


REFUSED = pytest.mark.parametrize("path, error", [
    ("escape.txt", NotFound), ("escape-dir/secret.txt", NotFound), ("missing.txt", NotFound),
    ("ckpt", NotFound), ("pipe", NotFound),
    ("../secret.txt", InvalidRequest), ("ckpt/../../secret.txt", InvalidRequest), ("/etc/passwd", InvalidRequest),
    ("", InvalidRequest), ("a\0b", InvalidRequest),
], ids=["link-out", "folder-link-out", "missing", "a-folder", "a-fifo", "dotdot", "dotdot-inside", "absolute",
        "empty", "nul"])


@REFUSED
async def test_what_may_not_be_read(harness, planted, path, error) -> None:
    name, _ = planted
    with pytest.raises(error):
        await harness.backend.read_output(KIND, name, NAMESPACE, path, limit=100)


@REFUSED
async def test_what_may_not_be_read_may_not_be_streamed_either(harness, planted, path, error) -> None:
    name, _ = planted
    with pytest.raises(error):
        await harness.backend.output_bytes(KIND, name, NAMESPACE, path)


async def test_a_whole_file_streams_in_bounded_chunks_up_to_its_size_when_opened(harness, planted) -> None:
    name, root = planted
    big = bytes(range(256)) * (READ_CHUNK // 128) + b"end"  # two chunks and a bit
    (root / "big.bin").write_bytes(big)
    chunks = await harness.backend.output_bytes(KIND, name, NAMESPACE, "big.bin")
    got = [await anext(chunks)]
    # Written after the file was opened: not part of this read (a growing file ends).
    with open(root / "big.bin", "ab") as more:
        more.write(b"later")
    got += [chunk async for chunk in chunks]
    assert b"".join(got) == big and max(len(c) for c in got) <= READ_CHUNK and len(got) == 3
    # Through a link that stays inside, and stopped early: the file is closed, nothing hangs.
    link = await harness.backend.output_bytes(KIND, name, NAMESPACE, "ckpt-link/w.pt")
    assert [c async for c in link] == [bytes(range(256)) * 4]
    early = await harness.backend.output_bytes(KIND, name, NAMESPACE, "big.bin")
    await anext(early)
    await early.aclose()


async def test_the_output_location_is_named_on_every_backend(harness) -> None:
    name = await harness.shared_job("finished")
    location = await harness.backend.output_location(KIND, name, NAMESPACE)
    assert location == harness.output_location(name)
    assert set(location) in ({"folder"}, {"claim", "path"})
    with pytest.raises(JobNotFound):
        await harness.backend.output_location(KIND, "ghost", NAMESPACE)


async def test_outputs_that_cannot_be_listed_yet_still_say_where_they_will_be(harness) -> None:
    if CAP_OUTPUTS not in harness.backend.capabilities:
        pytest.skip(f"{harness.label} cannot read outputs here")
    name = await harness.shared_job("running")
    shutil.rmtree(harness.output_dir(name))  # nothing written yet, not even the folder
    with pytest.raises(NotFound) as missing:
        await harness.backend.outputs(KIND, name, NAMESPACE)
    assert missing.value.fields["location"] == harness.output_location(name)


async def test_a_negative_limit_is_invalid_and_a_missing_job_is_job_not_found(harness, planted) -> None:
    name, _ = planted
    with pytest.raises(InvalidRequest):
        await harness.backend.read_output(KIND, name, NAMESPACE, "metrics.json", limit=-1)
    with pytest.raises(JobNotFound):
        await harness.backend.outputs(KIND, "ghost", NAMESPACE)
    with pytest.raises(JobNotFound):
        await harness.backend.read_output(KIND, "ghost", NAMESPACE, "metrics.json", limit=10)
    with pytest.raises(JobNotFound):
        await harness.backend.output_bytes(KIND, "ghost", NAMESPACE, "metrics.json")
