"""LTTB downsampling (model/downsample.py): exact picks on a small series, peaks kept, gaps kept as breaks,
and properties over any series (hypothesis), checked against a plain transcription of the paper's algorithm."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtrain_jupyter.model.downsample import MIN_POINTS, lttb, lttb_indices

SETTINGS = settings(max_examples=int(os.environ.get("DTRAIN_MODEL_EXAMPLES", "150")), deadline=None)


def reference_lttb(xs: list[float], ys: list[float], threshold: int) -> list[int]:
    """Steinarsson's reference implementation (github.com/sveinn-steinarsson/flot-downsample, JavaScript),
    transcribed line by line: the oracle for series without gaps."""
    data_length = len(xs)
    if threshold >= data_length:
        return list(range(data_length))
    sampled = [0]
    every = (data_length - 2) / (threshold - 2)
    a = 0
    for i in range(threshold - 2):
        avg_range_start = math.floor((i + 1) * every) + 1
        avg_range_end = min(math.floor((i + 2) * every) + 1, data_length)
        avg_range_length = avg_range_end - avg_range_start
        avg_x = sum(xs[avg_range_start:avg_range_end]) / avg_range_length
        avg_y = sum(ys[avg_range_start:avg_range_end]) / avg_range_length
        range_offs = math.floor(i * every) + 1
        range_to = math.floor((i + 1) * every) + 1
        max_area, next_a = -1.0, range_offs
        for j in range(range_offs, range_to):
            area = abs((xs[a] - avg_x) * (ys[j] - ys[a]) - (xs[a] - xs[j]) * (avg_y - ys[a])) * 0.5
            if area > max_area:
                max_area, next_a = area, j
        sampled.append(next_a)
        a = next_a
    sampled.append(data_length - 1)
    return sampled


def test_a_small_series_keeps_the_points_worked_out_by_hand():
    xs = [0, 1, 2, 3, 4, 5, 6, 7]
    ys = [0, 1, 5, 2, 0, -4, 1, 0]
    # every = (8 - 2) / (4 - 2) = 3: buckets hold indices 1-3 and 4-6.
    # Bucket 1: a = (0, 0), the next bucket's mean c = (5, -1); twice the area is |-5*y - x|:
    #   6 at index 1, 27 at index 2, 13 at index 3 -> index 2.
    # Bucket 2: a = (2, 5), c = the last point (7, 0); twice the area is |35 - 5*y - 5*x|:
    #   15 at index 4, 30 at index 5, 0 at index 6 -> index 5.
    assert lttb(xs, ys, 4) == ([0, 2, 5, 7], [0, 5, -4, 0])
    assert lttb_indices(xs, ys, 4) == [0, 2, 5, 7]


def test_spikes_on_a_flat_line_survive_a_tenfold_cut():
    xs = list(range(10_000))
    spikes = {1234: 9.0, 5000: -7.0, 8765: 3.0}
    ys = [spikes.get(i, 0.0) for i in xs]
    kept_x, kept_y = lttb(xs, ys, 1_000)
    assert len(kept_x) == 1_000
    assert {x: y for x, y in zip(kept_x, kept_y) if y} == spikes
    assert (kept_x[0], kept_x[-1]) == (0, 9_999)


def test_a_series_no_longer_than_n_comes_back_whole_gaps_and_all():
    xs, ys = [1, 2, 3, 4], [0.5, None, float("nan"), 2.0]
    got_x, got_y = lttb(xs, ys, 4)
    assert got_x == xs and got_y[0] == 0.5 and got_y[1] is None and math.isnan(got_y[2]) and got_y[3] == 2.0
    assert lttb([], [], 3) == ([], [])


def test_each_run_of_gaps_is_kept_once_and_the_runs_between_share_the_budget():
    xs = list(range(100))
    ys = [float(i % 7) for i in xs]
    for i in range(40, 45):
        ys[i] = None  # a metric missing for five steps
    ys[70] = float("nan")
    ys[85] = float("inf")  # a loss that overflowed
    kept = lttb_indices(xs, ys, 20)
    assert len(kept) == 20
    gaps = [i for i in kept if ys[i] is None or not math.isfinite(ys[i])]
    assert gaps == [40, 70, 85]
    # 40, 25, 14 and 14 numbered points share 17: one each, and the 13 left in proportion to the rest
    # (39, 24, 13, 13 of 89: 5.70, 3.51, 1.90, 1.90), by largest remainder: 7, 4, 3, 3.
    runs = [[i for i in kept if lo <= i < hi] for lo, hi in ((0, 40), (45, 70), (71, 85), (86, 100))]
    assert [len(r) for r in runs] == [7, 4, 3, 3]
    assert [(r[0], r[-1]) for r in runs] == [(0, 39), (45, 69), (71, 84), (86, 99)]


def test_an_x_that_is_missing_is_a_gap_too():
    xs = [0.0, 1.0, None, 3.0, 4.0, 5.0, 6.0, 7.0]
    ys = [1.0] * 8
    assert 2 in lttb_indices(xs, ys, 5)


def test_a_run_given_one_point_keeps_its_farthest_from_the_mean():
    ys = [0.0, 0.0, 9.0, 0.0, None] + [1.0] * 20
    kept = lttb_indices(list(range(len(ys))), ys, 5)
    assert kept[:2] == [2, 4]


def test_a_series_broken_more_often_than_n_allows_is_cut_as_if_whole():
    ys = [float(i) if i % 2 else None for i in range(40)]  # 20 gaps, 20 numbered points
    kept = lttb_indices(list(range(40)), ys, 10)
    assert len(kept) == 10
    assert all(ys[i] is not None for i in kept)
    assert (kept[0], kept[-1]) == (1, 39)


@pytest.mark.parametrize(("xs", "ys", "n", "words"), [
    ([1, 2], [1], 3, "as many x values as y values, got 2 and 1"),
    ([1, 2, 3, 4], [1, 2, 3, 4], 2, "at least 3, got 2"),
    ([1, 2, 3, 4], [1, 2, 3, 4], True, "got True"),
    ([1, 2, 3, 4], [1, 2, 3, 4], 3.5, "got 3.5"),
])
def test_wrong_arguments_are_named(xs, ys, n, words):
    with pytest.raises(ValueError, match="downsampling needs") as caught:
        lttb(xs, ys, n)
    assert words in str(caught.value)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def sorted_series(draw, gaps: bool = False):
    steps = draw(st.lists(st.floats(min_value=0.001, max_value=100.0), min_size=0, max_size=400))
    xs, x = [], 0.0
    for step in steps:
        x += step
        xs.append(x)
    values = st.one_of(finite, st.none(), st.sampled_from([float("nan"), float("inf"), -float("inf")])) if gaps \
        else finite
    ys = draw(st.lists(values, min_size=len(xs), max_size=len(xs)))
    return xs, ys


@SETTINGS
@given(sorted_series(), st.integers(min_value=MIN_POINTS, max_value=450))
def test_without_gaps_it_picks_what_the_reference_picks(series, n):
    xs, ys = series
    kept = lttb_indices(xs, ys, n)
    assert kept == reference_lttb(xs, ys, n)
    assert len(kept) == min(n, len(xs))
    if xs:
        assert (kept[0], kept[-1]) == (0, len(xs) - 1)


@SETTINGS
@given(sorted_series(gaps=True), st.integers(min_value=MIN_POINTS, max_value=450))
def test_any_series_gives_at_most_n_of_its_own_points_in_order(series, n):
    xs, ys = series
    kept = lttb_indices(xs, ys, n)
    # fewer than n only when the breaks crowd out the numbered points (see the next test and the module)
    assert len(kept) == len(xs) if len(xs) <= n else len(kept) <= n
    assert kept == sorted(set(kept)) and all(0 <= i < len(xs) for i in kept)
    kept_x, kept_y = lttb(xs, ys, n)
    assert kept_x == sorted(kept_x)  # monotone x stays monotone
    assert kept_x == [xs[i] for i in kept]
    assert all(a is b or a == b for a, b in zip(kept_y, (ys[i] for i in kept)))


@SETTINGS
@given(sorted_series(gaps=True), st.integers(min_value=MIN_POINTS, max_value=450))
def test_every_break_is_kept_when_n_has_room_for_it(series, n):
    xs, ys = series
    gap = [y is None or not math.isfinite(y) for y in ys]
    gap_runs = sum(1 for i, g in enumerate(gap) if g and (i == 0 or not gap[i - 1]))
    numbered_runs = sum(1 for i, g in enumerate(gap) if not g and (i == 0 or gap[i - 1]))
    kept = lttb_indices(xs, ys, n)
    if len(xs) > n >= gap_runs + numbered_runs:  # (a series no longer than n comes back whole)
        kept_gaps = [i for i in kept if gap[i]]
        assert len(kept_gaps) == gap_runs
        # each kept gap is the first of its run, so the line breaks where the data does
        assert all(i == 0 or not gap[i - 1] for i in kept_gaps)
        assert len(kept) == min(n, gap_runs + gap.count(False))
