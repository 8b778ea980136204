"""Run details in a notebook cell: a job's status, its pods, the tail of its log and its metric charts.

`job.show()` and `%dtrain show NAME` put this widget in the cell. It updates while the job runs
and, once the job has ended, stays in the notebook as the run's record: final status, the last
lines, the charts. It needs only ipywidgets and bqplot (no extension of ours), so it works in
JupyterLab, Notebook 7 and VS Code alike.

Three worker threads read (the job and its pods every STATUS_EVERY_S, the log following, the
metrics long-polling); they only queue what they read, and `tick()` applies it on the kernel
loop (jupyter-notes §5.4), run every quarter second by a `LoopPump` until nothing more can come.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any

import ipywidgets as widgets

from ..model.job import Job, LogLine, Pod
from ..render import MUTED, badge
from .callbacks import ErrorForwarder, describe_error
from .closing import close_tree
from .iopub import keep_every_message
from .metrics_view import LoopPump, MetricsView
from .words import duration, esc, reason_words

STATUS_EVERY_S = 3.0   # how often the job and its pods are read again while it runs
TAIL_LINES = 30        # the log lines shown: the last ones, following
# The charts and log use the panel's CSS classes; the cell has no panel, so the few rules that
# matter are carried here (scoped to this widget).
CSS = """<style>
.dtrain-run-details .dtrain-run-log{max-height:16em;overflow:auto;font-size:85%;margin:0;
 background:var(--jp-layout-color2,#f5f5f5);padding:4px 6px;white-space:pre-wrap}
.dtrain-run-details table{border-collapse:collapse;font-size:90%}
.dtrain-run-details td,.dtrain-run-details th{padding:2px 8px;text-align:left}
.dtrain-run-details .dtrain-legend{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:12px}
.dtrain-run-details .dtrain-swatch{display:inline-block;width:14px;height:3px;margin-right:4px;vertical-align:middle}
.dtrain-run-details .dtrain-chart-readout,.dtrain-run-details .dtrain-chart-note,.dtrain-run-details .dtrain-muted{
 color:""" + MUTED + """}
</style>"""


def pods_html(pods: list[Pod]) -> str:
    """Each pod's state as a small table (names and reasons escaped)."""
    if not pods:
        return "<i class='dtrain-muted'>No pods yet.</i>"
    rows = "".join(f"<tr><td>{esc(p.name)}</td><td>{badge(p.phase)}</td>"
                   f"<td>{esc('' if p.exit_code is None else p.exit_code)}</td><td>{esc(p.reason)}</td></tr>"
                   for p in pods)
    return f"<table><tr><th>Pod</th><th>State</th><th>Exit code</th><th>Reason</th></tr>{rows}</table>"


def header_html(job: Job) -> str:
    reason = job.error or reason_words(job.status.reason, job.kind, job.phase.value)
    took = duration(job)
    parts = [f"<b>{esc(job.kind)}/{esc(job.name)}</b> {badge(job.phase.value)}"]
    if reason:
        parts.append(f"<span class='dtrain-muted'>{esc(reason)}</span>")
    if took:
        parts.append(esc(f"{took}{'' if job.phase.finished else ' so far'}"))
    parts.append(f"<span class='dtrain-muted'>{esc(job.backend)}/{esc(job.namespace)}</span>")
    return " · ".join(parts)


class RunDetails(widgets.VBox, ErrorForwarder):
    """The run-details widget of one job.

    Args:
        client: a `Client`.
        job: the job (as the client returned it).
        tail: how many of the last log lines to show.
        start: start reading now (a test may drive `tick()` itself after `start()`).
        wait: seconds each metrics long poll may wait.
    """

    def __init__(self, client: Any, job: Job, tail: int = TAIL_LINES, start: bool = True,
                 wait: float = 25, **kwargs: Any) -> None:
        self.client = client
        self.job = job
        self.tail = tail
        self.pods: list[Pod] = []
        self._lines: deque[LogLine] = deque(maxlen=tail)
        self._lock = threading.Lock()
        self._log_dirty = False
        self._log_done = False
        self._status: "queue.Queue[tuple[Job, list[Pod]] | BaseException]" = queue.Queue()
        self._stop = threading.Event()
        self._pump: LoopPump | None = None
        self.header = widgets.HTML(header_html(job), _dom_classes=("dtrain-run-header",))
        self.pods_box = widgets.HTML("", _dom_classes=("dtrain-run-pods",))
        self.problem = widgets.HTML("", _dom_classes=("dtrain-run-problem",))
        self.log_box = widgets.HTML(self._log_html(), _dom_classes=("dtrain-run-log-box",))
        self.metrics = MetricsView(client, wait=wait)
        self.metrics.on_error = self.report_error
        kwargs.setdefault("_dom_classes", ("dtrain-run-details",))
        super().__init__(children=(widgets.HTML(CSS), self.header, self.problem, self.pods_box,
                                   widgets.HTML("<b>Log</b> <span class='dtrain-muted'>(last lines, all pods)</span>"),
                                   self.log_box, widgets.HTML("<b>Metrics</b>"), self.metrics),
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.metrics.title.layout.display = "none"  # the header above already names the job
        if start:
            self.start()

    # ------------------------------------------------------------------ life
    def start(self) -> None:
        """Start the readers and, in a kernel, the pump that applies what they read."""
        threading.Thread(target=self._read_status, name="dtrain-run-status", daemon=True).start()
        threading.Thread(target=self._read_log, name="dtrain-run-log", daemon=True).start()
        self.metrics.show(self.job)
        self._pump = LoopPump(self.tick)

    def stop(self) -> None:
        self._stop.set()
        self.metrics.stop()
        if self._pump is not None:
            self._pump.stop()

    def close(self) -> None:
        """Stop the readers, then close the widget with its parts (a replaced cell's output)."""
        self.stop()
        close_tree(self)

    @property
    def live(self) -> bool:
        """Whether anything may still change: the job runs, or its last log lines or metrics are on the way."""
        follower = self.metrics.follower
        return not (self.job.phase.finished or self.job.removed) or not self._log_done or (
            follower is not None and not follower.finished and not follower.stopped)

    def tick(self) -> bool:
        """Apply what the readers brought (kernel loop); False once the record is complete."""
        while True:
            try:
                item = self._status.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, BaseException):
                self.problem.value = f"<span class='dtrain-error' role='status'>{esc(describe_error(item))}</span>"
                continue
            self.job, self.pods = item
            with self.hold_sync():
                self.problem.value = ""
                self.header.value = header_html(self.job)
                self.pods_box.value = pods_html(self.pods)
        with self._lock:
            dirty, self._log_dirty = self._log_dirty, False
        if dirty:
            self.log_box.value = self._log_html()
        self.metrics.flush()
        return self.live

    # ------------------------------------------------------------------ readers (worker threads)
    def _ref(self) -> dict[str, str]:
        return dict(kind=self.job.kind, namespace=self.job.namespace, backend=self.job.backend)

    def _read_status(self) -> None:
        name = self.job.name
        while not self._stop.is_set():
            try:
                job = self.client.get(name, **self._ref())
                pods = list(self.client.pods(name, **self._ref()))
            except Exception as exc:  # noqa: BLE001 - said in the widget; read again later
                self._status.put(exc)
            else:
                self._status.put((job, pods))
                if job.phase.finished or job.removed:
                    return
            self._stop.wait(STATUS_EVERY_S)

    def _read_log(self) -> None:
        follow = not (self.job.phase.finished or self.job.removed)
        try:
            for entry in self.client.logs(self.job.name, follow=follow, tail=self.tail, **self._ref()):
                if self._stop.is_set():
                    break
                with self._lock:
                    self._lines.append(entry)
                    self._log_dirty = True
        except Exception as exc:  # noqa: BLE001 - said in the widget
            self._status.put(exc)
        finally:
            with self._lock:
                self._log_done = True
                self._log_dirty = True

    def _log_html(self) -> str:
        with self._lock:
            lines = [f"[{e.pod}] {e.line}" if e.pod else e.line for e in self._lines]
            done = self._log_done
        if not lines:
            text = "(no log lines)" if done else "(waiting for log lines)"
        else:
            text = "\n".join(lines)
        return (f"<pre class='dtrain-run-log' tabindex='0' role='region' aria-label='Last log lines'>"
                f"{esc(text)}</pre>")


def show_run(job: Job, client: Any = None, tail: int = TAIL_LINES) -> RunDetails:
    """The run-details widget of `job` (a new `Client` when none is given)."""
    keep_every_message()  # its charts are dozens of models each; none may be dropped (iopub.py)
    if client is None:
        from ..client import Client

        client = Client()
    return RunDetails(client, job, tail=tail)
