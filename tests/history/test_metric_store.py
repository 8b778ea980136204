"""The metric store: points by record and replica, cursors, resets, the cap, forgetting, restarts."""

from __future__ import annotations

import pytest

from dtrain_jupyter.history.metric_store import MetricStore, Row, progress_of


def rows(record_id=1, replica="worker-0", name="loss", start=0, count=3, source="log"):
    return [Row(record_id, replica, name, source, start + i, 1000.0 + start + i, 1.0 / (start + i + 1))
            for i in range(count)]


@pytest.fixture
def store(tmp_path):
    store = MetricStore(tmp_path)
    yield store
    store.close()


def test_a_cursor_gives_only_newer_points(store):
    store.add(rows(count=3))
    first = store.page(1)
    assert [s.key for s in first.series] == [("worker-0", "loss", "log")]
    assert first.series[0].step == [0, 1, 2] and not first.reset
    store.add(rows(start=3, count=2) + rows(replica="worker-1", count=1))
    newer = store.page(1, first.cursor)
    assert {s.replica: s.step for s in newer.series} == {"worker-0": [3, 4], "worker-1": [0]}
    assert store.page(1, newer.cursor).series == [] and store.page(1, newer.cursor).cursor == newer.cursor


def test_records_do_not_see_each_others_points(store):
    store.add(rows(record_id=1) + rows(record_id=2, name="accuracy"))
    assert [s.name for s in store.page(2).series] == ["accuracy"]


def test_replacing_a_replica_resets_callers_with_an_older_cursor(store):
    store.add(rows(count=3) + rows(replica="worker-1", count=2))
    held = store.page(1).cursor
    assert store.replace(1, replica="worker-0", sources=("log", "report"))
    store.add(rows(count=1, start=10))
    page = store.page(1, held)
    assert page.reset
    # All the points there are now, for a redraw: worker-1's kept ones and worker-0's new one.
    assert {s.replica: s.step for s in page.series} == {"worker-0": [10], "worker-1": [0, 1]}
    after = store.page(1, page.cursor)
    assert not after.reset and after.series == []


def test_a_reset_with_no_new_points_is_told_once(store):
    store.add(rows())
    held = store.page(1).cursor
    store.replace(1)
    page = store.page(1, held)
    assert page.reset and page.series == []
    assert not store.page(1, page.cursor).reset


def test_replacing_nothing_is_no_reset(store):
    store.add(rows(replica="worker-1"))
    held = store.page(1).cursor
    assert not store.replace(1, replica="worker-0")
    assert not store.page(1, held).reset


def test_the_cap_thins_the_older_half_and_keeps_the_first_and_newest_points(tmp_path):
    store = MetricStore(tmp_path, max_points=100)
    for start in range(0, 1000, 10):
        store.add(rows(start=start, count=10))
    steps = store.page(1).series[0].step
    assert len(steps) <= 100
    assert steps[0] == 0
    assert steps[-50:] == list(range(950, 1000))  # the newest stretch is whole
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    assert max(gaps[:10]) > max(gaps[-10:])  # older points are sparser
    store.close()


def test_forget_removes_a_records_points_only(store):
    store.add(rows(record_id=1) + rows(record_id=2))
    store.mark_ingested(1)
    store.forget([1])
    assert store.page(1).series == [] and not store.ingested(1)
    assert len(store.page(2).series) == 1


def test_points_survive_a_restart(tmp_path):
    store = MetricStore(tmp_path)
    store.add(rows(count=4))
    cursor = store.page(1).cursor
    store.close()
    again = MetricStore(tmp_path)
    assert again.page(1).series[0].step == [0, 1, 2, 3]
    again.add(rows(start=4, count=1))
    assert again.page(1, cursor).series[0].step == [4]  # the counter went on from where it was
    again.close()


def test_progress_is_the_last_report_and_the_eta_its_recent_rate(store):
    store.add([Row(1, "worker-0", "progress", "report", i, 1000.0 + 10 * i, 0.1 * i) for i in range(1, 5)])
    progress = store.progress(1)
    assert progress.fraction == pytest.approx(0.4)
    assert progress.eta_seconds == pytest.approx(60.0)  # 0.01 per second, 0.6 to go
    assert progress.updated == 1040.0
    assert store.progress(2) is None
    assert store.progress_of_each([1, 2]) == {1: progress}
    assert store.progress_of_each([2]) == {}  # asked about others only: not there


def test_progress_without_advance_has_no_eta_and_a_done_job_has_none_left():
    assert progress_of([(1.0, 0.5)]).eta_seconds is None
    assert progress_of([(1.0, 0.5), (2.0, 0.5)]).eta_seconds is None
    assert progress_of([(1.0, 0.5), (2.0, 1.0)]).eta_seconds == 0.0
    assert progress_of([]) is None


def test_the_eta_uses_only_the_recent_window():
    # Fast at first, then slow: the ETA follows the recent, slow rate.
    points = [(0.0, 0.0), (10.0, 0.5)] + [(1000.0 + 100 * i, 0.5 + 0.01 * i) for i in range(3)]
    eta = progress_of(points, window_s=250.0).eta_seconds
    assert eta == pytest.approx((1 - 0.52) / 0.0001)


def test_a_newer_layout_is_refused(tmp_path):
    import sqlite3

    from dtrain_jupyter.history.store import HistoryError
    db = sqlite3.connect(tmp_path / "metrics.sqlite3")
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(HistoryError, match="newer"):
        MetricStore(tmp_path)
