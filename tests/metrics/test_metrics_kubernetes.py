"""Metrics on the Kubernetes backend, against the API double (tests/kube_double), through a real
server: the points come from what the pods print, as the job history follows their logs.

- both replicas of a running PyTorchJob, from our own `DTRAIN_METRIC` lines and from Keras-style
  lines; `since=` answers only what came after; `/progress` lists the job while it runs;
- pods removed by the operator (`cleanPodPolicy: All`) as the job ends keep their points, the job
  deleted from the cluster too; forgetting its record removes them.
"""

from __future__ import annotations

import json
from typing import Iterator

import pytest

from dtrain_jupyter import JobNotFound
from dtrain_jupyter.history.metric_store import MetricStore
from dtrain_jupyter.model.metric_series import MetricsPage

from ..history.test_history_kube import Cluster, job_manifest, subprocess_delete, until


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    made = Cluster(tmp_path_factory.mktemp("metrics-kube"))
    yield made
    made.stop()


def reported(step: int, rank: int, **values: float) -> str:
    """The line `dtrain_jupyter.report` prints (its exact form)."""
    return "DTRAIN_METRIC " + json.dumps({"step": step, **values, "rank": rank, "time": 1764000000.0 + step})


def loss_of(rank: int, step: int) -> float:
    """A loss curve of its own per replica, so a mixed-up replica shows."""
    return round((rank + 1) / step, 4)


KERAS = ["Epoch 1/2",
         "5/10 [==>...] - 0s 3ms/step - loss: 0.5000 - accuracy: 0.6000",
         "10/10 [=====] - 0s 3ms/step - loss: 0.4000 - accuracy: 0.7000",
         "Epoch 2/2",
         "5/10 [==>...] - 0s 3ms/step - loss: 0.3000 - accuracy: 0.8000",
         "10/10 [=====] - 0s 3ms/step - loss: 0.2000 - accuracy: 0.9000"]


def write(cluster: Cluster, pod: str, lines: list[str]) -> None:
    for line in lines:
        cluster.kd.simulator.write_log(pod, line)


def points(page: MetricsPage) -> dict[tuple[str, str, str], list[tuple[int | None, float]]]:
    """(replica, name, source) -> [(step, value)] of a page."""
    return {s.key: list(zip(s.step, s.value)) for s in page.series}


def holding(cluster: Cluster, name: str, want: dict[tuple[str, str, str], int], since: int = 0) -> MetricsPage:
    """Follow the job's metrics from `since` until each series in `want` holds that many points; the merged page."""
    held = MetricsPage(since, False, [], None, False)

    def enough() -> bool:
        nonlocal held
        held = held.merge(cluster.client.metrics(name, since=held.cursor, wait=2))
        counts = {s.key: len(s) for s in held.series}
        return all(counts.get(key, 0) >= n for key, n in want.items())
    until(enough, f"{name}'s points {want}")
    return held


