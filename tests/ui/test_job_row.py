"""A job row: expands into its pods, asks for its log and output, renders facts as text.

Each test runs on both lines a row can have (row_line.py): core widgets, and the one model the
labextension draws; they must behave the same to the row and to the person.
"""

from __future__ import annotations

import html
import re

import pytest

from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.assistive import EXPANDED, EXPANDER, NAME_ONLY
from dtrain_jupyter.ui.job_row import JobRow, RowLook
from dtrain_jupyter.ui.row_line import WidgetLine
from dtrain_jupyter.ui.styles import PHASE_WIDTH

from .conftest import python_job, unique


@pytest.fixture(params=[False, True], ids=["core-widgets", "drawn-row"])
def labextension(request) -> bool:
    return request.param


@pytest.fixture
def make_row(labextension):
    """JobRow's constructor, for the line this test runs on."""
    def make(job, client, on_action, compact: bool = False, **kwargs) -> JobRow:
        return JobRow(job, client, on_action, compact=compact, look=RowLook(compact, labextension), **kwargs)
    return make


@pytest.fixture(scope="module")
def done_job(client):
    name = unique("row")
    client.create(python_job(name, "print('ok')", workers=2))
    job = client.wait(name, kind="PyTorchJob", timeout=90, progress=False)
    yield job
    client.delete(name, kind="PyTorchJob")


def test_clicking_the_name_expands_into_pods(make_row, client, done_job) -> None:
    row = make_row(done_job, client, lambda *a: None)
    assert row.line.name.startswith("▸")
    row.line.click("name")
    assert row.last_error is None
    assert row.expanded and row.pods is not None and row.pods in row.children
    assert row.line.name.startswith("▾")
    roles = [(p.replica_type, p.replica_index) for p in row.pods.pods]
    assert roles == [("Master", 0), ("Worker", 0), ("Worker", 1)]
    assert row.children == (*row.line.widgets, row.pods)  # the pods wrap under the first line
    row.line.click("name")
    assert row.children == row.line.widgets


def test_log_and_output_buttons_name_the_job(make_row, client, done_job) -> None:
    asked = []
    row = make_row(done_job, client, lambda action, job, pod: asked.append((action, job.name, pod)))
    row.line.click("log")
    row.line.click("output")
    row.line.click("name")
    row.pods.line(f"{done_job.name}-worker-1").log_button.click()
    assert asked == [("log", done_job.name, None), ("output", done_job.name, None),
                     ("log", done_job.name, f"{done_job.name}-worker-1")]


def test_facts_show_phase_ready_and_kind(make_row, client, done_job) -> None:
    row = make_row(done_job, client, lambda *a: None)
    assert "dtrain-phase-Succeeded" in row.line.facts
    assert "PyTorchJob" in row.line.facts and "local/default" in row.line.facts


def test_compact_rows_move_their_buttons_under_the_expanded_row(make_row, client, done_job) -> None:
    row = make_row(done_job, client, lambda *a: None, compact=True)
    row.line.click("name")
    assert row.children == (*row.line.widgets, *row.line.under, row.pods)
    if isinstance(row.line, WidgetLine):
        assert row.line.buttons["log"] not in row.line.widgets
        assert row.line.buttons["log"] in row.line.under[0].children
    else:  # the view puts its buttons in a box of their own under the line, shown while expanded
        assert row.line.buttons_under and row.line.expanded


def test_ages_reach_the_pods_only_while_they_are_shown(make_row, client, done_job, monkeypatch) -> None:
    row = make_row(done_job, client, lambda *a: None)
    row.line.click("name")
    refreshed = []
    monkeypatch.setattr(row.pods, "refresh_ages", lambda: refreshed.append(row.expanded))
    row.refresh_ages()
    row.line.click("name")
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


def test_the_phase_shows_once_and_the_reason_only_when_it_adds_words(make_row) -> None:
    row = make_row(_job(reason="PyTorchJobSucceeded", message="PyTorchJob j is successfully completed."),
                 client=None, on_action=lambda *a: None)
    text, title = _cell(row.line.facts, "status")
    assert text == "Succeeded"
    assert title == "Succeeded — PyTorchJobSucceeded — PyTorchJob j is successfully completed."
    row.job = _job(phase=Phase.FAILED, reason="PyTorchJobBackoffLimitExceeded", message="replica j-worker-0 failed")
    text, title = _cell(row.line.facts, "status")
    assert text == "Failed backoff limit exceeded"
    assert "PyTorchJobBackoffLimitExceeded" in title and "j-worker-0" in title


def test_a_status_title_is_escaped(make_row) -> None:
    row = make_row(_job(phase=Phase.FAILED, reason="Evil", message="it's <img src=x onerror=alert(1)>"),
                 client=None, on_action=lambda *a: None)
    assert "<img" not in row.line.facts
    assert "it&#x27;s &lt;img src=x onerror=alert(1)&gt;" in row.line.facts
    assert _cell(row.line.facts, "status")[1].endswith("it's <img src=x onerror=alert(1)>")


