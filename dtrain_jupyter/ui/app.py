"""The Distributed Training panel: composes list, new-job forms, log and output views.

The app holds the panel's state as traits (`jobs`, `selected`, `busy`, `error`), applies the
change feed's batches on the kernel loop, and routes each part's requests (open a log, show an
output, a job was created) to the right place. It talks only to `dtrain_jupyter.client.Client`.

Its two message lines speak for flows (creating, deleting): a flow's newer word replaces its
older ones (`say`), a success line clears itself after `info_seconds`, and an error stays until
dismissed or replaced, so no line outlives what it reports.

With the server's job history, a job the feed says was deleted stays listed as a past job (the
list reads the rest of the history page by page, job_list.py), and the toolbar's Re-run, Edit
and re-run, Forget, Suspend and Resume act on the ticked jobs (job_actions.py).

The Metrics tab charts one job's metrics (a row's Metrics button, or Metrics with one job
ticked) or overlays several ticked jobs (Compare); it is built on first use like the other
pages, and its readers' pages are applied on the kernel loop as they arrive, the feed's drain
standing by (compare.py, metrics_view.py).
Rows of running jobs show the progress their code reports, which the feed reads (feed.py).
"""

from __future__ import annotations

import time
from typing import Any

import ipywidgets as widgets
from traitlets import Any as AnyTrait, Bool, Float, Tuple, Unicode, dlink, observe, validate

from ..model.job import Job
from ..model.status import Phase
from .assistive import BUSY, FOCUS_HERE
from .banner import Banner
from .callbacks import ErrorForwarder, describe_error, guarded
from .feed import BACKENDS, CHANGE, OUTAGE, PROBLEMS, PROGRESS, RECOVERED, SNAPSHOT, ChangeFeed, FeedItem
from .history_filters import as_removed
from .job_actions import FLOW_RERUN, JobActions
from .job_list import JobList
from .lazy_page import LazyPage
from .pages import LaterPages
from .styles import PanelLook, style_widget
from .words import deletion_words, esc, job_ref

TABS = ("Jobs", "New", "Log", "Output", "Metrics")
AGE_REFRESH_S = 15.0   # how often visible rows recompute "age" and "duration", and open pods their "age"
MAX_ERROR_CHARS = 4000
INFO_SECONDS = 8.0     # how long a success line stays: long enough to read, short enough not to go stale
# The flows whose messages replace each other (see DTrainApp.say).
FLOW_CREATE = "create"
FLOW_DELETE = "delete"


def _uid(job: Job) -> str:
    # A job the backend could not give a uid still needs a stable key for its row.
    return job.uid or "/".join(job.key)


