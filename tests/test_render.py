"""Renderers: `<Kind name Phase>` reprs, aligned text tables, HTML with every user string escaped, and the
words and colours every face shares (the panel's `ui/words.py` and `ui/styles.py` use these same ones)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dtrain_jupyter.model.job import Event, Job, JobStatus, OutputFile, Pod, ReplicaCounts
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter import render
from dtrain_jupyter.render import PHASE_COLOURS, RichJob, age, badge, esc, events, jobs, outputs, pods, span, text_table

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
    assert f"color:{PHASE_COLOURS['Succeeded']}" in listing._repr_html_()
    assert jobs([]).text() == "No jobs." and "No pods." in pods([]).text()


@pytest.mark.parametrize(("delta", "word"), [(30, "30s"), (300, "5m"), (310, "5m10s"), (7200, "2h"),
                                            (3 * 3600 + 240, "3h4m"), (3 * 86400, "3d"), (-5, "0s")])
def test_age(delta: int, word: str) -> None:
    now = datetime(2026, 1, 10, tzinfo=timezone.utc)
    assert age((now - timedelta(seconds=delta)).isoformat().replace("+00:00", "Z"), now) == word


@pytest.mark.parametrize("seconds, text", [
    (None, ""), (0, "0s"), (59, "59s"), (60, "1m"), (310, "5m10s"), (3600, "1h"), (3 * 3600 + 240, "3h4m"),
    (86400 * 2 + 3600 * 5, "2d5h"), (-5, "0s"),
], ids=str)
def test_span(seconds, text) -> None:
    assert span(seconds) == text


def test_age_of_nothing_or_garbage_is_empty_and_a_table_says_dash() -> None:
    assert age(None) == "" and age("yesterday") == ""
    job = RichJob.of(_job())
    job.created = ""
    assert job.text().splitlines()[3] == "  created:   -"
    assert jobs([job]).text().splitlines()[1].split()[-1] == "-"
    assert events([Event(type="Normal", reason="R", message="m", object_kind="Pod", object_name="p")]).text() \
        .splitlines()[1].startswith("-")


def test_esc_quotes_too() -> None:
    assert esc('<a href="x">\'') == "&lt;a href=&quot;x&quot;&gt;&#x27;"


def test_badges_are_the_panels_contrast_tuned_colours() -> None:
    assert set(PHASE_COLOURS) == {p.value for p in Phase}
    for phase, colour in PHASE_COLOURS.items():
        # The theme's colour when there is one, mixed toward its text colour (toward the text
        # around it in a front end without JupyterLab's variables), so it reads on either theme.
        assert colour.startswith("color-mix(in srgb, var(--jp-") and colour.endswith(
            "var(--jp-ui-font-color0, currentColor))"), phase
        assert badge(phase) == f"<span style='color:{colour};font-weight:600'>{phase}</span>"
    assert badge("<b>odd</b>") == f"<span style='color:{PHASE_COLOURS['Unknown']};font-weight:600'>" \
                                  "&lt;b&gt;odd&lt;/b&gt;</span>"
    assert badge(None) == badge("Unknown")


def test_the_panel_uses_these_same_words_and_colours() -> None:
    from dtrain_jupyter.ui import styles, words

    assert (words.esc, words.age, words.span) == (render.esc, render.age, render.span)
    assert styles.PHASE_COLOURS is render.PHASE_COLOURS and styles.MUTED == render.MUTED


def test_text_table_pads_columns() -> None:
    assert text_table(["A", "BB"], [["xxx", "y"]]) == "A     BB\nxxx   y"
