"""The metric views' parts (issue 15's review): closing closes every model, and the TensorBoard button.

ipywidgets' `close` closes one model; a chart is about thirty. These tests count the models
ipywidgets holds open (`Widget.widgets`) around opening a view on one job, then another, and
around closing it, with a client that answers from memory so nothing else opens models.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import ipywidgets as widgets

from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.metric_series import MetricSeries, MetricsPage
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.compare import CompareView, MetricsTab
from dtrain_jupyter.ui.metrics_view import MetricsView
from dtrain_jupyter.ui.run_details import RunDetails


def open_models() -> set[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Widget.widgets: ipywidgets' one registry of models
        return set(widgets.Widget.widgets)


def ended_job(name: str) -> Job:
    return Job("local", "PyTorchJob", "kubeflow.org/v1", name, "default", f"uid-{name}", "2026-11-27T00:00:00Z", {},
               JobStatus(phase=Phase.SUCCEEDED, reason="Succeeded"))


class MemoryClient:
    """Every job has ended with a loss and an accuracy per worker: one page, then nothing more."""

    def metrics(self, name: str, **_ref: Any) -> MetricsPage:
        series = [MetricSeries(f"worker-{r}", metric, "log", [0, 1, 2], [1.0, 2.0, 3.0], [0.9, 0.5, 0.3])
                  for r in range(2) for metric in ("loss", "accuracy")]
        return MetricsPage(cursor=3, reset=False, series=series, progress=None, finished=True)

    def job_path(self, name: str, **_ref: Any) -> str:
        return name

    def metrics_at(self, path: str, **_read: Any) -> MetricsPage:
        return self.metrics(path)


def drawn(view: Any) -> None:
    """Flush until the view has drawn its charts (its reader thread reads once)."""
    for _ in range(200):
        view.flush()
        if view.grid.charts and all(c.points_drawn() for c in view.grid.charts.values()):
            return
        time.sleep(0.01)
    raise AssertionError("the view drew no charts")


def test_metrics_on_another_job_leaves_no_model_of_the_first_open() -> None:
    before = open_models()
    view = MetricsView(MemoryClient(), wait=0)
    view.show(ended_job("a"))
    drawn(view)
    after_first = len(open_models())
    view.show(ended_job("b"))
    drawn(view)
    # The same two charts again, new models in place of the old: no more open than before.
    assert len(open_models()) == after_first
    view.close()
    assert open_models() - before == set()


def test_compare_shown_again_and_closed_leaves_nothing_open() -> None:
    before = open_models()
    view = CompareView(MemoryClient(), wait=0)
    view.show([ended_job("a"), ended_job("b")])
    drawn(view)
    once = len(open_models())
    view.show([ended_job("a"), ended_job("c")])
    drawn(view)
    assert len(open_models()) == once
    view.close()
    assert open_models() - before == set()


def test_the_metrics_tab_and_run_details_close_with_their_parts() -> None:
    before = open_models()
    tab = MetricsTab(MemoryClient(), wait=0)
    tab.show([ended_job("a")])
    drawn(tab.single)
    tab.close()
    assert open_models() - before == set()
    details = RunDetails(MemoryClient(), ended_job("a"), start=False, wait=0)
    details.metrics.show(details.job)
    drawn(details.metrics)
    details.close()
    assert open_models() - before == set()


class TensorBoardClient(MemoryClient):
    """A job whose code wrote TensorBoard event files, on a server that opens TensorBoard."""

    def __init__(self) -> None:
        self.opened: list[list[str]] = []

    def metrics(self, name: str, **_ref: Any) -> MetricsPage:
        page = super().metrics(name)
        scalars = MetricSeries(".", "train/loss", "tensorboard", [0, 1], [1.0, 2.0], [0.7, 0.6])
        return MetricsPage(page.cursor, False, [*page.series, scalars], None, True)

    def open_tensorboard(self, jobs: list[Job]) -> str:
        self.opened.append([j.name for j in jobs])
        return "http://127.0.0.1:8888/dtrain/tensorboard/"


def test_the_metrics_view_offers_tensorboard_only_with_scalars_and_a_panel_to_open_it() -> None:
    view = MetricsView(TensorBoardClient(), wait=0)
    view.show(ended_job("a"))
    drawn(view)
    assert view.tensorboard_button.layout.display == "none"  # no panel: nothing would open it
    opened: list[Job] = []
    view.on_tensorboard = opened.append
    view.show(ended_job("b"))
    drawn(view)
    assert view.tensorboard_button.layout.display == ""
    view.tensorboard_button.click()
    assert [j.name for j in opened] == ["b"]
    view.show(ended_job("c"))
    assert view.tensorboard_button.layout.display == "none"  # until c's scalars are read
    view.close()
    plain = MetricsView(MemoryClient(), wait=0)
    plain.on_tensorboard = opened.append
    plain.show(ended_job("d"))
    drawn(plain)
    assert plain.tensorboard_button.layout.display == "none"
    plain.close()


def test_the_panels_metrics_view_opens_the_jobs_tensorboard() -> None:
    from dtrain_jupyter.ui.app import DTrainApp
    from dtrain_jupyter.ui.tensorboard_action import LINK_CLASS

    client = TensorBoardClient()
    app = DTrainApp(client, start=False)
    try:
        app.show_metrics([ended_job("a")])
        view = app.metrics_page.get().single
        drawn(view)
        view.tensorboard_button.click()
        assert client.opened == [["a"]] and app.error == ""
        assert LINK_CLASS in app.info_line.value and 'href="/dtrain/tensorboard/"' in app.info_line.value
    finally:
        app.close()
