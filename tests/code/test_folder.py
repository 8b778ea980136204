"""Packing a script folder: the same files give the same bytes, ignore files are read as git reads
them, links out of the folder and folders too big are refused before anything is sent."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dtrain_jupyter.code.folder import DATE, folder_files, pack_folder
from dtrain_jupyter.errors import InvalidRequest
from dtrain_jupyter.model.code_archive import MAX_ARCHIVE_BYTES


def make(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def packed(root: Path) -> list[str]:
    return [f.path for f in folder_files(root)]


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return tar.getmembers()


def test_the_same_files_pack_to_the_same_bytes_whatever_their_dates_and_order(tmp_path: Path) -> None:
    files = {"train.py": "print(1)\n", "lib/util.py": "X = 1\n", "run.sh": "#!/bin/sh\n"}
    first = make(tmp_path / "a", files)
    second = make(tmp_path / "b", dict(reversed(list(files.items()))))
    os.chmod(first / "run.sh", 0o755)
    os.chmod(second / "run.sh", 0o750)
    os.utime(second / "train.py", (1, 1))
    a, b = pack_folder(first, "train.py"), pack_folder(second, "train.py")
    assert a.data == b.data and a.sha256 == b.sha256 and a.files == 3 and a.entry == "train.py"
    infos = members(a.data)
    assert [i.name for i in infos] == ["lib/util.py", "run.sh", "train.py"]
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in infos} == {(DATE, 0, 0, "", "")}
    assert [oct(i.mode) for i in infos] == ["0o644", "0o755", "0o644"]
    # The gzip header (RFC 1952): no file name flag, and DATE as its time.
    assert a.data[3] & 0x08 == 0 and int.from_bytes(a.data[4:8], "little") == DATE
    (first / "train.py").write_text("print(2)\n")
    assert pack_folder(first, "train.py").sha256 != a.sha256


def test_always_left_out_folders(tmp_path: Path) -> None:
    make(tmp_path, {"train.py": "", ".git/HEAD": "ref", "__pycache__/x.pyc": "", "sub/__pycache__/y.pyc": "",
                    ".ipynb_checkpoints/nb.ipynb": "", "sub/keep.py": ""})
    assert packed(tmp_path) == ["sub/keep.py", "train.py"]


def test_gitignore_comments_blank_lines_globs_and_negation(tmp_path: Path) -> None:
    make(tmp_path, {
        ".gitignore": "# a comment\n\n*.log\n!keep.log\nda?a.csv\n\\#literal\n",
        "a.log": "", "keep.log": "", "deep/b.log": "", "deep/keep.log": "", "data.csv": "", "dada.csv": "",
        "daata.csv": "", "#literal": "", "train.py": ""})
    assert packed(tmp_path) == [".gitignore", "daata.csv", "deep/keep.log", "keep.log", "train.py"]


def test_trailing_slash_means_folders_only_and_leading_slash_anchors(tmp_path: Path) -> None:
    make(tmp_path, {
        ".gitignore": "build/\n/top.txt\nlogs\n",
        "build/out.bin": "", "src/build/gen.py": "", "build.py": "",  # build/ is a folder pattern: build.py stays
        "top.txt": "", "src/top.txt": "",                             # /top.txt only at the top
        "logs/today": "", "src/logs": ""})                            # logs: folders and files at any depth
    assert packed(tmp_path) == [".gitignore", "build.py", "src/top.txt"]


def test_double_stars(tmp_path: Path) -> None:
    make(tmp_path, {
        ".gitignore": "**/cache\nmodels/**\na/**/z.txt\n!models/\n",
        "cache/x": "", "deep/er/cache/y": "", "models/w.pt": "", "a/z.txt": "", "a/b/c/z.txt": "", "a/keep.txt": ""})
    assert packed(tmp_path) == [".gitignore", "a/keep.txt"]


def test_nested_ignore_files_apply_below_their_folder_and_dtrainignore_has_the_last_word(tmp_path: Path) -> None:
    make(tmp_path, {
        ".gitignore": "*.csv\n",
        ".dtrainignore": "!small.csv\nweights/\n",
        "small.csv": "", "big.csv": "", "weights/w.pt": "",
        "sub/.gitignore": "/local.txt\n!big.csv\n", "sub/local.txt": "", "sub/big.csv": "", "sub/deeper/local.txt": "",
        "other/local.txt": ""})
    assert packed(tmp_path) == [".dtrainignore", ".gitignore", "other/local.txt", "small.csv", "sub/.gitignore",
                                "sub/big.csv", "sub/deeper/local.txt"]


def test_a_file_under_an_ignored_folder_cannot_be_brought_back(tmp_path: Path) -> None:
    make(tmp_path, {".gitignore": "out/\n!out/keep.txt\n", "out/keep.txt": "", "train.py": ""})
    assert packed(tmp_path) == [".gitignore", "train.py"]


def test_links_inside_travel_as_links_and_links_out_are_refused(tmp_path: Path) -> None:
    root = make(tmp_path / "work", {"train.py": "", "lib/real.py": ""})
    (root / "alias.py").symlink_to("lib/real.py")
    archive = pack_folder(root, "train.py")
    link = next(i for i in members(archive.data) if i.name == "alias.py")
    assert link.issym() and link.linkname == "lib/real.py"
    make(tmp_path, {"secret.txt": "s"})
    (root / "lib" / "leak").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(InvalidRequest) as info:
        pack_folder(root, "train.py")
    assert info.value.fields["path"] == "lib/leak" and "outside the folder" in info.value.message


def test_a_folder_too_big_names_its_size_the_limit_and_the_five_largest_files(tmp_path: Path) -> None:
    sizes = {f"data/part{i}.bin": 300_000 + i for i in range(7)}
    make(tmp_path, {"train.py": "", **{name: os.urandom(size) for name, size in sizes.items()}})
    with pytest.raises(InvalidRequest) as info:
        pack_folder(tmp_path, "train.py")
    err = info.value
    assert err.fields["limit"] == MAX_ARCHIVE_BYTES and err.fields["size"] > MAX_ARCHIVE_BYTES
    assert f"packs to {err.fields['size']:,} bytes" in err.message and "1,000,000" in err.message
    assert err.fields["largest"] == [[f"data/part{i}.bin", 300_000 + i] for i in (6, 5, 4, 3, 2)]
    assert "data/part6.bin (300,006 bytes)" in err.message and "part1.bin" not in err.message
    assert ".dtrainignore" in err.message
    (tmp_path / ".dtrainignore").write_text("data/\n")
    assert pack_folder(tmp_path, "train.py").files == 2


def test_the_script_must_be_a_packed_file(tmp_path: Path) -> None:
    make(tmp_path, {".dtrainignore": "scratch.py\n", "scratch.py": "", "train.py": ""})
    with pytest.raises(InvalidRequest) as info:
        pack_folder(tmp_path, "scratch.py")
    assert "left out by an ignore rule" in info.value.message and info.value.fields["names"] == ["script"]
    with pytest.raises(InvalidRequest) as info:
        pack_folder(tmp_path, "nope.py")
    assert "is not a file" in info.value.message
    with pytest.raises(InvalidRequest) as info:
        pack_folder(tmp_path, "../train.py")
    assert "without '..'" in info.value.message
    assert pack_folder(tmp_path, str(tmp_path / "train.py")).entry == "train.py"
    with pytest.raises(InvalidRequest) as info:
        pack_folder(tmp_path / "missing", "train.py")
    assert info.value.fields["names"] == ["workdir"]