def test_both_replicas_report_and_log_points_and_since_gives_only_newer(cluster: Cluster) -> None:
    name = "kube-metrics"
    cluster.client.create(job_manifest(name))
    pods = cluster.running(name)
    assert pods == [f"{name}-master-0", f"{name}-worker-0"]
    for rank, pod in enumerate(pods):
        write(cluster, pod, [reported(step, rank, loss=loss_of(rank, step), progress=step / 10) for step in (1, 2, 3)])
    write(cluster, pods[0], KERAS)

    first = holding(cluster, name, {("master-0", "loss", "report"): 3, ("worker-0", "loss", "report"): 3,
                                    ("master-0", "loss", "log"): 4, ("master-0", "accuracy", "log"): 4})
    got = points(first)
    for rank, replica in enumerate(("master-0", "worker-0")):
        assert got[(replica, "loss", "report")] == [(s, loss_of(rank, s)) for s in (1, 2, 3)]
        assert got[(replica, "progress", "report")] == [(1, 0.1), (2, 0.2), (3, 0.3)]
    # Keras's n/N counter counts within its epoch: step = (epoch - 1) * N + n.
    assert got[("master-0", "loss", "log")] == [(5, 0.5), (10, 0.4), (15, 0.3), (20, 0.2)]
    assert got[("master-0", "accuracy", "log")] == [(5, 0.6), (10, 0.7), (15, 0.8), (20, 0.9)]
    assert not any(replica == "worker-0" and source == "log" for replica, _, source in got)
    # A DTRAIN_METRIC line is ours: it is read once, as "report", not again as an ordinary line.
    assert {source for _, _, source in got} == {"report", "log"}
    assert not first.finished and not first.reset

    # While it runs, /progress lists it with the last fraction reported.
    [progress] = until(lambda: [p for p in cluster.client.progress() if p.name == name], f"{name} on /progress")
    assert (progress.backend, progress.namespace, progress.kind) == ("kubernetes", "default", "PyTorchJob")
    assert progress.fraction == pytest.approx(0.3) and progress.uid == cluster.client.get(name).uid
    assert first.progress is not None and first.progress.fraction == pytest.approx(0.3)

    # Nothing new: an answer after the cursor is empty.
    assert cluster.client.metrics(name, since=first.cursor).series == []
    write(cluster, pods[1], [reported(step, 1, loss=loss_of(1, step)) for step in (4, 5)])
    newer = holding(cluster, name, {("worker-0", "loss", "report"): 2}, since=first.cursor)
    assert not newer.reset and newer.cursor > first.cursor
    assert points(newer) == {("worker-0", "loss", "report"): [(4, loss_of(1, 4)), (5, loss_of(1, 5))]}
    assert points(cluster.client.metrics(name))[("worker-0", "loss", "report")] == [
        (s, loss_of(1, s)) for s in range(1, 6)]

    cluster.kd.simulator.finish(name, succeed=True)
    until(lambda: cluster.client.metrics(name).finished, f"{name}'s metrics finished")
    assert not [p for p in cluster.client.progress() if p.name == name]  # ended: no longer live


def test_points_outlive_removed_pods_and_the_job_and_go_with_its_record(cluster: Cluster) -> None:
    name = "kube-cleaned"
    cluster.client.create(job_manifest(name, {"cleanPodPolicy": "All"}))
    pods = cluster.running(name)
    for rank, pod in enumerate(pods):
        write(cluster, pod, [reported(step, rank, loss=loss_of(rank, step)) for step in range(1, 6)])
        write(cluster, pod, [f"step {step} val_loss={loss_of(rank, step) / 2}" for step in (2, 4)])
    want = {(replica, metric, source): n for replica in ("master-0", "worker-0")
            for metric, source, n in (("loss", "report", 5), ("val_loss", "log", 2))}
    before = points(holding(cluster, name, want))

    # The job fails; the operator deletes its running pods (cleanPodPolicy All) as it ends it.
    cluster.kd.simulator.finish(name, succeed=False)
    cluster.pods_gone(name, pods)
    ended = until(lambda: (page := cluster.client.metrics(name)).finished and page, f"{name}'s metrics finished")
    assert points(ended) == before
    for rank, replica in enumerate(("master-0", "worker-0")):
        assert before[(replica, "loss", "report")] == [(s, loss_of(rank, s)) for s in range(1, 6)]
        assert before[(replica, "val_loss", "log")] == [(s, loss_of(rank, s) / 2) for s in (2, 4)]

    # Gone from the cluster: the history answers, with the same points and no more to come.
    subprocess_delete(cluster, name)
    cluster.removed(name)
    past = cluster.client.metrics(name)
    assert points(past) == before and past.finished and not past.reset
    assert cluster.client.metrics(name, since=past.cursor).series == []

    [record] = [j for j in cluster.client.history(search=name) if j.name == name]
    record_id = record.record["id"]
    assert cluster.client.forget(name) == 1
    with pytest.raises(JobNotFound):
        cluster.client.metrics(name)
    # Not only unreachable: the points left the metrics store.
    store = MetricStore(cluster.history_dir)
    try:
        until(lambda: store.page(record_id).series == [], f"record {record_id}'s points removed from the store")
    finally:
        store.close()
