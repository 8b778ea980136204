"""What opening the panel costs: widget models opened, messages sent, pages built, list primed.

Every widget model is a comm_open the kernel sends and the browser builds before anything
shows, and every later state change is one more comm_msg. These tests record the comm traffic
(the `comm` package's factory swapped for a recording one) and hold the first render to what a
person sees: the Jobs page, with its rows opened in their final state, the jobs already listed.
"""

from __future__ import annotations

from typing import Any, Iterator

import comm
import pytest
from comm.base_comm import BaseComm

from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.app import TABS, DTrainApp
from dtrain_jupyter.ui.job_row import JobRow, RowLook

from .conftest import python_job, unique


class RecordingComm(BaseComm):
    """A comm that keeps what it would publish: (msg_type, data)."""

    log: list[tuple[str, str, dict[str, Any]]] = []

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None, buffers: Any = None,
                    **keys: Any) -> None:
        RecordingComm.log.append((msg_type, self.comm_id, dict(data or {})))


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
    RecordingComm.log = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    yield RecordingComm.log


class NoClient:
    """The panel must not call its client while it is only being built (start=False)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"client.{name} called while building")


def a_job(i: int) -> Job:
    return Job("local", "PyTorchJob", "kubeflow.org/v1", f"job-{i}", "default", f"uid-{i}",
               f"2026-11-27T00:00:{i % 60:02d}Z", {}, JobStatus(phase=Phase.RUNNING, reason="Running"))


def opened(comms: list, cls_name: str) -> list[dict[str, Any]]:
    return [data["state"] for kind, _id, data in comms
            if kind == "comm_open" and data.get("state", {}).get("_model_name") == cls_name]


def test_a_row_opens_each_widget_once_in_its_final_state(comms) -> None:
    row = JobRow(a_job(7), client=NoClient(), on_action=lambda *a: None)
    updates = [c for c in comms if c[0] == "comm_msg"]
    assert updates == [], f"{len(updates)} updates after opening: {updates[:3]}"
    names = [s for s in opened(comms, "ButtonModel") if "dtrain-name" in s["_dom_classes"]]
    assert len(names) == 1 and names[0]["description"] == "▸ job-7"
    facts = opened(comms, "HTMLModel")
    assert len(facts) == 1 and "Running" in facts[0]["value"]
    assert row.line.name == "▸ job-7"


def test_an_update_of_a_shown_row_is_one_message(comms) -> None:
    row = JobRow(a_job(7), client=NoClient(), on_action=lambda *a: None)
    before = len(comms)
    changed = a_job(7)
    changed.status = JobStatus(phase=Phase.FAILED, reason="Failed")
    row.job = changed
    updates = comms[before:]
    assert [u[0] for u in updates] == ["comm_msg"]
    assert "Failed" in updates[0][2]["state"]["value"]


def test_a_drawn_row_is_one_model_opened_in_its_final_state(comms) -> None:
    look = RowLook(labextension=True)
    shared = len(comms)  # the list's looks, opened once for every row
    row = JobRow(a_job(7), client=NoClient(), on_action=lambda *a: None, look=look)
    mine = comms[shared:]
    assert [(kind, data["state"]["_model_name"]) for kind, _id, data in mine] == [("comm_open", "JobRowModel")]
    state = mine[0][2]["state"]
    assert state["line_name"] == "▸ job-7" and "Running" in state["line_facts"]
    assert state["line_check_label"] == "Select job-7" and state["children"] == []
    assert [part for part, _label, _title in state["line_buttons"]] == ["log", "output", "metrics"]
    assert state["_view_module"] == "dtrain-jupyter" and state["_view_name"] == "JobRowView"
    assert set(state["_dom_classes"]) == {"dtrain-job", "dtrain-row"}
    # One update: the facts and the name's arrow go together.
    before = len(comms)
    changed = a_job(7)
    changed.status = JobStatus(phase=Phase.FAILED, reason="Failed")
    row.job = changed
    assert [u[0] for u in comms[before:]] == ["comm_msg"]
    assert "Failed" in comms[before][2]["state"]["line_facts"]


@pytest.mark.parametrize("labextension, most", [(False, 7), (True, 1)], ids=["core-widgets", "drawn-row"])
def test_a_page_of_rows_opens_at_most_so_many_models_a_row(comms, labextension: bool, most: int) -> None:
    from dtrain_jupyter.ui.job_list import PAGE_SIZE, JobList

    job_list = JobList(NoClient(), lambda *a: None, labextension=labextension)
    before = sum(1 for c in comms if c[0] == "comm_open")
    job_list.jobs = tuple(a_job(i) for i in range(PAGE_SIZE + 10))
    rows = sum(1 for c in comms if c[0] == "comm_open") - before
    assert len(job_list.rows_box.children) == PAGE_SIZE
    assert rows <= most * PAGE_SIZE + 5, f"{rows} models for a page of {PAGE_SIZE} rows"


def test_the_panel_opens_only_its_jobs_page_until_another_tab_is_chosen(comms) -> None:
    app = DTrainApp(NoClient(), start=False)
    try:
        at_first = sum(1 for c in comms if c[0] == "comm_open")
        # The Jobs page: title, banner, toolbar, filters, header, footer... not the New/Log/Output pages.
        assert at_first < 120, f"{at_first} widget models before any job is listed"
        assert not app.pages.new.built and not app.pages.log.built and not app.pages.output.built
        app.tabs.selected_index = TABS.index("New")
        assert app.pages.new.built and not app.pages.yaml.built
        assert sum(1 for c in comms if c[0] == "comm_open") > at_first + 100  # the wizard came now
        assert app.pages.new.box.children and app.pages.wizard in app.pages.new_stack.children
        app.pages.mode.value = "YAML"
        assert app.pages.yaml.built and app.pages.new_stack.selected_index == 1
        app.tabs.selected_index = TABS.index("Output")
        assert app.pages.output.built and not app.pages.log.built
    finally:
        app.close()


def test_the_hidden_parts_are_opened_when_first_needed(comms) -> None:
    from dtrain_jupyter.ui.feed import SNAPSHOT, FeedItem

    def opened_classes() -> set[str]:
        return {css for kind, _id, data in comms if kind == "comm_open"
                for css in data.get("state", {}).get("_dom_classes", ())}

    hidden = {"dtrain-error-line", "dtrain-info", "dtrain-confirm", "dtrain-rerun", "dtrain-rerun-box"}
    app = DTrainApp(NoClient(), start=False)
    try:
        assert hidden & opened_classes() == set()
        app.apply([FeedItem(SNAPSHOT, [a_job(1), a_job(2)])])
        assert hidden & opened_classes() == set()  # a listed job needs none of them
        # The first error brings both message lines, under the banner.
        app.error = "It broke"
        assert {"dtrain-error-line", "dtrain-info"} <= opened_classes()
        # Each goes into its slot: the panel's, the page's and the toolbar's children stay as they
        # were, so the front end redraws none of the views it has (the list's, which holds the focus).
        assert app._lines_slot.children == (app.error_box, app.info_line)
        assert app.children.index(app._lines_slot) == app.children.index(app.banner) + 1
        panel, page, toolbar = app.children, app.jobs_page.children, app.toolbar.children
        assert app.error_box.layout.display == "" and "It broke" in app._lines.error_text.value
        app.dismiss.click()
        assert app.error_box.layout.display == "none"
        # The first tick brings the confirmation and the actions, hidden where they apply not.
        assert "dtrain-confirm" not in opened_classes()
        app.selected = ("uid-1",)
        assert {"dtrain-confirm", "dtrain-rerun", "dtrain-rerun-box"} <= opened_classes()
        assert app._selection_slot.children == (app.confirm_box, app.actions.editor_box)
        assert app._actions_slot.children == app.actions.buttons
        assert (app.children, app.jobs_page.children, app.toolbar.children) == (panel, page, toolbar)
        assert app.confirm_box.layout.display == "none" and app.actions.rerun_button.layout.display == ""
        app.delete_button.click()
        assert app.confirm_box.layout.display == "" and "job-1" in app.confirm_text.value
    finally:
        app.close()


def test_a_busy_panel_builds_its_selection_parts_busy(comms) -> None:
    from dtrain_jupyter.ui.feed import SNAPSHOT, FeedItem

    app = DTrainApp(NoClient(), start=False)
    try:
        app.apply([FeedItem(SNAPSHOT, [a_job(1)])])
        app.busy = True
        app.selected = ("uid-1",)
        assert app.confirm_yes.disabled and all(button.disabled for button in app.actions.buttons)
        app.busy = False
        assert not app.confirm_yes.disabled and not any(button.disabled for button in app.actions.buttons)
    finally:
        app.close()


def test_a_page_built_late_gets_what_the_panel_already_knows(comms) -> None:
    from dtrain_jupyter.ui.feed import BACKENDS, SNAPSHOT, FeedItem

    app = DTrainApp(NoClient(), start=False)
    try:
        backends = [{"name": "local", "ready": True, "namespaces": ["default"], "default_namespace": "default"}]
        app.apply([FeedItem(BACKENDS, backends), FeedItem(SNAPSHOT, [a_job(1)])])
        wizard = app.pages.wizard  # built now, after the facts arrived
        assert wizard.backends == tuple(backends)
        assert ("local", "default", "job-1") in wizard.taken
        assert app.pages.yaml_editor is not None
    finally:
        app.close()


def test_the_first_render_already_lists_the_jobs(client) -> None:
    name = unique("prime")
    client.create(python_job(name, "import time; time.sleep(30)"))
    try:
        app = DTrainApp(client, poll_timeout=1.0)
        try:
            # No tick: the constructor waited for the first list and applied it.
            assert any(j.name == name for j in app.jobs)
            assert any(name in row.line.name for row in app.job_list.rows_box.children)
        finally:
            app.close()
    finally:
        client.delete(name, kind="PyTorchJob")


def test_an_unreachable_server_does_not_hold_the_first_render_back(client) -> None:
    from dtrain_jupyter.client import Client

    from tests.server.live import free_port

    dead = Client(url=f"http://127.0.0.1:{free_port()}/", token="x")
    app = DTrainApp(dead, poll_timeout=1.0)
    try:
        # The first answer was a failure: it is shown at once, and the panel is there to show it.
        assert "retrying" in app.banner.showing
        assert app.jobs == ()
    finally:
        app.close()
        dead.close()


def test_the_panel_displays_as_one_short_line_of_text(client) -> None:
    # display() puts the text/plain repr beside the widget view; ipywidgets' own spells out every
    # widget of the tree (a page of rows: thousands of characters, ~30 ms of the cold click).
    app = DTrainApp(client, poll_timeout=1.0)
    try:
        bundle = app._repr_mimebundle_()
        assert bundle["text/plain"] == f"<Distributed Training panel: {len(app.jobs)} jobs>"
        assert "application/vnd.jupyter.widget-view+json" in bundle
    finally:
        app.close()
    assert repr(app) == "<Distributed Training panel (closed)>"


class NoPods:
    """A client whose job has no pods and no events yet."""

    def pods(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def events(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


@pytest.mark.parametrize("labextension", [False, True], ids=["core-widgets", "drawn-row"])
def test_expanding_a_row_sends_its_line_one_message(comms, labextension: bool) -> None:
    row = JobRow(a_job(7), client=NoPods(), on_action=lambda *a: None, look=RowLook(labextension=labextension))
    # A drawn row's line is its own model: the state and the new children go as one message then.
    line_models = {w.comm.comm_id for w in row.line.widgets} or {row.comm.comm_id}
    before = len(comms)
    row.expanded = True
    to_line = [data["state"] for kind, comm_id, data in comms[before:] if kind == "comm_msg" and comm_id in line_models]
    # The expander's state and its arrow (▾) together, in one message.
    assert len(to_line) == 1, to_line
    assert "▾ job-7" in str(to_line[0])
    assert row.line.expanded and row.line.name == "▾ job-7"
    assert row.pods in row.children


def test_a_row_is_as_compact_as_its_look_says() -> None:
    # The look is the list's one word on it; the argument only builds a look when none is given.
    assert JobRow(a_job(1), client=NoClient(), on_action=lambda *a: None, compact=True,
                  look=RowLook(False)).compact is False
    assert JobRow(a_job(2), client=NoClient(), on_action=lambda *a: None, compact=True).compact is True
