"""The job list: filters, a header, and one `JobRow` per job keyed by uid.

Updates are incremental (STYLE §15): when `jobs` is replaced, rows whose job object changed get
their `job` trait assigned, and only when the set or order of visible rows changes is the rows
box given a new `children` tuple. Rows are built lazily for the jobs a person can see, and at
most `limit` rows are shown (with "show more"), so a thousand jobs stay usable.

Where the server keeps a job history, the list also shows past jobs, those that left their
cluster (`removed` set): a Show choice (All, Live, Finished) and a creation date range join the
filters, and the past jobs come from `Client.history` one page at a time (keyset paging by
`.next`), never all records at once, so ten thousand records cost what one page does. The live
jobs keep coming from the change feed; each page says how far back the history has been read,
and a live job older than that waits for "Show more" like the records around it, so the list is
newest first whichever source a row came from. A server without a history (`history()` answers
NotFound) hides those filters and the list is what it was.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import ipywidgets as widgets
from traitlets import Bool, Dict, Int, Tuple, Unicode, observe, validate

from ..errors import BackendUnavailable, NotFound
from ..model.job import Job
from ..model.status import Phase
from .assistive import NAME_ONLY
from .callbacks import ErrorForwarder, guarded
from .history_filters import SHOW_ALL, SHOW_LIVE, SHOW_OPTIONS, history_show, parse_bound, shows, within
from .job_row import JobRow, RowLook, header_grid
from .styles import PanelLook
from .words import esc, kind_label, kind_title

log = logging.getLogger(__name__)

ALL = "All"
# Rows on the first page, and how many more each "Show more" adds. Two screens' worth: each row
# is six widget models to send and draw, and the first page is what a person waits for.
PAGE_SIZE = 50
KIND_OPTIONS = ((ALL, ALL), *((kind_label(k), k) for k in ("MPIJob", "PyTorchJob", "TFJob")))
PHASE_OPTIONS = (ALL, *(p.value for p in Phase))
# Seconds the filters must rest before the history is asked again: typing a name is one read,
# not one per key.
HISTORY_QUIET_S = 0.4


def _sort_key(job: Job) -> tuple[str, str]:
    # Newest first; created is RFC 3339 so string order is time order. Name breaks ties.
    return (job.created or "", job.name)


class JobList(widgets.VBox, ErrorForwarder):
    """Shows `jobs` and the `past` jobs filtered by text, kind, phase, Show and dates; keeps
    `selected` in sync with the rows.

    Args:
        client: the panel's `Client` (rows fetch their pods with it).
        on_action: called with (action, job, pod) when a row asks for its log or output.
        compact: sidebar layout (fewer columns).
        labextension: the front end has dtrain-jupyter's labextension, which draws each row's first
            line from one widget model (row_line.py); elsewhere the rows are core widgets.
    """

    jobs = Tuple(help="Every job known to the panel (Job objects); replaced, never mutated")
    selected = Tuple(help="uids of the ticked jobs, in the order they were ticked")
    text_filter = Unicode("", help="Only jobs whose name, namespace, backend, kind or reason contain this text")
    kind_filter = Unicode(ALL, help="Only jobs of this kind ('All' for every kind)")
    phase_filter = Unicode(ALL, help="Only jobs in this phase ('All' for every phase)")
    limit = Int(PAGE_SIZE, help="Most rows shown at once; 'Show more' raises it")
    backends = Tuple(help="Client.backends() as last read; every row gets them (what its job's backend can do)")
    past = Tuple(help="Jobs that left their cluster, as read from the job history so far (`removed` set) "
                      "and as the feed said they were deleted; replaced, never mutated")
    history = Bool(False, help="Whether the server keeps a job history: then the Show choice and the date range "
                               "are offered and past jobs are listed")
    show_filter = Unicode(SHOW_ALL, help="'All', 'Live' (on the cluster, not finished) or 'Finished'")
    since = Unicode("", help="Only jobs created at or after this (a date or an RFC 3339 time; '' for no bound)")
    until = Unicode("", help="Only jobs created at or before this (a date alone takes in its whole day)")
    history_page = Int(PAGE_SIZE, help="Records asked of the job history per page")
    history_problem = Unicode("", help="Why the server stopped archiving logs (a full disk), as its last "
                                       "history page said; '' while it archives")
    progress = Dict(help="JobProgress by job uid, as the feed last read it (Client.progress()): the rows of "
                         "running jobs show a bar and an ETA")

    def __init__(self, client: Any, on_action: Callable[[str, Job, str | None], None],
                 compact: bool = False, look: PanelLook | None = None, labextension: bool = False,
                 **kwargs: Any) -> None:
        self.client = client
        self.compact = compact
        self._on_action = on_action
        self.rows: dict[str, JobRow] = {}
        self.visible: tuple[str, ...] = ()
        self._look = RowLook(compact, labextension)  # built once: every row shares these models
        look = look or PanelLook()
        # Named for screen readers (a placeholder is gone once something is typed), not shown.
        self.text = widgets.Text(placeholder="Filter by text", continuous_update=True, description="Filter jobs",
                                 description_allow_html=False, _dom_classes=(NAME_ONLY,),
                                 layout=widgets.Layout(width="auto", flex="1 1 auto"))
        self.kind = widgets.Dropdown(options=KIND_OPTIONS, value=ALL, description="Kind", layout=look.auto,
                                     style={"description_width": "initial"})
        self.phase = widgets.Dropdown(options=PHASE_OPTIONS, value=ALL, description="Status", layout=look.auto,
                                      style=self.kind.style)
        # The history's filters, shown once the server said it keeps one. The dates are read
        # when a field is left (or Enter): half a date is not yet wrong.
        self.show = widgets.Dropdown(options=SHOW_OPTIONS, value=SHOW_ALL, description="Show", layout=look.auto,
                                     style=self.kind.style, _dom_classes=("dtrain-show",))
        date_style = {"description_width": "initial"}
        self.since_text = widgets.Text(placeholder="YYYY-MM-DD", continuous_update=False, description="From",
                                       tooltip="Created on or after this date (YYYY-MM-DD or YYYY-MM-DDTHH:MM, UTC)",
                                       style=date_style, layout=widgets.Layout(width="170px"),
                                       _dom_classes=("dtrain-since",))
        self.until_text = widgets.Text(placeholder="YYYY-MM-DD", continuous_update=False, description="To",
                                       tooltip="Created on or before this date (a date alone includes that day)",
                                       style=date_style, layout=widgets.Layout(width="160px"),
                                       _dom_classes=("dtrain-until",))
        self.history_filters = widgets.HBox([self.show, self.since_text, self.until_text], layout=widgets.Layout(
            display="none", flex_flow="row wrap"), _dom_classes=("dtrain-history-filters",))
        # What is wrong with a date, next to the fields (role=alert: read out when it appears).
        self.date_error = widgets.HTML("", layout=widgets.Layout(display="none", width="100%"),
                                       _dom_classes=("dtrain-field-error",))
        filters = widgets.HBox([self.text, self.kind, self.phase, self.history_filters], layout=look.wrap)
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
                                   widgets.HTML("", layout=self._look.output, style=self._look.html_style),
                                   widgets.HTML("", layout=self._look.metrics, style=self._look.html_style))
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
        super().__init__(children=(filters, self.date_error, self.header, self.rows_box,
                                   widgets.HBox([self.footer, self.more])),
                         layout=look.full, **kwargs)
        self._ticking_all = False  # set while the list itself moves select_all, not a person
        # The history as read: the next page's cursor (None after the last page) and the creation
        # time of the last record read, below which a row may still have unread neighbours.
        self._past_next: str | None = None
        self._past_floor = ""
        # When the history should next be read (monotonic seconds; None: it is up to date). The
        # first read is due at once: whether the server keeps one decides which filters show.
        self._past_due: float | None = 0.0
        self._no_history = False  # the server said it keeps none: asked again only by reload_past
        self.select_all.observe(self._on_select_all, "value")
        self.text.observe(self._on_text, "value")
        self.kind.observe(self._on_kind, "value")
        self.phase.observe(self._on_phase, "value")
        self.show.observe(self._on_show, "value")
        self.since_text.observe(self._on_dates, "value")
        self.until_text.observe(self._on_dates, "value")
        self.more.on_click(self._on_more)
        self._layout_rows()

    # ------------------------------------------------------------------ rules
    @validate("selected")
    def _valid_selected(self, proposal: dict[str, Any]) -> tuple[str, ...]:
        """Only uids of known jobs, each once, in the given order."""
        known = set(self.everything())
        seen: dict[str, None] = {}
        for uid in proposal["value"]:
            if uid in known:
                seen.setdefault(uid, None)
        return tuple(seen)

    # ------------------------------------------------------------------ reactions
    @observe("jobs")
    @guarded
    def _on_jobs(self, change: dict[str, Any]) -> None:
        self._follow_jobs()

    @observe("past")
    @guarded
    def _on_past(self, change: dict[str, Any]) -> None:
        self._follow_jobs()

    def _follow_jobs(self) -> None:
        """Rows follow `jobs` and `past`: a changed job is reassigned, a gone one's row closed."""
        new = self.everything()
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

    @observe("progress")
    @guarded
    def _on_progress(self, change: dict[str, Any]) -> None:
        # Only rows built so far; a row built later takes its progress when it is built.
        with self.hold_sync():
            for uid, row in self.rows.items():
                mine = self.progress.get(uid)
                if row.progress != mine:
                    row.progress = mine

    @observe("text_filter", "kind_filter", "phase_filter", "limit", "show_filter", "since", "until")
    @guarded
    def _on_filter(self, change: dict[str, Any]) -> None:
        if change["name"] != "limit":
            # The history answers for the new filters from its first page again.
            self.limit = PAGE_SIZE
            if not self._no_history:
                self._past_due = time.monotonic() + HISTORY_QUIET_S
        self._layout_rows()

    @observe("history")
    @guarded
    def _on_history(self, change: dict[str, Any]) -> None:
        self.history_filters.layout.display = "" if self.history else "none"
        if not self.history:
            with self.hold_sync():
                # Today's list: no Show choice, no dates, no past rows.
                self.show.value = SHOW_ALL
                self.since_text.value = self.until_text.value = ""
                self.past = ()

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
    def _on_show(self, change: dict[str, Any]) -> None:
        self.show_filter = change["new"]

    @guarded
    def _on_dates(self, change: dict[str, Any]) -> None:
        problems = []
        bounds = {}
        for what, field in (("From", self.since_text), ("To", self.until_text)):
            try:
                bounds[what] = parse_bound(field.value, what)
            except ValueError as exc:
                problems.append(str(exc))
                bounds[what] = None
        if not problems and bounds["From"] and bounds["To"] and not within(bounds["From"], "", bounds["To"]):
            problems.append(f"From ({bounds['From']}) is after To ({bounds['To']}): no job can be in between")
        with self.hold_sync():
            self.date_error.value = "<br>".join(f"<span role='alert'>{esc(p)}</span>" for p in problems)
            self.date_error.layout.display = "" if problems else "none"
            # A wrong field leaves the list as it was, so the error is never mistaken for "no jobs".
            if not problems:
                self.since, self.until = bounds["From"], bounds["To"]

    @guarded
    def _on_more(self, _button: widgets.Button) -> None:
        reachable = len(self._reachable(self._matching()))
        self.limit += PAGE_SIZE
        # The rows read so far do not fill the longer page: read the history's next one.
        if self._past_next is not None and reachable < self.limit:
            self.read_past(more=True)

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
        """Whether a job passes the filters: kind, phase, Show, dates, and every word of the text
        in its name, namespace, backend, kind, reason or phase ("removed" finds past jobs)."""
        if self.kind_filter != ALL and job.kind != self.kind_filter:
            return False
        if self.phase_filter != ALL and job.phase.value != self.phase_filter:
            return False
        if not shows(job, self.show_filter) or not within(job.created, self.since, self.until):
            return False
        words = self.text_filter.lower().split()
        if words:
            hay = " ".join((job.name, job.namespace, job.backend, job.kind, kind_title(job.kind),
                            job.status.reason, job.phase.value, "removed" if job.removed else "")).lower()
            return all(word in hay for word in words)
        return True

    def everything(self) -> dict[str, Job]:
        """Every job the list knows by uid: the past ones, and the live ones over them (a job the
        feed still lists is on its cluster, whatever an older history read said)."""
        known = {job.uid: job for job in self.past}
        known.update((job.uid, job) for job in self.jobs)
        return known

    # ------------------------------------------------------------------ the job history
    def sync_past(self, now: float | None = None) -> None:
        """Read the history's first page again when the filters changed and have rested (the
        panel's feed runs this on the kernel loop a few times a second)."""
        due = self._past_due
        if due is not None and (now if now is not None else time.monotonic()) >= due:
            self.read_past()

    def read_past(self, more: bool = False) -> None:
        """Read one page of past jobs for the filters now set: the first page again, or (`more`)
        the page after the last one read.

        A server without a job history answers NotFound: the history's filters then hide and
        the list goes on without it. A server out of reach is the banner's news: the history is
        read again when the feed is back (`reload_past`). Any other failure reaches the panel's
        error line and is tried again on the next change of filters or Refresh.
        """
        self._past_due = None
        if self.show_filter == SHOW_LIVE and not more and self.history:
            # No job of the past is live: nothing to ask.
            self.past, self._past_next, self._past_floor = (), None, ""
            self._layout_rows()
            return
        try:
            page = self.client.history(
                show=history_show(self.show_filter), search=_server_words(self.text_filter),
                kind=None if self.kind_filter == ALL else self.kind_filter,
                phase=None if self.phase_filter == ALL else self.phase_filter,
                since=self.since or None, until=self.until or None, limit=self.history_page,
                after=self._past_next if more else None)
        except BackendUnavailable as exc:
            # The server is away: the banner says so, and its return (a new snapshot) reads again.
            log.info("job history not read: %s", exc.message)
            return
        except NotFound as exc:
            log.info("no job history on this server: %s", exc.message)
            self._no_history = True
            self.history = False
            return
        self._no_history = False
        found = tuple(job for job in page if job.removed)
        for job in found:
            job.uid = job.uid or "/".join(job.key)
        with self.hold_sync():
            self.history = True
            self.history_problem = getattr(page, "problem", None) or ""
            self._past_next = page.next
            self._past_floor = (page[-1].created or "") if page.next is not None and len(page) else ""
            if more:
                fresh = {job.uid for job in found}
                self.past = (*(job for job in self.past if job.uid not in fresh), *found)
            else:
                self.past = found
            self._layout_rows()

    def add_past(self, job: Job) -> None:
        """A job the feed says was deleted, listed as past until the history's next read."""
        self.past = (*(j for j in self.past if j.uid != job.uid), job)

    def drop_past(self, uid: str) -> None:
        """A past job forgotten: its row goes."""
        self.past = tuple(j for j in self.past if j.uid != uid)

    def reload_past(self) -> None:
        """Read the history again from its first page at the next chance (Refresh, a new snapshot)."""
        self._no_history = False
        self._past_due = 0.0

    def row(self, uid: str) -> JobRow:
        """The row of a job, building it when it was not yet shown."""
        row = self.rows.get(uid)
        if row is None:
            job = self.everything()[uid]
            row = JobRow(job, self.client, self._on_action, compact=self.compact, look=self._look,
                         backends=self.backends)
            row.on_error = self.report_error
            row.selected = uid in self.selected
            row.progress = self.progress.get(uid)
            row.observe(self._on_row_selected, "selected")
            self.rows[uid] = row
        return row

    def row_by_name(self, name: str) -> JobRow:
        """The row of the (first) job with this name; raises KeyError when there is none."""
        for job in (*self.jobs, *self.past):
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

    def _matching(self) -> list[Job]:
        """Every known job that passes the filters, newest first."""
        return sorted((j for j in self.everything().values() if self.matches(j)), key=_sort_key, reverse=True)

    def _reachable(self, matching: list[Job]) -> list[Job]:
        """The matching jobs no newer than what the history has been read down to: below that
        floor an unread record could stand between two rows, so those wait for "Show more"."""
        floor = self._past_floor
        return [j for j in matching if (j.created or "") >= floor] if floor else matching

    def _layout_rows(self) -> None:
        matching = self._matching()
        reachable = self._reachable(matching)
        shown = tuple(job.uid for job in reachable[: self.limit])
        if shown != self.visible:
            self.visible = shown
            self.rows_box.children = tuple(self.row(uid) for uid in shown)
            self._show_all_ticked()
        total = len(self.jobs) + len(self.past)
        older = self._past_next is not None
        if not total and not older:
            self.footer.value = "No jobs yet. Press New to create one."
        elif len(matching) > len(shown):
            self.footer.value = f"Showing {len(shown)} of {len(matching)} matching jobs ({total} in all)."
        else:
            self.footer.value = f"{len(matching)} of {total} jobs shown."
        if older:
            self.footer.value += " Older jobs are in the job history: Show more reads them."
        self.more.layout.display = "" if len(reachable) > len(shown) or older else "none"


def _server_words(text: str) -> str:
    """The search words the history can match (name, kind, namespace, phase, backend); "removed"
    is the list's own word for past rows, which every record of the history page may be."""
    return " ".join(word for word in text.split() if word.lower() != "removed")
