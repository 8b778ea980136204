"""A job's pods (replicas) under its row: name, role, index, status, reason, node, restarts, age.

Each pod's reason is the sentence the backend built with `model.status.describe_pod`
("waiting: ImagePullBackOff — image not found or not pullable", "OOMKilled", "exit code 1"),
and the events about a pod are shown right under it, so the cause sits next to the symptom.
The pod's name is a cell of its own, as text a person can select and copy (kubectl, a search).

When the job's code came from a notebook function, a cell or a script folder, one line above
the pods says so ("Code: train.py from /home/u/proj (12 files, 3.4 KiB)", `code/origin.py`).

Events are read only where the job's backend lists `events` (capabilities.py); elsewhere the
server has none to give, and the pods stand alone.

A past job's pods and events are those its record in the job history kept, as last seen
before the job left its cluster; one line above them says so.

When the pods cannot be read, the pods area says why in words: a refusal (Forbidden, a job
deleted meanwhile) is an answer, not a fault. Failing events only add a line under the pods;
an unexpected failure is also logged with its traceback, never dropped.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import ipywidgets as widgets
from traitlets import Instance, Tuple, Unicode, observe

from ..code.origin import code_origin, describe
from ..errors import DTrainError, Forbidden, JobNotFound, NotFound
from ..model.job import Event, Job, Pod
from .callbacks import ErrorForwarder, describe_error, guarded
from .capabilities import EVENTS, lacks
from .styles import PHASE_WIDTH, phase_class
from .words import age, esc, removed_words

log = logging.getLogger(__name__)

# (title, width in the main tab, in the compact sidebar: a width, "rest" for what the others
# leave, or None when it drops out there), shared by the header and every pod line. The sidebar
# keeps the pod's name and its status whole; the reason moves under the pod as a line of its own.
_COLUMNS = (("Name", "22%", "rest"), ("Role", "10%", None), ("#", "4%", None),
            ("Status", "11%", PHASE_WIDTH), ("Reason", "23%", None), ("Node", "10%", None),
            ("Restarts", "7%", None), ("Age", "6%", None))
NAME, ROLE, INDEX, STATUS, REASON, NODE, RESTARTS, AGE = range(len(_COLUMNS))


def _layout(index: int, compact: bool) -> widgets.Layout:
    _title, wide, narrow = _COLUMNS[index]
    if not compact:
        return widgets.Layout(width=wide, min_width="0", overflow="hidden")
    if narrow is None:
        return widgets.Layout(display="none")
    if narrow == "rest":
        return widgets.Layout(flex="1 1 0%", min_width="0", overflow="hidden")
    return widgets.Layout(width=narrow, min_width=narrow, flex="0 0 auto", overflow="hidden")


def _cell(text: str, layout: widgets.Layout, *classes: str) -> widgets.Label:
    return widgets.Label(text, layout=layout, _dom_classes=("dtrain-cell", *classes))


def _set(cell: widgets.Label, text: str) -> None:
    # hold_sync: the value and its tooltip go in one message, and none when both are unchanged.
    with cell.hold_sync():
        cell.value = text
        cell.tooltip = text


def _event_html(event: Event) -> str:
    count = f" (×{esc(event.count)})" if event.count > 1 else ""
    return f"<div>{esc(event.type)} {esc(event.reason)}: {esc(event.message)}{count}</div>"


class PodLine(widgets.VBox, ErrorForwarder):
    """One pod: its facts in a line, a Log button, and the events that concern it."""

    pod = Instance(Pod, help="The pod shown")
    events = Tuple(help="Events whose object is this pod, oldest first")

    def __init__(self, pod: Pod, open_log: Callable[[str], None], compact: bool = False, **kwargs: Any) -> None:
        self._open_log = open_log
        self.compact = compact
        # The status is HTML (its phase is coloured); every other cell is plain, selectable text.
        self.status = widgets.HTML("", layout=_layout(STATUS, compact), _dom_classes=("dtrain-cell",))
        self.cells: list[widgets.Label | widgets.HTML] = [
            self.status if i == STATUS else _cell("", _layout(i, compact), *(("dtrain-pod-name",) if i == NAME else ()))
            for i in range(len(_COLUMNS))]
        self.log_button = widgets.Button(description="Log", tooltip="Open this pod's log",
                                         layout=widgets.Layout(width="auto", min_width="48px", flex="0 0 auto"))
        self.log_button.on_click(self._on_log)
        self.event_lines = widgets.HTML("", _dom_classes=("dtrain-muted", "dtrain-events"))
        super().__init__(children=(widgets.HBox(self.cells + [self.log_button]), self.event_lines), **kwargs)
        self.add_class("dtrain-pod")
        self.pod = pod

    @property
    def name_cell(self) -> widgets.Label:
        """The cell holding the pod's name."""
        return self.cells[NAME]  # type: ignore[return-value]

    @observe("pod", "events")
    @guarded
    def _render(self, change: dict[str, Any]) -> None:
        pod = self.pod
        reason = pod.reason if pod.reason != pod.phase else ""
        values = {NAME: pod.name, ROLE: pod.replica_type,
                  INDEX: "" if pod.replica_index is None else str(pod.replica_index), REASON: reason,
                  NODE: pod.node, RESTARTS: str(pod.restarts), AGE: age(pod.started)}
        # The sidebar has no Reason column: the reason is the first line under the pod.
        under = f"<div class='dtrain-pod-reason'>{esc(reason)}</div>" if self.compact and reason else ""
        with self.hold_sync():
            for index, value in values.items():
                _set(self.cells[index], value)  # type: ignore[arg-type]
            self.status.value = f'<span class="{phase_class(pod.phase)}">{esc(pod.phase)}</span>'
            self.event_lines.value = under + "".join(_event_html(e) for e in self.events)

    def refresh_age(self) -> None:
        """Recompute the Age cell alone, as time passes (at most one message, none when unchanged)."""
        cell = self.cells[AGE]
        if cell.layout.display != "none":  # hidden in the compact sidebar: nothing to send
            _set(cell, age(self.pod.started))  # type: ignore[arg-type]

    @guarded
    def _on_log(self, _button: widgets.Button) -> None:
        self._open_log(self.pod.name)


