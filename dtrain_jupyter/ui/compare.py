"""Compare: the curves of several jobs overlaid, one chart per metric name, one curve per job.

Each job brings one curve per metric: its first replica's (the master, chief or launcher when
it has one, else worker 0), which is what a person means by "the job's loss" in data-parallel
training, where every replica reports about the same. The legend names the job and the replica
("mnist-a (worker-0)"), so it is said which. Each job is read by its own `MetricsFollower`
(metrics_view.py), so a finished job is read once and a running one followed.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Sequence

import ipywidgets as widgets

from ..model.job import Job
from ..model.metric_series import MetricSeries
from .callbacks import ErrorForwarder
from .charts import Curve
from .closing import close_tree
from .metrics_view import EMPTY, WAIT_S, ChartGrid, MetricsFollower, kernel_waker
from .words import esc

# Replica roles that lead a job, by preference: their replica 0 speaks for it.
_LEADS = ("master", "chief", "launcher", "worker")
_INDEX = re.compile(r"^(?P<role>[a-z]+)-(?P<index>\d+)$", re.IGNORECASE)


def lead_replica(replicas: Iterable[str]) -> str:
    """The replica whose curve stands for the job: master-0, chief-0, launcher-0, worker-0, else the first by name."""
    names = sorted(set(replicas))
    best: tuple[int, str] | None = None
    for name in names:
        match = _INDEX.match(name)
        if match and match["index"] == "0" and match["role"].lower() in _LEADS:
            rank = _LEADS.index(match["role"].lower())
            if best is None or rank < best[0]:
                best = (rank, name)
    if best is not None:
        return best[1]
    return names[0] if names else ""


def job_curves(job_name: str, series: Sequence[MetricSeries]) -> dict[str, Curve]:
    """One curve per metric name for one job: its lead replica's, labelled "job (replica)"."""
    out: dict[str, Curve] = {}
    by_name: dict[str, list[MetricSeries]] = {}
    for s in series:
        by_name.setdefault(s.name, []).append(s)
    for name, members in by_name.items():
        lead = lead_replica(s.replica for s in members)
        # A replica reporting one metric both by report() and in its log: report() is exact.
        chosen = sorted((s for s in members if s.replica == lead), key=lambda s: ("report", "log").index(s.source)
                        if s.source in ("report", "log") else 2)[0]
        out[name] = Curve(f"{job_name} ({lead})", chosen.step, chosen.time, chosen.value)
    return out


class CompareView(widgets.VBox, ErrorForwarder):
    """The Compare view of the ticked jobs.

    Args:
        client: the panel's `Client`.
        wait: seconds each long poll may wait (0: read once; for tests).
    """

    def __init__(self, client: Any, wait: float = WAIT_S, **kwargs: Any) -> None:
        self.client = client
        self.wait = wait
        self.jobs: tuple[Job, ...] = ()
        self.followers: list[MetricsFollower] = []
        self.title = widgets.HTML("", _dom_classes=("dtrain-compare-title",))
        self.status = widgets.HTML("", _dom_classes=("dtrain-metrics-status",))
        self.empty = widgets.HTML("", _dom_classes=("dtrain-metrics-empty",))
        # Jobs compared ran at different times (yesterday's and today's): on a time axis each
        # curve counts from its own start, or the older one would sit a day to the left.
        self.grid = ChartGrid(align_starts=True)
        kwargs.setdefault("_dom_classes", ("dtrain-compare-view",))
        if "layout" not in kwargs:  # setdefault would open a Layout model even when one is given
            kwargs["layout"] = widgets.Layout(width="100%")
        super().__init__(children=(self.title, self.status, self.empty, self.grid), **kwargs)

    def show(self, jobs: Sequence[Job]) -> None:
        """Overlay the metrics of `jobs`, following those that run."""
        self.stop()
        self.jobs = tuple(jobs)
        self.grid.clear()
        names = ", ".join(esc(j.name) for j in self.jobs)
        with self.hold_sync():
            self.title.value = (f"<b>Compare {len(self.jobs)} jobs</b>: {names}<br><span class='dtrain-muted'>One "
                                "curve per job: its first replica's (master-0, chief-0, launcher-0 or worker-0), "
                                "named in the legend.</span>")
            self.status.value = "<span class='dtrain-muted' role='status'>Reading metrics…</span>"
            self.empty.value = ""
        wake = kernel_waker(self.flush)
        self.followers = [MetricsFollower(self.client, job, wait=self.wait, wake=wake) for job in self.jobs]
        for follower in self.followers:
            follower.start()

    def stop(self) -> None:
        for follower in self.followers:
            follower.stop()

    def close(self) -> None:
        """Stop following, then close the view with its parts."""
        self.stop()
        close_tree(self)

    def flush(self) -> bool:
        """Apply what the readers brought (kernel loop); False once no job has more to come."""
        if not self.followers:
            return True
        changed = [f.take() for f in self.followers]
        if any(changed):
            merged: dict[str, list[Curve]] = {}
            for follower in self.followers:
                for name, curve in job_curves(follower.job.name, follower.page.series).items():
                    merged.setdefault(name, []).append(curve)
            problems = [f"{esc(f.job.name)}: {esc(f.error)}" for f in self.followers if f.error]
            running = sum(1 for f in self.followers if not f.finished)
            with self.hold_sync():
                self.grid.show(merged, self.report_error)
                self.empty.value = f"<p class='dtrain-muted'>{EMPTY}</p>" if not merged and not problems else ""
                lines = [f"Cannot read metrics of {p}" for p in problems]
                lines.append(f"Following {running} running job{'s' if running != 1 else ''}…" if running
                             else "Every job has ended.")
                self.status.value = f"<span class='dtrain-muted' role='status'>{'<br>'.join(lines)}</span>"
        return any(not f.finished for f in self.followers)


class MetricsTab(widgets.VBox, ErrorForwarder):
    """The panel's Metrics tab: the Metrics view of one job, or Compare for several; one shows at a time.

    Args:
        client: the panel's `Client`.
        wait: seconds each long poll may wait.
    """

    def __init__(self, client: Any, wait: float = WAIT_S, **kwargs: Any) -> None:
        from .metrics_view import NO_JOB, MetricsView

        self.single = MetricsView(client, wait=wait)
        self.compare = CompareView(client, wait=wait, layout=widgets.Layout(display="none", width="100%"))
        self.hint = widgets.HTML(NO_JOB)
        self.single.layout.display = "none"
        for part in (self.single, self.compare):
            part.on_error = self.report_error
        kwargs.setdefault("_dom_classes", ("dtrain-metrics-page",))
        super().__init__(children=(self.hint, self.single, self.compare), layout=widgets.Layout(width="100%"),
                         **kwargs)

    def show(self, jobs: Sequence[Job]) -> None:
        """The charts of one job, or several jobs overlaid."""
        if not jobs:
            return
        several = len(jobs) > 1
        with self.hold_sync():
            self.hint.layout.display = "none"
            self.single.layout.display = "none" if several else ""
            self.compare.layout.display = "" if several else "none"
        if several:
            self.single.stop()
            self.compare.show(jobs)
        else:
            self.compare.stop()
            self.single.show(jobs[0])

    def flush(self) -> None:
        """Apply what the readers brought (the panel's feed runs this on the kernel loop)."""
        self.single.flush()
        self.compare.flush()

    def stop(self) -> None:
        self.single.stop()
        self.compare.stop()

    def close(self) -> None:
        """Stop both views' readers, then close the tab with its parts."""
        self.stop()
        close_tree(self)
