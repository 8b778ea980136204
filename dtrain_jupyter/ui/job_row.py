"""One job in the list: a line of facts that updates in place, and its pods when expanded.

A row is keyed by the job's uid and lives as long as the job: a change from the feed assigns
the row's `job` trait and only that row's labels change (inside `hold_sync`, one message),
so the list never redraws. Clicking the name (or Enter or Space on it) expands the row into its
pods; the name button is the row's expander for assistive technology (see assistive.py). The
Output button opens the job's result; where the backend keeps no output files its tooltip says
so (capabilities.py). The Metrics button opens the job's charts (metrics_view.py).

A running job whose code reports progress (`dtrain_jupyter.report(progress=...)`) shows a bar
and "ETA 3 min" under its phase; the bar's accessible name says the same in words. The panel's
feed reads progress every few seconds while a running job is listed (feed.py) and assigns the
row's `progress` trait, which redraws the row's facts only.

A row is one wrapping flex box, not a box of lines: its first line is the checkbox, name,
facts and buttons (row_line.py), and the expanded parts are 100% wide, so they wrap under it.
The line is core widgets (the row's first children), or, where the labextension opened the
panel, state of the row's own model, which the labextension's view draws (`DrawnJobRow`): a
row is then one widget model, and each model is a message and a browser-side build on the
panel's first render.

A past job (one that left its cluster; `job.removed` set, read from the job history) keeps
its row and expands the same way, into its pods and events as last seen; its row is muted and
says "Removed" in words beside its phase, with the removal time in the tooltip, so neither
colour nor the muting alone carries the difference.
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets
from ipywidgets.widgets.widget_bool import CheckboxStyle
from ipywidgets.widgets.widget_button import ButtonStyle
from ipywidgets.widgets.widget_string import HTMLStyle
from traitlets import Any as AnyTrait, Bool, Instance, Tuple, observe

from ..model.job import Job
from ..model.status import Phase
from .callbacks import ErrorForwarder, guarded
from .capabilities import OUTPUTS, lacks
from .pods import PodsView
from .row_line import NAME, DrawnLine, DrawnLineState, WidgetLine, css_text
from .styles import PHASE_WIDTH, phase_class
from .words import (age, duration, esc, kind_label, kind_title, reason_words, removed_words, replicas_ready,
                    progress_words, status_title, where, eta_words)

# The facts columns, drawn as one HTML grid per row (one widget, not one per cell: a thousand
# rows of Label widgets would each bring a Layout and a Style widget along). Cells wrap between
# words instead of being cut ("Succeeded PyTorchJobSu…" was); each cell's title has it in full.
# Ready and Duration get enough of the row for their titles beside the Log, Output and Metrics
# buttons at 1,400 px with the file browser open (tests/e2e/test_panel_friction.py).
COLUMNS = (
    ("Kind", "minmax(0, 1.2fr)"),
    ("Where", "minmax(0, 1.2fr)"),
    ("Status", "minmax(0, 2fr)"),
    ("Ready", "minmax(0, 0.7fr)"),
    ("Age", "minmax(0, 0.7fr)"),
    ("Duration", "minmax(0, 0.95fr)"),
)
# The ~300 px sidebar keeps the one fact a person scans the list for, whole: the phase. Ready,
# reason and the rest drop out there (the phase cell's title still has the reason); a cell cut
# to "Succe…" beside a header cut to "R.." said nothing.
COMPACT_COLUMNS = ("Status",)
NAME_WIDTH = "26%"
CHECK_WIDTH = "28px"
# Fixed, so the header can leave the same room above them as the row's buttons take.
LOG_WIDTH = "48px"
OUTPUT_WIDTH = "68px"
METRICS_WIDTH = "74px"
# The class of a past job's row (styles.py mutes it).
PAST = "dtrain-row-past"


def columns(compact: bool) -> tuple[str, ...]:
    """The titles of the facts columns shown in this layout."""
    return COMPACT_COLUMNS if compact else tuple(title for title, _width in COLUMNS)


def grid(cells: dict[str, str], compact: bool, titles: dict[str, str] | None = None, css: str = "") -> str:
    """One row of the facts grid.

    Args:
        cells: HTML already escaped, by column title; the columns of this layout are shown.
        compact: the sidebar layout (`COMPACT_COLUMNS`).
        titles: plain text (escaped here) for a cell's tooltip, by column title.
        css: more classes for the grid element.
    """
    shown = columns(compact)
    widths = dict(COLUMNS)
    template = "minmax(0, 1fr)" if compact else " ".join(widths[title] for title in shown)
    spans = []
    for title in shown:
        tip = (titles or {}).get(title)
        attr = f" title='{esc(tip)}'" if tip else ""
        spans.append(f"<span class='dtrain-cell dtrain-col-{title.lower()}'{attr}>{cells.get(title, '')}</span>")
    return (f"<div class='dtrain-grid {css}' style='display:grid;grid-template-columns:{template};"
            f"column-gap:6px;align-items:center'>{''.join(spans)}</div>")


def header_grid(compact: bool) -> str:
    """The column titles above the facts, laid out as every row's facts grid."""
    return grid({title: esc(title) for title in columns(compact)}, compact)


