"""The metrics API's model: columnar series, progress, pages, and merging a newer page into a held one."""

from __future__ import annotations

import json

import pytest

from dtrain_jupyter.errors import InvalidRequest
from dtrain_jupyter.model.metric_series import JobProgress, MetricSeries, MetricsPage


def series(replica="worker-0", name="loss", source="report", steps=(1, 2), values=(0.9, 0.8)):
    return MetricSeries(replica, name, source, list(steps), [1000.0 + i for i in range(len(steps))], list(values))


def progress(fraction=0.5, eta=10.0):
    return JobProgress("local", "default", "PyTorchJob", "mnist", "u-1", fraction, eta, "2026-12-06T01:02:03Z")


def test_a_page_survives_json_both_ways():
    page = MetricsPage(7, False, [series(), series("worker-1", steps=(None, 3))], progress(), False)
    wire = json.loads(json.dumps(page.to_dict()))
    assert wire["series"][1]["step"] == [None, 3]
    assert wire["progress"]["eta_seconds"] == 10.0
    assert MetricsPage.from_dict(wire) == page


def test_a_page_without_progress_has_null_progress():
    page = MetricsPage(0, False, [], None, True)
    assert page.to_dict() == {"cursor": 0, "reset": False, "series": [], "progress": None, "finished": True}
    assert MetricsPage.from_dict(page.to_dict()) == page


def test_merge_appends_to_the_matching_series_and_adds_new_ones_last():
    held = MetricsPage(3, False, [series(), series(name="accuracy", values=(0.1, 0.2))], None, False)
    newer = MetricsPage(5, False, [series(steps=(3,), values=(0.7,)), series("worker-1", steps=(1,), values=(1.0,))],
                        progress(), True)
    merged = held.merge(newer)
    assert merged.cursor == 5 and merged.finished and merged.progress == progress()
    assert merged.get("worker-0", "loss").value == [0.9, 0.8, 0.7]
    assert merged.get("worker-0", "loss").step == [1, 2, 3]
    assert merged.get("worker-0", "accuracy").value == [0.1, 0.2]
    assert [s.key for s in merged.series][-1] == ("worker-1", "loss", "report")


def test_merge_keeps_the_held_progress_when_the_newer_page_has_none():
    held = MetricsPage(3, False, [], progress(0.3), False)
    assert held.merge(MetricsPage(4, False, [], None, False)).progress == progress(0.3)


def test_a_reset_page_replaces_everything_held():
    held = MetricsPage(9, False, [series(), series("worker-1")], progress(0.9), False)
    newer = MetricsPage(12, True, [series(steps=(1,), values=(0.5,))], None, False)
    merged = held.merge(newer)
    assert merged.reset and merged.cursor == 12 and merged.progress is None
    assert [s.key for s in merged.series] == [("worker-0", "loss", "report")]
    assert merged.get("worker-0", "loss").value == [0.5]


def test_series_of_different_sources_do_not_mix():
    held = MetricsPage(1, False, [series(source="log")], None, False)
    merged = held.merge(MetricsPage(2, False, [series(source="report", steps=(5,), values=(0.1,))], None, False))
    assert merged.get("worker-0", "loss", "log").value == [0.9, 0.8]
    assert merged.get("worker-0", "loss", "report").value == [0.1]


def test_columns_of_different_length_are_refused():
    with pytest.raises(InvalidRequest, match="differ in length"):
        MetricSeries("worker-0", "loss", "log", [1, 2], [1.0], [0.5])


@pytest.mark.parametrize("bad", [
    pytest.param({"series": {"not": "a list"}}, id="series-not-list"),
    pytest.param({"series": [{"step": [1], "time": [1.0], "value": ["high"]}]}, id="value-not-number"),
    pytest.param({"series": [{"step": "1", "time": [], "value": []}]}, id="column-not-list"),
    pytest.param("page", id="not-an-object"),
])
def test_malformed_pages_are_request_errors(bad):
    with pytest.raises(InvalidRequest):
        MetricsPage.from_dict(bad)


def test_a_series_held_past_the_limit_is_thinned_in_its_older_half_only():
    held = MetricsPage(1, False, [MetricSeries("worker-0", "loss", "log", list(range(8)),
                                               [float(i) for i in range(8)], [float(i) for i in range(8)])],
                       None, False)
    newer = MetricsPage(2, False, [MetricSeries("worker-0", "loss", "log", [8, 9], [8.0, 9.0], [8.0, 9.0])],
                        None, False)
    (series,) = held.merge(newer, limit=8).series
    # Ten points over a limit of eight: of the older half (0-4) the first and every second stay.
    assert series.step == [0, 2, 4, 5, 6, 7, 8, 9] and series.value == [float(s) for s in series.step]
    assert held.merge(newer, limit=10).series[0].step == list(range(10))


def test_thinning_takes_a_quarter_at_a_time_until_it_fits():
    n = 1000
    series = MetricSeries("w", "loss", "log", list(range(n)), [0.0] * n, [0.0] * n)
    thinned = series.thinned(300)
    assert len(thinned) <= 300 and thinned.step[0] == 0 and thinned.step[-150:] == list(range(n - 150, n))
    assert series.thinned(n) is series
