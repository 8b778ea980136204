"""How jobs, job lists, pods, events and outputs look: plain text for terminals, HTML for notebooks.

The client returns the classes below (subclasses of the model types and of `list`), so a result
shows itself in a notebook (`_repr_html_`) and reads well in a terminal (`__repr__`, `text()`).
Every string that comes from a job, a pod or a person is escaped with `esc`; templates are small
f-strings, one per shape.

The words and colours every face shares live here once: `esc`, `age` and `span`, and the phase
colours (`PHASE_COLOURS`), which the panel's CSS (`ui/styles.py`) uses as well as `badge`.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from .code.origin import code_origin, describe
from .model.job import Event, Job, OutputFile, Pod
from .model.status import Phase

_TABLE = ("<table class='dtrain-table' style='border-collapse:collapse;font-size:90%'>"
          "<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
_CELL = "<td style='padding:2px 8px;text-align:left'>{}</td>"
_HEAD = "<th style='padding:2px 8px;text-align:left'>{}</th>"
# What a terminal table shows for a time it does not know (a cell left empty would shift the eye).
NO_TIME = "-"


def esc(value: Any) -> str:
    """HTML-escape any value, quotes too (None -> ""), so no job name, reason or log line is markup."""
    return html.escape("" if value is None else str(value), quote=True)


# -- colours ----------------------------------------------------------------------------------


def readable(colour: str, share: int) -> str:
    """`colour` mixed with the theme's strongest text colour (`share` percent of `colour`).

    --jp-ui-font-color0 is black in light themes and white in dark ones, so the mix darkens a
    colour in one and lightens it in the other: it reads better on the page's background in
    both and keeps its hue. Outside JupyterLab (a notebook in another front end) the mix goes
    toward the text colour around it, which is likewise the one that reads on that background.
    """
    return f"color-mix(in srgb, {colour} {share}%, var(--jp-ui-font-color0, currentColor))"


# JupyterLab's state colours are made for fills and borders: as text, light's orange reads at
# 2.7:1 on white and its green at 4.1:1, under WCAG's 4.5:1 (an axe-core audit found them).
# Mixed 55:45, every phase reads at 7:1 or more on the panel's background and 4.7:1 or more on
# a hovered or ticked row (--jp-layout-color2), in the light and the dark theme.
STATE_SHARE = 55
# Secondary text (--jp-ui-font-color2) reads at 4.6:1 on white but 4.46:1 on --jp-layout-color2
# in light and 4.2:1 in dark, where the panel puts it on hovered rows, notices and the log. An
# 80:20 mix keeps it quieter than body text and over 5:1 on both backgrounds in both themes.
MUTED = readable("var(--jp-ui-font-color2, #757575)", 80)

# Phase (of a job, or of a pod) -> text colour, from JupyterLab's four "state" palettes, which
# both its themes define; each fallback is the light theme's value, for a front end without them.
PHASE_COLOURS: dict[str, str] = {
    Phase.PENDING.value: readable("var(--jp-warn-color1, #f57c00)", STATE_SHARE),
    Phase.RUNNING.value: readable("var(--jp-brand-color1, #1976d2)", STATE_SHARE),
    Phase.RESTARTING.value: readable("var(--jp-warn-color0, #e65100)", STATE_SHARE),
    Phase.SUCCEEDED.value: readable("var(--jp-success-color1, #388e3c)", STATE_SHARE),
    Phase.FAILED.value: readable("var(--jp-error-color1, #d32f2f)", STATE_SHARE),
    Phase.SUSPENDED.value: MUTED,
    Phase.DELETING.value: MUTED,
    Phase.DELETED.value: MUTED,
    Phase.UNKNOWN.value: MUTED,
}


def badge(phase: Any) -> str:
    """A phase as coloured bold words (`PHASE_COLOURS`; an unknown word gets Unknown's colour)."""
    word = str(phase or Phase.UNKNOWN.value)
    colour = PHASE_COLOURS.get(word, PHASE_COLOURS[Phase.UNKNOWN.value])
    return f"<span style='color:{colour};font-weight:600'>{esc(word)}</span>"


# -- times ------------------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp as the backends write it, or None when absent or unreadable."""
    if not value:
        return None
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def span(seconds: float | None) -> str:
    """A short human span like kubectl prints: 42s, 5m10s, 3h4m, 2d5h; "" when unknown."""
    if seconds is None:
        return ""
    secs = max(0, int(seconds))
    if secs < 60:
        return f"{secs}s"
    minutes, secs = divmod(secs, 60)
    if minutes < 60:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def age(stamp: str | None, now: datetime | None = None) -> str:
    """How long ago an RFC 3339 timestamp was, as `span` says it; "" when absent or unreadable."""
    then = parse_time(stamp)
    if then is None:
        return ""
    return span(((now or datetime.now(timezone.utc)) - then).total_seconds())


def text_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, kubectl style."""
    body = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in body) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body)


def html_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells are HTML already (escape before); headers are escaped here."""
    head = "".join(_HEAD.format(esc(h)) for h in headers)
    body = "".join("<tr>" + "".join(_CELL.format(c) for c in r) + "</tr>" for r in rows)
    return _TABLE.format(head=head, rows=body)


def replicas_text(job: Job) -> str:
    """`Master 1/1, Worker 1/2` (active+succeeded over wanted)."""
    parts = []
    for rtype, c in job.status.replicas.items():
        parts.append(f"{rtype} {c.active + c.succeeded}/{c.replicas}" + (f" ({c.failed} failed)" if c.failed else ""))
    return ", ".join(parts)


# -- jobs -----------------------------------------------------------------------------------

JOB_COLUMNS = ("NAME", "KIND", "BACKEND", "NAMESPACE", "PHASE", "AGE")
WIDE_COLUMNS = JOB_COLUMNS + ("CONTEXT", "REPLICAS", "REASON")


def job_row(job: Job, wide: bool = False) -> list[str]:
    row = [job.name, job.kind, job.backend, job.namespace, str(job.phase), age(job.created) or NO_TIME]
    if wide:
        row += [job.context or "-", replicas_text(job) or "-", job.status.reason or job.error or ""]
    return row


class RichJob(Job):
    """A Job that renders itself: `<PyTorchJob name Running>` and an HTML card."""

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name} {self.phase}{', removed' if self.removed else ''}>"

    def removed_text(self) -> str:
        """"removed from the cluster ... ago: from the job history", or "" for a job on its cluster."""
        if not self.removed:
            return ""
        since = age(self.removed)
        return (f"removed from the cluster at {self.removed}" + (f" ({since} ago)" if since else "")
                + "; this is its record in the job history")

    def text(self) -> str:
        since = age(self.created)
        lines = [f"{self.kind}/{self.name}  {self.phase}" + ("  (removed)" if self.removed else ""),
                 f"  backend:   {self.backend}" + (f" (context {self.context})" if self.context else ""),
                 f"  namespace: {self.namespace}",
                 f"  created:   {self.created or NO_TIME}" + (f" ({since} ago)" if since else "")]
        if self.status.reason or self.status.message:
            lines.append(f"  reason:    {self.status.reason}: {self.status.message}".rstrip(": "))
        if self.status.replicas:
            lines.append(f"  replicas:  {replicas_text(self)}")
        if origin := code_origin(self):
            lines.append(f"  code:      {describe(origin)}")
        lines += [f"  note:      {n}" for n in self.notes]
        if self.error:
            lines.append(f"  error:     {self.error}")
        if self.removed:
            lines.append(f"  removed:   {self.removed_text()}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        facts = [("backend", self.backend + (f" ({self.context})" if self.context else "")),
                 ("namespace", self.namespace), ("created", self.created or "-"),
                 ("reason", " ".join(x for x in (self.status.reason, self.status.message) if x)),
                 ("replicas", replicas_text(self))]
        origin = code_origin(self)
        facts += [("code", describe(origin) if origin else "")]
        facts += [("note", n) for n in self.notes] + ([("error", self.error)] if self.error else [])
        facts += [("removed", self.removed_text())]
        rows = "".join(f"<tr><th style='text-align:left;padding-right:8px'>{esc(k)}</th><td>{esc(v)}</td></tr>"
                       for k, v in facts if v)
        return (f"<div class='dtrain-job'><b>{esc(self.kind)}</b> <code>{esc(self.name)}</code> "
                f"{badge(self.phase)}<table>{rows}</table></div>")

    def show(self, client: Any = None, tail: int = 30) -> None:
        """Put this job's run details in the notebook cell: status, each pod's state, the last
        `tail` log lines and the metric charts, updating while the job runs and kept as the
        run's record once it ends.

        Args:
            client: the `Client` to read with; a new `Client()` (the server of this notebook)
                when None.
            tail: how many of the last log lines to show.
        """
        # Imported here: the terminal and the client never load the widget libraries.
        from IPython.display import display

        from .ui.run_details import show_run

        display(show_run(self, client, tail))

    @classmethod
    def of(cls, job: Job) -> "RichJob":
        """`job` as a RichJob: itself when it is one, else a shallow copy (its fields are shared)."""
        if isinstance(job, cls):
            return job
        rich = object.__new__(cls)
        rich.__dict__.update(job.__dict__)
        return rich


