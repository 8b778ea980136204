"""output_files.py: the one rule both backends read output files by, down to the race it closes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dtrain_jupyter.backends import output_files
from dtrain_jupyter.backends.output_files import iso_utc, list_files, read_file
from dtrain_jupyter.errors import InvalidRequest, NotFound


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "out"
    (root / "real").mkdir(parents=True)
    (root / "real" / "f.txt").write_text("inside")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "f.txt").write_text("outside")
    return root


def test_a_folder_swapped_for_a_link_after_the_check_is_not_followed(root, tmp_path, monkeypatch) -> None:
    # The check saw real/f.txt inside the folder; by the time of the open, `real` is a link
    # leading out. Each component is opened without following links, so the open fails.
    (root / "real").rename(root / "was-real")
    os.symlink(tmp_path / "elsewhere", root / "real")
    monkeypatch.setattr(output_files, "_inside", lambda real_root, candidate: real_root / "real" / "f.txt")
    with pytest.raises(NotFound):
        read_file(root, "real/f.txt", 100)


def test_a_long_file_is_read_up_to_the_limit_in_bounded_steps(root, monkeypatch) -> None:
    monkeypatch.setattr(output_files, "READ_CHUNK", 7)
    (root / "big.bin").write_bytes(bytes(range(256)) * 10)
    assert read_file(root, "big.bin", 100) == (bytes(range(256)) * 10)[:100]
    assert read_file(root, "big.bin", 10_000) == bytes(range(256)) * 10


def test_the_folder_itself_and_a_missing_folder(root, tmp_path) -> None:
    for path, error in ((".", InvalidRequest), ("./", InvalidRequest), ("real/.", NotFound)):
        with pytest.raises(error):
            read_file(root, path, 10)
    with pytest.raises(NotFound):
        list_files(tmp_path / "none")
    with pytest.raises(NotFound):
        read_file(tmp_path / "none", "f.txt", 10)


def test_times_are_iso_8601_utc_to_the_second() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1_700_000_000.9) == "2023-11-14T22:13:20Z"
