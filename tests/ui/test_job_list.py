"""The job list: rows keyed by uid update in place, filters, selection rules, a thousand jobs."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from dtrain_jupyter.model.job import Job, JobStatus, ReplicaCounts
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.job_list import PAGE_SIZE, JobList
from dtrain_jupyter.ui.row_line import WidgetLine, css_text


def make_job(i: int, kind: str = "PyTorchJob", phase: Phase = Phase.RUNNING, name: str | None = None) -> Job:
    """A job as the client returns it (the list only reads data; no server needed for that)."""
    return Job(backend="local", kind=kind, api_version="kubeflow.org/v1", name=name or f"job-{i:04d}",
               namespace="default", uid=f"uid-{i}", created=f"2026-11-26T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
               manifest={}, status=JobStatus(phase=phase, reason=str(phase),
                                             replicas={"Worker": ReplicaCounts(replicas=2, active=1)}))


@pytest.fixture
def job_list(client) -> JobList:
    return JobList(client, lambda action, job, pod: None)


def test_a_change_updates_only_that_row_in_place(job_list: JobList) -> None:
    jobs = tuple(make_job(i) for i in range(5))
    job_list.jobs = jobs
    children = job_list.rows_box.children
    rows = {uid: job_list.rows[uid] for uid in job_list.visible}
    before = {uid: row.line.facts for uid, row in rows.items()}
    done = replace(jobs[2], status=JobStatus(phase=Phase.SUCCEEDED, reason="PyTorchJobSucceeded"))
    job_list.jobs = (*jobs[:2], done, *jobs[3:])
    assert job_list.rows_box.children is children or job_list.rows_box.children == children
    assert job_list.rows["uid-2"] is rows["uid-2"]
    assert "Succeeded" in rows["uid-2"].line.facts
    assert all(rows[uid].line.facts == before[uid] for uid in rows if uid != "uid-2")


def test_rows_are_added_and_removed_by_a_new_children_tuple(job_list: JobList) -> None:
    job_list.jobs = (make_job(1), make_job(2))
    assert len(job_list.rows_box.children) == 2
    job_list.jobs = (make_job(2), make_job(3))
    assert [r.job.uid for r in job_list.rows_box.children] == ["uid-3", "uid-2"]  # newest first
    assert "uid-1" not in job_list.rows


@pytest.mark.parametrize("field, value, expected", [
    ("text", "job-0003", ["uid-3"]),
    ("kind", "TFJob", ["uid-5", "uid-4"]),
    ("phase", "Failed", ["uid-5"]),
], ids=["text", "kind", "phase"])
def test_filters(job_list: JobList, field: str, value: str, expected: list[str]) -> None:
    job_list.jobs = (*(make_job(i) for i in range(4)), make_job(4, kind="TFJob"),
                     make_job(5, kind="TFJob", phase=Phase.FAILED))
    getattr(job_list, field).value = value
    assert [r.job.uid for r in job_list.rows_box.children] == expected
    getattr(job_list, field).value = "" if field == "text" else "All"
    assert len(job_list.rows_box.children) == 6


def test_selection_keeps_only_known_jobs_and_follows_the_checkboxes(job_list: JobList) -> None:
    job_list.jobs = (make_job(1), make_job(2))
    job_list.selected = ("uid-1", "nope", "uid-1")
    assert job_list.selected == ("uid-1",)
    assert job_list.rows["uid-1"].line.selected is True
    job_list.rows["uid-2"].line.selected = True
    assert job_list.selected == ("uid-1", "uid-2")
    job_list.jobs = (make_job(2),)
    assert job_list.selected == ("uid-2",)


def test_a_thousand_jobs_show_a_bounded_page(job_list: JobList) -> None:
    job_list.jobs = tuple(make_job(i) for i in range(1000))
    assert len(job_list.rows_box.children) == job_list.limit == PAGE_SIZE
    assert len(job_list.rows) == PAGE_SIZE, "rows are built only for jobs on screen"
    assert f"Showing {PAGE_SIZE} of 1000" in job_list.footer.value
    job_list.more.click()
    assert len(job_list.rows_box.children) == 2 * PAGE_SIZE
    job_list.text.value = "job-0999"
    assert [r.job.name for r in job_list.rows_box.children] == ["job-0999"]
    assert job_list.more.layout.display == "none"


def test_names_and_reasons_are_text_not_markup(job_list: JobList) -> None:
    job = make_job(1)
    job.status.reason = "<img src=x onerror=alert(1)>"
    job_list.jobs = (job,)
    row = job_list.rows["uid-1"]
    assert "<img" not in row.line.facts
    assert "&lt;img src=x onerror=alert(1)&gt;" in row.line.facts


def _header_titles(job_list: JobList) -> list[str]:
    """The header's column titles as a person reads them, left to right."""
    texts = [w.value for w in job_list.header.children if hasattr(w, "value") and isinstance(w.value, str)]
    return [t for t in re.findall(r">([^<>]+)<", "".join(texts)) if t.strip()]


