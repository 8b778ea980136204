"""Words for facts: durations, counts, kind titles (spans, ages and escaping are render.py's: tests/test_render.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dtrain_jupyter.model.job import Job, JobStatus, ReplicaCounts
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.words import age, duration, kind_title, progress_words, replicas_ready

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)


def test_age_and_duration() -> None:
    job = Job("local", "TFJob", "kubeflow.org/v1", "a", "default", "u", "2026-11-26T11:00:00Z", {},
              JobStatus(Phase.SUCCEEDED, start_time="2026-11-26T11:00:05Z", completion_time="2026-11-26T11:01:10Z"))
    assert age(job.created, NOW) == "1h"
    assert duration(job, NOW) == "1m5s"
    job.status = JobStatus(Phase.RUNNING, start_time="2026-11-26T11:59:00+00:00")
    assert duration(job, NOW) == "1m"
    assert age("not a time", NOW) == ""


def test_replicas_ready_counts_running_and_succeeded() -> None:
    job = Job("local", "MPIJob", "kubeflow.org/v2beta1", "a", "default", "u", "", {},
              JobStatus(replicas={"Launcher": ReplicaCounts(1, 0, 1), "Worker": ReplicaCounts(2, 2)}))
    assert replicas_ready(job) == (3, 3)
    assert kind_title("MPIJob") == "Horovod/MPIJob"



@pytest.mark.parametrize("eta, left", [
    (1, "about 1 second left"), (40, "about 40 seconds left"), (60, "about 1 minute left"),
    (170, "about 3 minutes left"), (3600, "about 1 hour left"), (3660, "about 1 hour 1 minute left"),
    (7500, "about 2 hours 5 minutes left"), (2 * 3600 + 60, "about 2 hours 1 minute left")])
def test_progress_says_the_time_left_with_singular_and_plural_right(eta: float, left: str) -> None:
    # Issue 15 review: "1 hours", "1 minutes".
    assert progress_words(0.425, eta) == f"42% done, {left}"


def test_progress_without_a_known_time_left_says_the_share_alone() -> None:
    assert progress_words(0.5, None) == progress_words(0.5, float("nan")) == "50% done"
    assert progress_words(1.7, 10) == "100% done, about 10 seconds left"