class JobList(list):
    """A list of RichJob that renders as a table."""

    def __repr__(self) -> str:
        return self.text() if self else "No jobs."

    def text(self, wide: bool = False) -> str:
        if not self:
            return "No jobs."
        return text_table(WIDE_COLUMNS if wide else JOB_COLUMNS, (job_row(j, wide) for j in self))

    def _repr_html_(self) -> str:
        if not self:
            return "<i>No jobs.</i>"
        rows = []
        for j in self:
            cells = [esc(c) for c in job_row(j, wide=True)]
            cells[4] = badge(j.phase)
            rows.append(cells)
        return html_table(WIDE_COLUMNS, rows)


# -- pods, events, outputs --------------------------------------------------------------------

POD_COLUMNS = ("NAME", "ROLE", "PHASE", "RESTARTS", "REASON", "NODE")


def _pod_row(p: Pod) -> list[str]:
    role = p.replica_type + (f"-{p.replica_index}" if p.replica_index is not None else "")
    return [p.name, role, p.phase, str(p.restarts), p.reason if p.reason != p.phase else "", p.node or ""]


class PodList(list):
    """The replicas of a job, as a table."""

    def __repr__(self) -> str:
        return self.text()

    def text(self) -> str:
        return text_table(POD_COLUMNS, (_pod_row(p) for p in self)) if self else "No pods."

    def _repr_html_(self) -> str:
        if not self:
            return "<i>No pods.</i>"
        rows = []
        for p in self:
            cells = [esc(c) for c in _pod_row(p)]
            cells[2] = badge(p.phase)
            rows.append(cells)
        return html_table(POD_COLUMNS, rows)


