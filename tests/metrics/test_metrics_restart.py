"""Metrics across a server restart, end to end: a real server is stopped and started again on the
same history folder (tests/server/live.py keeps port, token and folders).

- a local job that ended before the restart: the same points, the same cursor; a follower's
  cursor from before gets nothing new and no reset;
- a Kubernetes job (the API double) still running through the restart: its logs are read again
  from their start, so a follower's cursor from before gets `reset` and every point, the ones it
  held with the same values; what the pods print afterwards comes as newer points.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from dtrain_jupyter import Client
from dtrain_jupyter.model.metric_series import MetricsPage

from ..history.test_history_kube import Cluster, job_manifest, until
from ..server.live import LiveServer
from .conftest import follow, job, script


def points(page: MetricsPage) -> dict[tuple[str, str, str], list[tuple[int | None, float, float]]]:
    """(replica, name, source) -> [(step, time, value)] of a page."""
    return {s.key: list(zip(s.step, s.time, s.value)) for s in page.series}


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("metrics-restart"))
    yield live
    live.stop()


@pytest.mark.slow
def test_an_ended_jobs_points_and_cursor_survive_a_restart(server: LiveServer) -> None:
    name = "restart-ended"
    with server.client() as client:
        client.create(job(name, script(
            "from dtrain_jupyter import report",
            "[report(step=step, loss=1 / step, progress=step / 4) for step in range(1, 5)]",
            "print('Epoch 1/1', flush=True)",
            "print('4/4 [======] - 0s 3ms/step - loss: 0.2500 - accuracy: 0.7500', flush=True)")))
        before, _ = follow(client, name)
    assert [(step, value) for step, _, value in points(before)[("master-0", "loss", "report")]] == [
        (step, 1 / step) for step in range(1, 5)]
    assert [(step, value) for step, _, value in points(before)[("master-0", "accuracy", "log")]] == [(4, 0.75)]

    server.stop()
    server.start()
    with server.client() as client:
        after = client.metrics(name)
        assert points(after) == points(before)  # steps, times and values, series by series
        assert after.cursor == before.cursor and after.finished and not after.reset
        # A follower that held the page before the restart goes on where it was: nothing is new.
        newer = client.metrics(name, since=before.cursor, wait=1)
        assert newer.series == [] and not newer.reset and newer.finished
        assert newer.cursor == before.cursor


def reported(step: int, rank: int) -> str:
    """The line `dtrain_jupyter.report` prints, each replica with a loss curve of its own."""
    return "DTRAIN_METRIC " + json.dumps({"step": step, "loss": round((rank + 1) / step, 4), "rank": rank,
                                          "time": 1764000000.0 + step})


def steps(page: MetricsPage) -> dict[tuple[str, str, str], list[tuple[int | None, float]]]:
    return {s.key: list(zip(s.step, s.value)) for s in page.series}


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    made = Cluster(tmp_path_factory.mktemp("metrics-restart-kube"))
    yield made
    made.stop()


def test_a_running_jobs_points_come_back_as_a_reset_after_a_restart(cluster: Cluster) -> None:
    name = "restart-running"
    cluster.client.create(job_manifest(name))
    pods = cluster.running(name)

    def write(first: int, last: int) -> None:
        for rank, pod in enumerate(pods):
            for step in range(first, last + 1):
                cluster.kd.simulator.write_log(pod, reported(step, rank))

    def until_held(client: Client, held: MetricsPage, last_step: int) -> tuple[MetricsPage, list[MetricsPage]]:
        answers: list[MetricsPage] = []

        def whole() -> bool:
            nonlocal held
            answers.append(client.metrics(name, since=held.cursor, wait=2))
            held = held.merge(answers[-1])
            return all(held.get(replica, "loss", "report") is not None
                       and held.get(replica, "loss", "report").step[-1:] == [last_step]
                       for replica in ("master-0", "worker-0"))
        until(whole, f"{name}'s points up to step {last_step}")
        return held, answers

    write(1, 3)
    before, _ = until_held(cluster.client, MetricsPage(0, False, [], None, False), 3)
    expected = {(replica, "loss", "report"): [(step, round((rank + 1) / step, 4)) for step in range(1, 4)]
                for rank, replica in enumerate(("master-0", "worker-0"))}
    assert steps(before) == expected

    cluster.client.close()
    cluster.server.stop()
    write(4, 5)  # printed while no server follows the pods
    cluster.server.start()
    cluster.client = Client(url=cluster.server.url, token=cluster.server.token)

    # The pods' logs are read again from their start: the follower is told to drop what it held.
    after, answers = until_held(cluster.client, before, 5)
    assert any(page.reset for page in answers), [(p.cursor, p.reset) for p in answers]
    assert after.cursor > before.cursor
    for rank, replica in enumerate(("master-0", "worker-0")):
        held = after.get(replica, "loss", "report")
        # Each point once, the ones from before with the same values (the line's own step and time).
        assert list(zip(held.step, held.value)) == [(step, round((rank + 1) / step, 4)) for step in range(1, 6)]
        assert held.time == [1764000000.0 + step for step in range(1, 6)]
    assert steps(cluster.client.metrics(name)) == steps(after)

    # After the re-read, new lines are newer points again, with no reset.
    write(6, 6)
    latest, answers = until_held(cluster.client, after, 6)
    assert not any(page.reset for page in answers)
    for rank, replica in enumerate(("master-0", "worker-0")):
        held = latest.get(replica, "loss", "report")
        assert list(zip(held.step, held.value))[-2:] == [(5, round((rank + 1) / 5, 4)), (6, round((rank + 1) / 6, 4))]
    cluster.kd.simulator.finish(name, succeed=True)
    until(lambda: cluster.client.metrics(name).finished, f"{name}'s metrics finished")
