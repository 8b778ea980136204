"""How jobs, job lists, pods, events and outputs look: plain text for terminals, HTML for notebooks.

The client returns the classes below (subclasses of the model types and of `list`), so a result
shows itself in a notebook (`_repr_html_`) and reads well in a terminal (`__repr__`, `text()`).
Every string that comes from a job, a pod or a person is escaped with `html.escape`; templates
are small f-strings, one per shape.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from .model.job import Event, Job, OutputFile, Pod

# Status colours, one per phase (and pod phase); unknown words stay grey.
COLOURS = {
    "Pending": "#b58900", "Running": "#268bd2", "Restarting": "#cb4b16", "Succeeded": "#2e8b57",
    "Failed": "#dc322f", "Suspended": "#6c71c4", "Deleting": "#93a1a1", "Unknown": "#93a1a1",
}
_TABLE = ("<table class='dtrain-table' style='border-collapse:collapse;font-size:90%'>"
          "<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
_CELL = "<td style='padding:2px 8px;text-align:left'>{}</td>"
_HEAD = "<th style='padding:2px 8px;text-align:left'>{}</th>"


def e(value: Any) -> str:
    """Escape anything for HTML (None -> empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def badge(phase: Any) -> str:
    word = str(phase or "Unknown")
    colour = COLOURS.get(word, "#93a1a1")
    return (f"<span style='background:{colour};color:white;border-radius:3px;padding:0 6px'>"
            f"{e(word)}</span>")


def age(stamp: str | None, now: datetime | None = None) -> str:
    """`2026-01-01T00:00:00Z` -> `5m`, kubectl style; unparsable or empty -> `?`/`-`."""
    if not stamp:
        return "-"
    try:
        then = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return "?"
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    seconds = int(((now or datetime.now(timezone.utc)) - then).total_seconds())
    if seconds < 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def text_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, kubectl style."""
    body = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in body) for i in range(len(headers))]
    return "\n".join("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in body)


def html_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells are HTML already (escape before); headers are escaped here."""
    head = "".join(_HEAD.format(e(h)) for h in headers)
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
    row = [job.name, job.kind, job.backend, job.namespace, str(job.phase), age(job.created)]
    if wide:
        row += [job.context or "-", replicas_text(job) or "-", job.status.reason or job.error or ""]
    return row


class RichJob(Job):
    """A Job that renders itself: `<PyTorchJob name Running>` and an HTML card."""

    def __repr__(self) -> str:
        return f"<{self.kind} {self.name} {self.phase}>"

    def text(self) -> str:
        lines = [f"{self.kind}/{self.name}  {self.phase}",
                 f"  backend:   {self.backend}" + (f" (context {self.context})" if self.context else ""),
                 f"  namespace: {self.namespace}", f"  created:   {self.created or '-'} ({age(self.created)} ago)"]
        if self.status.reason or self.status.message:
            lines.append(f"  reason:    {self.status.reason}: {self.status.message}".rstrip(": "))
        if self.status.replicas:
            lines.append(f"  replicas:  {replicas_text(self)}")
        lines += [f"  note:      {n}" for n in self.notes]
        if self.error:
            lines.append(f"  error:     {self.error}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        facts = [("backend", self.backend + (f" ({self.context})" if self.context else "")),
                 ("namespace", self.namespace), ("created", self.created or "-"),
                 ("reason", " ".join(x for x in (self.status.reason, self.status.message) if x)),
                 ("replicas", replicas_text(self))]
        facts += [("note", n) for n in self.notes] + ([("error", self.error)] if self.error else [])
        rows = "".join(f"<tr><th style='text-align:left;padding-right:8px'>{e(k)}</th><td>{e(v)}</td></tr>"
                       for k, v in facts if v)
        return (f"<div class='dtrain-job'><b>{e(self.kind)}</b> <code>{e(self.name)}</code> "
                f"{badge(self.phase)}<table>{rows}</table></div>")

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
            cells = [e(c) for c in job_row(j, wide=True)]
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
            cells = [e(c) for c in _pod_row(p)]
            cells[2] = badge(p.phase)
            rows.append(cells)
        return html_table(POD_COLUMNS, rows)


EVENT_COLUMNS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")


def _event_row(ev: Event) -> list[str]:
    return [age(ev.last_time or ev.first_time), ev.type, ev.reason, f"{ev.object_kind}/{ev.object_name}", ev.message]


class EventList(list):
    """Events of a job and its pods, oldest first."""

    def __repr__(self) -> str:
        return self.text()

    def text(self) -> str:
        return text_table(EVENT_COLUMNS, (_event_row(x) for x in self)) if self else "No events."

    def _repr_html_(self) -> str:
        if not self:
            return "<i>No events.</i>"
        return html_table(EVENT_COLUMNS, ([e(c) for c in _event_row(x)] for x in self))


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
        return html_table(OUTPUT_COLUMNS, ([e(f.path), e(_size(f.size)), e(f.mtime)] for f in self))


def jobs(items: Iterable[Job]) -> JobList:
    return JobList(RichJob.of(j) for j in items)


def pods(items: Iterable[Pod]) -> PodList:
    return PodList(items)


def events(items: Iterable[Event]) -> EventList:
    return EventList(items)


def outputs(items: Iterable[OutputFile]) -> OutputList:
    return OutputList(items)
