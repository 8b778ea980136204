"""The metric chart (ui/charts.py): what it draws, what it says, and what one update costs."""

from __future__ import annotations

import math
import warnings
from typing import Any

import ipywidgets as widgets
import numpy as np
import pytest

from dtrain_jupyter.ui.charts import (POINTS_SENT_PER_CHART, RETHIN_GROWTH, points_per_curve, STEP, TIME, TIME_LABEL, Curve, MetricChart,
                                      chart_names, ema, ema_state, x_axis)


def curve(label: str, n: int, start: float = 1.0, steps: bool = True) -> Curve:
    values = [start * math.exp(-i / 50) for i in range(n)]
    return Curve(label, [i if steps else None for i in range(n)], [1000.0 + i for i in range(n)], values)


def sent_messages(widget: Any) -> list[dict[str, Any]]:
    """Every state message `widget` sends from now on (the comm is replaced by a recorder)."""
    out: list[dict[str, Any]] = []
    widget._send = lambda msg, buffers=None: out.append(msg)
    return out


def test_ema_is_debiased_and_zero_weight_is_the_raw_curve() -> None:
    values = [1.0, 1.0, 1.0, 0.0]
    assert ema(values, 0.0).tolist() == values
    smooth = ema(values, 0.9)
    # Debiased: a constant start stays at its value instead of rising from zero.
    assert smooth[:3].tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert 0.0 < smooth[3] < 1.0


def test_x_is_the_step_only_when_every_point_has_one() -> None:
    assert x_axis([curve("a", 5)]) == STEP
    gappy = Curve("b", [1, None, 3], [1.0, 2.0, 3.0], [0.1, 0.2, 0.3])
    assert x_axis([curve("a", 5), gappy]) == TIME


def test_one_chart_draws_every_curve_with_the_raw_one_faint_behind() -> None:
    chart = MetricChart("loss")
    chart.set_curves([curve("worker-0", 30), curve("worker-1", 20, start=2.0)])
    # Smoothed: per curve a faint raw line and the smoothed line, in the curve's colour.
    assert [len(row) for row in chart.lines.y] == [30, 30, 20, 20]
    assert chart.lines.opacities[0] < 1.0 and chart.lines.opacities[1] == 1.0
    assert chart.lines.colors[0] == chart.lines.colors[1] != chart.lines.colors[2]
    assert "worker-0" in chart.legend.value and "worker-1" in chart.legend.value
    chart.smoothing_box.value = 0.0
    assert [len(row) for row in chart.lines.y] == [30, 20]
    assert chart.lines.y[0].tolist() == pytest.approx(list(curve("worker-0", 30).value))


def test_a_new_point_per_series_is_one_message_for_the_whole_chart() -> None:
    chart = MetricChart("loss")
    chart.set_curves([curve("worker-0", 100), curve("worker-1", 100)])
    messages = sent_messages(chart.lines)
    others = sent_messages(chart.figure)
    chart.set_curves([curve("worker-0", 101), curve("worker-1", 101)])
    assert len(messages) == 1 and {"x", "y"} <= set(messages[0]["state"])
    assert others == []


def test_no_curve_sent_is_longer_than_its_share_and_the_chart_says_so() -> None:
    chart = MetricChart("loss")
    share = points_per_curve(2, smoothed=True)  # two curves, each drawn raw and smoothed
    assert share == POINTS_SENT_PER_CHART // 4
    long = curve("worker-0", share * 3)
    chart.set_curves([long, curve("worker-1", 10)])
    assert max(len(row) for row in chart.lines.y) == share
    assert chart.lines.x[1][0] == 0 and chart.lines.x[1][-1] == share * 3 - 1  # both ends kept
    assert f"{share} points" in chart.note


def test_ten_long_curves_send_at_most_the_charts_budget_and_a_new_curve_shrinks_the_shares() -> None:
    chart = MetricChart("loss")
    curves = [curve(f"worker-{i}", 10_000) for i in range(9)]
    chart.set_curves(curves)
    assert sum(len(row) for row in chart.lines.y) <= POINTS_SENT_PER_CHART
    before = max(len(row) for row in chart.lines.y)
    # A tenth replica's first points: the nine held curves are thinned to the smaller share.
    chart.set_curves([*curves, curve("worker-9", 10_000)])
    assert sum(len(row) for row in chart.lines.y) <= POINTS_SENT_PER_CHART
    assert max(len(row) for row in chart.lines.y) == points_per_curve(10, smoothed=True) < before