class PodsView(widgets.VBox, ErrorForwarder):
    """The pods of one job, fetched from the client on `refresh()`.

    Args:
        client: the panel's `Client`.
        job: the job whose pods to show.
        open_log: called with (job, pod name) when a pod's Log button is pressed.
    """

    job = Instance(Job, help="The job whose pods are shown")
    pods = Tuple(help="The job's pods as last fetched, in role and index order")
    events = Tuple(help="Events of the job and its pods as last fetched, oldest first")
    notice = Unicode("", help="Why pods or events are missing, in words (a refusal, a job deleted meanwhile); "
                              "empty when all was read")
    backends = Tuple(help="Client.backends() as last read: whether the job's backend keeps events")

    def __init__(self, client: Any, job: Job, open_log: Callable[[Job, str | None], None],
                 compact: bool = False, **kwargs: Any) -> None:
        self.client = client
        self.compact = compact
        self._open_log = open_log
        self._lines: dict[str, PodLine] = {}
        self.header = widgets.HBox([_cell(title, _layout(i, compact)) for i, (title, _w, _n) in enumerate(_COLUMNS)],
                                   _dom_classes=("dtrain-header",))
        self.empty = widgets.Label("No pods yet.")
        # Placed under the pods only while there is something to say (see _place).
        self.notice_line = widgets.HTML("", _dom_classes=("dtrain-muted", "dtrain-pods-notice"))
        self.job_events = widgets.HTML("", _dom_classes=("dtrain-muted", "dtrain-events"))
        # Placed above the pods only for a job whose code came from notebook code or a folder.
        self.code_line = widgets.HTML("", layout=widgets.Layout(width="100%"), _dom_classes=("dtrain-code-origin",))
        # Placed above the pods only for a past job: what is shown is its record, not the cluster.
        self.past_line = widgets.HTML("", layout=widgets.Layout(width="100%"), _dom_classes=("dtrain-muted",
                                                                                              "dtrain-past-note"))
        super().__init__(children=(self.header, self.empty), **kwargs)
        self.add_class("dtrain-pods")
        self.job = job

    @observe("job")
    @guarded
    def _on_job(self, change: dict[str, Any]) -> None:
        origin = code_origin(self.job)
        words = describe(origin) if origin else ""
        # One line; the whole text is its tooltip when a narrow panel cuts it.
        value = (f"<span class='dtrain-summary-key'>Code</span> <span title='{esc(words)}'>{esc(words)}</span>"
                 if words else "")
        if value != self.code_line.value:
            self.code_line.value = value
        past = (f"Pods and events as last seen. {esc(removed_words(self.job))}." if self.job.removed else "")
        if past != self.past_line.value:
            self.past_line.value = past
        self._place()

    def refresh(self) -> None:
        """Fetch pods and events again.

        A refusal to list the pods (Forbidden, NotFound, the job deleted meanwhile) is shown in
        `notice` instead of the pods; any other failure to read them propagates to the caller's
        guard, which logs it and shows it in the panel's error line. Events are a help, not a
        must: when only they cannot be read, the pods show and `notice` says why the events do not.
        A backend that keeps no events is not asked for them.
        """
        job = self.job
        ref = dict(kind=job.kind, namespace=job.namespace, backend=job.backend)
        try:
            pods = self.client.pods(job.name, **ref)
        except JobNotFound:
            # Deleted while shown: the row goes away with the next feed change; nothing is wrong.
            self._show((), (), "The job is gone (deleted).")
            return
        except (Forbidden, NotFound) as exc:
            log.info("pods of %s/%s refused: %s", job.kind, job.name, exc.message)
            self._show((), (), f"The pods cannot be shown: {exc.message}")
            return
        if lacks(self.backends, job.backend, EVENTS):
            self._show(tuple(pods), (), "")
            return
        try:
            events, notice = self.client.events(job.name, **ref), ""
        except JobNotFound:
            self._show((), (), "The job is gone (deleted).")
            return
        except DTrainError as exc:
            log.info("events of %s/%s not read: %s", job.kind, job.name, exc.message)
            events, notice = [], f"Events cannot be shown: {exc.message}"
        except Exception as exc:  # noqa: BLE001 - a fault of ours: logged in full, and said here
            log.exception("reading the events of %s/%s failed", job.kind, job.name)
            events, notice = [], f"Events cannot be shown: {describe_error(exc)}"
        self._show(tuple(pods), tuple(events), notice)

    def _show(self, pods: tuple[Pod, ...], events: tuple[Event, ...], notice: str) -> None:
        with self.hold_sync():
            self.notice = notice
            self.events = events
            self.pods = pods

    @observe("notice")
    @guarded
    def _on_notice(self, change: dict[str, Any]) -> None:
        self.notice_line.value = esc(self.notice)
        self._place()

    @observe("pods", "events")
    @guarded
    def _render(self, change: dict[str, Any]) -> None:
        by_pod: dict[str, list[Event]] = {}
        job_events: list[Event] = []
        for event in self.events:
            if event.object_kind == "Pod":
                by_pod.setdefault(event.object_name, []).append(event)
            else:
                job_events.append(event)
        for pod in self.pods:
            line = self._lines.get(pod.name)
            if line is None:
                line = PodLine(pod, lambda name: self._open_log(self.job, name), compact=self.compact)
                line.on_error = self.report_error
                self._lines[pod.name] = line
            with line.hold_sync():
                line.pod = pod
                line.events = tuple(by_pod.get(pod.name, ()))
        for name in set(self._lines) - {p.name for p in self.pods}:
            self._lines.pop(name).close()
        self.job_events.value = "".join(_event_html(e) for e in job_events)
        self._place()

    def _place(self) -> None:
        """That a past job's pods are as last seen, where the code came from (when known), header, the pod lines (or "No pods yet."), the
        notice when there is one, job events."""
        lines = tuple(self._lines[p.name] for p in self.pods if p.name in self._lines)
        body = lines or ((self.empty,) if not self.notice else ())
        notice = (self.notice_line,) if self.notice else ()
        code = (self.code_line,) if self.code_line.value else ()
        past = (self.past_line,) if self.past_line.value else ()
        children = (*past, *code, self.header, *body, *notice, self.job_events)
        if children != self.children:
            self.children = children

    def refresh_ages(self) -> None:
        """Recompute each shown pod's Age cell, nothing else: no fetch, no other cell is touched."""
        for line in self._lines.values():
            line.refresh_age()

    def line(self, pod_name: str) -> PodLine:
        """The widget line of one pod (raises KeyError when it is not shown)."""
        return self._lines[pod_name]
