"""runner.py running a script folder the way a cluster replica does: the archive read from the
ConfigMap's mount, checked, unpacked safely into a folder named by its hash, the script run there
with its arguments; and every archive that would write outside that folder refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from dtrain_jupyter.code import runner
from dtrain_jupyter.code.job import FolderJob

from .test_runner import container, markers, replica


def folder_job(tmp_path: Path, files: dict[str, str], script: str = "train.py", args=()):
    work = tmp_path / "work"
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    return FolderJob(script, work, args=list(args))


def as_mounted(spec, tmp_path: Path) -> dict:
    """The manifest with its archive where the ConfigMap would be mounted (here, a file of the test)."""
    mount = tmp_path / "mount"
    mount.mkdir()
    (mount / "code.tar.gz").write_bytes(spec.code.data)
    manifest = spec.to_manifest()
    c = container(manifest)
    call = json.loads(c["args"][1])
    assert call["archive"] == "/dtrain/code-archive/code.tar.gz" and call["sha256"] == spec.code.sha256
    c["args"][1] = json.dumps({**call, "archive": str(mount / "code.tar.gz")})
    return manifest


def test_the_script_runs_in_its_unpacked_folder_with_its_arguments(tmp_path: Path) -> None:
    spec = folder_job(tmp_path, {
        "train.py": "import sys, os, helper\nprint('ARGV', sys.argv)\nprint('CWD', os.getcwd())\n"
                    "print('HELPER', helper.twice(21))\nprint('NAME', __name__)\n",
        "helper.py": "def twice(x):\n    return 2 * x\n"}, args=["--lr", "0.1"])
    temp = tmp_path / "temp"
    temp.mkdir()
    manifest = as_mounted(spec, tmp_path)
    done = replica(manifest, {"TMPDIR": str(temp), "RANK": "0", "WORLD_SIZE": "1"})
    assert done.returncode == 0, done.stderr
    unpacked = temp / f"dtrain-code-{os.getuid()}" / spec.code.sha256[:32]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if not line.startswith("DTRAIN_"))
    assert lines == {"ARGV": "['train.py', '--lr', '0.1']", "CWD": str(unpacked), "HELPER": "42", "NAME": "__main__"}
    assert markers(done.stdout, runner.RESULT_MARKER)[0]["value"] is None
    # A second replica in the same pod finds the folder complete and unpacks nothing.
    (unpacked / "helper.py").write_text("def twice(x):\n    return 0\n")
    again = replica(manifest, {"TMPDIR": str(temp)})
    assert "HELPER 0" in again.stdout


def test_an_archive_that_is_not_the_jobs_is_refused_before_anything_runs(tmp_path: Path) -> None:
    spec = folder_job(tmp_path, {"train.py": "print('RAN')\n"})
    manifest = as_mounted(spec, tmp_path)
    (tmp_path / "mount" / "code.tar.gz").write_bytes(folder_job(tmp_path / "x", {"train.py": "1"}).code.data)
    done = replica(manifest, {"TMPDIR": str(tmp_path)})
    assert done.returncode == 1 and "RAN" not in done.stdout
    error = markers(done.stdout, runner.ERROR_MARKER)[0]
    assert error["stage"] == "code" and "is not this job's code" in error["message"] and error["script"] is True


def tar_gz(add) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        add(tar)
    return buffer.getvalue()


def file_member(tar: tarfile.TarFile, name: str, text: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(text)
    tar.addfile(info, io.BytesIO(text))


def link_member(tar: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    tar.addfile(info)


@pytest.mark.parametrize(("build", "words"), [
    (lambda tar: file_member(tar, "../evil.py"), "not a path inside"),
    (lambda tar: file_member(tar, "/abs/evil.py"), "not a path inside"),
    (lambda tar: link_member(tar, "out", "../.."), "outside the code folder"),
    (lambda tar: link_member(tar, "out", "/etc"), "outside the code folder"),
    (lambda tar: link_member(tar, "hard", "/etc/passwd", tarfile.LNKTYPE), "not a file, folder or link"),
    # A link that stays inside, then a member written through a link that leaves: both caught.
    (lambda tar: (link_member(tar, "a", "b/.."), link_member(tar, "b", "."), file_member(tar, "a/../../x")),
     "not a path inside"),
], ids=["dotdot", "absolute", "link-up", "link-absolute", "hardlink", "through-links"])
def test_unsafe_archives_write_nothing_outside(tmp_path: Path, build, words: str) -> None:
    data = tar_gz(build)
    target = tmp_path / "deep" / "code"
    with pytest.raises(runner.CodeArchiveError) as info:
        runner.unpack_code(data, hashlib.sha256(data).hexdigest(), str(target))
    assert words in str(info.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep"]  # no file, no staging folder left


def test_a_member_through_a_link_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    # The link itself is refused first; the check on where a file lands stands behind it.
    data = tar_gz(lambda tar: (link_member(tar, "via", str(outside)), file_member(tar, "via/x.py")))
    with pytest.raises(runner.CodeArchiveError):
        runner.unpack_code(data, hashlib.sha256(data).hexdigest(), str(tmp_path / "code"))
    assert list(outside.iterdir()) == []


def test_damaged_file_data_is_a_code_archive_error(tmp_path: Path) -> None:
    """Headers that read well and a member's compressed data that does not: a refusal in words."""
    text = b"".join(b"print(%d)\n" % i for i in range(50_000))  # compressible: Huffman-coded blocks
    data = bytearray(tar_gz(lambda tar: file_member(tar, "train.py", text)))
    # Garbage inside the deflate stream where zlib itself stops ("invalid distance too far back"):
    # the stream is the same bytes on every run (only the gzip header holds a time).
    data[1849:1857] = b"\xff" * 8
    with pytest.raises(runner.CodeArchiveError, match="cannot unpack the code archive"):
        runner.unpack_code(bytes(data), hashlib.sha256(bytes(data)).hexdigest(), str(tmp_path / "code"))
    assert not (tmp_path / "code").exists()


def test_an_archive_that_unpacks_to_too_much_is_refused(tmp_path: Path) -> None:
    """A small archive of a great deal of zeros (a decompression bomb) is refused, not written out."""
    data = tar_gz(lambda tar: file_member(tar, "zeros.bin", bytes(runner.UNPACKED_LIMIT + 1)))
    assert len(data) < 1_000_000
    with pytest.raises(runner.CodeArchiveError, match="unpacks to more than"):
        runner.unpack_code(data, hashlib.sha256(data).hexdigest(), str(tmp_path / "code"))
    assert not (tmp_path / "code").exists()