class DTrainApp(widgets.VBox, ErrorForwarder):
    """The whole panel; build it with a `Client`, then `display()` it.

    Args:
        client: the `Client` every part uses.
        compact: the ~300 px sidebar layout (fewer columns, stacked controls).
        start: start the change feed now (a test may start it itself).
        poll_timeout: seconds each long poll of the change feed made here (no `feed` given) may wait.
        labextension: the front end has dtrain-jupyter's labextension (it opened this panel), whose
            views draw the job rows with fewer widget models (row_line.py).
        feed: a `ChangeFeed` of `client` whose thread already reads (show_panel starts one before
            importing the widgets); None makes one here. Its `apply` becomes the app's.
    """

    jobs = Tuple(help="Every job the panel knows, as Job objects; replaced on each change, never mutated")
    selected = Tuple(help="uids of the jobs ticked in the list")
    busy = Bool(False, help="True while the panel waits for the server on a person's request")
    error = Unicode("", help="The last failure a person must see; empty when there is none")
    info = Unicode("", help="The last success worth a line (e.g. 'Created PyTorchJob/x'); clears itself "
                            "after info_seconds")
    info_html = Unicode("", help="A success line in HTML, escaped by whoever wrote it, that stays until a newer "
                                 "line replaces it: a link a person must have time to click (TensorBoard's). "
                                 "Shown instead of `info`; a newer `info` replaces it")
    info_seconds = Float(INFO_SECONDS, help="Seconds a success line stays before it clears itself (default 8); "
                                            "'Deleting X' stays while X is listed. Errors never expire")
    deleting = Tuple(help="(uid, 'Kind/name (where)') of each job the last delete waits for; once all have "
                          "left `jobs` the 'Deleting' line turns into 'Deleted' and this empties")
    rerun_of = AnyTrait(None, allow_none=True,
                        help="The Job the wizard is filled from for Edit and re-run; its Create then says "
                             "'Re-run of X created as Y'. None otherwise")

    #: True once close() ran; show_panel() then builds a new app.
    closed = False

    def __init__(self, client: Any, compact: bool = False, start: bool = True,
                 poll_timeout: float = 25.0, labextension: bool = False, feed: ChangeFeed | None = None,
                 **kwargs: Any) -> None:
        self.client = client
        self.compact = compact
        self._last_age_refresh = time.monotonic()
        self._info_at = time.monotonic()
        # What each flow last said, as (info, error), and its info_html: its next word clears
        # those if still shown.
        self._said: dict[str, tuple[str, str]] = {}
        self._said_html: dict[str, str] = {}
        # The feed's thread starts reading the job list now (if it has not yet), while the widgets
        # below are built.
        if feed is None:
            feed = ChangeFeed(client, self.apply, poll_timeout=poll_timeout)
        else:
            feed.apply = self.apply
        self.feed = feed
        if start:
            self.feed.start_reading()
        look = PanelLook()
        # Widgets are opened with their classes and shared looks: each later add_class, and each
        # Layout or Style of its own, is one more message before the panel first shows.
        self.title = widgets.HTML("<span class='dtrain-title'>Distributed Training</span>", layout=look.full,
                                  style=look.html)
        self.banner = Banner()
        self._look = look
        # Built when first needed, into these slots (see "Parts built when first needed" below).
        self._lines: _MessageLines | None = None
        self._selection: tuple[_Confirmation, JobActions] | None = None
        self._lines_slot = widgets.VBox(layout=look.slot)
        self._selection_slot = widgets.VBox(layout=look.slot)
        self._actions_slot = widgets.HBox(layout=look.slot)

        self.job_list = JobList(client, self._on_row_action, compact=compact, look=look, labextension=labextension)
        # A full disk under the job history is said in the banner, as the history's pages report it.
        dlink((self.job_list, "history_problem"), (self.banner, "history_problem"))
        # Stable class names: what browser tests and people's custom CSS select on.
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh", layout=look.auto,
                                             style=look.button, _dom_classes=("dtrain-refresh",))
        # Where focus goes when the Jobs page comes back (after Create, say): see assistive.py.
        self.new_button = widgets.Button(description="New", icon="plus", button_style="primary", layout=look.auto,
                                         style=look.button, _dom_classes=("dtrain-new", FOCUS_HERE))
        self.delete_button = widgets.Button(description="Delete", icon="trash", button_style="danger",
                                            layout=look.auto, style=look.button, _dom_classes=("dtrain-delete",))
        # What the shown confirmation confirms: "delete" or "forget" (see ask).
        self._confirming = "delete"
        self.toolbar = widgets.HBox([self.new_button, self.delete_button, self._actions_slot, self.refresh_button],
                                    layout=look.wrap)
        self.jobs_page = widgets.VBox([self.toolbar, self._selection_slot, self.job_list], layout=look.full)

        # Only the Jobs page is built now; the others when first opened (pages.py).
        self.pages = LaterPages(client, self._on_created, self.report_error, look,
                                report_create_error=lambda exc: self.report_error(exc, FLOW_CREATE))
        self.metrics_page = LazyPage(self._build_metrics_page, "dtrain-metrics-tab", look.full)
        self.tabs = widgets.Tab(children=(self.jobs_page, *self.pages.boxes(), self.metrics_page.box), titles=TABS,
                                layout=look.full)
        self.tabs.observe(self._on_tab, "selected_index")
        for part in (self.banner, self.job_list):
            part.on_error = self.report_error
        kwargs.setdefault("_dom_classes", ("dtrain-panel", "dtrain-compact") if compact else ("dtrain-panel",))
        self._style = style_widget()
        super().__init__(children=(self._style, self.title, self.banner, self._lines_slot, self.tabs),
                         layout=look.full, **kwargs)

        self.job_list.observe(self._on_list_selected, "selected")
        self.job_list.observe(self._on_list_jobs, ["past", "jobs", "backends"])
        self.refresh_button.on_click(self._on_refresh)
        self.new_button.on_click(self._on_new)
        self.delete_button.on_click(self._on_delete)

        self.feed.on_error = self.report_error
        self.feed.add_pump(self.pages.flush_log)
        self.feed.add_pump(self._refresh_ages)
        self.feed.add_pump(self._expire_info)
        # The job history's reads, on the kernel loop like every widget change (job_list.py).
        self.feed.add_pump(self.job_list.sync_past)
        self.feed.add_pump(self._flush_metrics)
        if start:
            self.feed.start(prime=True)

    # ------------------------------------------------------------------ errors
    def report_error(self, exc: BaseException, flow: str = "") -> None:
        """Show a failure in the error line; one of a `flow` replaces that flow's older lines."""
        if flow:
            self.say(flow, error=describe_error(exc))
        else:
            self.error = describe_error(exc)

    def say(self, flow: str, info: str = "", error: str = "", info_html: str = "") -> None:
        """Show how a person's action of `flow` (FLOW_CREATE, FLOW_DELETE) ended.

        The flow's older info and error lines are cleared where still shown, so a red "The job
        is not valid" replaces a green "Created ..." and a new "Created ..." the old red line;
        a line another flow wrote since stays. `info` clears itself after `info_seconds`;
        `error` stays until dismissed or replaced. `info_html` is a success line in HTML that
        does not clear itself (a link to click: without dtrain's JupyterLab extension, in
        Notebook 7 or VS Code, the person must have time to find and click it).

        Args:
            flow: the flow that speaks.
            info: its success line, or "" for none.
            error: its failure line, or "" for none.
            info_html: its success line as HTML, every piece of text in it already escaped by
                the caller (words.esc); shown as it is instead of `info`. "" for none.
        """
        old_info, old_error = self._said.get(flow, ("", ""))
        old_html = self._said_html.get(flow, "")
        # A new line of any flow takes the one info line; the flow's own old line goes anyway.
        if info or info_html or (old_info and self.info == old_info):
            self.info = info
        if info or info_html or (old_html and self.info_html == old_html):
            self.info_html = info_html
        if error or (old_error and self.error == old_error):
            self.error = error
        # What is shown now, which the validator may have shortened.
        self._said[flow] = (self.info if info else "", self.error if error else "")
        self._said_html[flow] = info_html

    def tick(self) -> int:
        """Apply what the feed queued and run the pumps now (the kernel loop does this by itself)."""
        return self.feed.drain()

    def close(self) -> None:
        """Stop the feed and the log reader, then close the widgets."""
        self.closed = True
        # Widget.__del__ may call close() on a half-built app; stop only what exists.
        if hasattr(self, "feed"):
            self.feed.stop()
            self.pages.stop()
            if self.metrics_page.part is not None:
                self.metrics_page.part.stop()
        super().close()

    def __repr__(self) -> str:
        # The text/plain part of every display() of the panel, and what a front end without
        # widgets shows. ipywidgets' own repr spells out every widget of the tree: ~30 ms for
        # one page of rows on the cold click, and unreadable.
        if self.closed:
            return "<Distributed Training panel (closed)>"
        return f"<Distributed Training panel: {len(self.jobs)} jobs>"

    # ------------------------------------------------------------------ feed
    def apply(self, items: list[FeedItem]) -> None:
        """Apply a batch of feed items: one new `jobs` tuple, banner changes, view updates."""
        current = {_uid(j): j for j in self.jobs}
        changed = False
        with self.hold_sync():
            for item in items:
                if item.kind == SNAPSHOT:
                    # Jobs deleted while the feed was away are in the history now: read it again.
                    self.job_list.reload_past()
                    fresh: dict[str, Job] = {}
                    for job in item.payload:
                        job.uid = _uid(job)
                        old = current.get(job.uid)
                        fresh[job.uid] = old if old is not None and old == job else job
                    current, changed = fresh, True
                elif item.kind == CHANGE:
                    job = item.payload.job
                    job.uid = _uid(job)
                    if item.payload.type == "DELETED":
                        last = current.pop(job.uid, None)
                        changed = last is not None or changed
                        if self.job_list.history:
                            # The history keeps it: it stays listed, as the past job it now is.
                            self.job_list.add_past(as_removed(job, last))
                    elif current.get(job.uid) != job:
                        current[job.uid] = job
                        changed = True
                elif item.kind == BACKENDS:
                    self.banner.backends = tuple(item.payload)
                    self.job_list.backends = tuple(item.payload)
                    self.pages.set_backends(tuple(item.payload))
                elif item.kind == PROBLEMS:
                    self.banner.problems = tuple(item.payload)
                elif item.kind == OUTAGE:
                    self.banner.outage = str(item.payload)
                elif item.kind == RECOVERED:
                    self.banner.outage = ""
                elif item.kind == PROGRESS:
                    self._apply_progress(item.payload, current)
            if changed:
                self.jobs = tuple(current.values())

    def upsert(self, job: Job) -> None:
        """Show a job the panel itself just created or deleted, before the feed says so."""
        job.uid = _uid(job)
        rest = tuple(j for j in self.jobs if j.uid != job.uid)
        self.jobs = (*rest, job)

    # ------------------------------------------------------------------ rules and reactions
    @validate("error")
    def _valid_error(self, proposal: dict[str, Any]) -> str:
        """At most MAX_ERROR_CHARS characters, so one huge message cannot swamp the panel."""
        text = str(proposal["value"])
        return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"

    @observe("jobs")
    @guarded
    def _on_jobs(self, change: dict[str, Any]) -> None:
        self.job_list.jobs = self.jobs
        self.pages.set_jobs(self.jobs)
        # Progress is read only while a running job is listed (feed.py).
        self.feed.want_progress(any(j.phase == Phase.RUNNING for j in self.jobs))
        if self.deleting:
            self._announce_deleted()

    @observe("selected")
    @guarded
    def _on_selected(self, change: dict[str, Any]) -> None:
        self.job_list.selected = self.selected
        if self.selected or self._selection is not None:
            self.confirm_box.layout.display = "none"
        self._update_actions()

    @observe("error")
    @guarded
    def _on_error(self, change: dict[str, Any]) -> None:
        if not self.error and self._lines is None:
            return
        lines = self._message_lines()
        lines.error_text.value = f"<span class='dtrain-error'>{esc(self.error)}</span>" if self.error else ""
        lines.error_box.layout.display = "" if self.error else "none"

    @observe("info", "info_html")
    @guarded
    def _on_info(self, change: dict[str, Any]) -> None:
        if change["name"] == "info":
            self._info_at = time.monotonic()  # each new line gets its full info_seconds
            if self.info:
                self.info_html = ""  # a newer plain line replaces a lasting one
        if not (self.info_html or self.info) and self._lines is None:
            return
        lines = self._message_lines()
        lines.info_line.value = self.info_html or esc(self.info)
        lines.info_line.layout.display = "" if self.info_html or self.info else "none"

    @observe("busy")
    @guarded
    def _on_busy(self, change: dict[str, Any]) -> None:
        # BUSY goes on before the buttons are disabled and off after they are enabled again:
        # keyboard.ts gives focus back to a button disabled under it only once the panel is
        # no longer busy, and the button must be enabled by then.
        if self.busy:
            self.add_class(BUSY)
        for button in (self.delete_button, self.refresh_button):
            button.disabled = self.busy
        if self._selection is not None:
            confirmation, actions = self._selection
            confirmation.yes.disabled = self.busy
            actions.set_busy(self.busy)
        if not self.busy:
            self.remove_class(BUSY)

    @guarded
    def _on_tab(self, change: dict[str, Any]) -> None:
        if change["new"] is not None:
            self.pages.open(TABS[change["new"]])
            if TABS[change["new"]] == "Metrics":
                self.metrics_page.get()

    # ------------------------------------------------------------------ handlers
    @guarded
    def _on_list_selected(self, change: dict[str, Any]) -> None:
        self.selected = tuple(change["new"])

    @guarded
    def _on_list_jobs(self, change: dict[str, Any]) -> None:
        # A ticked live job that became a past one: Forget now, Suspend no more.
        self._update_actions()

    @guarded
    def _on_dismiss(self, _button: widgets.Button) -> None:
        self.error = ""

    @guarded
    def _on_refresh(self, _button: widgets.Button) -> None:
        self.busy = True
        try:
            self.apply([FeedItem(BACKENDS, list(self.client.backends())),
                        FeedItem(SNAPSHOT, list(self.client.list(all_namespaces=True))),
                        FeedItem(RECOVERED)])
        finally:
            self.busy = False
        self.job_list.reload_past()
        self.job_list.sync_past()
        self.error = ""

    @guarded
    def _on_new(self, _button: widgets.Button) -> None:
        self.rerun_of = None  # a new job, not a re-run
        self.tabs.selected_index = TABS.index("New")

    @guarded
    def _on_delete(self, _button: widgets.Button) -> None:
        targets = self._selected_jobs()
        past = [j for j in targets if j.removed]
        if past:
            names = ", ".join(job_ref(j) for j in past)
            self.say(FLOW_DELETE, error=f"Already removed from the cluster: {names}. Forget removes a past job's "
                                        "record from the job history.")
            return
        if not targets:
            self.say(FLOW_DELETE, error="Tick the jobs to delete first.")
            return
        # Each job with what goes with it: a person must know the output files go too (issue 17).
        items = "".join(f"<li><b>{esc(job_ref(j))}</b>: {esc(deletion_words(j))}</li>" for j in targets)
        self.ask("delete", f"<b>Delete {len(targets)} job{'s' if len(targets) > 1 else ''}?</b>"
                           f"<ul>{items}</ul>Running replicas are stopped first. This cannot be undone.",
                 "Yes, delete")

    def ask(self, what: str, html: str, yes: str) -> None:
        """Show the confirmation for `what` ("delete", "forget"): its words (HTML, escaped by the
        caller) and its Yes button's label; Yes runs that flow, Cancel hides it."""
        self._confirming = what
        self.confirm_text.value = html
        self.confirm_yes.description = yes
        self.confirm_box.layout.display = ""
        # Focus into the confirmation, so Enter confirms and Escape (keyboard.ts) cancels. The
        # front end applies the kernel's messages in order: the box shows before the button
        # is focused.
        self.confirm_yes.focus()

    @guarded
    def _on_cancel(self, _button: widgets.Button) -> None:
        self.confirm_box.layout.display = "none"
        self.delete_button.focus()  # back where the person left for the confirmation

    @guarded
    def _on_confirm(self, _button: widgets.Button) -> None:
        self.confirm_box.layout.display = "none"
        if self._confirming == "forget":
            self.busy = True
            try:
                self.actions.forget([j for j in self._selected_jobs() if j.removed])
            finally:
                self.busy = False
            self.selected = ()
            return
        failures: list[str] = []
        deleted: list[tuple[str, str]] = []
        self.busy = True
        try:
            for job in self._selected_jobs():
                try:
                    gone = self.client.delete(job.name, kind=job.kind, namespace=job.namespace, backend=job.backend)
                except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
                    failures.append(f"{job_ref(job)}: {describe_error(exc)}")
                    continue
                deleted.append((job.uid, job_ref(job)))
                if isinstance(gone, Job) and gone.uid == job.uid:
                    self.upsert(gone)
        finally:
            self.busy = False
        # Enabled again by now (the messages arrive in order), Delete takes the focus back.
        self.delete_button.focus()
        self.selected = ()
        # A newer delete's line replaces the older one's, so only its jobs are waited for.
        self.deleting = tuple(deleted)
        self.say(FLOW_DELETE, info=f"Deleting {', '.join(ref for _uid, ref in deleted)}" if deleted else "",
                 error="Could not delete:\n" + "\n".join(failures) if failures else "")

    @guarded
    def open_log(self, backend: str, namespace: str, kind: str, name: str) -> None:
        """Show one job's log on the Log page: what a JupyterLab notification's "Open logs" runs.

        The job is the listed one when the panel has it, else asked of the server (a job the
        history keeps too); a job neither knows is said on the error line.
        """
        key = (backend, namespace, kind, name)
        known = [j for j in (*self.jobs, *self.job_list.everything().values()) if j.key == key]
        job = known[0] if known else self.client.get(name, kind=kind, namespace=namespace, backend=backend)
        self._on_row_action("log", job, None)

    def _on_row_action(self, action: str, job: Job, pod: str | None) -> None:
        # Called from a row's guarded handler, so a failure here already reaches the error line.
        if action == "log":
            self.tabs.selected_index = TABS.index("Log")
            self.pages.log_view.show(job, pod)
        elif action == "output":
            self.tabs.selected_index = TABS.index("Output")
            self.pages.output_view.show(job)
        elif action == "metrics":
            self.show_metrics([job])

    def _on_created(self, job: Job) -> None:
        self.upsert(job)
        if self.rerun_of is not None:
            # The wizard was filled for Edit and re-run (job_actions.py): it re-ran that job.
            old, self.rerun_of = self.rerun_of, None
            self.selected = (_uid(job),)
            self.say(FLOW_RERUN, info=f"Re-run of {job_ref(old)} created as {job.name}")
        else:
            self.say(FLOW_CREATE, info=f"Created {job_ref(job)}")
        self.tabs.selected_index = TABS.index("Jobs")

    # ------------------------------------------------------------------ metrics
    def show_metrics(self, jobs: list[Job]) -> None:
        """Open the Metrics tab on one job's charts, or on several jobs compared."""
        self.tabs.selected_index = TABS.index("Metrics")
        self.metrics_page.get().show(jobs)

    def _build_metrics_page(self) -> Any:
        from .compare import MetricsTab

        page = MetricsTab(self.client)
        page.on_error = self.report_error
        # The job's Metrics view opens TensorBoard as the toolbar's button does (its flow and
        # its busy state; TensorBoardAction.show is guarded and says a failure on the error line).
        page.single.on_tensorboard = lambda job: self.actions.tensorboard.show([job])
        return page

    def _flush_metrics(self) -> None:
        if self.metrics_page.part is not None:
            self.metrics_page.part.flush()

    def _apply_progress(self, progress: list[Any], jobs: dict[str, Job]) -> None:
        # Matched by where the job is and its name: a uid the backend could not give is ours (_uid).
        by_ref = {(j.backend, j.namespace, j.kind, j.name): uid for uid, j in jobs.items()}
        found = {}
        for p in progress:
            uid = by_ref.get((p.backend, p.namespace, p.kind, p.name))
            if uid is not None:
                found[uid] = p
        if found != self.job_list.progress:
            self.job_list.progress = found

    # ------------------------------------------------------------------ parts built when first needed
    # The message lines, the delete confirmation and the actions on ticked jobs are hidden until
    # used. Each widget is a model the kernel opens and the browser builds before the panel
    # first shows (issue 18: the cold click), so they are built when first needed: the lines on
    # the first error or success line, the rest on the first tick (Delete and the actions act
    # on ticked jobs only). Reading one of these attributes builds its part, hidden. Each part
    # goes into a slot of its own (PanelLook.slot), so no view already drawn is drawn again (the
    # job list's, which may hold the focus, above all).
    @property
    def error_box(self) -> widgets.HBox:
        """The error line: the error and its Dismiss button."""
        return self._message_lines().error_box

    @property
    def dismiss(self) -> widgets.Button:
        return self._message_lines().dismiss

    @property
    def info_line(self) -> widgets.HTML:
        """The success line."""
        return self._message_lines().info_line

    @property
    def confirm_box(self) -> widgets.VBox:
        """The confirmation of a delete or a forget: its words, Yes and Cancel."""
        return self._selection_parts()[0].box

    @property
    def confirm_text(self) -> widgets.HTML:
        return self._selection_parts()[0].text

    @property
    def confirm_yes(self) -> widgets.Button:
        return self._selection_parts()[0].yes

    @property
    def confirm_no(self) -> widgets.Button:
        return self._selection_parts()[0].no

    @property
    def actions(self) -> JobActions:
        """The toolbar's buttons for the ticked jobs (Re-run, Forget, ...)."""
        return self._selection_parts()[1]

    def _message_lines(self) -> "_MessageLines":
        if self._lines is None:
            self._lines = _MessageLines(self._look)
            self._lines.dismiss.on_click(self._on_dismiss)
            # Under the banner, above the tabs, as a person reads the panel from its top.
            self._lines_slot.children = (self._lines.error_box, self._lines.info_line)
        return self._lines

    def _selection_parts(self) -> "tuple[_Confirmation, JobActions]":
        """The confirmation and the actions, placed in the Jobs page: built on the first tick,
        before the person can ask for them, so a confirmation's focus finds its view drawn."""
        if self._selection is None:
            confirmation = _Confirmation(self._look)
            confirmation.yes.on_click(self._on_confirm)
            confirmation.no.on_click(self._on_cancel)
            confirmation.yes.disabled = self.busy
            actions = JobActions(self, self._look.button)
            actions.set_busy(self.busy)
            self._selection = (confirmation, actions)
            self._actions_slot.children = actions.buttons
            self._selection_slot.children = (confirmation.box, actions.editor_box)
        return self._selection

    # ------------------------------------------------------------------ helpers
    def show_tab(self, title: str) -> None:
        """Bring the tab titled `title` (one of TABS) to the front."""
        self.tabs.selected_index = TABS.index(title)

    def ticked_jobs(self) -> list[Job]:
        """The ticked jobs, live and past, in the order they were ticked."""
        return self._selected_jobs()

    def _selected_jobs(self) -> list[Job]:
        by_uid = self.job_list.everything()
        by_uid.update((j.uid, j) for j in self.jobs)
        return [by_uid[uid] for uid in self.selected if uid in by_uid]

    def _update_actions(self) -> None:
        if self.selected or self._selection is not None:
            self.actions.update(self._selected_jobs(), self.job_list.backends)

    def _refresh_ages(self) -> None:
        now = time.monotonic()
        if now - self._last_age_refresh < AGE_REFRESH_S:
            return
        self._last_age_refresh = now
        for uid in self.job_list.visible:
            row = self.job_list.rows.get(uid)
            if row is not None:
                row.refresh_ages()

    def _announce_deleted(self) -> None:
        """Once every job of the last delete has left the list, "Deleting X" becomes "Deleted X"."""
        listed = {j.uid for j in self.jobs}
        if any(uid in listed for uid, _ref in self.deleting):
            return
        refs = ", ".join(ref for _uid, ref in self.deleting)
        self.deleting = ()
        old_info, old_error = self._said.get(FLOW_DELETE, ("", ""))
        # Only the line that still says "Deleting" turns; a newer line (another flow's, or
        # "Tick the jobs") is not replaced by old news. A failure of the same delete stays.
        if old_info and self.info == old_info:
            self.info = f"Deleted {refs}"
            self._said[FLOW_DELETE] = (self.info, old_error)

    def _expire_info(self) -> None:
        if not self.info or time.monotonic() - self._info_at < self.info_seconds:
            return
        # "Deleting X" is news until X has left the list; then "Deleted X" gets its own time.
        if self.deleting and self.info == self._said.get(FLOW_DELETE, ("", ""))[0]:
            return
        self.info = ""