def _layout_css(layout) -> dict[str, str]:
    """A Layout's sizes as CSS declarations, to hold against a drawn line's part_styles."""
    return _declarations(css_text({key: getattr(layout, key) for key in ("width", "min_width", "flex")
                                   if getattr(layout, key)}))


def _declarations(css: str) -> dict[str, str]:
    return dict(each.split(":", 1) for each in css.split(";") if each)


@pytest.mark.parametrize("labextension", [False, True], ids=["core-widgets", "drawn-line"])
def test_the_header_names_the_columns_a_row_shows(client, labextension: bool) -> None:
    wide = JobList(client, lambda *a: None, labextension=labextension)
    assert _header_titles(wide) == ["Name", "Kind", "Where", "Status", "Ready", "Age", "Duration"]
    # Built from the rows' own sizes, so each title stands above its column at any width.
    wide.jobs = (make_job(1),)
    line = wide.rows["uid-1"].line
    header = [w.layout for w in wide.header.children]
    if isinstance(line, WidgetLine):
        assert header == [line.check.layout, line.name_button.layout, line.facts_html.layout,
                          *(line.buttons[part].layout for part in ("log", "output", "metrics"))]
    else:
        parts = ("check", "name", "facts", "log", "output", "metrics")
        assert [_layout_css(layout) for layout in header] == [_declarations(line.part_styles[part]) for part in parts]


@pytest.mark.parametrize("labextension", [False, True], ids=["core-widgets", "drawn-line"])
def test_compact_layout_keeps_the_phase_whole_and_its_header_matches(client, labextension: bool) -> None:
    # Issue 17: the sidebar cut its cells to "Succe…" under a header cut to "R..".
    narrow = JobList(client, lambda *a: None, compact=True, labextension=labextension)
    narrow.jobs = (make_job(1),)
    line = narrow.rows["uid-1"].line
    assert "Running" in line.facts
    assert "1/2" not in line.facts and "local/default" not in line.facts
    assert _header_titles(narrow) == ["Name", "Status"]
    header = [w.layout for w in narrow.header.children]
    if isinstance(line, WidgetLine):
        assert header == [line.check.layout, line.name_button.layout, line.facts_html.layout]
    else:
        assert [_layout_css(layout) for layout in header] == [_declarations(line.part_styles[p])
                                                             for p in ("check", "name", "facts")]


def test_the_kind_filter_says_mpi_horovod(job_list: JobList) -> None:
    assert ("MPI (Horovod)", "MPIJob") in job_list.kind.options


def test_select_all_ticks_every_shown_job_and_only_those(job_list: JobList) -> None:
    job_list.jobs = (*(make_job(i) for i in range(3)), make_job(3, kind="TFJob"))
    job_list.kind.value = "PyTorchJob"  # uid-3 is filtered out
    job_list.select_all.value = True
    assert set(job_list.selected) == {"uid-0", "uid-1", "uid-2"}
    assert all(job_list.rows[uid].line.selected for uid in ("uid-0", "uid-1", "uid-2"))
    job_list.select_all.value = False
    assert job_list.selected == ()


def test_select_all_leaves_hidden_ticks_alone(job_list: JobList) -> None:
    job_list.jobs = (make_job(1), make_job(2, kind="TFJob"))
    job_list.selected = ("uid-2",)
    job_list.kind.value = "PyTorchJob"
    job_list.select_all.value = True
    assert job_list.selected == ("uid-2", "uid-1")
    job_list.select_all.value = False
    assert job_list.selected == ("uid-2",)


def test_select_all_shows_whether_every_shown_row_is_ticked(job_list: JobList) -> None:
    job_list.jobs = (make_job(1), make_job(2))
    job_list.rows["uid-1"].line.selected = True
    assert job_list.select_all.value is False, "only some are ticked: unticked, not ticked"
    job_list.rows["uid-2"].line.selected = True
    assert job_list.select_all.value is True
    job_list.rows["uid-2"].line.selected = False
    assert job_list.select_all.value is False
    assert job_list.selected == ("uid-1",), "unticking a row must not untick the others through select_all"
    job_list.jobs = (make_job(1), make_job(2), make_job(3))
    job_list.rows["uid-2"].line.selected = True
    assert job_list.select_all.value is False, "a new unticked row"


def test_select_all_with_no_rows_stays_unticked(job_list: JobList) -> None:
    job_list.select_all.value = True
    assert job_list.select_all.value is False and job_list.selected == ()