def test_log_scale_leaves_out_values_at_zero_or_below_in_words() -> None:
    chart = MetricChart("reward")
    chart.set_curves([Curve("worker-0", [1, 2, 3, 4], [1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 2.0, 4.0])])
    chart.log_box.value = True
    assert chart.lines.scales["y"] is chart.log_y and chart.y_axis.scale is chart.log_y
    assert chart.figure.marks == [chart.lines] and chart.figure.axes[1] is chart.y_axis
    assert chart.note == "Log scale leaves out 2 points at 0 or below."
    assert "Log scale leaves out 2 points" in chart.note_line.value
    chart.set_curves([Curve("worker-0", [1, 2], [1.0, 2.0], [-1.0, 0.0])])
    assert "cannot show" in chart.note and chart.points_drawn() == 0
    chart.log_box.value = False
    assert chart.note == "" and chart.lines.scales["y"] is chart.linear_y and chart.points_drawn() == 4


def test_the_readout_says_each_curves_value_nearest_the_mouse() -> None:
    chart = MetricChart("loss")
    chart.smoothing = 0.0
    chart.set_curves([Curve("worker-0", [0, 10, 20], [1.0, 2.0, 3.0], [0.5, 0.25, 0.125]),
                      Curve("<b>x</b>", [0, 10], [1.0, 2.0], [0.9, 0.8])])
    chart.hover.selected = np.array([11.0])
    text = chart.readout.value
    assert "At step 11" in text and "worker-0: <b>0.25</b>" in text and "&lt;b&gt;x&lt;/b&gt;: <b>0.8</b>" in text


def test_names_are_escaped_in_the_legend() -> None:
    chart = MetricChart("loss")
    chart.set_curves([curve("<img src=x onerror=alert(1)>", 3)])
    assert "<img" not in chart.legend.value and "&lt;img" in chart.legend.value


def test_an_empty_chart_says_so() -> None:
    chart = MetricChart("loss")
    chart.set_curves([])
    assert chart.note == "No points to draw yet." and chart.points_drawn() == 0


def test_headline_metrics_come_first() -> None:
    assert chart_names(["zeta", "accuracy", "loss", "alpha"]) == ["loss", "accuracy", "alpha", "zeta"]


# ---------------------------------------------------------------- issue 15 review: cost, gaps, starts, closing