class RowLook:
    """Layouts and styles every row of one list shares (none of them changes per row).

    Each Layout or Style is a widget model of its own; built per row, they were 13 of a row's
    21 models, and a thousand-job panel spent most of its first render creating and drawing
    them. One set per list: a row closed on its own leaves the shared models open. A line the
    labextension draws (row_line.DrawnLine) takes the same sizes as CSS text, `part_styles`, so
    the header's widgets stand above its parts as above core widgets.

    Args:
        compact: the ~300 px sidebar layout.
        labextension: the front end has dtrain-jupyter's labextension, which draws a row's line
            from one widget model (row_line.py).
    """

    def __init__(self, compact: bool = False, labextension: bool = False) -> None:
        self.compact = compact
        self.labextension = labextension
        if compact:
            # The name takes what the phase leaves; the phase keeps its room.
            name = {"flex": "1 1 0%", "min_width": "0"}
            facts = {"width": PHASE_WIDTH, "min_width": PHASE_WIDTH, "flex": "0 0 auto"}
        else:
            name = {"width": NAME_WIDTH, "min_width": "0"}
            # Basis 0, not auto: the row wraps (its pods go under it), and an auto basis (the
            # text's width) would wrap the facts themselves onto a line of their own.
            facts = {"flex": "1 1 0%", "min_width": "0"}
        sizes = {
            "check": {"width": CHECK_WIDTH, "min_width": CHECK_WIDTH},
            "name": name,
            "facts": facts,
            "log": {"width": LOG_WIDTH, "min_width": LOG_WIDTH, "flex": "0 0 auto"},
            "output": {"width": OUTPUT_WIDTH, "min_width": OUTPUT_WIDTH, "flex": "0 0 auto"},
            "metrics": {"width": METRICS_WIDTH, "min_width": METRICS_WIDTH, "flex": "0 0 auto"},
        }
        self.part_styles = {part: css_text(spec) for part, spec in sizes.items()}
        self.check, self.name, self.facts, self.log, self.output, self.metrics = (
            widgets.Layout(**spec) for spec in sizes.values())
        self.row = widgets.Layout(width="100%", overflow="hidden", flex_flow="row wrap", align_items="center")
        self.full_width = widgets.Layout(width="100%")
        self.check_style = CheckboxStyle()
        self.button_style = ButtonStyle()
        self.html_style = HTMLStyle()


