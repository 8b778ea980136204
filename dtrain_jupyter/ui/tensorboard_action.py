"""The Jobs toolbar's TensorBoard button: this server's TensorBoard over the ticked jobs' outputs.

A click asks the server to run its one TensorBoard over the ticked live jobs' output folders
(`Client.open_tensorboard`; a past job keeps no output files, so it is left out, and said), then
the panel's info line shows a link to it, which stays until a newer line replaces it. The link's
href is the URL's path only: the kernel may reach the server by another host name than the
browser page does (a proxy, 127.0.0.1), and the browser resolves a path against the page it
shows and sends that page's login with it.

The link has the class `dtrain-open-tensorboard` and a `data-dtrain-autoopen` token that is new
at each click. With dtrain's JupyterLab extension (labextension/src/tensorboard.ts) it opens at
once in the one "TensorBoard" tab, reloaded for another set of jobs. Without it (Notebook 7,
VS Code) it is an ordinary link to a new browser tab, for the person to click: a page may not
open a tab for a click it only hears of from the kernel (browsers block such popups).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Sequence
from urllib.parse import urlsplit, urlunsplit

import ipywidgets as widgets

from ..model.job import Job
from .callbacks import guarded
from .words import esc, job_ref

if TYPE_CHECKING:
    from .app import DTrainApp

FLOW_TENSORBOARD = "tensorboard"
# What the labextension's tensorboard.ts looks for, inside a `.dtrain-panel`.
LINK_CLASS = "dtrain-open-tensorboard"
NO_LIVE_JOB = ("Tick jobs still on their cluster: a past job's output folder is not kept, so TensorBoard has "
               "nothing of it to read.")


def url_path(url: str) -> str:
    """The path and query of `url`, without scheme and host: what a link in the browser's page needs."""
    parts = urlsplit(url)
    return urlunsplit(("", "", parts.path or "/", parts.query, ""))


def link_html(path: str, words: str, token: str) -> str:
    """The info line with its link: `words`, then "Open TensorBoard" pointing at `path`."""
    return (f'{esc(words)}: <a class="{LINK_CLASS}" href="{esc(path)}" target="_blank" rel="noopener" '
            f'data-dtrain-title="TensorBoard" data-dtrain-autoopen="{esc(token)}">Open TensorBoard</a>')


class TensorBoardAction:
    """The TensorBoard button of one panel and its flow.

    Args:
        panel: the `DTrainApp` whose ticked jobs it opens and whose lines it speaks in.
        button: the toolbar button (job_actions.py makes it in the toolbar's look).
    """

    def __init__(self, panel: "DTrainApp", button: widgets.Button) -> None:
        self.panel = panel
        self.button = button
        button.on_click(self._on_click)

    @staticmethod
    def can_open(jobs: Sequence[Job]) -> bool:
        """Whether the button is offered: some ticked job is still on its cluster."""
        return any(not j.removed for j in jobs)

    def report_error(self, exc: BaseException) -> None:
        self.panel.report_error(exc, FLOW_TENSORBOARD)

    def open(self, jobs: Sequence[Job]) -> str | None:
        """Run TensorBoard over the live ones of `jobs` and show the link; returns its path (None
        when no job was live). Raises what `Client.open_tensorboard` raises (a job without event
        files: NotFound, whose words name the job and where the files go)."""
        live = [j for j in jobs if not j.removed]
        if not live:
            self.panel.say(FLOW_TENSORBOARD, error=NO_LIVE_JOB)
            return None
        path = url_path(self.panel.client.open_tensorboard(live))
        words = f"TensorBoard over {', '.join(j.name for j in live)}"
        past = [job_ref(j) for j in jobs if j.removed]
        if past:
            words += f" (left out, as past jobs keep no output files: {', '.join(past)})"
        # A lasting line: without dtrain's JupyterLab extension the person clicks the link, so it
        # must not clear itself; the new token makes each click's link new to the browser.
        self.panel.say(FLOW_TENSORBOARD, info_html=link_html(path, words, uuid.uuid4().hex))
        return path

    @guarded
    def show(self, jobs: Sequence[Job]) -> None:
        """Open TensorBoard over `jobs` as a click does: the panel busy meanwhile, a failure said
        on the error line. The toolbar button and a job's Metrics view both come here."""
        self.panel.busy = True  # TensorBoard may take seconds to start
        try:
            self.open(jobs)
        finally:
            self.panel.busy = False

    def _on_click(self, _button: widgets.Button) -> None:
        self.show(self.panel.ticked_jobs())
