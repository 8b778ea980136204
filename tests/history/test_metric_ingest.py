"""The metric ingest thread: chunks into points, pods read again, archives read back, waiters woken."""

from __future__ import annotations

import asyncio
import json

import pytest

from dtrain_jupyter.history.log_archive import LogArchive
from dtrain_jupyter.history.metric_ingest import MetricIngest, rank_of, replica_of
from dtrain_jupyter.history.metric_store import MetricStore


def report_line(step, **metrics):
    return f"DTRAIN_METRIC {json.dumps({'step': step, **metrics, 'time': 2000.0 + step})}\n"


class Ingest:
    def __init__(self, tmp_path):
        self.store = MetricStore(tmp_path)
        self.archive = LogArchive(tmp_path)
        self.ingest = MetricIngest(self.store, self.archive, clock=lambda: 1234.5)

    async def __aenter__(self):
        self.ingest.start()
        return self

    async def __aexit__(self, *_exc):
        await self.ingest.stop()
        self.store.close()

    async def flushed(self):
        await asyncio.to_thread(self.ingest.flush)


def test_replica_names_and_ranks_come_from_pod_names():
    assert replica_of("mnist", "mnist-worker-1") == "worker-1"
    assert replica_of("mnist", "other-pod") == "other-pod"
    assert rank_of("worker-1") == 1 and rank_of("launcher") is None


async def test_lines_split_across_chunks_become_points_of_their_pod(tmp_path):
    async with Ingest(tmp_path) as s:
        text = (report_line(1, loss=0.9) + "noise line\n" + "Epoch 1/2\n"
                + "10/10 [====] - 1s - loss: 0.5000 - accuracy: 0.8000\n").encode()
        s.ingest.begin(1, "job", "job-master-0")
        for i in range(0, len(text), 7):  # cut anywhere, also inside a line and a UTF-8 character
            s.ingest.feed(1, "job-master-0", text[i:i + 7])
        s.ingest.feed(1, "job-master-0", "loss=0.25 é".encode())  # a last line with no newline yet
        await s.flushed()
        assert {x.key for x in s.store.page(1).series} == {("master-0", "loss", "report"),
                                                         ("master-0", "loss", "log"), ("master-0", "accuracy", "log")}
        s.ingest.end(1, "job-master-0")
        await s.flushed()
        page = s.store.page(1)
        report = next(x for x in page.series if x.source == "report")
        assert report.step == [1] and report.time == [2001.0] and report.value == [0.9]
        log_loss = next(x for x in page.series if x.key == ("master-0", "loss", "log"))
        assert log_loss.value == [0.5, 0.25] and log_loss.step[0] == 10 and log_loss.time == [1234.5, 1234.5]


async def test_a_pod_read_again_from_its_start_replaces_its_points_only(tmp_path):
    async with Ingest(tmp_path) as s:
        for pod in ("job-worker-0", "job-worker-1"):
            s.ingest.begin(1, "job", pod)
            s.ingest.feed(1, pod, (report_line(1, loss=1.0) + report_line(2, loss=0.8)).encode())
        await s.flushed()
        held = s.store.page(1).cursor
        # The server restarted: worker-0's log is read again from its start.
        s.ingest.begin(1, "job", "job-worker-0")
        s.ingest.feed(1, "job-worker-0", report_line(1, loss=1.0).encode())
        await s.flushed()
        page = s.store.page(1, held)
        assert page.reset
        assert {x.replica: x.step for x in page.series} == {"worker-0": [1], "worker-1": [1, 2]}


@pytest.mark.parametrize("renamed_first", [False, True])
async def test_bytes_written_to_an_archive_file_are_read_from_it(tmp_path, renamed_first):
    """The recorder's way: each chunk is written to the archive file, then only its length is sent;
    the file may be renamed to its final name before the reader process gets to it."""
    partial, target = tmp_path / "pod.log.partial", tmp_path / "pod.log"
    chunks = [report_line(1, loss=0.9).encode()[:10], report_line(1, loss=0.9).encode()[10:], b"loss=0.5"]
    async with Ingest(tmp_path) as s:
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        if renamed_first:
            partial.rename(target)
        s.ingest.begin(1, "job", "job-master-0", written_to=partial, renamed_to=target)
        for chunk in chunks:
            s.ingest.feed(1, "job-master-0", chunk)
        s.ingest.end(1, "job-master-0")
        await s.flushed()
        assert {x.source: x.value for x in s.store.page(1).series} == {"report": [0.9], "log": [0.5]}


