"""A job row: expands into its pods, asks for its log and output, renders facts as text."""

from __future__ import annotations

import pytest

from dtrain_jupyter.ui.job_row import JobRow

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
