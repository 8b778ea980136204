"""A job row: expands into its pods, asks for its log and output, renders facts as text."""

from __future__ import annotations

import html
import re

import pytest

from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.assistive import EXPANDED, EXPANDER, NAME_ONLY
from dtrain_jupyter.ui.job_row import JobRow
from dtrain_jupyter.ui.styles import PHASE_WIDTH

from .conftest import python_job, unique


@pytest.fixture(scope="module")
def done_job(client):
    name = unique("row")
    client.create(python_job(name, "print('ok')", workers=2))
    job = client.wait(name, kind="PyTorchJob", timeout=90, progress=False)
    yield job
    client.delete(name, kind="PyTorchJob")


def test_clicking_the_name_expands_into_pods(client, done_job) -> None:
    row = JobRow(done_job, client, lambda *a: None)
    assert row.name_button.description.startswith("▸")
    row.name_button.click()
    assert row.last_error is None
    assert row.expanded and row.pods is not None and row.pods in row.children
    assert row.name_button.description.startswith("▾")
    roles = [(p.replica_type, p.replica_index) for p in row.pods.pods]
    assert roles == [("Master", 0), ("Worker", 0), ("Worker", 1)]
    assert row.children[: len(row.line)] == row.line  # the pods wrap under the first line
    row.name_button.click()
    assert row.children == row.line


def test_log_and_output_buttons_name_the_job(client, done_job) -> None:
    asked = []
    row = JobRow(done_job, client, lambda action, job, pod: asked.append((action, job.name, pod)))
    row.log_button.click()
    row.output_button.click()
    row.name_button.click()
    row.pods.line(f"{done_job.name}-worker-1").log_button.click()
    assert asked == [("log", done_job.name, None), ("output", done_job.name, None),
                     ("log", done_job.name, f"{done_job.name}-worker-1")]


def test_facts_show_phase_ready_and_kind(client, done_job) -> None:
    row = JobRow(done_job, client, lambda *a: None)
    assert "dtrain-phase-Succeeded" in row.facts.value
    assert "PyTorchJob" in row.facts.value and "local/default" in row.facts.value


def test_compact_rows_move_their_buttons_under_the_expanded_row(client, done_job) -> None:
    row = JobRow(done_job, client, lambda *a: None, compact=True)
    assert row.log_button not in row.line
    row.name_button.click()
    assert row.children == (*row.line, row.actions, row.pods)
    assert row.log_button in row.actions.children


def test_ages_reach_the_pods_only_while_they_are_shown(client, done_job, monkeypatch) -> None:
    row = JobRow(done_job, client, lambda *a: None)
    row.name_button.click()
    refreshed = []
    monkeypatch.setattr(row.pods, "refresh_ages", lambda: refreshed.append(row.expanded))
    row.refresh_ages()
    row.name_button.click()
    row.refresh_ages()
    assert refreshed == [True]


# ---------------------------------------------------------------- status, kind (issue 17: cells cut)
def _job(kind: str = "PyTorchJob", phase: Phase = Phase.SUCCEEDED, reason: str = "", message: str = "") -> Job:
    return Job(backend="local", kind=kind, api_version="kubeflow.org/v1", name="j", namespace="default",
               uid="uid-j", created="2026-11-26T00:00:00Z", manifest={},
               status=JobStatus(phase=phase, reason=reason, message=message))


def _cell(facts: str, column: str) -> tuple[str, str]:
    """(the text a person reads, the title) of one facts cell."""
    match = re.search(rf"<span class='dtrain-cell dtrain-col-{column}'(?: title='([^']*)')?>(.*?)"
                      r"(?=<span class='dtrain-cell|</div>$)", facts)
    assert match, f"no {column} cell in {facts}"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(2))), html.unescape(match.group(1) or "")


def test_the_phase_shows_once_and_the_reason_only_when_it_adds_words() -> None:
    row = JobRow(_job(reason="PyTorchJobSucceeded", message="PyTorchJob j is successfully completed."),
                 client=None, on_action=lambda *a: None)
    text, title = _cell(row.facts.value, "status")
    assert text == "Succeeded"
    assert title == "Succeeded — PyTorchJobSucceeded — PyTorchJob j is successfully completed."
    row.job = _job(phase=Phase.FAILED, reason="PyTorchJobBackoffLimitExceeded", message="replica j-worker-0 failed")
    text, title = _cell(row.facts.value, "status")
    assert text == "Failed backoff limit exceeded"
    assert "PyTorchJobBackoffLimitExceeded" in title and "j-worker-0" in title


def test_a_status_title_is_escaped() -> None:
    row = JobRow(_job(phase=Phase.FAILED, reason="Evil", message="it's <img src=x onerror=alert(1)>"),
                 client=None, on_action=lambda *a: None)
    assert "<img" not in row.facts.value
    assert "it&#x27;s &lt;img src=x onerror=alert(1)&gt;" in row.facts.value
    assert _cell(row.facts.value, "status")[1].endswith("it's <img src=x onerror=alert(1)>")


def test_mpi_kind_is_short_in_the_cell_and_whole_in_its_title() -> None:
    row = JobRow(_job(kind="MPIJob"), client=None, on_action=lambda *a: None)
    assert _cell(row.facts.value, "kind") == ("MPI (Horovod)", "Horovod/MPIJob (kubeflow.org/v1)")


def test_a_compact_row_keeps_the_phase_whole_and_drops_the_other_facts() -> None:
    row = JobRow(_job(phase=Phase.FAILED, reason="OOMKilled"), client=None, on_action=lambda *a: None, compact=True)
    assert re.findall(r"dtrain-col-(\w+)", row.facts.value) == ["status"]
    text, title = _cell(row.facts.value, "status")
    assert text == "Failed" and "OOMKilled" in title
    assert row.facts.layout.width == PHASE_WIDTH and row.facts.layout.flex == "0 0 auto"
    assert row.name_button.layout.flex == "1 1 0%"


def test_the_checkbox_is_named_for_its_job() -> None:
    row = JobRow(_job(), client=None, on_action=lambda *a: None)
    assert row.check.tooltip == "Select j"
    # Its accessible name is its description (a <label>), out of sight: a title alone is not one.
    assert row.check.description == "Select j" and not row.check.description_allow_html
    assert NAME_ONLY in row.check._dom_classes


def test_the_name_is_an_expander_whose_state_keyboard_ts_can_read(client, done_job) -> None:
    row = JobRow(done_job, client, lambda *a: None)
    assert EXPANDER in row.name_button._dom_classes and EXPANDED not in row.name_button._dom_classes
    assert row.name_button.tooltip.endswith("show its pods")
    row.name_button.click()
    assert EXPANDED in row.name_button._dom_classes and row.name_button.tooltip.endswith("hide its pods")
    row.name_button.click()
    assert EXPANDED not in row.name_button._dom_classes
