"""TensorBoard scalars of a real local job through /metrics: the job's code writes event files with
torch.utils.tensorboard.SummaryWriter into $DTRAIN_OUTPUT_DIR (programs/tensorboard_scalars.py),
and a client following the job's metrics with long polls gets them as source "tensorboard"."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from dtrain_jupyter import Client
from dtrain_jupyter.model.metric_series import MetricsPage

from ..server.live import module_client, module_server
from .conftest import PROGRAMS, follow, job, script

pytest.importorskip("torch.utils.tensorboard")


server = module_server("metrics-tensorboard")
client = module_client()



def scalars(page: MetricsPage) -> dict[tuple[str, str], list[tuple[int | None, float]]]:
    """(run, tag) -> [(step, value)] of the page's "tensorboard" series."""
    return {(s.replica, s.name): list(zip(s.step, s.value)) for s in page.series if s.source == "tensorboard"}


def follow_from(client: Client, path: str, since: int, timeout: float = 90) -> tuple[MetricsPage, list[MetricsPage]]:
    """Follow a job's metrics from cursor `since` with long polls until it is finished; (merged page, every answer)."""
    held, answers = MetricsPage(since, False, [], None, False), []
    deadline = time.monotonic() + timeout
    while not held.finished:
        assert time.monotonic() < deadline, f"the metrics never finished: {held}"
        answers.append(client.metrics_at(path, since=held.cursor, wait=5))
        held = held.merge(answers[-1])
    return held, answers


def losses(steps: range) -> list[tuple[int, float]]:
    return [(step, pytest.approx(1.0 / (step + 1))) for step in steps]


@pytest.mark.slow
def test_a_jobs_event_files_arrive_as_tensorboard_series_round_by_round(client: Client) -> None:
    name = "tb-scalars"
    client.create(job(name, [sys.executable, str(PROGRAMS / "tensorboard_scalars.py")]))
    path = client.job_path(name)

    # Round one: followed with waiting requests until both runs' five points are there.
    held = MetricsPage(0, False, [], None, False)
    deadline = time.monotonic() + 90
    while len(scalars(held).get((".", "loss"), [])) < 5 or len(scalars(held).get(("eval", "accuracy"), [])) < 5:
        assert time.monotonic() < deadline, f"round one never came whole: {held}"
        assert not held.finished, f"{name} finished before its second round: {client.logs(name)}"
        held = held.merge(client.metrics_at(path, since=held.cursor, wait=5))
    # The root folder is run "."; the sub-folder is a run of its own, named by its path.
    assert scalars(held) == {(".", "loss"): losses(range(5)),
                             ("eval", "accuracy"): [(s, pytest.approx(0.5 + s / 10)) for s in range(5)]}
    assert all(t > 1e9 for s in held.series for t in s.time)  # the event's own wall time
    round_one = held.cursor

    # Round two: the job goes on writing the same event file; only the new points come after the cursor.
    folder = Path(client.outputs(name).location["folder"])
    (folder / "go").touch()
    newer, answers = follow_from(client, path, round_one)
    assert not any(page.reset for page in answers), "an appended event file was read again from its start"
    assert scalars(newer) == {(".", "loss"): losses(range(5, 8))}
    assert newer.finished

    # Everything, from the start: both rounds, once each.
    whole = client.metrics(name)
    assert scalars(whole) == {(".", "loss"): losses(range(8)),
                              ("eval", "accuracy"): [(s, pytest.approx(0.5 + s / 10)) for s in range(5)]}
    assert client.metrics(name, since=whole.cursor).series == []


@pytest.mark.slow
def test_a_job_that_ended_before_anyone_asked_gives_its_scalars_before_finished(client: Client) -> None:
    name = "tb-ended"
    client.create(job(name, script(
        "import os", "from torch.utils.tensorboard import SummaryWriter",
        "writer = SummaryWriter(os.environ['DTRAIN_OUTPUT_DIR'])",
        "[writer.add_scalar('loss', 1.0 / (step + 1), step) for step in range(3)]", "writer.close()",
        "print('written', flush=True)")))
    assert client.wait(name, timeout=120).phase.value == "Succeeded", client.logs(name)
    # Nobody asks for its metrics until the history has its whole log, so its event files are
    # first read when the job may already answer finished (the reader is made on first request).
    deadline = time.monotonic() + 60
    while not [j for j in client.history(search=name) if j.name == name and j.record["finished"]
               and j.record["log_bytes"] and not j.record["incomplete_logs"] and not j.record["archiving"]]:
        assert time.monotonic() < deadline, f"{name}'s log never archived whole"
        time.sleep(0.2)
    # A follower stops at the first answer that says finished: that answer must not come before
    # the event files' last read has landed.
    held, _ = follow(client, name)
    assert scalars(held) == {(".", "loss"): losses(range(3))}
