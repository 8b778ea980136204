"""What a page of rows costs in widget models: the bound the panel's first render rests on.

Every widget model is a comm_open the kernel sends and the browser builds (and, on the click,
styles and lays out) before the rows show (issue 18). A row is its box, its checkbox, its name
button, its facts and its Log and Output buttons; every Layout and Style is shared by the list
(job_row.RowLook). These tests count the models a page of PAGE_SIZE rows opens against that
design, and check the list shows no more rows than a page until asked.
"""

from __future__ import annotations

from typing import Any, Iterator

import comm
import pytest
from comm.base_comm import BaseComm

from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.app import DTrainApp
from dtrain_jupyter.ui.feed import SNAPSHOT, FeedItem
from dtrain_jupyter.ui.job_list import PAGE_SIZE

# The widgets of one row (box, checkbox, name, facts, Log, Output, Metrics); none brings a Layout or Style of its own.
MODELS_PER_ROW = 7


class CountingComm(BaseComm):
    """A comm that records the model name of each widget it opens instead of sending it."""

    opened: list[str] = []

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        if msg_type == "comm_open":
            CountingComm.opened.append((data or {}).get("state", {}).get("_model_name", "?"))


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    CountingComm.opened = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: CountingComm(*a, **k))
    yield CountingComm.opened


class NoClient:
    """The list is fed by apply() here; building the panel must not call the client."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"client.{name} called while building")


def some_jobs(n: int) -> list[Job]:
    return [Job("local", "PyTorchJob", "kubeflow.org/v1", f"job-{i}", "default", f"uid-{i}",
                f"2026-11-27T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z", {},
                JobStatus(phase=Phase.RUNNING, reason="Running")) for i in range(n)]


def test_a_page_of_rows_opens_seven_models_a_row_and_no_layout_or_style(opened) -> None:
    app = DTrainApp(NoClient(), start=False)
    try:
        chrome = len(opened)
        app.apply([FeedItem(SNAPSHOT, some_jobs(1000))])
        rows = opened[chrome:]
        assert len(app.job_list.rows_box.children) == PAGE_SIZE
        assert len(rows) <= PAGE_SIZE * MODELS_PER_ROW, f"{len(rows)} models for {PAGE_SIZE} rows"
        shared = [name for name in rows if name in ("LayoutModel", "CheckboxStyleModel", "ButtonStyleModel",
                                                    "HTMLStyleModel")]
        assert shared == [], f"rows opened looks of their own: {shared[:5]}"
    finally:
        app.close()


def test_show_more_opens_only_the_next_page(opened) -> None:
    app = DTrainApp(NoClient(), start=False)
    try:
        app.apply([FeedItem(SNAPSHOT, some_jobs(1000))])
        before = len(opened)
        app.job_list.more.click()
        assert len(app.job_list.rows_box.children) == 2 * PAGE_SIZE
        assert len(opened) - before <= PAGE_SIZE * MODELS_PER_ROW
    finally:
        app.close()
