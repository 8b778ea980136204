"""outputs.py: listing and reading files that never leave the output folder."""

from __future__ import annotations

import os

import pytest

from dtrain_jupyter.backends.local.outputs import list_outputs, read_output
from dtrain_jupyter.errors import InvalidRequest, NotFound


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "out"
    (root / "ckpt").mkdir(parents=True)
    (root / "metrics.json").write_text("{}")
    (root / "ckpt" / "w.pt").write_bytes(b"0123456789")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("secret")
    os.symlink(tmp_path / "outside" / "secret", root / "link-out")
    os.symlink(tmp_path / "outside", root / "dir-out")
    os.symlink(root / "metrics.json", root / "link-in")
    return root


def test_list_skips_links_that_leave(root):
    assert [(f.path, f.size) for f in list_outputs(root)] == [("ckpt/w.pt", 10), ("link-in", 2), ("metrics.json", 2)]


def test_read_with_limit(root):
    assert read_output(root, "ckpt/w.pt", 4) == b"0123"
    assert read_output(root, "link-in", 100) == b"{}"


@pytest.mark.parametrize("path, error", [
    ("../outside/secret", InvalidRequest), ("/etc/passwd", InvalidRequest), ("", InvalidRequest),
    ("ckpt/../../outside/secret", InvalidRequest), ("link-out", NotFound), ("dir-out/secret", NotFound),
    ("ckpt", NotFound), ("missing", NotFound),
])
def test_paths_that_leave_or_do_not_exist(root, path, error):
    with pytest.raises(error):
        read_output(root, path, 10)


def test_missing_folder_and_bad_limit(tmp_path, root):
    with pytest.raises(NotFound):
        list_outputs(tmp_path / "nope")
    with pytest.raises(InvalidRequest):
        read_output(root, "metrics.json", -1)