async def test_a_record_archived_before_metrics_is_read_from_its_archive(tmp_path):
    async with Ingest(tmp_path) as s:
        s.archive.replace(7, "old-master-0", iter([report_line(1, loss=0.7).encode(), b"accuracy=0.5\n"]))
        s.archive.replace(7, "old-worker-0", iter([b"step 3 loss=0.3"]))
        assert not s.store.ingested(7)
        s.ingest.backfill(7, "old")
        await s.flushed()
        page = s.store.page(7)
        assert {(x.replica, x.name): x.value for x in page.series} == {
            ("master-0", "loss"): [0.7], ("master-0", "accuracy"): [0.5], ("worker-0", "loss"): [0.3]}
        assert s.store.ingested(7)
        s.ingest.backfill(7, "old")  # a second request reads nothing again
        await s.flushed()
        assert s.store.page(7, page.cursor).series == []


async def test_forget_drops_the_points_and_the_pods_being_read(tmp_path):
    async with Ingest(tmp_path) as s:
        s.ingest.begin(1, "job", "job-master-0")
        s.ingest.feed(1, "job-master-0", b"loss=1.0\n")
        s.ingest.forget([1])
        s.ingest.feed(1, "job-master-0", b"loss=0.5\n")
        await s.flushed()
        assert s.store.page(1).series == []


async def test_a_waiter_is_woken_by_its_records_next_batch(tmp_path):
    async with Ingest(tmp_path) as s:
        s.ingest.begin(1, "job", "job-master-0")
        await s.flushed()
        changed = s.ingest.changed(1)
        assert not changed.is_set()
        s.ingest.feed(1, "job-master-0", b"loss=1.0\n")
        await asyncio.wait_for(changed.wait(), 10)
        assert not s.ingest.busy(1)
        assert s.store.page(1).series[0].value == [1.0]


async def test_tensorboard_scalars_are_kept_and_a_reset_replaces_them(tmp_path):
    from ..tensorboard.test_scalars import write  # needs torch's SummaryWriter

    out = tmp_path / "out"
    first = write(out, "loss", {1: 0.9})
    write(out / "eval", "loss", {1: 0.8})
    async with Ingest(tmp_path / "history") as s:
        s.ingest.scalars(1, out)
        s.ingest.scalars(1, out)  # nothing new: nothing added
        await s.flushed()
        page = s.store.page(1)
        assert {x.replica: x.value for x in page.series} == {".": [pytest.approx(0.9)], "eval": [pytest.approx(0.8)]}
        assert all(x.source == "tensorboard" for x in page.series)
        write(out, "loss", {2: 0.7})  # a newer file of the run: only its point comes
        s.ingest.scalars(1, out)
        await s.flushed()
        newer = s.store.page(1, page.cursor)
        assert not newer.reset and {x.replica: x.value for x in newer.series} == {".": [pytest.approx(0.7)]}
        replacement = write(tmp_path / "other", "loss", {1: 0.5})
        first.unlink()
        replacement.rename(first)  # a file read before is now another: everything is read again
        s.ingest.scalars(1, out)
        await s.flushed()
        again = s.store.page(1, newer.cursor)
        assert again.reset and {x.replica: sorted(x.value) for x in again.series} == {
            ".": [pytest.approx(0.5), pytest.approx(0.7)], "eval": [pytest.approx(0.8)]}


@pytest.mark.parametrize("line", ["x" * (2 << 20), "\r".join(["step 1 loss=0.5"] * 200_000)])
async def test_a_line_past_the_longest_kept_is_bounded(tmp_path, line):
    async with Ingest(tmp_path) as s:
        s.ingest.begin(1, "job", "job-master-0")
        for i in range(0, len(line), 65536):
            s.ingest.feed(1, "job-master-0", line[i:i + 65536].encode())
        s.ingest.feed(1, "job-master-0", b"\nloss=2.0\n")
        await s.flushed()
        values = s.store.page(1).series[0].value
        assert values[-1] == 2.0