def test_mpi_kind_is_short_in_the_cell_and_whole_in_its_title(make_row) -> None:
    row = make_row(_job(kind="MPIJob"), client=None, on_action=lambda *a: None)
    assert _cell(row.line.facts, "kind") == ("MPI (Horovod)", "Horovod/MPIJob (kubeflow.org/v1)")


def test_a_compact_row_keeps_the_phase_whole_and_drops_the_other_facts(make_row) -> None:
    row = make_row(_job(phase=Phase.FAILED, reason="OOMKilled"), client=None, on_action=lambda *a: None, compact=True)
    assert re.findall(r"dtrain-col-(\w+)", row.line.facts) == ["status"]
    text, title = _cell(row.line.facts, "status")
    assert text == "Failed" and "OOMKilled" in title
    if isinstance(row.line, WidgetLine):
        assert row.line.facts_html.layout.width == PHASE_WIDTH and row.line.facts_html.layout.flex == "0 0 auto"
        assert row.line.name_button.layout.flex == "1 1 0%"
    else:
        assert row.line.part_styles["facts"] == f"width:{PHASE_WIDTH};min-width:{PHASE_WIDTH};flex:0 0 auto"
        assert row.line.part_styles["name"] == "flex:1 1 0%;min-width:0"


def test_the_checkbox_is_named_for_its_job(make_row) -> None:
    row = make_row(_job(), client=None, on_action=lambda *a: None)
    if isinstance(row.line, WidgetLine):
        assert row.line.check.tooltip == "Select j"
        # Its accessible name is its description (a <label>), out of sight: a title alone is not one.
        assert row.line.check.description == "Select j" and not row.line.check.description_allow_html
        assert NAME_ONLY in row.line.check._dom_classes
    else:  # the view draws the same label, NAME_ONLY and all (row_line.ts)
        assert row.line.check_label == "Select j"


def test_ticking_selects_the_row_and_selecting_ticks_it(make_row) -> None:
    row = make_row(_job(), client=None, on_action=lambda *a: None)
    row.line.selected = True  # as the person's tick arrives
    assert row.selected and "dtrain-row-selected" in row._dom_classes
    row.selected = False  # as the list's "select none" sets it
    assert not row.line.selected and "dtrain-row-selected" not in row._dom_classes


def test_the_name_is_an_expander_whose_state_keyboard_ts_can_read(make_row, client, done_job) -> None:
    row = make_row(done_job, client, lambda *a: None)
    assert not row.line.expanded and row.line.title("name").endswith("show its pods")
    if isinstance(row.line, WidgetLine):
        assert EXPANDER in row.line.name_button._dom_classes
    row.line.click("name")
    assert row.line.expanded and row.line.title("name").endswith("hide its pods")
    if isinstance(row.line, WidgetLine):
        assert EXPANDED in row.line.name_button._dom_classes
    row.line.click("name")
    assert not row.line.expanded


def test_closing_a_row_closes_every_model_its_line_and_pods_opened(make_row, client, done_job) -> None:
    row = make_row(done_job, client, lambda *a: None)
    row.line.click("name")
    buttons = row.line.buttons.values() if isinstance(row.line, WidgetLine) else ()
    opened = [row.pods, *row.line.widgets, *row.line.under, *buttons]
    row.close()
    assert [w for w in opened if w.comm is not None] == []


def test_a_drawn_line_acts_only_on_the_clicks_it_knows() -> None:
    asked = []
    row = JobRow(_job(), client=None, on_action=lambda action, job, pod: asked.append(action),
                 look=RowLook(labextension=True))
    for content in ({"event": "click", "part": ["log"]}, {"event": "click", "part": "delete"},
                    {"event": "focus"}, ["click"], {"event": "click", "part": "log"}):
        row.line._on_view_msg(row.line, content, None)
    assert asked == ["log"] and row.last_error is None


def test_the_drawn_row_asks_for_the_view_the_labextension_registers() -> None:
    from pathlib import Path

    from dtrain_jupyter.ui.own_widget import MODULE_NAME, MODULE_VERSION

    src = Path(__file__).resolve().parents[2] / "labextension" / "src"
    row = JobRow(_job(), client=None, on_action=lambda *a: None, look=RowLook(labextension=True))
    assert (row._model_module, row._model_module_version) == (MODULE_NAME, MODULE_VERSION)
    assert (row._view_module, row._view_module_version) == (MODULE_NAME, MODULE_VERSION)
    assert (row._model_name, row._view_name) == ("JobRowModel", "JobRowView")
    assert "moduleDefaults('JobRowModel', 'JobRowView')" in (src / "row_line.ts").read_text()
    assert "JobRowModel, JobRowView" in (src / "own_widgets.ts").read_text()
    # Every trait the model syncs has a default in the view's model (a missing one reads undefined).
    synced = {name for name in row.keys if name.startswith("line_")} | {"children"}
    ts = (src / "row_line.ts").read_text()
    assert [name for name in sorted(synced) if f"      {name}:" not in ts] == []
