"""A job's metrics: one chart per metric name, live while the job runs.

A worker thread long-polls `Client.metrics(..., since=cursor, wait=25)` (the server answers as
soon as newer points exist, or the job ends) and only queues the pages; `flush()` merges them
and redraws the charts on the kernel loop (jupyter-notes §5.4: widgets change in one place),
called by the panel's feed a few times a second, or by a `LoopPump` where there is no panel (the
notebook's run-details widget). The thread ends when a page says `finished` (the job ended and
its logs are all read) or the view stops; a `reset` page replaces everything held (the server
re-read the logs after a restart). A page that brings something also asks the kernel loop to
apply it at once (`kernel_waker`): waiting for the feed's next drain (every 250 ms) was most of
the time from a line written to its point drawn (benchmarks/findings/metrics-panel.md). Failures are said in the view's status line in the panel's
words (`describe_error`), never as a traceback, and the thread tries again after a pause.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from typing import Any, Callable, Iterable

import ipywidgets as widgets

from ..errors import JobNotFound, NotFound
from ..model.job import Job
from ..model.metric_series import MetricSeries, MetricsPage
from .callbacks import ErrorForwarder, describe_error, guarded
from .charts import Curve, MetricChart, chart_names
from .closing import close_tree
from .words import esc

log = logging.getLogger(__name__)

WAIT_S = 25            # the longest the server holds one metrics request (the API's limit)
RETRY_FIRST_S = 1.0    # pause after a failed read, doubling up to RETRY_LIMIT_S
RETRY_LIMIT_S = 10.0
EMPTY = ("No metrics yet — print lines like <code>loss=0.21</code> or call "
         "<code>dtrain_jupyter.report(...)</code>")
TENSORBOARD = "tensorboard"  # the source of a TensorBoard run's scalars (the metrics API)
NO_JOB = "<i>Choose a job's Metrics button in the Jobs tab, or tick jobs and choose Metrics.</i>"


def _empty_page() -> MetricsPage:
    return MetricsPage(cursor=0, reset=False, series=[], progress=None, finished=False)


class MetricsFollower:
    """Reads one job's metrics on a worker thread; `take()` on the kernel loop returns what is new.

    Args:
        client: the `Client` (used from the worker thread only).
        job: the job whose metrics are read.
        wait: seconds each long poll may wait on the server (0 reads once per call).
        wake: called from the worker thread after each queued page (see `kernel_waker`).
    """

    def __init__(self, client: Any, job: Job, wait: float = WAIT_S,
                 wake: Callable[[], None] | None = None) -> None:
        self.client = client
        self.job = job
        self.wait = wait
        self.wake = wake
        self.page = _empty_page()
        self.error = ""          # the last failure, in words; "" while reads succeed
        self.gone = False        # the server does not know the job (NotFound): nothing more will come
        self._queue: "queue.Queue[MetricsPage | BaseException]" = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def finished(self) -> bool:
        return self.page.finished or self.gone

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._read_forever, name="dtrain-metrics", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def take(self) -> bool:
        """Merge the pages read since the last call into `page` (kernel loop); True when anything
        changed (points, a reset, the end, a failure or its recovery)."""
        changed = False
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return changed
            changed = True
            if isinstance(item, BaseException):
                self.gone = isinstance(item, (JobNotFound, NotFound))
                self.error = describe_error(item)
                continue
            self.error = ""
            self.page = self.page.merge(item)

    def _read_forever(self) -> None:
        job = self.job
        cursor = 0
        pause = 0.0
        first = True
        path = ""
        while not self._stop.is_set():
            try:
                # Found once: each later read is one request, not a job lookup and then the read.
                path = path or self.client.job_path(job.name, kind=job.kind, namespace=job.namespace,
                                                    backend=job.backend)
                # The first read does not wait: the view says at once what there is, even nothing.
                page = self.client.metrics_at(path, since=cursor, wait=0 if first else self.wait)
            except (JobNotFound, NotFound) as exc:  # no such job, or no history keeping metrics: final
                self._put(exc)
                return
            except Exception as exc:  # noqa: BLE001 - said in the view; read again after a pause
                log.warning("metrics of %s: %s", job.name, describe_error(exc))
                self._put(exc)
                pause = RETRY_FIRST_S if not pause else min(pause * 2, RETRY_LIMIT_S)
                self._stop.wait(pause)
                continue
            pause = 0.0
            cursor = page.cursor
            if first or page.series or page.reset or page.finished:
                self._put(page)
            first = False
            if page.finished or self.wait <= 0:
                return


    def _put(self, item: "MetricsPage | BaseException") -> None:
        self._queue.put(item)
        if self.wake is not None and not self._stop.is_set():
            self.wake()


def kernel_waker(fn: Callable[[], Any]) -> Callable[[], None] | None:
    """A function any thread may call to have `fn()` run soon on the asyncio loop running now
    (a kernel's), or None where no loop runs (plain Python: the caller drains). Calls that come
    while one is pending are folded into it, so a burst of pages is one `fn()`."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    pending = threading.Event()

    def run() -> None:
        pending.clear()
        try:
            fn()
        except Exception:  # noqa: BLE001 - the view said it; the loop must not see it
            log.exception("metrics update failed")

    def wake() -> None:
        if not pending.is_set():
            pending.set()
            try:
                loop.call_soon_threadsafe(run)
            except RuntimeError:  # the loop has closed (the kernel is going away)
                pass

    return wake


class LoopPump:
    """Calls `fn()` every `interval` seconds on the running asyncio loop (a kernel's) until
    `stop()`, or until `fn()` returns False; where no loop runs (plain Python), the caller calls
    `fn()` itself."""

    def __init__(self, fn: Callable[[], bool | None], interval: float = 0.25) -> None:
        self.fn = fn
        self.interval = interval
        self._task: asyncio.Task | None = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                if self.fn() is False:
                    return
            except Exception:  # noqa: BLE001 - the view said it; the pump must outlive one failure
                log.exception("metrics update failed")
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None


def curves_by_name(series: Iterable[MetricSeries]) -> dict[str, list[Curve]]:
    """One list of curves (one per replica, and per source where a replica has several) per metric name."""
    grouped: dict[str, list[MetricSeries]] = {}
    for s in series:
        grouped.setdefault(s.name, []).append(s)
    out: dict[str, list[Curve]] = {}
    for name, members in grouped.items():
        sources = {s.replica: set() for s in members}
        for s in members:
            sources[s.replica].add(s.source)
        members.sort(key=lambda s: (s.replica, s.source))
        out[name] = [Curve(f"{s.replica} ({s.source})" if len(sources[s.replica]) > 1 else s.replica,
                           s.step, s.time, s.value) for s in members]
    return out


class ChartGrid(widgets.VBox):
    """The charts of one view, one per metric name, each kept while the view lives (so a
    person's smoothing and log choices stay as points arrive) and redrawn only when its curves
    changed.

    Args:
        align_starts: on a time axis, each curve counts from its own first point (Compare's jobs
            ran at different times; see MetricChart).
    """

    def __init__(self, align_starts: bool = False, **kwargs: Any) -> None:
        self.align_starts = align_starts
        self.charts: dict[str, MetricChart] = {}
        self._drawn: dict[str, tuple[tuple[str, int], ...]] = {}
        kwargs.setdefault("_dom_classes", ("dtrain-charts",))
        super().__init__(layout=widgets.Layout(width="100%"), **kwargs)

    def show(self, curves: dict[str, list[Curve]], report_error: Callable[[BaseException], None]) -> None:
        names = chart_names(curves)
        for name in names:
            if name not in self.charts:
                chart = MetricChart(name, align_starts=self.align_starts)
                chart.on_error = report_error
                self.charts[name] = chart
        for name in list(self.charts):
            if name not in curves:
                self.charts.pop(name).close()
                self._drawn.pop(name, None)
        ordered = tuple(self.charts[n] for n in names)
        if tuple(self.children) != ordered:
            self.children = ordered
        for name in names:
            # What the chart holds: its curves' names and lengths; unchanged ones are not resent.
            drawn = tuple((c.label, len(c.value)) for c in curves[name])
            if self._drawn.get(name) != drawn:
                self._drawn[name] = drawn
                self.charts[name].set_curves(curves[name])

    def clear(self) -> None:
        for chart in self.charts.values():
            chart.close()
        self.charts.clear()
        self._drawn.clear()
        self.children = ()

    def close(self) -> None:
        """Close the charts (each with its parts) and the grid."""
        self.clear()
        close_tree(self)


class MetricsView(widgets.VBox, ErrorForwarder):
    """The Metrics view of one job: a title, a status line and a chart per metric.

    Args:
        client: the panel's `Client`.
        wait: seconds each long poll may wait (0: read once, no following; for tests).
    """

    def __init__(self, client: Any, wait: float = WAIT_S, **kwargs: Any) -> None:
        self.client = client
        self.wait = wait
        self.job: Job | None = None
        self.follower: MetricsFollower | None = None
        # What the TensorBoard button runs with the shown job (the panel opens its TensorBoard
        # tab); None where no panel is (the run-details widget): the button is not offered.
        self.on_tensorboard: Callable[[Job], None] | None = None
        self.title = widgets.HTML(NO_JOB, _dom_classes=("dtrain-metrics-title",))
        self.tensorboard_button = widgets.Button(
            description="TensorBoard", icon="line-chart", tooltip="Open this job's TensorBoard event files in "
            "TensorBoard", layout=widgets.Layout(width="auto", display="none"),
            _dom_classes=("dtrain-metrics-tensorboard",))
        self.status = widgets.HTML("", _dom_classes=("dtrain-metrics-status",))
        self.empty = widgets.HTML("", _dom_classes=("dtrain-metrics-empty",))
        self.grid = ChartGrid()
        kwargs.setdefault("_dom_classes", ("dtrain-metrics-view",))
        if "layout" not in kwargs:  # setdefault would open a Layout model even when one is given
            kwargs["layout"] = widgets.Layout(width="100%")
        super().__init__(children=(self.title, self.tensorboard_button, self.status, self.empty, self.grid),
                         **kwargs)
        self.tensorboard_button.on_click(self._on_tensorboard)

    def show(self, job: Job) -> None:
        """Show `job`'s metrics, following them while it runs."""
        self.stop()
        self.job = job
        self.grid.clear()
        with self.hold_sync():
            self.title.value = f"<b>Metrics of {esc(job.kind)}/{esc(job.name)}</b>"
            self.status.value = "<span class='dtrain-muted' role='status'>Reading metrics…</span>"
            self.empty.value = ""
            self.tensorboard_button.layout.display = "none"
        self.follower = MetricsFollower(self.client, job, wait=self.wait, wake=kernel_waker(self.flush))
        self.follower.start()

    def stop(self) -> None:
        """Stop following (the view closes, or shows another job)."""
        if self.follower is not None:
            self.follower.stop()

    def close(self) -> None:
        """Stop following, then close the view with its parts (its charts' thirty-odd models each)."""
        self.stop()
        close_tree(self)

    def flush(self) -> bool:
        """Apply what the reader brought (kernel loop); False once there is nothing more to follow."""
        follower = self.follower
        if follower is None:
            return True
        if not follower.take():
            return not follower.finished
        page = follower.page
        curves = curves_by_name(page.series)
        with self.hold_sync():
            self.grid.show(curves, self.report_error)
            self.empty.value = (f"<p class='dtrain-muted'>{EMPTY}</p>"
                                if not curves and not follower.error else "")
            self.status.value = status_html(follower, sum(len(s) for s in page.series))
            # Offered once the job has TensorBoard scalars, and only where a panel can open it.
            offered = self.on_tensorboard is not None and any(s.source == TENSORBOARD for s in page.series)
            self.tensorboard_button.layout.display = "" if offered else "none"
        return not follower.finished

    @guarded
    def _on_tensorboard(self, _button: widgets.Button) -> None:
        if self.on_tensorboard is not None and self.job is not None:
            self.on_tensorboard(self.job)


def status_html(follower: MetricsFollower, points: int) -> str:
    """The view's status line: following, finished, or why the metrics cannot be read."""
    if follower.error:
        css = "dtrain-error" if follower.gone else "dtrain-muted"
        again = "" if follower.gone else " — trying again…"
        return f"<span class='{css}' role='status'>Cannot read metrics: {esc(follower.error)}{again}</span>"
    counted = f"{points} point{'s' if points != 1 else ''}"
    if follower.finished:
        return f"<span class='dtrain-muted' role='status'>{counted}; the job has ended.</span>"
    return f"<span class='dtrain-muted' role='status'>{counted} · following new points</span>"
