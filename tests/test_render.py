"""Renderers: `<Kind name Phase>` reprs, aligned text tables, and HTML with every user string escaped."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dtrain_jupyter.model.job import Event, Job, JobStatus, OutputFile, Pod, ReplicaCounts
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.render import RichJob, age, events, jobs, outputs, pods, text_table

EVIL = "<script>alert('x')</script>&"


def _job(name: str = "mnist", phase: Phase = Phase.RUNNING) -> Job:
    status = JobStatus(phase=phase, reason=EVIL, message=EVIL,
                       replicas={"Master": ReplicaCounts(replicas=1, active=1), "Worker": ReplicaCounts(replicas=2, succeeded=1, failed=1)})
    return Job(backend="local", kind="PyTorchJob", api_version="kubeflow.org/v1", name=name, namespace="default",
               uid="u", created=(datetime.now(timezone.utc) - timedelta(minutes=5)).isoformat(), manifest={},
               status=status, context="local", notes=[EVIL], error=EVIL)


def test_job_repr_and_text() -> None:
    job = RichJob.of(_job())
    assert repr(job) == "<PyTorchJob mnist Running>"
    text = job.text()
    assert text.splitlines()[0] == "PyTorchJob/mnist  Running" and "Master 1/1, Worker 1/2 (1 failed)" in text


def test_html_escapes_every_user_string() -> None:
    job = RichJob.of(_job())
    pod = Pod(name="p", namespace="default", job_name="mnist", replica_type="Master", replica_index=0,
              phase="Failed", reason=EVIL, node=EVIL)
    event = Event(type="Warning", reason=EVIL, message=EVIL, object_kind="Pod", object_name=EVIL)
    out = OutputFile(path=EVIL, size=2048, mtime=EVIL)
    for html in (job._repr_html_(), jobs([job])._repr_html_(), pods([pod])._repr_html_(),
                 events([event])._repr_html_(), outputs([out])._repr_html_()):
        assert "<script>" not in html and "&lt;script&gt;" in html


def test_lists_render_as_aligned_tables() -> None:
    listing = jobs([_job("a"), _job("longer-name", Phase.SUCCEEDED)])
    lines = listing.text().splitlines()
    assert lines[0].split() == ["NAME", "KIND", "BACKEND", "NAMESPACE", "PHASE", "AGE"]
    assert lines[2].split()[:5] == ["longer-name", "PyTorchJob", "local", "default", "Succeeded"]
    assert lines[1].index("PyTorchJob") == lines[2].index("PyTorchJob")
    assert "REPLICAS" in listing.text(wide=True)
    assert "#2e8b57" in listing._repr_html_()  # the Succeeded colour
    assert jobs([]).text() == "No jobs." and "No pods." in pods([]).text()


@pytest.mark.parametrize(("delta", "word"), [(30, "30s"), (300, "5m"), (7200, "2h"), (3 * 86400, "3d")])
def test_age(delta: int, word: str) -> None:
    now = datetime(2026, 1, 10, tzinfo=timezone.utc)
    assert age((now - timedelta(seconds=delta)).isoformat().replace("+00:00", "Z"), now) == word


def test_age_of_nothing_or_garbage() -> None:
    assert age(None) == "-" and age("yesterday") == "?"


def test_text_table_pads_columns() -> None:
    assert text_table(["A", "BB"], [["xxx", "y"]]) == "A     BB\nxxx   y"
