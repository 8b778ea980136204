"""The job list: filters, a header, and one `JobRow` per job keyed by uid.

Updates are incremental (STYLE §15): when `jobs` is replaced, rows whose job object changed get
their `job` trait assigned, and only when the set or order of visible rows changes is the rows
box given a new `children` tuple. Rows are built lazily for the jobs a person can see, and at
most `limit` rows are shown (with "show more"), so a thousand jobs stay usable.
"""

from __future__ import annotations

from typing import Any, Callable

import ipywidgets as widgets
from traitlets import Int, Tuple, Unicode, observe, validate

from ..model.job import Job
from ..model.status import Phase
from .assistive import NAME_ONLY
from .callbacks import ErrorForwarder, guarded
from .job_row import JobRow, RowLook, header_grid
from .styles import PanelLook
from .words import kind_label, kind_title

ALL = "All"
# Rows on the first page, and how many more each "Show more" adds. Two screens' worth: each row
# is six widget models to send and draw, and the first page is what a person waits for.
PAGE_SIZE = 50
KIND_OPTIONS = ((ALL, ALL), *((kind_label(k), k) for k in ("MPIJob", "PyTorchJob", "TFJob")))
PHASE_OPTIONS = (ALL, *(p.value for p in Phase))


def _sort_key(job: Job) -> tuple[str, str]:
    # Newest first; created is RFC 3339 so string order is time order. Name breaks ties.
    return (job.created or "", job.name)


