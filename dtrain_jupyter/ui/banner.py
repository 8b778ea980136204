"""The panel's header line of where it points (backend, cluster) and the one outage banner.

The backends' `describe()` says where each backend points and whether it is ready; the feed
says when the server cannot be reached. Both end up here, so a person sees one line of "where"
and at most one banner of "what is wrong", which disappears by itself when things recover.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from traitlets import Tuple, Unicode, observe

from .callbacks import ErrorForwarder, guarded
from .words import esc


class Banner(widgets.VBox, ErrorForwarder):
    """Shows `backends` as a "talking to" line and `outage` as a red banner when it is set."""

    backends = Tuple(help="describe() of each backend: dicts with backend, context, namespace, ready, message")
    outage = Unicode("", help="Why the server cannot be reached now; empty when all is well")
    problems = Tuple(help="Backends that could not list their jobs at the last full reload, in words")
    history_problem = Unicode("", help="Why the server stopped archiving logs (a full disk); empty while it archives")

    def __init__(self, **kwargs: Any) -> None:
        self.where = widgets.HTML("", layout=widgets.Layout(width="100%"))
        self.where.add_class("dtrain-muted")
        self.alert = widgets.HTML("", layout=widgets.Layout(display="none", width="100%"))
        self.alert.add_class("dtrain-banner")
        super().__init__(children=(self.where, self.alert), **kwargs)
        self.add_class("dtrain-banner-box")
        self._render()

    @observe("backends", "outage", "problems", "history_problem")
    @guarded
    def _on_change(self, change: dict[str, Any]) -> None:
        self._render()

    def _render(self) -> None:
        parts = []
        problems = []
        for info in self.backends:
            name = esc(info.get("backend", "?"))
            context = info.get("context") or ""
            namespace = info.get("namespace") or ""
            detail = " · ".join(esc(x) for x in (context, namespace) if x)
            state = "" if info.get("ready", True) else " <b>(not ready)</b>"
            parts.append(f"<b>{name}</b>{' — ' + detail if detail else ''}{state}")
            if not info.get("ready", True):
                problems.append(f"{info.get('backend', '?')}: {info.get('message') or 'not ready'}")
        self.where.value = ("Talking to " + "; ".join(parts)) if parts else "Connecting to the dtrain server…"
        # One banner: the server outage hides everything else; otherwise each backend once.
        for problem in self.problems:
            if not any(problem.startswith(p.split(":")[0] + ":") for p in problems):
                problems.append(problem)
        message = self.outage or "; ".join(problems)
        # The history's trouble does not mend by itself (it needs room on the disk): no "retrying".
        history = "" if self.outage or not self.history_problem else (
            f"⚠ Job history: {esc(self.history_problem)}. Running jobs are not affected.")
        with self.hold_sync():
            if message or history:
                retrying = f"⚠ {esc(message)} <i>(retrying by itself)</i>" if message else ""
                self.alert.value = "<br>".join(x for x in (retrying, history) if x)
                self.alert.layout.display = ""
            else:
                self.alert.value = ""
                self.alert.layout.display = "none"

    @property
    def showing(self) -> str:
        """The banner text now shown, "" when hidden (what a test or a person reads)."""
        return self.alert.value if self.alert.layout.display != "none" else ""
