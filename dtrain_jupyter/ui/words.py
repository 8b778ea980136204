"""Words the panel shows for facts: ages, durations, kind titles, replica counts, safe HTML.

Pure functions, no widgets: every part of the panel formats the same fact the same way, and
every user string that ends up inside an HTML widget goes through `esc` first.
"""

from __future__ import annotations

import html
from datetime import datetime, timezone

from ..model.job import Job

# What each kind is called in the list: Horovod runs on MPIJob, so say both.
KIND_TITLES = {"MPIJob": "Horovod/MPIJob", "PyTorchJob": "PyTorchJob", "TFJob": "TFJob"}


def esc(value: object) -> str:
    """HTML-escape any value (quotes too), so no job name, reason or log line is markup."""
    return html.escape("" if value is None else str(value), quote=True)


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


def age(created: str | None, now: datetime | None = None) -> str:
    """How long ago a timestamp was."""
    start = parse_time(created)
    if start is None:
        return ""
    now = now or datetime.now(timezone.utc)
    return span((now - start).total_seconds())


def duration(job: Job, now: datetime | None = None) -> str:
    """Run time of a job: start to completion, or start to now while it runs."""
    start = parse_time(job.status.start_time)
    if start is None:
        return ""
    end = parse_time(job.status.completion_time)
    if end is None:
        if job.phase.finished:
            return ""
        end = now or datetime.now(timezone.utc)
    return span((end - start).total_seconds())


def kind_title(kind: str) -> str:
    return KIND_TITLES.get(kind, kind)


def replicas_ready(job: Job) -> tuple[int, int]:
    """(ready, total) over every replica type: ready means running or already succeeded."""
    ready = total = 0
    for counts in job.status.replicas.values():
        total += counts.replicas
        ready += counts.active + counts.succeeded
    if total == 0:
        total = _declared_replicas(job)
    return ready, total


def _declared_replicas(job: Job) -> int:
    """Replicas the manifest asks for, used before the backend has counted any."""
    spec = job.manifest.get("spec") or {}
    total = 0
    for key, value in spec.items():
        if key.endswith("ReplicaSpecs") and isinstance(value, dict):
            for rspec in value.values():
                if isinstance(rspec, dict):
                    try:
                        total += int(rspec.get("replicas", 1))
                    except (TypeError, ValueError):
                        continue
    return total


def where(job: Job) -> str:
    """Backend and namespace of a job, as one short string: "local/default"."""
    return f"{job.backend}/{job.namespace}" if job.namespace else job.backend


def job_ref(job: Job) -> str:
    """How to name a job to a person: "PyTorchJob/mnist (local/default)"."""
    return f"{job.kind}/{job.name} ({where(job)})"