EVENT_COLUMNS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")


def _event_row(ev: Event) -> list[str]:
    return [age(ev.last_time or ev.first_time) or NO_TIME, ev.type, ev.reason, f"{ev.object_kind}/{ev.object_name}",
            ev.message]


class EventList(list):
    """Events of a job and its pods, oldest first."""

    def __repr__(self) -> str:
        return self.text()

    def text(self) -> str:
        return text_table(EVENT_COLUMNS, (_event_row(x) for x in self)) if self else "No events."

    def _repr_html_(self) -> str:
        if not self:
            return "<i>No events.</i>"
        return html_table(EVENT_COLUMNS, ([esc(c) for c in _event_row(x)] for x in self))


OUTPUT_COLUMNS = ("PATH", "SIZE", "MODIFIED")


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


class OutputList(list):
    """Files a job wrote."""

    def __repr__(self) -> str:
        return self.text()

    def text(self) -> str:
        if not self:
            return "No output files."
        return text_table(OUTPUT_COLUMNS, ([f.path, _size(f.size), f.mtime] for f in self))

    def _repr_html_(self) -> str:
        if not self:
            return "<i>No output files.</i>"
        return html_table(OUTPUT_COLUMNS, ([esc(f.path), esc(_size(f.size)), esc(f.mtime)] for f in self))


def jobs(items: Iterable[Job]) -> JobList:
    return JobList(RichJob.of(j) for j in items)


def pods(items: Iterable[Pod]) -> PodList:
    return PodList(items)


def events(items: Iterable[Event]) -> EventList:
    return EventList(items)


def outputs(items: Iterable[OutputFile]) -> OutputList:
    return OutputList(items)
