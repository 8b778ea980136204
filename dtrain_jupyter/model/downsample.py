"""Largest-Triangle-Three-Buckets (LTTB) downsampling of a chart's series: pure, standard library only.

A metric series can grow to hundreds of thousands of points, while a chart a few hundred pixels
wide shows at most a few thousand, and every point sent costs a widget message's bytes and the
browser's redraw (benchmarks/findings/plotting.md measures it). LTTB (S. Steinarsson,
"Downsampling Time Series for Visual Representation", MSc thesis, University of Iceland, 2013)
keeps the first and last point and, from each of n - 2 equal buckets of the points between, the
one point that spans the largest triangle with the point kept before it and the average of the
next bucket: peaks and dips survive, flat stretches thin out, and the kept points are a
subsequence of the input (so x stays in the order it came).

Gaps: a point whose x or y is None, NaN or infinite (a metric missing at a step, a loss that
overflowed) is a gap. Each run of gap points is kept as its first point, as given, so that a
chart still breaks its line there; the runs of numbered points between the gaps share the rest
of the budget in proportion to their lengths (at least one point each) and are downsampled each
on its own. A series with more breaks than fit in n points is downsampled as if its gaps were not
there (its breaks could not all be shown anyway).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

# The fewest points LTTB picks from: the first, the last and one bucket between.
MIN_POINTS = 3


def lttb(xs: Sequence[Any], ys: Sequence[Any], n: int) -> tuple[list[Any], list[Any]]:
    """At most `n` points of the series (xs, ys), chosen by LTTB; the series itself when n >= its length.

    Raises:
        ValueError: xs and ys differ in length, or n is below MIN_POINTS.
    """
    kept = lttb_indices(xs, ys, n)
    return [xs[i] for i in kept], [ys[i] for i in kept]


def lttb_indices(xs: Sequence[Any], ys: Sequence[Any], n: int) -> list[int]:
    """Ascending indices of the points `lttb` keeps, so that other columns (a step beside a time) follow."""
    if len(xs) != len(ys):
        raise ValueError(f"downsampling needs as many x values as y values, got {len(xs)} and {len(ys)}")
    if not isinstance(n, int) or isinstance(n, bool) or n < MIN_POINTS:
        raise ValueError(f"downsampling needs n, the number of points to keep, to be an integer of at least "
                         f"{MIN_POINTS}, got {n!r}")
    count = len(xs)
    if count <= n:
        return list(range(count))
    segments, gap_starts = _segments(xs, ys)
    if len(segments) == 1 and not gap_starts:
        return _lttb_run(xs, ys, range(count), n)
    if len(gap_starts) + len(segments) > n:
        numbered = [i for start, stop in segments for i in range(start, stop)]
        return _lttb_run(xs, ys, numbered, n) if len(numbered) > n else numbered
    shares = _shares([stop - start for start, stop in segments], n - len(gap_starts))
    kept = list(gap_starts)
    for (start, stop), share in zip(segments, shares):
        kept.extend(_lttb_run(xs, ys, range(start, stop), share))
    kept.sort()
    return kept


def _is_gap(value: Any) -> bool:
    # An infinite value is a gap too: no chart can place it, and it would make every triangle infinite.
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def _segments(xs: Sequence[Any], ys: Sequence[Any]) -> tuple[list[tuple[int, int]], list[int]]:
    """The runs of numbered points as (start, stop) index pairs, and the first index of each run of gaps."""
    segments: list[tuple[int, int]] = []
    gap_starts: list[int] = []
    start = None
    in_gap = False
    for i, (x, y) in enumerate(zip(xs, ys)):
        if _is_gap(x) or _is_gap(y):
            if start is not None:
                segments.append((start, i))
                start = None
            if not in_gap:
                gap_starts.append(i)
            in_gap = True
        else:
            in_gap = False
            if start is None:
                start = i
    if start is not None:
        segments.append((start, len(xs)))
    return segments, gap_starts


def _shares(lengths: list[int], budget: int) -> list[int]:
    """Split `budget` points over runs of these lengths in proportion, each at least 1 and at most its length.

    Largest remainder (Hamilton's method), so the shares add up to the budget exactly (or to the
    total length, when that is smaller). The caller guarantees budget >= len(lengths).
    """
    total = sum(lengths)
    if total <= budget:
        return list(lengths)
    shares = [1] * len(lengths)
    left = budget - len(lengths)
    # Each run's claim on what is left after its guaranteed point.
    claims = [(length - 1) * left / (total - len(lengths)) for length in lengths]
    for i, claim in enumerate(claims):
        shares[i] += min(int(claim), lengths[i] - 1)
    left = budget - sum(shares)
    by_remainder = sorted(range(len(lengths)), key=lambda i: (-(claims[i] - int(claims[i])), i))
    while left > 0:
        for i in by_remainder:
            if left and shares[i] < lengths[i]:
                shares[i] += 1
                left -= 1
    return shares


def _lttb_run(xs: Sequence[Any], ys: Sequence[Any], indices: Sequence[int], n: int) -> list[int]:
    """LTTB over the numbered points at `indices` (no gaps among them), keeping n of them."""
    count = len(indices)
    if count <= n:
        return list(indices)
    if n == 1:
        # One point for a whole run: the one farthest from the run's mean, so a lone spike stays visible.
        mean = sum(float(ys[i]) for i in indices) / count
        return [max(indices, key=lambda i: abs(float(ys[i]) - mean))]
    if n == 2:
        return [indices[0], indices[-1]]
    px = [float(xs[i]) for i in indices]
    py = [float(ys[i]) for i in indices]
    # Bucket b (0 .. n-3) holds the points [edges[b], edges[b + 1]) of px/py; the first and last point
    # are kept outside the buckets, as in the paper.
    every = (count - 2) / (n - 2)
    edges = [int(b * every) + 1 for b in range(n - 1)]
    edges[-1] = count - 1
    chosen = [0]
    ax, ay = px[0], py[0]
    for b in range(n - 2):
        lo, hi = edges[b], edges[b + 1]
        if b + 2 < len(edges):
            next_lo, next_hi = edges[b + 1], edges[b + 2]
            size = next_hi - next_lo
            cx = sum(px[next_lo:next_hi]) / size
            cy = sum(py[next_lo:next_hi]) / size
        else:
            cx, cy = px[-1], py[-1]
        # Twice the triangle's area; the factor 1/2 changes no comparison. The first largest wins.
        dx, dy = ax - cx, cy - ay
        best, best_area = lo, -1.0
        for j in range(lo, hi):
            area = abs(dx * (py[j] - ay) - (ax - px[j]) * dy)
            if area > best_area:
                best, best_area = j, area
        chosen.append(best)
        ax, ay = px[best], py[best]
    chosen.append(count - 1)
    return [indices[j] for j in chosen]
