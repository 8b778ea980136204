"""Metric charts: one chart per metric name, one curve per replica (or, in Compare, per job).

The plotting library is bqplot (ipywidgets-native, so a chart works in JupyterLab, Notebook 7
and VS Code without an extension of ours, and its arrays travel as binary buffers). It is used
in this module only: a later change of library touches this file alone.

What a person gets per chart: the curves with a legend (HTML beside the figure, so screen
readers read the names and the words the chart says), EMA smoothing (a weight 0..0.99) with
the raw curve faint behind, a log-scale toggle that says in words what it cannot draw (values <= 0), and a readout
of every curve's value at the mouse (bqplot's IndexSelector: its position comes to the kernel,
which writes the values as text; bqplot's Lines tooltip knows only a line's name).

Cost: every curve of a chart is one bqplot `Lines` mark (ragged x and y arrays), so new points
for all series are ONE widget message per chart (`hold_sync`). bqplot has no append: a changed
array is sent whole. So a chart sends at most POINTS_SENT_PER_CHART points, shared among its
drawn curves (a smoothed curve is drawn twice: raw and smoothed); longer series are
thinned with largest-triangle-three-buckets (model/downsample.py), which keeps the spikes a
person looks for. Points only arrive at a series' end, so each chart keeps per curve what it
drew (`_HeldCurve`) and a page costs its new points, not the whole series again
(benchmarks/findings/metrics-panel.md).

Gaps: a value that is missing, NaN or infinite (a loss that overflowed) is sent as NaN, and
bqplot's Lines breaks the line there (it leaves a point whose y does not scale to a finite
number undefined: d3's `line().defined`), so a chart does not draw a line across it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import bqplot
import ipywidgets as widgets
import numpy as np
from traitlets import Bool, Float, Unicode, observe

from ..model.downsample import lttb_indices
from .callbacks import ErrorForwarder, guarded
from .closing import close_tree
from .words import esc

# The most points one chart sends to the browser, shared among its drawn curves; longer series are
# thinned (lttb). Measured (benchmarks/findings/plotting.md): the browser's work per update is about
# 13 ms plus 1.5 ms per 1,000 points of the chart, so 4,000 points stay within 20 ms.
POINTS_SENT_PER_CHART = 4000
# However many curves share a chart, each keeps at least this many points.
FEWEST_POINTS_PER_CURVE = 200
# Ten colours that stay apart for common colour blindness (Okabe-Ito, then Tableau's).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#8C564B", "#F0E442",
           "#7F7F7F", "#17BECF")
RAW_OPACITY = 0.25   # the raw curve behind a smoothed one: there, but quiet
STEP = "step"
TIME = "time"
TIME_LABEL = "seconds since start"


@dataclass(frozen=True)
class Curve:
    """One curve of a chart.

    Args:
        label: its name in the legend (a replica, or a job in Compare).
        step: the step of each point, None where the point has none.
        time: each point's time (Unix seconds).
        value: each point's value.
    """

    label: str
    step: Sequence[int | None]
    time: Sequence[float]
    value: Sequence[float]


def x_axis(curves: Sequence[Curve]) -> str:
    """STEP when every point of every curve has a step, else TIME (steps alone would mislead)."""
    if curves and all(s is not None for c in curves for s in c.step):
        return STEP
    return TIME


@dataclass(frozen=True)
class Smoothing:
    """Where an EMA left off: what `ema` needs to go on with the points that come after.

    Args:
        total: the biased running average (before debiasing).
        count: how many finite values it has taken.
    """

    total: float = 0.0
    count: int = 0


# The longest run `ema` folds at once: weight ** -length must stay far inside float64's range.
_EMA_EXPONENT_LIMIT = 600.0
_EMA_RUN_MAX = 8192


def ema(values: Sequence[float], weight: float, since: Smoothing = Smoothing()) -> np.ndarray:
    """Exponential moving average with TensorBoard's debiasing, so the first points are not
    pulled toward zero; `weight` 0 returns the values as they are. NaN values are gaps: they
    stay NaN and the average skips them (as TensorBoard's does). `since` goes on from where an
    earlier call left off (`ema_state`), so a curve's new points are smoothed without its old ones."""
    return ema_state(values, weight, since)[0]


def ema_state(values: Sequence[float], weight: float,
              since: Smoothing = Smoothing()) -> tuple[np.ndarray, Smoothing]:
    """`ema` and where it left off, for the next call's `since`."""
    data = np.asarray(values, dtype=float)
    if weight <= 0 or data.size == 0:
        return data, since
    out = np.full_like(data, np.nan)
    finite = np.flatnonzero(np.isfinite(data))
    total, count = since.total, since.count
    # Vectorised in runs: within a run of k values, total_j = w^(j+1) * total + (1-w) * w^j *
    # cumsum(x_m * w^-m), and w^-k must not overflow, which bounds k by the weight.
    run = int(min(_EMA_RUN_MAX, max(1.0, _EMA_EXPONENT_LIMIT / -math.log(weight))))
    for lo in range(0, finite.size, run):
        idx = finite[lo:lo + run]
        powers = weight ** np.arange(idx.size, dtype=float)
        sums = np.cumsum(data[idx] / powers) * powers * (1 - weight) + total * powers * weight
        counts = count + np.arange(1, idx.size + 1, dtype=float)
        out[idx] = sums / (1 - weight ** counts)
        total, count = float(sums[-1]), count + idx.size
    return out, Smoothing(total, count)


def _ragged(rows: list[np.ndarray]) -> np.ndarray:
    # bqplot takes a 1-D object array of arrays as curves of different lengths.
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = row
    return out


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


# A thinned curve is thinned again once it has grown by this share since; until then its new
# points are appended to the thinned arrays (a few more points sent, no LTTB over the whole curve).
RETHIN_GROWTH = 0.01


def _floats(values: Sequence[Any]) -> np.ndarray:
    # None (a step or value the point lacks) becomes NaN, a gap.
    return np.asarray(values, dtype=float)


class _HeldCurve:
    """One curve as drawn, kept between updates: a page with new points at its end costs those
    points (their smoothing, an append), not the whole series again (issue 15: 160 ms per
    100,000-point curve per page, on the kernel loop).

    Args:
        label: the curve's label.
        basis: what every drawn value depends on besides the points: (x axis, the time x starts
            from, smoothing weight, log scale); another basis draws the curve afresh.
    """

    def __init__(self, label: str, basis: tuple[Any, ...]) -> None:
        self.label = label
        self.basis = basis
        self.taken = 0                       # points of the curve drawn so far
        self.last: tuple[Any, ...] = ()      # the first time and the last point taken: the series' identity
        self.xs = self.ys = self.smooth = np.zeros(0)   # every point; gaps (and log-hidden values) NaN in ys
        self.smoothing = Smoothing()
        self.hidden = 0                      # values a log scale cannot show
        self.sent_x = self.sent_raw = self.sent_smooth = np.zeros(0)   # what the mark gets, thinned
        self.thinned_at = 0                  # the length at the last thinning; 0: sent whole
        self.limit = 0                       # the points per curve that thinning aimed at

    def follows(self, curve: Curve, basis: tuple[Any, ...]) -> bool:
        """Whether `curve` is the held one with (maybe) points added at its end."""
        if basis != self.basis or curve.label != self.label or len(curve.value) < self.taken:
            return False
        if not self.taken:
            return True
        i = self.taken - 1
        # A reset page (the logs re-read) replaces the series; its points differ here.
        return (curve.time[0], curve.time[i], curve.value[i]) == self.last

    def take(self, curve: Curve, axis: str, start: float, weight: float, log_scale: bool, limit: int) -> None:
        """Add the curve's points after those taken (all of them the first time); send at most `limit`."""
        end = len(curve.value)
        if end == self.taken:
            if limit != self.limit and self.xs.size > min(limit, self.limit or limit):
                self._thin(np.zeros(0), np.zeros(0), np.zeros(0), limit)
            return
        new_x = _floats(curve.step[self.taken:end]) if axis == STEP else _floats(curve.time[self.taken:end]) - start
        new_y = _floats(curve.value[self.taken:end])
        # A gap is a NaN y: bqplot's Lines leaves a point whose y does not scale to a finite
        # number undefined and breaks the line there (d3 line().defined, bqplot Lines.ts).
        gap = ~np.isfinite(new_y) | ~np.isfinite(new_x)
        if log_scale:
            below = np.isfinite(new_y) & (new_y <= 0)
            self.hidden += int(np.count_nonzero(below & np.isfinite(new_x)))
            gap |= below
        new_y[gap] = np.nan
        new_smooth, self.smoothing = ema_state(new_y, weight, self.smoothing)
        self.xs = np.concatenate((self.xs, new_x))
        self.ys = np.concatenate((self.ys, new_y))
        self.smooth = np.concatenate((self.smooth, new_smooth))
        self.taken = end
        self.last = (curve.time[0], curve.time[end - 1], curve.value[end - 1])
        self._thin(new_x, new_y, new_smooth, limit)

    def _thin(self, new_x: np.ndarray, new_y: np.ndarray, new_smooth: np.ndarray, limit: int) -> None:
        size = self.xs.size
        if size <= limit:
            self.sent_x, self.sent_raw, self.sent_smooth = self.xs, self.ys, self.smooth
            self.thinned_at = 0
        elif not self.thinned_at or limit != self.limit or size >= self.thinned_at * (1 + RETHIN_GROWTH):
            # The smoothed curve follows the raw one's points: one LTTB per curve, not two.
            kept = np.asarray(lttb_indices(self.xs.tolist(), self.ys.tolist(), limit), dtype=np.intp)
            self.sent_x, self.sent_raw, self.sent_smooth = self.xs[kept], self.ys[kept], self.smooth[kept]
            self.thinned_at = size
        else:
            self.sent_x = np.concatenate((self.sent_x, new_x))
            self.sent_raw = np.concatenate((self.sent_raw, new_y))
            self.sent_smooth = np.concatenate((self.sent_smooth, new_smooth))
        self.limit = limit

    @property
    def thinned(self) -> bool:
        return bool(self.thinned_at)


def points_per_curve(curves: int, smoothed: bool) -> int:
    """The points each curve of a chart of `curves` curves may send: POINTS_SENT_PER_CHART shared
    among the lines drawn (two per curve when smoothed), at least FEWEST_POINTS_PER_CURVE."""
    lines = max(1, curves) * (2 if smoothed else 1)
    return max(FEWEST_POINTS_PER_CURVE, POINTS_SENT_PER_CHART // lines)


class MetricChart(widgets.VBox, ErrorForwarder):
    """The chart of one metric.

    Args:
        name: the metric's name (the chart's title and its y axis).
        height: the figure's height in CSS.
        align_starts: on a time axis, count each curve's x from its own first point (Compare:
            jobs that ran on different days start together); else from the first point of any
            curve (the replicas of one job, which ran together).
    """

    smoothing = Float(0.6, min=0.0, max=0.99, help="EMA weight; 0 draws the raw curves only")
    log_scale = Bool(False, help="Log y axis; values <= 0 cannot be drawn on it and are left out, in words")
    note = Unicode("", help="What the chart says about itself: an empty chart, values a log scale leaves out")

    def __init__(self, name: str, height: str = "260px", align_starts: bool = False, **kwargs: Any) -> None:
        self.name = name
        self.align_starts = align_starts
        self.curves: tuple[Curve, ...] = ()
        self._axis = STEP
        self._held: list[_HeldCurve] = []  # each curve as drawn, in the order of `curves`
        self.x_scale = bqplot.LinearScale()
        self.linear_y = bqplot.LinearScale()
        self.log_y = bqplot.LogScale()
        self.x_axis = bqplot.Axis(scale=self.x_scale, label=STEP, grid_lines="dashed")
        # A mark and a y axis per scale: bqplot draws a mark whose `scales` changed after it was
        # shown against its old axis (the curve vanished), while a figure whose `marks` and
        # `axes` are replaced builds their views afresh. The log toggle swaps them; each holds
        # every curve of the chart, so an update is one message (see the module's words).
        def y_axis(scale: Any) -> bqplot.Axis:
            # "~" drops trailing zeros (0.9, not 0.900); the label stands clear of the widest ticks.
            return bqplot.Axis(scale=scale, side="left", label=name, grid_lines="dashed", tick_format=".3~g",
                               label_offset="50px")

        def lines(scale: Any) -> bqplot.Lines:
            return bqplot.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": self.x_scale, "y": scale},
                                colors=list(PALETTE), stroke_width=1.6, display_legend=False)

        self.linear_axis, self.log_axis = y_axis(self.linear_y), y_axis(self.log_y)
        self.linear_lines, self.log_lines = lines(self.linear_y), lines(self.log_y)
        self.lines = self.linear_lines
        self.y_axis = self.linear_axis
        self.hover = bqplot.interacts.IndexSelector(scale=self.x_scale, marks=[self.lines], line_width=1)
        self.figure = bqplot.Figure(marks=[self.lines], axes=[self.x_axis, self.y_axis], interaction=self.hover,
                                    title=name, animation_duration=0, min_aspect_ratio=0.01,
                                    fig_margin={"top": 40, "bottom": 40, "left": 72, "right": 16},
                                    layout=widgets.Layout(width="100%", height=height))
        # A number field, not ipywidgets' slider: the slider's handle is a role=slider <div> with
        # no accessible name and no way to give it one from the kernel (axe-core's
        # aria-input-field-name); an <input type=number> is named by its label, and its arrow
        # keys step it like a slider's.
        self.smoothing_box = widgets.BoundedFloatText(value=self.smoothing, min=0.0, max=0.99, step=0.1,
                                                         description="Smoothing (0–0.99)", continuous_update=False,
                                                         style={"description_width": "initial"},
                                                         tooltip="EMA weight: 0 draws the raw curve, 0.99 smooths "
                                                                 "the most",
                                                         layout=widgets.Layout(width="210px"),
                                                         _dom_classes=("dtrain-chart-smoothing",))
        self.log_box = widgets.Checkbox(False, description="Log scale", indent=False,
                                        layout=widgets.Layout(width="auto"), _dom_classes=("dtrain-chart-log",))
        self.legend = widgets.HTML("", _dom_classes=("dtrain-chart-legend",))
        self.readout = widgets.HTML("", _dom_classes=("dtrain-chart-readout",))
        self.note_line = widgets.HTML("", _dom_classes=("dtrain-chart-note",))
        controls = widgets.HBox([self.smoothing_box, self.log_box],
                                layout=widgets.Layout(flex_flow="row wrap", align_items="center"))
        kwargs.setdefault("_dom_classes", ("dtrain-chart",))
        super().__init__(children=(self.figure, self.legend, self.readout, self.note_line, controls),
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.smoothing_box.observe(self._on_smoothing_box, "value")
        self.log_box.observe(self._on_log_box, "value")
        self.hover.observe(self._on_hover, "selected")

    # ------------------------------------------------------------------ public
    def set_curves(self, curves: Sequence[Curve]) -> None:
        """Draw these curves (all points so far of each); the legend changes only when the names do."""
        labels_before = [c.label for c in self.curves]
        self.curves = tuple(curves)
        if [c.label for c in self.curves] != labels_before:
            self.legend.value = self._legend_html()
        self._draw()

    def points_drawn(self) -> int:
        """How many points of the chart's curves are in the figure (after thinning; a gap's NaN
        is sent to break the line but draws no point)."""
        return sum(int(np.count_nonzero(np.isfinite(row))) for row in self.lines.y) if np.size(self.lines.y) else 0

    # ------------------------------------------------------------------ reactions
    @observe("smoothing", "log_scale")
    @guarded
    def _on_setting(self, change: dict[str, Any]) -> None:
        self.smoothing_box.value = self.smoothing
        self.log_box.value = self.log_scale
        self._draw()

    @observe("note")
    @guarded
    def _on_note(self, change: dict[str, Any]) -> None:
        self.note_line.value = f"<span class='dtrain-muted' role='status'>{esc(self.note)}</span>" if self.note else ""

    @guarded
    def _on_smoothing_box(self, change: dict[str, Any]) -> None:
        self.smoothing = float(change["new"])

    @guarded
    def _on_log_box(self, change: dict[str, Any]) -> None:
        self.log_scale = bool(change["new"])

    @guarded
    def _on_hover(self, change: dict[str, Any]) -> None:
        selected = change["new"]
        if selected is None or np.size(selected) == 0:
            return
        self.readout.value = self.readout_html(float(np.ravel(selected)[0]))

    def readout_html(self, x: float) -> str:
        """Each curve's value (as drawn, smoothed) at the point nearest to `x`; gaps are passed over."""
        parts = []
        for held in self._held:
            drawn = np.flatnonzero(np.isfinite(held.xs) & np.isfinite(held.smooth))
            if drawn.size == 0:
                continue
            i = drawn[int(np.argmin(np.abs(held.xs[drawn] - x)))]
            parts.append(f"{esc(held.label)}: <b>{esc(_number(float(held.smooth[i])))}</b>")
        if not parts:
            return ""
        where = f"step {int(round(x))}" if self._axis == STEP else f"{x:.1f} s"
        return f"<span class='dtrain-muted'>At {esc(where)}:</span> " + " · ".join(parts)

    # ------------------------------------------------------------------ drawing
    def _legend_html(self) -> str:
        items = "".join(
            f"<li><span class='dtrain-swatch' style='background:{PALETTE[i % len(PALETTE)]}'></span>"
            f"{esc(c.label)}</li>" for i, c in enumerate(self.curves))
        return f"<ul class='dtrain-legend' aria-label='Curves of {esc(self.name)}'>{items}</ul>"

    def _starts(self, axis: str) -> list[float]:
        """The time each curve's x counts from: 0 on the step axis; on the time axis the first
        time of any curve (replicas of one job ran together), or with `align_starts` each
        curve's own first time (jobs compared ran at different times)."""
        firsts = [float(c.time[0]) if len(c.time) else 0.0 for c in self.curves]
        if axis == STEP:
            return [0.0] * len(firsts)
        if self.align_starts:
            return firsts
        shared = min(firsts, default=0.0)
        return [shared] * len(firsts)

    def _draw(self) -> None:
        axis = x_axis(self.curves)
        weight = float(self.smoothing)
        held_before = self._held
        self._held = []
        limit = points_per_curve(len(self.curves), smoothed=weight > 0)
        for i, (curve, start) in enumerate(zip(self.curves, self._starts(axis))):
            basis = (axis, start, weight, bool(self.log_scale))
            held = held_before[i] if i < len(held_before) else None
            if held is None or not held.follows(curve, basis):
                held = _HeldCurve(curve.label, basis)
            held.take(curve, axis, start, weight, self.log_scale, limit)
            self._held.append(held)
        hidden = sum(h.hidden for h in self._held)
        words = []
        if not any(np.isfinite(h.ys).any() for h in self._held):
            words.append("No points to draw yet." if not (self.log_scale and hidden) else
                         f"Log scale: every value of {self.name} is 0 or below, which a log scale cannot show; "
                         "switch it off to see them.")
        elif self.log_scale and hidden:
            words.append(f"Log scale leaves out {hidden} point{'s' if hidden != 1 else ''} at 0 or below.")
        if any(h.thinned for h in self._held):
            words.append(f"Long curves are drawn from about {limit} points each, their peaks kept.")
        xs_out: list[np.ndarray] = []
        ys_out: list[np.ndarray] = []
        colors: list[str] = []
        opacities: list[float] = []
        labels: list[str] = []
        for i, held in enumerate(self._held):
            colour = PALETTE[i % len(PALETTE)]
            if weight > 0:
                xs_out.append(held.sent_x)
                ys_out.append(held.sent_raw)
                colors.append(colour)
                opacities.append(RAW_OPACITY)
                labels.append(f"{held.label} (raw)")
            xs_out.append(held.sent_x)
            ys_out.append(held.sent_smooth)
            colors.append(colour)
            opacities.append(1.0)
            labels.append(held.label)
        shown = self.lines
        self.lines = self.log_lines if self.log_scale else self.linear_lines
        self.y_axis = self.log_axis if self.log_scale else self.linear_axis
        with self.lines.hold_sync():
            # traittypes compares an old and a new object array element by element and fails
            # on ragged rows; an empty array between them is compared by shape only. Inside
            # hold_sync only the last value of each trait is sent.
            self.lines.x = self.lines.y = np.zeros(0)
            if xs_out:
                self.lines.x = _ragged(xs_out)
                self.lines.y = _ragged(ys_out)
            self.lines.colors = colors or list(PALETTE)
            self.lines.opacities = opacities
            self.lines.labels = labels
        if self.lines is not shown:
            with self.figure.hold_sync():
                self.figure.marks = [self.lines]
                self.figure.axes = [self.x_axis, self.y_axis]
            self.hover.marks = [self.lines]
        if axis != self._axis:
            self._axis = axis
            self.x_axis.label = STEP if axis == STEP else TIME_LABEL
        self.note = " ".join(words)

    def close(self) -> None:
        """Close the chart and every model it is made of (figure, marks, axes, scales, controls)."""
        # The scale's mark and axis that are not shown now are in no trait of the figure.
        for part in (self.linear_lines, self.log_lines, self.linear_axis, self.log_axis):
            close_tree(part)
        close_tree(self)


def chart_names(names: Sequence[str]) -> list[str]:
    """Metric names in the order charts show them: the usual headline metrics first, then by name."""
    first = ("loss", "train_loss", "val_loss", "accuracy", "acc", "val_accuracy")
    return sorted(set(names), key=lambda n: (first.index(n) if n in first else len(first), n))
