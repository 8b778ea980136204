"""The Metrics view, Compare and the rows' progress, on a real server with real local jobs.

The jobs print `loss=...` lines (the log recogniser's shape) or call `report()`; the views read
them through `Client.metrics` as the panel does, and the tests drain them where the kernel loop
would (`flush()`, `app.tick()`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

from dtrain_jupyter.client import Client
from dtrain_jupyter.model.job import Job
from dtrain_jupyter.ui.compare import CompareView, lead_replica
from dtrain_jupyter.ui.metrics_view import MetricsView, kernel_waker

from .conftest import WAIT_TIMEOUT_S, finished, job_named, python_job, unique, until

LOSS_LINES = ("import time\n"
              "for step in range({n}):\n"
              "    print(f'step {{step}} loss={{1.0 / (step + 1):.4f}} accuracy={{step / {n}:.3f}}', flush=True)\n"
              "    time.sleep({pause})\n")
PROGRESS_JOB = ("import time\n"
                "from dtrain_jupyter import report\n"
                "for step in range(400):\n"
                "    report(step=step, loss=1.0 / (step + 1), progress=step / 400)\n"
                "    time.sleep(0.25)\n")


def drain(view: Any, predicate: Callable[[], Any], what: str, timeout: float = WAIT_TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        view.flush()
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; status: {view.status.value!r}")
        time.sleep(0.1)


def create(client: Client, name: str, program: str, workers: int = 1) -> Job:
    return client.create(python_job(name, program, workers=workers), backend="local")


def test_a_finished_jobs_metrics_show_one_chart_per_name_with_every_replica(client: Client) -> None:
    name = unique("metrics")
    job = create(client, name, LOSS_LINES.format(n=12, pause=0))
    job = client.wait(name, backend="local", progress=False)
    view = MetricsView(client, wait=2)
    try:
        view.show(job)
        drain(view, lambda: view.follower.finished and set(view.grid.charts) >= {"loss", "accuracy"}, "both charts")
        loss = view.grid.charts["loss"]
        # A PyTorchJob with one worker: master-0 and worker-0 both printed twelve points.
        assert sorted(c.label for c in loss.curves) == ["master-0", "worker-0"]
        assert all(len(c.value) == 12 for c in loss.curves)
        assert loss.curves[0].step[:3] == [0, 1, 2] and loss.curves[0].value[0] == 1.0
        assert loss.points_drawn() > 0 and "master-0" in loss.legend.value
        assert "the job has ended" in view.status.value and view.empty.value == ""
        assert list(view.grid.charts) == ["loss", "accuracy"]  # the headline metric first
    finally:
        view.close()


def test_a_running_job_is_followed_until_it_ends(client: Client) -> None:
    name = unique("metrics-live")
    job = create(client, name, LOSS_LINES.format(n=30, pause=0.2))
    view = MetricsView(client, wait=5)
    try:
        view.show(job)
        first = drain(view, lambda: view.grid.charts.get("loss") and len(view.grid.charts["loss"].curves[0].value),
                      "the first points")
        assert "following new points" in view.status.value or view.follower.finished
        drain(view, lambda: view.follower.finished, "the end of the job")
        assert all(len(c.value) == 30 for c in view.grid.charts["loss"].curves)
        assert first <= 30
    finally:
        view.close()


def test_a_job_without_metrics_says_how_to_report_them(client: Client) -> None:
    name = unique("metrics-none")
    job = create(client, name, "print('hello, no numbers here')")
    job = client.wait(name, backend="local", progress=False)
    view = MetricsView(client, wait=2)
    try:
        view.show(job)
        drain(view, lambda: view.follower.finished, "the end")
        assert "No metrics yet" in view.empty.value and "loss=0.21" in view.empty.value
        assert view.grid.charts == {}
    finally:
        view.close()


def test_an_unknown_job_is_said_in_words(client: Client) -> None:
    ghost = Job(name=unique("ghost"), kind="PyTorchJob", namespace="default", backend="local",
                api_version="kubeflow.org/v1", uid="", created="", manifest={})
    view = MetricsView(client, wait=1)
    try:
        view.show(ghost)
        drain(view, lambda: view.follower.gone, "the NotFound")
        assert "Cannot read metrics" in view.status.value and ghost.name in view.status.value
        assert "Traceback" not in view.status.value and "trying again" not in view.status.value
    finally:
        view.close()


def test_compare_overlays_one_curve_per_job_named_in_the_legend(client: Client) -> None:
    names = [unique("cmp-a"), unique("cmp-b")]
    for n in names:
        create(client, n, LOSS_LINES.format(n=8, pause=0))
    jobs = [client.wait(n, backend="local", progress=False) for n in names]
    view = CompareView(client, wait=2)
    try:
        view.show(jobs)
        drain(view, lambda: not any(not f.finished for f in view.followers) and "loss" in view.grid.charts,
              "both jobs")
        loss = view.grid.charts["loss"]
        assert [c.label for c in loss.curves] == [f"{names[0]} (master-0)", f"{names[1]} (master-0)"]
        assert all(n in loss.legend.value for n in names)
        assert "first replica" in view.title.value and "Every job has ended." in view.status.value
    finally:
        view.close()


def test_the_lead_replica_is_the_master_else_worker_zero() -> None:
    assert lead_replica(["worker-1", "worker-0", "master-0"]) == "master-0"
    assert lead_replica(["worker-1", "worker-0"]) == "worker-0"
    assert lead_replica(["launcher-0", "worker-0"]) == "launcher-0"
    assert lead_replica(["./runs/a", "./runs/b"]) == "./runs/a"


def test_the_panel_opens_metrics_from_a_row_and_compare_from_the_toolbar(app: Any, client: Client) -> None:
    names = [unique("panel-m1"), unique("panel-m2")]
    for n in names:
        create(client, n, LOSS_LINES.format(n=5, pause=0))
    for n in names:
        until(app, lambda n=n: finished(app, n), what=f"{n} to finish")
    app.job_list.row_by_name(names[0]).line.click("metrics")
    assert app.tabs.selected_index == 4 and app.error == ""
    page = app.metrics_page.part
    until(app, lambda: "loss" in page.single.grid.charts and page.single.follower.finished, what="the charts")
    assert page.single.layout.display == "" and page.compare.layout.display == "none"
    app.selected = tuple(job_named(app, n).uid for n in names)
    assert app.actions.metrics_button.layout.display == ""
    app.actions.metrics_button.click()
    until(app, lambda: "loss" in page.compare.grid.charts
          and len(page.compare.grid.charts["loss"].curves) == 2, what="the comparison")
    assert page.compare.layout.display == "" and page.single.layout.display == "none"


def test_a_running_job_row_shows_its_progress_and_eta(app: Any, client: Client) -> None:
    name = unique("progress")
    create(client, name, PROGRESS_JOB)
    try:
        until(app, lambda: job_named(app, name) and job_named(app, name).phase.value == "Running",
              what="the job to run")
        row = app.job_list.row_by_name(name)
        until(app, lambda: "<progress" in row.line.facts and "ETA" in row.line.facts, what="progress and ETA")
        assert f"Progress of {name}: " in row.line.facts and "% done, about" in row.line.facts
    finally:
        client.delete(name, backend="local")


def test_a_burst_of_pages_wakes_the_kernel_loop_once_on_its_own_thread() -> None:
    assert kernel_waker(lambda: None) is None  # no loop runs here: the caller drains

    async def burst() -> tuple[list[int], int]:
        ran: list[int] = []
        wake = kernel_waker(lambda: ran.append(threading.get_ident()))
        assert wake is not None
        reader = threading.Thread(target=lambda: [wake() for _ in range(5)])
        reader.start()
        reader.join()
        await asyncio.sleep(0.05)
        wake()  # a page after the flush ran wakes it again
        await asyncio.sleep(0.05)
        return ran, threading.get_ident()

    ran, loop_thread = asyncio.run(burst())
    assert ran == [loop_thread, loop_thread]