class JobList(widgets.VBox, ErrorForwarder):
    """Shows `jobs` filtered by text, kind and phase; keeps `selected` in sync with the rows.

    Args:
        client: the panel's `Client` (rows fetch their pods with it).
        on_action: called with (action, job, pod) when a row asks for its log or output.
        compact: sidebar layout (fewer columns).
    """

    jobs = Tuple(help="Every job known to the panel (Job objects); replaced, never mutated")
    selected = Tuple(help="uids of the ticked jobs, in the order they were ticked")
    text_filter = Unicode("", help="Only jobs whose name, namespace, backend, kind or reason contain this text")
    kind_filter = Unicode(ALL, help="Only jobs of this kind ('All' for every kind)")
    phase_filter = Unicode(ALL, help="Only jobs in this phase ('All' for every phase)")
    limit = Int(PAGE_SIZE, help="Most rows shown at once; 'Show more' raises it")
    backends = Tuple(help="Client.backends() as last read; every row gets them (what its job's backend can do)")

    def __init__(self, client: Any, on_action: Callable[[str, Job, str | None], None],
                 compact: bool = False, look: PanelLook | None = None, **kwargs: Any) -> None:
        self.client = client
        self.compact = compact
        self._on_action = on_action
        self.rows: dict[str, JobRow] = {}
        self.visible: tuple[str, ...] = ()
        self._look = RowLook(compact)  # built once: every row shares these models
        look = look or PanelLook()
        # Named for screen readers (a placeholder is gone once something is typed), not shown.
        self.text = widgets.Text(placeholder="Filter by text", continuous_update=True, description="Filter jobs",
                                 description_allow_html=False, _dom_classes=(NAME_ONLY,),
                                 layout=widgets.Layout(width="auto", flex="1 1 auto"))
        self.kind = widgets.Dropdown(options=KIND_OPTIONS, value=ALL, description="Kind", layout=look.auto,
                                     style={"description_width": "initial"})
        self.phase = widgets.Dropdown(options=PHASE_OPTIONS, value=ALL, description="Status", layout=look.auto,
                                      style=self.kind.style)
        filters = widgets.HBox([self.text, self.kind, self.phase], layout=look.wrap)
        # The header line is built from the rows' own shared layouts, so its columns stand exactly
        # above theirs in every width: a checkbox that ticks every shown row, "Name", the facts'
        # titles, and room for the row buttons. Unticked while only some rows are ticked (a
        # Checkbox has no third state); an <input>, so Tab reaches it and Space toggles it. Its
        # description is its accessible name, out of sight like the rows' (assistive.NAME_ONLY).
        self.select_all = widgets.Checkbox(False, indent=False, description="Select every job shown",
                                           description_allow_html=False, tooltip="Select every job shown",
                                           layout=self._look.check, style=self._look.check_style,
                                           _dom_classes=("dtrain-select-all", NAME_ONLY))
        room = () if compact else (widgets.HTML("", layout=self._look.log, style=self._look.html_style),
                                   widgets.HTML("", layout=self._look.output, style=self._look.html_style))
        self.header = widgets.HBox(
            [self.select_all,
             widgets.HTML("<span class='dtrain-cell'>Name</span>", layout=self._look.name,
                          style=self._look.html_style),
             widgets.HTML(header_grid(compact), layout=self._look.facts, style=self._look.html_style), *room],
            layout=self._look.row, _dom_classes=("dtrain-header",))
        self.rows_box = widgets.VBox(layout=look.full)
        self.footer = widgets.Label("", _dom_classes=("dtrain-muted",))
        self.more = widgets.Button(description="Show more", style=look.button,
                                   layout=widgets.Layout(display="none", width="auto"))
        kwargs.setdefault("_dom_classes", ("dtrain-job-list",))
        super().__init__(children=(filters, self.header, self.rows_box, widgets.HBox([self.footer, self.more])),
                         layout=look.full, **kwargs)
        self._ticking_all = False  # set while the list itself moves select_all, not a person
        self.select_all.observe(self._on_select_all, "value")
        self.text.observe(self._on_text, "value")
        self.kind.observe(self._on_kind, "value")
        self.phase.observe(self._on_phase, "value")
        self.more.on_click(self._on_more)
        self._layout_rows()

    # ------------------------------------------------------------------ rules
    @validate("selected")
    def _valid_selected(self, proposal: dict[str, Any]) -> tuple[str, ...]:
        """Only uids of known jobs, each once, in the given order."""
        known = {job.uid for job in self.jobs}
        seen: dict[str, None] = {}
        for uid in proposal["value"]:
            if uid in known:
                seen.setdefault(uid, None)
        return tuple(seen)

    # ------------------------------------------------------------------ reactions
    @observe("jobs")
    @guarded
    def _on_jobs(self, change: dict[str, Any]) -> None:
        new = {job.uid: job for job in change["new"]}
        with self.hold_sync():
            for uid, row in list(self.rows.items()):
                job = new.get(uid)
                if job is None:
                    self.rows.pop(uid).close()
                elif row.job is not job:
                    row.job = job
            if any(uid not in new for uid in self.selected):
                self.selected = tuple(uid for uid in self.selected if uid in new)
            self._layout_rows()

    @observe("backends")
    @guarded
    def _on_backends(self, change: dict[str, Any]) -> None:
        with self.hold_sync():
            for row in self.rows.values():
                row.backends = self.backends

    @observe("text_filter", "kind_filter", "phase_filter", "limit")
    @guarded
    def _on_filter(self, change: dict[str, Any]) -> None:
        self._layout_rows()

    @observe("selected")
    @guarded
    def _on_selected(self, change: dict[str, Any]) -> None:
        chosen = set(self.selected)
        for uid, row in self.rows.items():
            if row.selected != (uid in chosen):
                row.selected = uid in chosen
        self._show_all_ticked()

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_text(self, change: dict[str, Any]) -> None:
        self.text_filter = change["new"]

    @guarded
    def _on_kind(self, change: dict[str, Any]) -> None:
        self.kind_filter = change["new"]

    @guarded
    def _on_phase(self, change: dict[str, Any]) -> None:
        self.phase_filter = change["new"]

    @guarded
    def _on_more(self, _button: widgets.Button) -> None:
        self.limit += PAGE_SIZE

    @guarded
    def _on_select_all(self, change: dict[str, Any]) -> None:
        if self._ticking_all:
            return
        if change["new"]:
            self.selected = (*self.selected, *(uid for uid in self.visible if uid not in self.selected))
        else:
            shown = set(self.visible)
            self.selected = tuple(uid for uid in self.selected if uid not in shown)
        # Ticking it with no row shown selects nothing, so it must not stay ticked.
        self._show_all_ticked()

    @guarded
    def _on_row_selected(self, change: dict[str, Any]) -> None:
        uid = change["owner"].job.uid
        if change["new"] and uid not in self.selected:
            self.selected = (*self.selected, uid)
        elif not change["new"] and uid in self.selected:
            self.selected = tuple(u for u in self.selected if u != uid)

    # ------------------------------------------------------------------ helpers
    def matches(self, job: Job) -> bool:
        """Whether a job passes the three filters."""
        if self.kind_filter != ALL and job.kind != self.kind_filter:
            return False
        if self.phase_filter != ALL and job.phase.value != self.phase_filter:
            return False
        needle = self.text_filter.strip().lower()
        if needle:
            hay = " ".join((job.name, job.namespace, job.backend, job.kind, kind_title(job.kind),
                            job.status.reason, job.phase.value)).lower()
            return needle in hay
        return True

    def row(self, uid: str) -> JobRow:
        """The row of a job, building it when it was not yet shown."""
        row = self.rows.get(uid)
        if row is None:
            job = next(j for j in self.jobs if j.uid == uid)
            row = JobRow(job, self.client, self._on_action, compact=self.compact, look=self._look,
                         backends=self.backends)
            row.on_error = self.report_error
            row.selected = uid in self.selected
            row.observe(self._on_row_selected, "selected")
            self.rows[uid] = row
        return row

    def row_by_name(self, name: str) -> JobRow:
        """The row of the (first) job with this name; raises KeyError when there is none."""
        for job in self.jobs:
            if job.name == name:
                return self.row(job.uid)
        raise KeyError(name)

    def _show_all_ticked(self) -> None:
        """Tick select_all exactly when every shown row is ticked (and one is shown at least)."""
        chosen = set(self.selected)
        every = bool(self.visible) and all(uid in chosen for uid in self.visible)
        if self.select_all.value != every:
            self._ticking_all = True
            try:
                self.select_all.value = every
            finally:
                self._ticking_all = False

    def _layout_rows(self) -> None:
        matching = sorted((j for j in self.jobs if self.matches(j)), key=_sort_key, reverse=True)
        shown = tuple(job.uid for job in matching[: self.limit])
        if shown != self.visible:
            self.visible = shown
            self.rows_box.children = tuple(self.row(uid) for uid in shown)
            self._show_all_ticked()
        total = len(self.jobs)
        if not total:
            self.footer.value = "No jobs yet. Press New to create one."
        elif len(matching) > len(shown):
            self.footer.value = f"Showing {len(shown)} of {len(matching)} matching jobs ({total} in all)."
        else:
            self.footer.value = f"{len(matching)} of {total} jobs shown."
        self.more.layout.display = "" if len(matching) > len(shown) else "none"
