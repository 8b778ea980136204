"""A job's pods (replicas) under its row: role, index, status, reason, node, restarts, age.

Each pod's reason is the sentence the backend built with `model.status.describe_pod`
("waiting: ImagePullBackOff — image not found or not pullable", "OOMKilled", "exit code 1"),
and the events about a pod are shown right under it, so the cause sits next to the symptom.
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets
from traitlets import Instance, Tuple, observe

from ..errors import JobNotFound
from ..model.job import Event, Job, Pod
from .callbacks import ErrorForwarder, guarded
from .styles import phase_class
from .words import age, esc

# (title, width, width in the compact sidebar or None when hidden there), shared by the header
# and every pod line. The sidebar keeps what says what is wrong: role, status, reason.
_COLUMNS = (("Role", "16%", "30%"), ("#", "6%", "10%"), ("Status", "14%", "30%"), ("Reason", "28%", "30%"),
            ("Node", "14%", None), ("Restarts", "8%", None), ("Age", "8%", None))
AGE = len(_COLUMNS) - 1  # the Age column, the one fact that changes with time alone


def _layout(index: int, compact: bool) -> widgets.Layout:
    _title, wide, narrow = _COLUMNS[index]
    if compact and narrow is None:
        return widgets.Layout(display="none")
    return widgets.Layout(width=narrow if compact else wide, min_width="0", overflow="hidden")


def _cell(text: str, layout: widgets.Layout, css: str = "dtrain-cell") -> widgets.Label:
    label = widgets.Label(text, layout=layout)
    label.add_class(css)
    return label


def _set(cell: widgets.Label, text: str) -> None:
    # hold_sync: the value and its tooltip go in one message, and none when both are unchanged.
    with cell.hold_sync():
        cell.value = text
        cell.tooltip = text


class PodLine(widgets.VBox, ErrorForwarder):
    """One pod: its facts in a line, a Log button, and the events that concern it."""

    pod = Instance(Pod, help="The pod shown")
    events = Tuple(help="Events whose object is this pod, oldest first")

    def __init__(self, pod: Pod, open_log: Callable[[str], None], compact: bool = False, **kwargs: Any) -> None:
        self._open_log = open_log
        self.cells = [_cell("", _layout(i, compact)) for i in range(len(_COLUMNS))]
        self.status = widgets.HTML("", layout=_layout(2, compact))
        self.status.add_class("dtrain-cell")
        self.cells[2] = self.status  # type: ignore[call-overload]
        self.log_button = widgets.Button(description="Log", tooltip="Open this pod's log",
                                         layout=widgets.Layout(width="auto", min_width="48px", flex="0 0 auto"))
        self.log_button.on_click(self._on_log)
        self.event_lines = widgets.HTML("")
        self.event_lines.add_class("dtrain-muted")
        self.event_lines.add_class("dtrain-events")
        super().__init__(children=(widgets.HBox(self.cells + [self.log_button]), self.event_lines), **kwargs)
        self.add_class("dtrain-pod")
        self.pod = pod

    @observe("pod", "events")
    @guarded
    def _render(self, change: dict[str, Any]) -> None:
        pod = self.pod
        values = (pod.replica_type, "" if pod.replica_index is None else str(pod.replica_index), None,
                  pod.reason if pod.reason != pod.phase else "", pod.node, str(pod.restarts),
                  age(pod.started))
        with self.hold_sync():
            for cell, value in zip(self.cells, values):
                if value is not None:
                    _set(cell, value)
            self.status.value = f'<span class="{phase_class(pod.phase)}">{esc(pod.phase)}</span>'
            self.event_lines.value = "".join(
                f"<div>{esc(e.type)} {esc(e.reason)}: {esc(e.message)}"
                f"{' (×' + esc(e.count) + ')' if e.count > 1 else ''}</div>"
                for e in self.events
            )

    def refresh_age(self) -> None:
        """Recompute the Age cell alone, as time passes (at most one message, none when unchanged)."""
        cell = self.cells[AGE]
        if cell.layout.display != "none":  # hidden in the compact sidebar: nothing to send
            _set(cell, age(self.pod.started))

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

    def __init__(self, client: Any, job: Job, open_log: Callable[[Job, str | None], None],
                 compact: bool = False, **kwargs: Any) -> None:
        self.client = client
        self.compact = compact
        self._open_log = open_log
        self._lines: dict[str, PodLine] = {}
        header = widgets.HBox([_cell(title, _layout(i, compact)) for i, (title, _w, _n) in enumerate(_COLUMNS)])
        header.add_class("dtrain-header")
        self.header = header
        self.empty = widgets.Label("No pods yet.")
        self.job_events = widgets.HTML("")
        self.job_events.add_class("dtrain-muted")
        self.job_events.add_class("dtrain-events")
        super().__init__(children=(header, self.empty), **kwargs)
        self.add_class("dtrain-pods")
        self.job = job

    def refresh(self) -> None:
        """Fetch pods and events again (DTrainError propagates to the caller's guard)."""
        job = self.job
        try:
            pods = self.client.pods(job.name, kind=job.kind, namespace=job.namespace, backend=job.backend)
        except JobNotFound:
            # Deleted while shown: the row goes away with the next feed change; nothing is wrong.
            self.empty.value = "The job is gone."
            with self.hold_sync():
                self.events = ()
                self.pods = ()
            return
        try:
            events = self.client.events(job.name, kind=job.kind, namespace=job.namespace, backend=job.backend)
        except Exception:  # noqa: BLE001 - events are a help, not a must; pods still show
            events = []
        with self.hold_sync():
            self.events = tuple(events)
            self.pods = tuple(pods)

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
        lines = []
        for pod in self.pods:
            line = self._lines.get(pod.name)
            if line is None:
                line = PodLine(pod, lambda name: self._open_log(self.job, name), compact=self.compact)
                line.on_error = self.report_error
                self._lines[pod.name] = line
            with line.hold_sync():
                line.pod = pod
                line.events = tuple(by_pod.get(pod.name, ()))
            lines.append(line)
        for name in set(self._lines) - {p.name for p in self.pods}:
            self._lines.pop(name).close()
        self.job_events.value = "".join(
            f"<div>{esc(e.type)} {esc(e.reason)}: {esc(e.message)}</div>" for e in job_events)
        body = tuple(lines) if lines else (self.empty,)
        self.children = (self.header, *body, self.job_events)

    def refresh_ages(self) -> None:
        """Recompute each shown pod's Age cell, nothing else: no fetch, no other cell is touched."""
        for line in self._lines.values():
            line.refresh_age()

    def line(self, pod_name: str) -> PodLine:
        """The widget line of one pod (raises KeyError when it is not shown)."""
        return self._lines[pod_name]
