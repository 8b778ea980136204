"""Words the panel shows for facts: ages, durations, kind titles, replica counts, safe HTML.

Pure functions, no widgets: every part of the panel formats the same fact the same way, and
every user string that ends up inside an HTML widget goes through `esc` first. `esc`, `age`
and `span` are the ones the notebook and terminal faces use too (`dtrain_jupyter.render`), so a
job's age reads the same in the panel, in `Client().list()` and in `dtrain list`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from ..model.job import Job
from ..render import age, esc, parse_time, span

__all__ = ["KIND_TITLES", "KIND_LABELS", "LOCAL_BACKEND", "esc", "age", "span", "parse_time", "duration",
           "kind_title", "kind_label", "reason_words", "replicas_ready", "status_title", "where", "deletion_words",
           "job_ref", "removed_words", "forget_words", "eta_words", "progress_words",
           "time_left_words"]

# What each kind is called in full (a tooltip, the kind filter's search): Horovod runs on
# MPIJob, so say both.
KIND_TITLES = {"MPIJob": "Horovod/MPIJob", "PyTorchJob": "PyTorchJob", "TFJob": "TFJob"}
# The same in a list cell: short enough to fit its column whole ("Horovod/MPI…" was cut),
# the operator's word first since that is what the manifest says.
KIND_LABELS = {"MPIJob": "MPI (Horovod)"}
# Condition reasons the operators build as kind + state ("PyTorchJobSucceeded"): the state part
# is what the phase already says, so it is not repeated beside it.
_STATE_WORDS = frozenset({"created", "running", "succeeded", "failed", "restarting", "suspended", "resumed",
                          "deleting"})
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# The local backend's name (the server knows only "local" and "kubernetes"). Its jobs keep their
# output in a folder of their own that deleting the job removes; a cluster job's outputs live on
# a volume claim the job does not own, which outlives it.
LOCAL_BACKEND = "local"


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
    """The full name of a kind ("Horovod/MPIJob")."""
    return KIND_TITLES.get(kind, kind)


def kind_label(kind: str) -> str:
    """The short name of a kind for a narrow cell ("MPI (Horovod)"); `kind_title` is the full one."""
    return KIND_LABELS.get(kind, kind)


def reason_words(reason: str, kind: str, phase: str) -> str:
    """A condition reason as words that add to the phase, or "" when it adds nothing.

    The kind (or "Job") is dropped from the front and an identifier is split into words:
    "PyTorchJobSucceeded" beside "Succeeded" is "", "BackoffLimitExceeded" is "backoff limit
    exceeded", "OOMKilled" is "OOM killed". A reason with spaces is a sentence already and is
    kept as written.
    """
    text = (reason or "").strip()
    for prefix in (kind, "Job"):  # "PyTorchJobFailed", and the generic "JobFailed"
        rest = text[len(prefix):]
        if prefix and text.startswith(prefix) and (not rest or rest[0].isupper()):
            text = rest
    if not text:
        return ""
    if not re.fullmatch(r"[A-Za-z0-9]+", text):
        return "" if text.lower() == phase.lower() else text
    words = [w if w.isupper() and len(w) > 1 else w.lower() for w in _WORD.findall(text)]
    joined = " ".join(words)
    if joined.lower() == phase.lower() or joined.lower() in _STATE_WORDS:
        return ""
    return joined


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


def status_title(job: Job) -> str:
    """Everything known about a job's status in one line, for a tooltip: the phase, the reason as
    the operator wrote it, its message and a malformed object's error (plain text; escape it)."""
    parts = [job.phase.value]
    if job.status.reason and job.status.reason != job.phase.value:
        parts.append(job.status.reason)
    if job.status.message:
        parts.append(job.status.message)
    if job.error:
        parts.append(job.error)
    return " — ".join(parts)


def where(job: Job) -> str:
    """Backend and namespace of a job, as one short string: "local/default"."""
    return f"{job.backend}/{job.namespace}" if job.namespace else job.backend


def deletion_words(job: Job) -> str:
    """What deleting `job` removes besides the job, as plain text: its pods, their logs, and its
    output files where they go with it ("its 3 pods, their logs and its output folder ...")."""
    _ready, total = replicas_ready(job)
    pods = f"its {total} pod{'' if total == 1 else 's'}" if total else "its pods"
    if job.backend == LOCAL_BACKEND:
        return f"{pods}, their logs and its output folder with every file in it"
    return f"{pods} and their logs; files it wrote to a volume claim stay (claims are not deleted)"


def job_ref(job: Job) -> str:
    """How to name a job to a person: "PyTorchJob/mnist (local/default)"."""
    return f"{job.kind}/{job.name} ({where(job)})"


def removed_words(job: Job) -> str:
    """When a past job left its cluster, for a tooltip: "Removed from the cluster at
    2026-12-01T10:00:00Z (3h ago); this is its record in the job history"; "" for a live job."""
    if not job.removed:
        return ""
    since = age(job.removed)
    return (f"Removed from the cluster at {job.removed}" + (f" ({since} ago)" if since else "")
            + "; this is its record in the job history")


def forget_words(job: Job) -> str:
    """What forgetting a past job removes, as plain text."""
    return ("its record in the job history (status, pods, events), its archived logs, and the code it ran "
            "where the history kept a copy; a re-run is then no longer possible")


def eta_words(seconds: float | None) -> str:
    """Time left as a person says it: "ETA 40 s", "ETA 3 min", "ETA 2 h 5 min"; "" when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return ""
    secs = int(round(seconds))
    if secs < 60:
        return f"ETA {secs} s"
    minutes = int(round(secs / 60))
    if minutes < 60:
        return f"ETA {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours} h {minutes} min" if minutes else f"ETA {hours} h"


def _counted(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def time_left_words(seconds: float) -> str:
    """Time left spelled out, rounded as `eta_words` rounds it: "1 second", "3 minutes", "1 hour 1 minute"."""
    secs = int(round(seconds))
    if secs < 60:
        return _counted(secs, "second")
    minutes = int(round(secs / 60))
    if minutes < 60:
        return _counted(minutes, "minute")
    hours, minutes = divmod(minutes, 60)
    return _counted(hours, "hour") + (f" {_counted(minutes, 'minute')}" if minutes else "")


def progress_words(fraction: float, eta_seconds: float | None) -> str:
    """How far a job is, in words a screen reader reads whole: "42% done, about 3 minutes left"."""
    percent = int(max(0.0, min(1.0, fraction)) * 100)
    if not eta_words(eta_seconds):  # unknown, or no time at all
        return f"{percent}% done"
    return f"{percent}% done, about {time_left_words(float(eta_seconds or 0))} left"
