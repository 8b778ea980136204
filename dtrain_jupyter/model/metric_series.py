"""A job's metrics as the API serves them: columnar series, progress, and pages read incrementally.

A `MetricsPage` is one answer of `GET .../{name}/metrics?since=CURSOR`: the points newer than the
cursor, grouped into one `MetricSeries` per (replica, metric name, source), with the columns
`step`, `time` and `value` of equal length (a step may be None: the line gave none, and a chart
falls back to time). `MetricsPage.merge` joins a newer page onto what a caller holds, so a
follower keeps one page and merges each answer into it. Standard library only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidRequest

# Where a series' points came from: our own report() line, a recognised log line, a TensorBoard event file.
SOURCES = ("report", "log", "tensorboard")
# Points per series a merged page holds at most (twice what the server keeps by default,
# c.DTrain.metrics_max_points): a follower of a days-long job must not copy millions of points on
# each merge. Past it, `MetricSeries.thinned` thins the older half, as the server's store does.
HELD_POINTS = 20_000


@dataclass(frozen=True)
class MetricSeries:
    """The points of one metric of one replica, oldest first, as three columns of equal length.

    `replica` is the pod's replica name (`worker-0`), or for source "tensorboard" the run folder
    relative to the job's output root ("." for the root); `name` is the metric (or the scalar's tag).
    """

    replica: str
    name: str
    source: str
    step: list[int | None] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not len(self.step) == len(self.time) == len(self.value):
            raise InvalidRequest(
                f"series {self.replica}/{self.name}: step, time and value differ in length "
                f"({len(self.step)}, {len(self.time)}, {len(self.value)})", field="series")

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the series within a job: (replica, name, source)."""
        return (self.replica, self.name, self.source)

    def __len__(self) -> int:
        return len(self.value)

    def to_dict(self) -> dict[str, Any]:
        return {"replica": self.replica, "name": self.name, "source": self.source,
                "step": list(self.step), "time": list(self.time), "value": list(self.value)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MetricSeries":
        if not isinstance(data, dict):
            raise InvalidRequest("a series must be an object", field="series")
        steps, times, values = (data.get(column) or [] for column in ("step", "time", "value"))
        if not all(isinstance(column, list) for column in (steps, times, values)):
            raise InvalidRequest("a series' step, time and value must be lists", field="series")
        return cls(
            replica=str(data.get("replica", "")),
            name=str(data.get("name", "")),
            source=str(data.get("source", "log")),
            step=[None if s is None else int(s) for s in steps],
            time=[_number(t) for t in times],
            value=[_number(v) for v in values],
        )

    def extended(self, newer: "MetricSeries") -> "MetricSeries":
        """This series with `newer`'s points appended (same key)."""
        return MetricSeries(self.replica, self.name, self.source, self.step + newer.step,
                            self.time + newer.time, self.value + newer.value)

    def thinned(self, limit: int) -> "MetricSeries":
        """At most `limit` points (limit >= 2): every second point of the older half goes, keeping
        the first, until it fits. The newest points stay whole and the curve's start stays drawn;
        each thinning takes a quarter of the points, so a growing series is thinned seldom."""
        keep = list(range(len(self.value)))
        while len(keep) > limit:
            half = len(keep) // 2
            keep = keep[:1] + keep[2:half:2] + keep[half:]
        if len(keep) == len(self.value):
            return self
        return MetricSeries(self.replica, self.name, self.source, [self.step[i] for i in keep],
                            [self.time[i] for i in keep], [self.value[i] for i in keep])


@dataclass(frozen=True)
class JobProgress:
    """How far a job's code says it is: `fraction` (0..1) from its last reported "progress" value,
    `eta_seconds` from the recent rate (None until there is one), `updated` when it was reported
    (ISO 8601, UTC)."""

    backend: str
    namespace: str
    kind: str
    name: str
    uid: str
    fraction: float
    eta_seconds: float | None
    updated: str

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "namespace": self.namespace, "kind": self.kind, "name": self.name,
                "uid": self.uid, "fraction": self.fraction, "eta_seconds": self.eta_seconds, "updated": self.updated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobProgress":
        if not isinstance(data, dict):
            raise InvalidRequest("progress must be an object", field="progress")
        eta = data.get("eta_seconds")
        return cls(
            backend=str(data.get("backend", "")),
            namespace=str(data.get("namespace", "")),
            kind=str(data.get("kind", "")),
            name=str(data.get("name", "")),
            uid=str(data.get("uid", "")),
            fraction=_number(data.get("fraction", 0.0)),
            eta_seconds=None if eta is None else _number(eta),
            updated=str(data.get("updated", "")),
        )


@dataclass(frozen=True)
class MetricsPage:
    """One answer of the metrics endpoint.

    `cursor`: pass it back as `since` for only newer points. `reset`: the points before were
    replaced (a log re-read after a restart): drop what you hold and take these. `finished`: the
    job has ended and its logs are all read; no more points will come.
    """

    cursor: int
    reset: bool
    series: list[MetricSeries]
    progress: JobProgress | None
    finished: bool

    def to_dict(self) -> dict[str, Any]:
        return {"cursor": self.cursor, "reset": self.reset, "series": [s.to_dict() for s in self.series],
                "progress": None if self.progress is None else self.progress.to_dict(),
                "finished": self.finished}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MetricsPage":
        if not isinstance(data, dict):
            raise InvalidRequest("a metrics page must be an object", field="metrics")
        series = data.get("series") or []
        if not isinstance(series, list):
            raise InvalidRequest("series must be a list", field="series")
        progress = data.get("progress")
        return cls(
            cursor=int(data.get("cursor") or 0),
            reset=bool(data.get("reset")),
            series=[MetricSeries.from_dict(s) for s in series],
            progress=None if progress is None else JobProgress.from_dict(progress),
            finished=bool(data.get("finished")),
        )

    def merge(self, newer: "MetricsPage", limit: int = HELD_POINTS) -> "MetricsPage":
        """What a caller holds after reading `newer` (the answer to `since=self.cursor`).

        When `newer.reset`, its points replace all of these; otherwise each of its series is
        appended to the series with the same (replica, name, source), and new series come last.
        A series longer than `limit` is thinned (`MetricSeries.thinned`).
        The cursor, the finished and reset flags and (when it has one) the progress come from `newer`.
        """
        progress = newer.progress if newer.progress is not None or newer.reset else self.progress
        if newer.reset:
            return MetricsPage(newer.cursor, True, list(newer.series), progress, newer.finished)
        merged = {s.key: s for s in self.series}
        for series in newer.series:
            held = merged.get(series.key)
            joined = series if held is None else held.extended(series)
            merged[series.key] = joined.thinned(limit) if len(joined) > limit else joined
        return MetricsPage(newer.cursor, False, list(merged.values()), progress, newer.finished)

    def get(self, replica: str, name: str, source: str | None = None) -> MetricSeries | None:
        """The series of `replica` and `name` (of `source`, when given), or None."""
        for series in self.series:
            if series.replica == replica and series.name == name and (source is None or series.source == source):
                return series
        return None


def _number(value: Any) -> float:
    """A JSON number as a float; anything else is a request error (NaN travels as null)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidRequest(f"expected a number, got {value!r}", field="series")
    return float(value)