class JobRow(widgets.HBox, ErrorForwarder):
    """The row of one job.

    Args:
        job: the job shown (reassign `row.job` to update it).
        client: the panel's `Client`, used to fetch pods when the row expands.
        on_action: called with (action, job, pod) for "log", "output" and "metrics" requests.
        compact: True in the ~300 px sidebar, which hides the less needed columns; only read when
            no `look` is given (a look says it).
        look: the list's shared `RowLook` (one is built when none is given); it says which line
            the row gets (row_line.py) and whether the row is compact. Where it says the
            labextension is there, `JobRow(...)` makes a `DrawnJobRow`: one widget model.
        backends: `Client.backends()` as last read (what the job's backend can do).
    """

    job = Instance(Job, help="The job this row shows; assigning it updates the row in place")
    selected = Bool(False, help="Whether the row's checkbox is ticked")
    expanded = Bool(False, help="Whether the job's pods are shown under the row")
    backends = Tuple(help="Client.backends() as last read: whether the job's backend keeps output files and "
                          "events")
    progress = AnyTrait(None, allow_none=True, help="The job's JobProgress as last read (Client.progress()), or "
                                                    "None: a running job with one shows a bar and its ETA")

    #: What draws the row's first line (row_line.py): core widgets, its children.
    line_class: type[WidgetLine] | type[DrawnLine] = WidgetLine

    def __new__(cls, *args: Any, look: RowLook | None = None, **kwargs: Any) -> "JobRow":
        # The look decides the row's model, so every caller (the list, tests) builds rows one way.
        if cls is JobRow and look is not None and look.labextension:
            cls = DrawnJobRow
        return super().__new__(cls, *args, look=look, **kwargs)

    def __init__(self, job: Job, client: Any, on_action: Callable[[str, Job, str | None], None],
                 compact: bool = False, look: RowLook | None = None, backends: tuple[dict[str, Any], ...] = (),
                 **kwargs: Any) -> None:
        self.client = client
        self._on_action = on_action
        look = look or RowLook(compact)
        self.compact = look.compact
        facts = self._facts(job)
        # Each row has a Log, an Output and a Metrics button: their titles say whose.
        titles = {"log": f"Logs of {job.name}'s pods, merged", "output": self._output_tooltip(job, backends),
                  "metrics": f"Charts of {job.name}'s metrics"}
        self.line = self.line_class(look, name=facts["name"], name_tooltip=facts["name_tooltip"], facts=facts["facts"],
                                    check_label=f"Select {job.name}", tooltips=titles)
        self._full_width = look.full_width
        self.pods: PodsView | None = None
        kwargs.setdefault("layout", look.row)
        kwargs.setdefault("_dom_classes", ("dtrain-job", "dtrain-row", *((PAST,) if job.removed else ())))
        super().__init__(children=self.line.widgets, **self.line.state, **kwargs)
        self.line.attach(self)
        self.line.on_select(self._on_check)
        self.line.on_click(self._on_click)
        self.job = job
        self.backends = tuple(backends)  # its tooltip is already the one these give: no message

    def close(self) -> None:
        """Close the row with its line and pods (a box's close leaves its children open)."""
        self.line.close()
        if self.pods is not None:
            self.pods.close()
        super().close()

    # ------------------------------------------------------------------ reactions
    @observe("job")
    @guarded
    def _on_job(self, change: dict[str, Any]) -> None:
        old: Job | None = change.get("old") if isinstance(change.get("old"), Job) else None
        if old is not None and bool(old.removed) != bool(self.job.removed):
            # A live job deleted meanwhile: its row turns into the past one it now is.
            if self.job.removed:
                self.add_class(PAST)
            else:
                self.remove_class(PAST)
        self.render()
        # Pods follow the job: refresh them when its status moved while they are shown.
        moved = old is None or old.status != self.job.status
        if self.pods is not None and self.expanded and moved and self.job.phase != Phase.DELETING:
            self.pods.job = self.job
            self.pods.refresh()

    @observe("progress")
    @guarded
    def _on_progress(self, change: dict[str, Any]) -> None:
        self.render()

    @observe("backends")
    @guarded
    def _on_backends(self, change: dict[str, Any]) -> None:
        self.line.set_title("output", self._output_tooltip(self.job, self.backends))
        if self.pods is not None:
            self.pods.backends = self.backends

    @staticmethod
    def _output_tooltip(job: Job, backends: tuple[dict[str, Any], ...]) -> str:
        if lacks(backends, job.backend, OUTPUTS):
            return f"Result of {job.name}; its backend keeps no output files"
        return f"Result and output files of {job.name}"

    def render(self) -> None:
        """Write the job's facts into the row's widgets (also called to refresh ages)."""
        facts = self._facts(self.job)
        self.line.show(facts["name"], facts["name_tooltip"], facts["facts"])

    def refresh_ages(self) -> None:
        """Recompute what changes with time alone: the row's age and duration, and the ages of
        its pods while they are shown (no fetch; a closed row's pods are not touched)."""
        self.render()
        if self.expanded and self.pods is not None:
            self.pods.refresh_ages()

    def _facts(self, job: Job) -> dict[str, str]:
        """What the row's widgets show for `job`, as their trait values."""
        ready, total = replicas_ready(job)
        phase = job.phase.value
        # The phase once, then only what the reason adds to it ("PyTorchJobSucceeded" adds nothing).
        reason = job.error or reason_words(job.status.reason, job.kind, phase)
        status = f'<span class="{phase_class(phase)}">{esc(phase)}</span>'
        if job.removed:
            # The word, not only a look: a screen reader and a colour-blind eye read "Removed" too.
            status += f' <span class="dtrain-removed-mark" title="{esc(removed_words(job))}">Removed</span>'
        if reason and not self.compact:
            status += f' <span class="dtrain-muted dtrain-reason">{esc(reason)}</span>'
        status += progress_html(job, getattr(self, "progress", None))
        # "/" may end a line, so a long context/namespace wraps instead of being cut.
        place = esc(where(job)).replace("/", "/<wbr>")
        cells = {"Kind": esc(kind_label(job.kind)), "Where": place, "Status": status,
                 "Ready": f"{ready}/{total}", "Age": esc(age(job.created)), "Duration": esc(duration(job))}
        titles = {"Kind": f"{kind_title(job.kind)} ({job.api_version})" if job.api_version else kind_title(job.kind),
                  "Where": where(job), "Status": "; ".join(filter(None, (status_title(job), removed_words(job)))),
                  "Ready": f"{ready} of {total} replicas running or done"}
        expanded = getattr(self, "expanded", False)
        arrow = "▾" if expanded else "▸"
        seen = " as last seen (removed from the cluster)" if job.removed else ""
        return {"name": f"{arrow} {job.name}",
                "name_tooltip": f"{job.kind}/{job.name}: {'hide' if expanded else 'show'} its pods{seen}",
                "facts": grid(cells, self.compact, titles)}

    @observe("selected")
    @guarded
    def _on_selected(self, change: dict[str, Any]) -> None:
        self.line.selected = self.selected
        if self.selected:
            self.add_class("dtrain-row-selected")
        else:
            self.remove_class("dtrain-row-selected")

    @observe("expanded")
    @guarded
    def _on_expanded(self, change: dict[str, Any]) -> None:
        # The line's state, its arrow (render) and the row's children go as one message each
        # (one in all where the row's model carries the line).
        with self.hold_sync(), self.line.hold_sync():
            self.line.expanded = self.expanded
            self.render()
            if self.expanded:
                if self.pods is None:
                    self.pods = PodsView(self.client, self.job, self._open_pod_log, compact=self.compact,
                                         layout=self._full_width, backends=self.backends)
                    self.pods.on_error = self.report_error
                else:
                    self.pods.job = self.job
                self.children = (*self.line.widgets, *self.line.under, self.pods)
            else:
                self.children = self.line.widgets
        if self.expanded and self.pods is not None:
            self.pods.refresh()

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_check(self, ticked: bool) -> None:
        self.selected = ticked

    @guarded
    def _on_click(self, part: str) -> None:
        if part == NAME:
            self.expanded = not self.expanded
        else:
            self._on_action(part, self.job, None)

    def _open_pod_log(self, job: Job, pod: str | None) -> None:
        self._on_action("log", job, pod)