def ema_reference(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing, point by point: NaN stays NaN and is skipped."""
    out, last, count = [], 0.0, 0
    for value in values:
        if not math.isfinite(value):
            out.append(math.nan)
            continue
        count += 1
        last = last * weight + (1 - weight) * value
        out.append(last / (1 - weight ** count))
    return out


@pytest.mark.parametrize("weight", [0.01, 0.3, 0.6, 0.9, 0.99])
def test_ema_in_pieces_equals_ema_over_the_whole_and_skips_gaps(weight: float) -> None:
    values = [math.sin(i / 7) + (i % 13) * 0.1 for i in range(5000)]
    values[100] = values[2500] = math.nan
    whole = ema(values, weight)
    assert whole.tolist() == pytest.approx(ema_reference(values, weight), rel=1e-9, nan_ok=True)
    first, state = ema_state(values[:3001], weight)
    rest, _ = ema_state(values[3001:], weight, state)
    assert np.concatenate((first, rest)).tolist() == pytest.approx(whole.tolist(), rel=1e-12, nan_ok=True)


def test_a_long_curve_is_thinned_again_only_after_it_grew_by_one_percent(monkeypatch: pytest.MonkeyPatch) -> None:
    import dtrain_jupyter.ui.charts as chart_module

    original = chart_module.lttb_indices
    calls: list[int] = []
    monkeypatch.setattr(chart_module, "lttb_indices", lambda xs, ys, n: calls.append(len(xs)) or original(xs, ys, n))
    share = points_per_curve(1, smoothed=True)
    size = share * 10
    whole = curve("worker-0", size + 300)
    chart = MetricChart("loss")
    chart.set_curves([Curve("worker-0", whole.step[:size], whole.time[:size], whole.value[:size])])
    assert calls == [size]  # one LTTB per curve: the smoothed line keeps the raw line's points
    grown = int(size * RETHIN_GROWTH)
    for end in (size + 1, size + grown - 1):
        chart.set_curves([Curve("worker-0", whole.step[:end], whole.time[:end], whole.value[:end])])
    assert calls == [size]  # new points were appended to what was sent, as they are
    assert chart.lines.x[1][-1] == size + grown - 2 and chart.lines.y[1][-1] == pytest.approx(
        ema(whole.value[:size + grown - 1], chart.smoothing)[-1])
    end = size + grown
    chart.set_curves([Curve("worker-0", whole.step[:end], whole.time[:end], whole.value[:end])])
    assert calls == [size, end] and max(len(row) for row in chart.lines.y) == share


def test_new_points_draw_what_a_whole_redraw_draws() -> None:
    whole = curve("worker-0", 400)
    step_by_step = MetricChart("loss")
    for end in (100, 101, 250, 400):
        step_by_step.set_curves([Curve("worker-0", whole.step[:end], whole.time[:end], whole.value[:end])])
    at_once = MetricChart("loss")
    at_once.set_curves([whole])
    for mine, theirs in zip(step_by_step.lines.y, at_once.lines.y):
        assert mine.tolist() == pytest.approx(theirs.tolist())


def test_a_replaced_series_is_drawn_afresh() -> None:
    chart = MetricChart("loss")
    chart.smoothing = 0.0
    chart.set_curves([Curve("worker-0", [1, 2], [1.0, 2.0], [0.5, 0.4])])
    # The logs were read again (a reset page): longer, and different where it was held.
    chart.set_curves([Curve("worker-0", [1, 2, 3], [1.0, 2.0, 3.0], [0.9, 0.8, 0.7])])
    assert chart.lines.y[0].tolist() == [0.9, 0.8, 0.7]


def test_a_gap_reaches_the_mark_as_nan_so_the_line_breaks_there() -> None:
    chart = MetricChart("loss")
    values = [1.0, 0.9, None, math.inf, 0.7, math.nan, 0.6]
    chart.set_curves([Curve("worker-0", list(range(7)), [float(i) for i in range(7)], values)])
    raw, smooth = chart.lines.y
    assert np.isnan(raw).tolist() == [False, False, True, True, False, True, False]
    assert np.isnan(smooth).tolist() == np.isnan(raw).tolist()
    assert chart.points_drawn() == 8  # 4 points, raw and smoothed
    chart.hover.selected = np.array([2.0])
    assert "worker-0: <b>" in chart.readout.value and "nan" not in chart.readout.value


def test_a_gap_survives_thinning() -> None:
    size = POINTS_SENT_PER_CHART * 5
    values = [1.0 / (i + 1) for i in range(size)]
    values[size // 2] = math.nan
    chart = MetricChart("loss")
    chart.smoothing = 0.0
    chart.set_curves([Curve("worker-0", list(range(size)), [float(i) for i in range(size)], values)])
    (row,) = chart.lines.y
    assert len(row) <= points_per_curve(1, smoothed=False) and np.count_nonzero(np.isnan(row)) == 1
    assert chart.lines.x[0][int(np.flatnonzero(np.isnan(row))[0])] == size // 2


def timed(label: str, start: float, seconds: int) -> Curve:
    """A curve without steps (so x is time): a point a second from `start`."""
    return Curve(label, [None] * seconds, [start + i for i in range(seconds)], [1.0] * seconds)


def test_compare_counts_each_curve_from_its_own_start() -> None:
    today = 1_764_000_000.0
    yesterday = today - 86_400
    compare = MetricChart("loss", align_starts=True)
    compare.set_curves([timed("job-a (worker-0)", yesterday, 5), timed("job-b (worker-0)", today, 3)])
    assert compare.x_axis.label == TIME_LABEL == "seconds since start"
    assert [row.tolist() for row in compare.lines.x[1::2]] == [[0, 1, 2, 3, 4], [0, 1, 2]]
    # One job's replicas ran together: their curves keep the shared start.
    replicas = MetricChart("loss")
    replicas.set_curves([timed("worker-0", today, 3), timed("worker-1", today + 10, 2)])
    assert [row.tolist() for row in replicas.lines.x[1::2]] == [[0, 1, 2], [10, 11]]


def open_models() -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Widget.widgets: ipywidgets' one registry of models
        return set(widgets.Widget.widgets)


def test_closing_a_chart_closes_every_model_it_is_made_of() -> None:
    before = open_models()
    chart = MetricChart("loss")
    chart.set_curves([curve("worker-0", 30)])
    chart.log_box.value = True  # both marks and axes have been shown
    assert len(open_models() - before) > 20
    chart.close()
    assert open_models() - before == set()
