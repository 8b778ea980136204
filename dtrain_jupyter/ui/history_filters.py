"""What the job list's history filters mean: the Show choice, the date range, a deleted job as a past one.

Pure functions, no widgets, so the list applies to the live jobs exactly the rules the server
applies to its records (`history/store.py`): "Live" is on the cluster and not finished,
"Finished" is Succeeded or Failed (on the cluster or not), a date range bounds the creation
time and a date alone takes in its whole day.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

from ..model.job import Job
from ..model.time_bounds import parse_bound, within
from ..model.status import Phase, derive_phase

__all__ = ["SHOW_ALL", "SHOW_LIVE", "SHOW_FINISHED", "SHOW_OPTIONS", "parse_bound", "shows", "within",
           "as_removed", "history_show"]

SHOW_ALL = "All"
SHOW_LIVE = "Live"
SHOW_FINISHED = "Finished"
SHOW_OPTIONS = (SHOW_ALL, SHOW_LIVE, SHOW_FINISHED)
# The server's words for the same choices (`Client.history(show=...)`).
_SERVER_SHOW = {SHOW_ALL: "all", SHOW_LIVE: "live", SHOW_FINISHED: "finished"}


def history_show(show: str) -> str:
    """The `show` argument of `Client.history` for a Show choice."""
    return _SERVER_SHOW[show]


def shows(job: Job, show: str) -> bool:
    """Whether a job belongs under a Show choice."""
    if show == SHOW_LIVE:
        return not job.removed and not job.phase.finished
    if show == SHOW_FINISHED:
        return job.phase.finished
    return True


def as_removed(job: Job, last: Job | None = None, when: datetime | None = None) -> Job:
    """A job the cluster just deleted, as the job history keeps it (the recorder's rule,
    `history/recorder.py`): `removed` set to `when` (now); a job that had finished keeps its
    finished state (`last`, its state before deleting it said "Deleting"); one deleted before
    it finished is in phase Deleted."""
    moment = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = job.status
    if not job.phase.finished:
        # "Deleting" hides how it ended; its conditions, or its state before, still say it.
        phase, reason, message = derive_phase(job.status.conditions)
        if phase.finished:
            status = dataclasses.replace(status, phase=phase, reason=reason, message=message)
        elif last is not None and last.phase.finished:
            status = last.status
        else:
            status = dataclasses.replace(status, phase=Phase.DELETED, reason="Deleted",
                                         message="deleted from the cluster before it finished")
    return dataclasses.replace(job, status=status, removed=moment)
