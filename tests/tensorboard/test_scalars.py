"""EventScalars on real event files written by torch.utils.tensorboard.SummaryWriter."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy
import pytest

from dtrain_jupyter.model.metrics import MetricPoint
from dtrain_jupyter.tensorboard import EventScalars

SummaryWriter = pytest.importorskip("torch.utils.tensorboard").SummaryWriter


def write(folder: Path, tag: str, values: dict[int, float], *, new_style: bool = False) -> Path:
    """Write `values` (step -> value) of one tag into a fresh event file in `folder`; returns the file."""
    writer = SummaryWriter(log_dir=str(folder))
    for step, value in values.items():
        writer.add_scalar(tag, value, step, new_style=new_style)
    writer.close()
    return event_files(folder)[-1]


def event_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime_ns)


def curves(points: list[MetricPoint]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(run, tag) -> [(step, value)], in the order read."""
    found: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for p in points:
        assert p.source == "tensorboard" and p.time and p.time > 1e9
        found.setdefault((p.pod, p.name), []).append((p.step, pytest.approx(p.value)))
    return found


def test_both_scalar_encodings_are_read(tmp_path: Path) -> None:
    write(tmp_path, "loss", {1: 0.9, 2: 0.5})  # simple_value, torch's default
    write(tmp_path, "accuracy", {1: 0.25, 2: 0.75}, new_style=True)  # the tensor form
    reset, points = EventScalars(tmp_path).read_new()
    assert reset is True
    assert curves(points) == {(".", "loss"): [(1, 0.9), (2, 0.5)], (".", "accuracy"): [(1, 0.25), (2, 0.75)]}


def test_reads_only_what_was_written_since_the_last_call(tmp_path: Path) -> None:
    writer = SummaryWriter(log_dir=str(tmp_path))
    reader = EventScalars(tmp_path)
    writer.add_scalar("loss", 1.0, 1)
    writer.flush()
    assert curves(reader.read_new()[1]) == {(".", "loss"): [(1, 1.0)]}
    writer.add_scalar("loss", 0.5, 2)
    writer.add_scalar("loss", 0.25, 3)
    writer.flush()
    reset, points = reader.read_new()
    assert reset is False
    assert curves(points) == {(".", "loss"): [(2, 0.5), (3, 0.25)]}
    assert reader.read_new() == (False, [])
    writer.close()


def test_runs_in_sub_folders_are_named_by_their_folder(tmp_path: Path) -> None:
    write(tmp_path / "train", "loss", {1: 0.9})
    write(tmp_path / "eval" / "fold-1", "loss", {1: 0.8})
    write(tmp_path, "lr", {1: 0.01})
    _, points = EventScalars(tmp_path).read_new()
    assert curves(points) == {("eval/fold-1", "loss"): [(1, 0.8)], (".", "lr"): [(1, 0.01)],
                              ("train", "loss"): [(1, 0.9)]}


def test_a_truncated_file_resets_and_everything_is_read_again(tmp_path: Path) -> None:
    write(tmp_path / "a", "loss", {1: 0.9})
    b = write(tmp_path / "b", "loss", {1: 0.7, 2: 0.6})
    reader = EventScalars(tmp_path)
    reader.read_new()
    with open(b, "r+b") as f:  # cut back to its first records: a file started over
        f.truncate(b.stat().st_size // 2)
    reset, points = reader.read_new()
    assert reset is True
    assert curves(points)[("a", "loss")] == [(1, 0.9)]


def test_a_replaced_file_resets(tmp_path: Path) -> None:
    run = tmp_path / "run"
    old = write(run, "loss", {1: 0.9, 2: 0.8, 3: 0.7})
    reader = EventScalars(tmp_path)
    reader.read_new()
    fresh = write(tmp_path / "elsewhere", "loss", {1: 5.0, 2: 4.0, 3: 3.0, 4: 2.0})
    os.replace(fresh, old)  # the same name, another file, larger than the first
    reset, points = reader.read_new()
    assert reset is True
    assert curves(points) == {("run", "loss"): [(1, 5.0), (2, 4.0), (3, 3.0), (4, 2.0)]}


def test_a_file_rewritten_in_place_resets(tmp_path: Path) -> None:
    old = write(tmp_path, "loss", {1: 0.9})
    reader = EventScalars(tmp_path)
    reader.read_new()
    other = write(tmp_path / "other", "loss", {1: 7.0, 2: 6.0})
    old.write_bytes(other.read_bytes())  # same inode, grown: only its first bytes tell
    shutil.rmtree(tmp_path / "other")
    reset, points = reader.read_new()
    assert reset is True
    assert curves(points) == {(".", "loss"): [(1, 7.0), (2, 6.0)]}


def test_a_half_written_last_record_is_read_once_complete(tmp_path: Path) -> None:
    whole = write(tmp_path / "source", "loss", {1: 0.9, 2: 0.8})
    data = whole.read_bytes()
    target = tmp_path / "run" / whole.name
    target.parent.mkdir()
    target.write_bytes(data[:-7])  # the last record cut in its payload
    reader = EventScalars(tmp_path / "run")
    assert curves(reader.read_new()[1]) == {(".", "loss"): [(1, 0.9)]}
    assert reader.read_new() == (False, [])  # still cut: nothing yet, no error
    with open(target, "ab") as f:
        f.write(data[-7:])
    reset, points = reader.read_new()
    assert reset is False and curves(points) == {(".", "loss"): [(2, 0.8)]}


def test_a_damaged_file_and_other_files_are_no_error(tmp_path: Path) -> None:
    write(tmp_path, "loss", {1: 0.9})
    (tmp_path / "notes.txt").write_text("loss=0.1\n")
    (tmp_path / "events.out.tfevents.garbage").write_bytes(b"\x00\x01 this is no record file" * 10)
    reset, points = EventScalars(tmp_path).read_new()
    assert reset is True
    assert curves(points) == {(".", "loss"): [(1, 0.9)]}


def test_a_missing_or_vanished_folder_is_no_error(tmp_path: Path) -> None:
    root = tmp_path / "output"
    reader = EventScalars(root)
    assert reader.read_new() == (True, [])  # not there yet
    write(root, "loss", {1: 0.9})
    assert curves(reader.read_new()[1]) == {(".", "loss"): [(1, 0.9)]}
    shutil.rmtree(root)
    assert reader.read_new() == (False, [])  # what was given stays given
    write(root, "loss", {1: 0.5})  # a new run: new points, nothing taken back
    reset, points = reader.read_new()
    assert reset is False and curves(points) == {(".", "loss"): [(1, 0.5)]}


def test_only_scalars_are_points(tmp_path: Path) -> None:
    writer = SummaryWriter(log_dir=str(tmp_path))
    writer.add_scalar("loss", 0.5, 1)
    writer.add_text("notes", "hello", 1)
    writer.add_histogram("weights", numpy.array([0.1, 0.2, 0.3]), 1)
    writer.add_scalar("loss", float("nan"), 2)  # no NaN in JSON: skipped, like the log path does
    writer.close()
    assert curves(EventScalars(tmp_path).read_new()[1]) == {(".", "loss"): [(1, 0.5)]}
