"""TensorBoard scalars read from the event files under a job's output folder, incrementally.

The files are read with TensorBoard's own reader (`event_file_loader.EventFileLoader`), so what
counts as a scalar is what TensorBoard's Scalars tab shows: its read-time compat layer
(`data_compat`) turns the legacy `simple_value` form (torch's `SummaryWriter.add_scalar` by
default) into the tensor form (`add_scalar(..., new_style=True)`, `tf.summary.scalar`), so one
path reads both. A tag is a scalar when its summary metadata names the "scalars" plugin; the
metadata comes with a tag's first value in a file, so it is remembered per file.

Files still being written: without TensorFlow, TensorBoard's record reader (its `tensorflow_stub`)
opens the file by name at the offset it reached on each read, keeps a half-written last record
in a buffer and tries it again on the next read, so a record cut short is neither lost nor an
error. A damaged record (a failed checksum, a record that is no event) ends that file's read for
this call; the next call tries again.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..model.metrics import MetricPoint

SOURCE = "tensorboard"
# TensorBoard's plugin name for scalar summaries (`tensorboard.plugins.scalar.metadata.PLUGIN_NAME`).
_SCALARS_PLUGIN = "scalars"
# Bytes compared to tell a file rewritten in place from one appended to: the first record of a
# SummaryWriter file is its `file_version` event, whose wall time differs between writers.
_HEAD_BYTES = 64

log = logging.getLogger(__name__)


@dataclass
class _EventFile:
    """One event file as far as it has been read."""

    identity: tuple[int, int]  # (st_dev, st_ino): a replaced file is another inode
    size: int  # the size last seen: a smaller one is a truncation
    head: bytes  # its first bytes when first read: other bytes are a rewrite
    loader: Any  # event_file_loader.EventFileLoader, which keeps the read position
    scalar_tags: dict[str, bool] = field(default_factory=dict)  # tag -> whether it is a scalar


class EventScalars:
    """The scalars of every event file (`events.out.tfevents.*`) under `root`, at any depth.

    Each `read_new` call returns only what was written since the last one. Sync: callers run it in
    a thread. It never raises for the files: a folder that is missing or vanishes, a file that
    cannot be read, damaged or half written, is read as far as it can be and tried again next time.

    A file that vanishes takes nothing back: the points read from it stay given (an output
    folder deleted with its job, or a volume briefly unmounted, is no reason to forget a curve).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._files: dict[Path, _EventFile] = {}
        self._started = False

    def read_new(self) -> tuple[bool, list[MetricPoint]]:
        """`(reset, points)`: the points written since the last call.

        `reset` is True on the first call and when a file read before was truncated or replaced:
        the caller then forgets every point it was given and takes these (all the files, read again
        from their start). Each point has source "tensorboard", pod = the run's folder relative to
        `root` ("." for `root` itself), name = the tag, step and time = the event's wall time.
        """
        found = sorted(self._event_files())
        reset = not self._started or any(self._changed(path) for path in found if path in self._files)
        if reset:
            self._files.clear()
            self._started = True
        points: list[MetricPoint] = []
        for path in found:
            points.extend(self._read(path))
        return reset, points

    def _event_files(self) -> Iterator[Path]:
        return event_files(self.root)

    def _changed(self, path: Path) -> bool:
        """Whether a file read before is now another file, shorter, or rewritten from its start."""
        known = self._files[path]
        try:
            stat = path.stat()
            if (stat.st_dev, stat.st_ino) != known.identity or stat.st_size < known.size:
                return True
            return bool(known.head) and _head(path, len(known.head)) != known.head
        except OSError:  # gone since the walk: nothing to compare, nothing to take back
            return False

    def _read(self, path: Path) -> list[MetricPoint]:
        from google.protobuf.message import DecodeError
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
        from tensorboard.compat import tf

        points: list[MetricPoint] = []
        try:
            stat = path.stat()
            tracked = self._files.get(path)
            if tracked is None:
                tracked = _EventFile((stat.st_dev, stat.st_ino), stat.st_size, _head(path, _HEAD_BYTES),
                                     EventFileLoader(str(path)))
                self._files[path] = tracked
            elif len(tracked.head) < _HEAD_BYTES:  # a file first seen shorter than its head
                tracked.head = _head(path, _HEAD_BYTES)
            tracked.size = stat.st_size
            run = path.parent.relative_to(self.root).as_posix()
            for event in tracked.loader.Load():
                points.extend(_scalars(event, tracked.scalar_tags, run))
        except (OSError, tf.errors.OpError, DecodeError) as e:
            # A file gone since the walk, unreadable, or a damaged record: its read stops here and
            # resumes from the same place on the next call.
            log.debug("event file %s: read stopped: %s", path, e)
        return points


def event_files(root: Path) -> Iterator[Path]:
    """Every event file under `root`, by TensorBoard's own rule for the name; none when root is missing."""
    from tensorboard.backend.event_processing.io_wrapper import IsTensorFlowEventsFile

    # os.walk skips folders it cannot list and does not follow links to folders (no loops).
    for folder, _, names in os.walk(root):
        for name in names:
            if IsTensorFlowEventsFile(name):
                yield Path(folder) / name


def has_event_files(root: Path) -> bool:
    """Whether any event file is under `root` (TensorBoard would show something)."""
    return next(event_files(root), None) is not None


def _head(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(size)


def _scalars(event: Any, scalar_tags: dict[str, bool], run: str) -> Iterator[MetricPoint]:
    """The scalar values of one event (after TensorBoard's compat layer: every scalar is a tensor)."""
    from tensorboard.util import tensor_util

    if not event.HasField("summary"):
        return
    for value in event.summary.value:
        if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
            scalar_tags[value.tag] = value.metadata.plugin_data.plugin_name == _SCALARS_PLUGIN
        if not scalar_tags.get(value.tag) or not value.HasField("tensor"):
            continue
        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1:
            continue
        number = float(array.reshape(-1)[0])
        if not math.isfinite(number):  # no NaN or infinity in JSON; the log path skips them too
            continue
        yield MetricPoint(name=value.tag, value=number, step=int(event.step), time=float(event.wall_time),
                          pod=run, source=SOURCE)