@widgets.register
class DrawnJobRow(DrawnLineState, JobRow):
    """A job row that is one widget model: its line is state of the row's own model.

    The labextension's row view (labextension/src/row_line.ts) draws the line and lays the
    row's children (its pods) under it. `JobRow(...)` makes one where its look says the
    labextension is there; everything else is `JobRow`'s.
    """

    line_class = DrawnLine


def progress_html(job: Job, progress: Any) -> str:
    """A running job's progress bar and "42% · ETA 3 min", or "" (no progress, or the job is not running).

    A native <progress> is a progressbar to assistive technology; its aria-label carries the
    whole fact in words, and the text beside it shows the same to the eye.
    """
    if progress is None or job.phase != Phase.RUNNING or job.removed:
        return ""
    fraction = max(0.0, min(1.0, float(progress.fraction)))
    eta = eta_words(progress.eta_seconds)
    words = progress_words(fraction, progress.eta_seconds)
    shown = f"{int(fraction * 100)}%" + (f" · {eta}" if eta else "")
    return (f'<span class="dtrain-progress"><progress value="{fraction:.3f}" max="1" '
            f'aria-label="Progress of {esc(job.name)}: {esc(words)}"></progress> '
            f'<span class="dtrain-progress-text" aria-hidden="true">{esc(shown)}</span></span>')