class _MessageLines:
    """The error line (its text and Dismiss) and the success line, both hidden at first."""

    def __init__(self, look: PanelLook) -> None:
        self.error_text = widgets.HTML("", layout=look.full, style=look.html, _dom_classes=("dtrain-error",))
        self.dismiss = widgets.Button(description="Dismiss", style=look.button, _dom_classes=("dtrain-dismiss",),
                                      layout=widgets.Layout(width="auto", min_width="80px", flex="0 0 auto"))
        self.error_box = widgets.HBox([self.error_text, self.dismiss], _dom_classes=("dtrain-error-line",),
                                      layout=widgets.Layout(display="none", width="100%"))
        self.info_line = widgets.HTML("", layout=widgets.Layout(display="none"), style=look.html,
                                      _dom_classes=("dtrain-info",))


class _Confirmation:
    """The confirmation box: its words, Yes (labelled by what it confirms) and Cancel; hidden at first."""

    def __init__(self, look: PanelLook) -> None:
        self.text = widgets.HTML("", layout=look.full, style=look.html)
        self.yes = widgets.Button(description="Yes, delete", button_style="danger", layout=look.auto,
                                  style=look.button, _dom_classes=("dtrain-confirm-yes",))
        self.no = widgets.Button(description="Cancel", layout=look.auto, style=look.button,
                                 _dom_classes=("dtrain-confirm-no",))
        self.box = widgets.VBox([self.text, widgets.HBox([self.yes, self.no], layout=look.wrap)],
                                layout=widgets.Layout(display="none"), _dom_classes=("dtrain-confirm",))
