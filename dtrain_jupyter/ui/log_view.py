"""A job's log: one pod or all pods merged, follow, tail, previous attempt, line times, filter, download.

A running job's log follows new lines from the start; a finished one's is read once. Download
is a plain link to the server's text log of the chosen pod (`<a download>`, one click): the
browser fetches it with the page's own login, so the whole log arrives, not the view's buffer.

Lines are read by a worker thread from `Client.logs()` into a bounded buffer (the view never
holds more than `max_lines`); the widget is re-rendered only by `flush()`, which the panel's
feed runs on the kernel loop a few times a second, and only when something changed
(jupyter-notes §5.3: every text widget resends its whole value, so we throttle and bound it).
Log text is user text: it is shown escaped inside a `<pre>`, never as markup.

"Previous attempt" and "Line times" are offered only where the job's backend lists
`previous-logs` and `line-times` (capabilities.py): elsewhere the server would refuse the one and
stamp lines with when they were read, not written, for the other.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import ipywidgets as widgets
from traitlets import Bool, Instance, Int, Tuple, Unicode, observe, validate

from ..model.job import Job, LogLine
from .assistive import FOCUS_HERE, NAME_ONLY
from .callbacks import ErrorForwarder, guarded
from .capabilities import LINE_TIMES, PREVIOUS_LOGS, lacks
from .words import esc

ALL_PODS = ""
NO_JOB = "<i>Choose a job's Log button in the Jobs tab.</i>"


def log_html(text: str, follow: bool) -> str:
    """The log box: `text` escaped in a `<pre>` that keyboard users can reach and scroll.

    The box scrolls (styles.py caps its height), so it is in the Tab order with a name
    (axe-core's scrollable-region-focusable). A followed log is laid out bottom-up, so it opens,
    and stays, at the newest line (styles.py).
    """
    css = "dtrain-log dtrain-log-follow" if follow else "dtrain-log"
    return f'<pre class="{css}" tabindex="0" role="region" aria-label="Log lines">{esc(text)}</pre>'


class LogView(widgets.VBox, ErrorForwarder):
    """Shows the log of `job` (all pods when `pod` is empty).

    Args:
        client: the panel's `Client`; `logs()` is called from a worker thread.
        max_lines: the bound of the line buffer.
    """

    job = Instance(Job, allow_none=True, help="The job whose log is shown; None shows a hint")
    pod = Unicode(ALL_PODS, help="One pod's name, or '' for every pod merged with a pod prefix")
    follow = Bool(False, help="Keep streaming new lines while the job runs; show() turns it on for a job "
                              "that has not finished, off for one that has")
    tail = Int(500, help="Lines to fetch from the end of each log; 0 fetches everything")
    previous = Bool(False, help="Show the previous attempt of a restarted pod (backends with previous-logs)")
    timestamps = Bool(False, help="Stamp each line with when it was written (backends with line-times)")
    text_filter = Unicode("", help="Only lines containing this text (case-insensitive)")
    max_lines = Int(2000, help="Most lines the view holds; older lines are dropped")
    loading = Bool(False, help="True while the worker thread is reading")
    backends = Tuple(help="Client.backends() as last read: which of the options the job's backend offers")

    def __init__(self, client: Any, max_lines: int = 2000, **kwargs: Any) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._lines: deque[LogLine] = deque(maxlen=max_lines)
        self._dirty = False
        self._generation = 0
        self._thread_error: BaseException | None = None
        self._done = False
        self._choosing = False  # set while show() sets follow itself: one read, not two
        auto = widgets.Layout(width="auto")
        wide_label = {"description_width": "initial"}
        self.title = widgets.HTML(NO_JOB)
        # Where focus lands when a row's Log button brings this page up (assistive.py).
        self.pod_choice = widgets.Dropdown(options=(("All pods", ALL_PODS),), value=ALL_PODS, description="Pod",
                                           layout=auto, style=wide_label, _dom_classes=("dtrain-log-pod", FOCUS_HERE))
        # Separate, labelled controls: "Follow Tail 500" read as one phrase (issue 17).
        self.follow_box = widgets.Checkbox(False, description="Follow new lines", indent=False, layout=auto,
                                           tooltip="Keep adding lines as the job writes them",
                                           _dom_classes=("dtrain-follow",))
        self.tail_box = widgets.BoundedIntText(500, min=0, max=100_000, description="Last",
                                               tooltip="How many lines from the end of each log to show; 0 shows "
                                                       "the whole log",
                                               layout=widgets.Layout(width="130px"), style=wide_label)
        tail = widgets.HBox([self.tail_box, widgets.Label("lines")], layout=auto, _dom_classes=("dtrain-tail",))
        # Layouts of their own: each is hidden where the job's backend cannot honour it.
        self.previous_box = widgets.Checkbox(False, description="Previous attempt", indent=False,
                                             layout=widgets.Layout(width="auto"),
                                             tooltip="The log of a restarted pod's attempt before the last restart")
        self.times_box = widgets.Checkbox(False, description="Line times", indent=False,
                                          layout=widgets.Layout(width="auto"),
                                          tooltip="Begin each line with the time it was written",
                                          _dom_classes=("dtrain-log-times",))
        self.filter_box = widgets.Text(placeholder="Filter lines", layout=auto, description="Filter lines",
                                       description_allow_html=False, _dom_classes=(NAME_ONLY,))
        self.refresh_button = widgets.Button(description="Reload", icon="refresh", layout=auto)
        self.download_link = widgets.HTML("", layout=auto, _dom_classes=("dtrain-log-download",))
        self.status = widgets.Label("", _dom_classes=("dtrain-muted",))
        self.text = widgets.HTML(log_html("", follow=False), layout=widgets.Layout(width="100%"))
        controls = widgets.HBox([self.pod_choice, self.follow_box, tail, self.previous_box, self.times_box,
                                 self.filter_box, self.refresh_button, self.download_link],
                                layout=widgets.Layout(flex_flow="row wrap", width="100%", align_items="center"),
                                _dom_classes=("dtrain-log-controls",))
        super().__init__(children=(self.title, controls, self.status, self.text),
                         layout=widgets.Layout(width="100%"), **kwargs)
        self.max_lines = max_lines
        self.add_class("dtrain-log-view")
        self.pod_choice.observe(self._on_pod_choice, "value")
        self.follow_box.observe(self._on_follow_box, "value")
        self.tail_box.observe(self._on_tail_box, "value")
        self.previous_box.observe(self._on_previous_box, "value")
        self.times_box.observe(self._on_times_box, "value")
        self.filter_box.observe(self._on_filter_box, "value")
        self.refresh_button.on_click(self._on_refresh)

    # ------------------------------------------------------------------ public
    def show(self, job: Job, pod: str | None = None) -> None:
        """Show `job`'s log, of one pod or (None) of all pods, and start reading it: following
        new lines while the job has not finished, read once when it has."""
        self._choosing = True
        try:
            with self.hold_sync():
                self.job = job
                self.pod = pod or ALL_PODS
                self.follow = not job.phase.finished and not job.removed  # an archive has no new lines
        finally:
            self._choosing = False
        self.download_link.value = ""  # the last job's link goes even if reading the pods fails
        self._fill_pod_choice()
        self.reload()

    def reload(self) -> None:
        """Drop the buffer, point the download link at the log now chosen, then read the log
        again with the current settings (another job or pod, tail, previous attempt, follow)."""
        self._generation += 1
        generation = self._generation
        with self._lock:
            self._lines.clear()
            self._dirty = True
            self._thread_error = None
            self._done = False
        # Never left pointing at the log shown before: that would offer one job's (or pod's) log
        # under another's name (issue 17, B2).
        self._render_link()
        if self.job is None:
            return
        self.loading = True
        args = (generation, self.job, self.pod, self.follow, self.tail, self.previous, self.timestamps)
        threading.Thread(target=self._read, args=args, name="dtrain-log", daemon=True).start()

    def stop(self) -> None:
        """Stop following: the reader thread drops whatever it reads from now on."""
        self._generation += 1
        self.loading = False

    def lines(self) -> list[LogLine]:
        """A copy of the buffered lines (before the text filter)."""
        with self._lock:
            return list(self._lines)

    def visible_lines(self) -> list[str]:
        """The lines as shown: filtered, with a pod prefix when all pods are merged."""
        needle = self.text_filter.lower()
        merged = self.pod == ALL_PODS
        out = []
        for entry in self.lines():
            text = f"[{entry.pod}] {entry.line}" if merged and entry.pod else entry.line
            if entry.timestamp:
                text = f"{entry.timestamp} {text}"
            if not needle or needle in text.lower():
                out.append(text)
        return out

    def flush(self) -> None:
        """Render the buffer if it changed since the last flush (called on the kernel loop)."""
        with self._lock:
            dirty, self._dirty = self._dirty, False
            error, self._thread_error = self._thread_error, None
        if error is not None:
            self.report_error(error)
        if dirty:
            self._render()

    # ------------------------------------------------------------------ rules and reactions
    @validate("max_lines")
    def _valid_max_lines(self, proposal: dict[str, Any]) -> int:
        """At least 10 lines; resizing keeps the newest lines."""
        value = max(10, int(proposal["value"]))
        with self._lock:
            self._lines = deque(self._lines, maxlen=value)
        return value

    @observe("job", "pod")
    @guarded
    def _on_target(self, change: dict[str, Any]) -> None:
        job = self.job
        if job is None:
            self.title.value = NO_JOB
            return
        which = f"pod {esc(self.pod)}" if self.pod else "all pods"
        self.title.value = f"<b>Log of {esc(job.kind)}/{esc(job.name)}</b> — {which}"
        if self.pod_choice.value != self.pod and self.pod in dict((v, k) for k, v in self.pod_choice.options):
            self.pod_choice.value = self.pod

    @observe("job", "backends")
    @guarded
    def _offer_options(self, change: dict[str, Any]) -> None:
        """Show only the options the job's backend honours; one it cannot is switched off."""
        backend = self.job.backend if self.job is not None else ""
        dropped = False
        for box, capability, name in ((self.previous_box, PREVIOUS_LOGS, "previous"),
                                      (self.times_box, LINE_TIMES, "timestamps")):
            missing = lacks(self.backends, backend, capability)
            box.layout.display = "none" if missing else ""
            if missing and getattr(self, name):
                setattr(self, name, False)
                dropped = True
        # show() reads the log itself once the job is set; a later change of backends reads it here.
        if dropped and not self._choosing:
            self.reload()

    @observe("previous", "timestamps")
    @guarded
    def _on_option(self, change: dict[str, Any]) -> None:
        box = self.previous_box if change["name"] == "previous" else self.times_box
        box.value = change["new"]

    @observe("text_filter")
    @guarded
    def _on_text_filter(self, change: dict[str, Any]) -> None:
        self._render()

    @observe("follow")
    @guarded
    def _on_follow(self, change: dict[str, Any]) -> None:
        self.follow_box.value = self.follow
        if self._choosing:
            return
        if self.follow:
            self.reload()
        else:
            self.stop()

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_pod_choice(self, change: dict[str, Any]) -> None:
        if change["new"] != self.pod:
            self.pod = change["new"]
            self.reload()

    @guarded
    def _on_follow_box(self, change: dict[str, Any]) -> None:
        self.follow = bool(change["new"])

    @guarded
    def _on_tail_box(self, change: dict[str, Any]) -> None:
        self.tail = int(change["new"])
        self.reload()

    @guarded
    def _on_previous_box(self, change: dict[str, Any]) -> None:
        if bool(change["new"]) != self.previous:  # not when the view itself switched it
            self.previous = bool(change["new"])
            self.reload()  # the download link follows: the previous attempt's log, or the current one

    @guarded
    def _on_times_box(self, change: dict[str, Any]) -> None:
        if bool(change["new"]) != self.timestamps:
            self.timestamps = bool(change["new"])
            self.reload()

    @guarded
    def _on_filter_box(self, change: dict[str, Any]) -> None:
        self.text_filter = change["new"]

    @guarded
    def _on_refresh(self, _button: widgets.Button) -> None:
        self._fill_pod_choice()
        self.reload()

    # ------------------------------------------------------------------ internals
    def _fill_pod_choice(self) -> None:
        job = self.job
        if job is None:
            return
        pods = self.client.pods(job.name, kind=job.kind, namespace=job.namespace, backend=job.backend)
        options = (("All pods", ALL_PODS), *((p.name, p.name) for p in pods))
        if self.pod and self.pod not in {p.name for p in pods}:
            options = (*options, (self.pod, self.pod))
        self.pod_choice.options = options
        self.pod_choice.value = self.pod

    def _render_link(self) -> None:
        """The download link(s) of the log now chosen: the chosen pod's, or each pod's when all
        are merged (the server's text log carries no pod names, so one file per pod says more)."""
        job = self.job
        if job is None:
            self.download_link.value = ""
            return
        pods = [self.pod] if self.pod else [value for _label, value in self.pod_choice.options if value]
        links = []
        for pod in pods:
            href = self.client.job_link(job, "log", pod=pod, format="text", previous=self.previous)
            label = "Download" if self.pod else pod
            which = "previous attempt's log" if self.previous else "log"
            links.append(f'<a class="dtrain-link-button dtrain-download" download="{esc(pod)}.log" '
                         f'href="{esc(href)}" title="The whole {which} of {esc(pod)} as a text file">'
                         f"{esc(label)}</a>")
        lead = "" if self.pod or not links else "<span class='dtrain-muted'>Download:</span> "
        self.download_link.value = lead + " ".join(links)

    def _read(self, generation: int, job: Job, pod: str, follow: bool, tail: int, previous: bool,
              timestamps: bool) -> None:
        """Worker thread: append lines to the buffer until the log ends or the view moves on."""
        try:
            lines = self.client.logs(job.name, kind=job.kind, namespace=job.namespace, backend=job.backend,
                                     pod=pod or None, follow=follow, tail=tail or None, previous=previous,
                                     timestamps=timestamps)
            for entry in lines:
                if generation != self._generation:
                    break
                with self._lock:
                    self._lines.append(entry)
                    self._dirty = True
        except Exception as exc:  # noqa: BLE001 - shown by flush() on the kernel loop
            if generation == self._generation:
                with self._lock:
                    self._thread_error = exc
                    self._dirty = True
        finally:
            if generation == self._generation:
                with self._lock:
                    self._done = True
                    self._dirty = True

    def _render(self) -> None:
        shown = self.visible_lines()
        buffered = len(self._lines)
        with self._lock:
            done = self._done
        with self.hold_sync():
            self.text.value = log_html("\n".join(shown), follow=self.follow and not done)
            note = f"{len(shown)} line{'' if len(shown) == 1 else 's'} shown"
            if buffered >= self.max_lines:
                note += f" (the last {self.max_lines}; older lines dropped)"
            if self.follow and not done:
                note += " · following new lines"
            self.status.value = note
            if done:
                self.loading = False
