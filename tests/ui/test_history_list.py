"""The panel's job history against a live server: past jobs listed and marked, the Show choice,
search and dates, paging one history page at a time, Re-run, Edit and re-run, Forget, Suspend and
Resume, and a server without a history."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from dtrain_jupyter.client import Client
from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.app import TABS, DTrainApp
from dtrain_jupyter.ui.history_filters import as_removed, parse_bound, shows, within
from dtrain_jupyter.ui.job_row import PAST
from tests.server.live import LiveServer

from .conftest import finished, job_named, python_job, unique, until


def solo(name: str, program: str) -> dict[str, Any]:
    """A PyTorchJob of one Master replica running `program` (one pod: quick, one log)."""
    manifest = python_job(name, program)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    return manifest


def past_row(app: DTrainApp, name: str) -> Any:
    """The row of the past job `name` once the list shows it, else None."""
    job = next((j for j in app.job_list.past if j.name == name), None)
    if job is None or job.uid not in app.job_list.visible:
        return None
    return app.job_list.rows[job.uid]


def shown_names(app: DTrainApp) -> list[str]:
    return [app.job_list.rows[uid].job.name for uid in app.job_list.visible]


def run_and_delete(client: Client, app: DTrainApp, name: str, program: str = "print('done')") -> None:
    """Create a job, let it finish, wait for its log in the history, then delete it."""
    client.create(solo(name, program))
    until(app, lambda: finished(app, name), what=f"{name} to finish")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        records = [j for j in client.history(search=name) if j.name == name]
        if records and records[0].record["log_bytes"] > 0 and not records[0].record["incomplete_logs"] \
                and not records[0].record["archiving"]:
            break
        time.sleep(0.2)
    client.delete(name, kind="PyTorchJob")
    until(app, lambda: job_named(app, name) is None, what=f"{name} to leave the cluster")


def test_a_deleted_job_stays_listed_as_removed_and_opens_from_the_history(app: DTrainApp, client: Client) -> None:
    name = unique("past")
    run_and_delete(client, app, name, "print('archived line', flush=True)")
    row = until(app, lambda: past_row(app, name), what=f"{name} as a past row")
    assert PAST in row._dom_classes
    assert ">Removed</span>" in row.line.facts
    assert "Removed from the cluster at " in row.line.facts  # the time is on hover
    assert "Succeeded" in row.line.facts
    # It expands like a live row: its pods as last seen, from its record.
    row.line.click("name")
    assert f"{name}-master-0" in [line.pod.name for line in row.pods._lines.values()]
    assert "as last seen" in row.pods.past_line.value
    # Its Log is the archived one.
    row.line.click("log")
    assert app.tabs.selected_index == TABS.index("Log")
    until(app, lambda: any("archived line" in line for line in app.pages.log_view.visible_lines()),
          what="the archived log")
    assert app.error == ""


def test_the_show_choice_and_search_and_dates(app: DTrainApp, client: Client) -> None:
    tag = unique("show")
    live, gone = f"{tag}-live", f"{tag}-gone"
    run_and_delete(client, app, gone)
    client.create(solo(live, "import time; time.sleep(60)"))
    until(app, lambda: job_named(app, live), what=live)
    app.job_list.text.value = tag
    until(app, lambda: sorted(shown_names(app)) == [gone, live], what="both jobs under All")
    assert app.job_list.history_filters.layout.display == ""
    app.job_list.show.value = "Live"
    until(app, lambda: shown_names(app) == [live], what="only the live job")
    app.job_list.show.value = "Finished"
    until(app, lambda: shown_names(app) == [gone], what="only the finished, removed job")
    app.job_list.show.value = "All"
    # Search: a word of the name, and "removed" finds the past ones.
    app.job_list.text.value = f"{tag} removed"
    until(app, lambda: shown_names(app) == [gone], what="the removed job by its word")
    app.job_list.text.value = tag
    # Dates: a range before the jobs shows none of them; a bad date is said at the field and
    # leaves the list as it was.
    app.job_list.until_text.value = "2001-01-01"
    until(app, lambda: shown_names(app) == [], what="no job created before 2001")
    app.job_list.until_text.value = "yesterday"
    assert "To: &#x27;yesterday&#x27; is not a date" in app.job_list.date_error.value
    assert app.job_list.date_error.layout.display == ""
    assert shown_names(app) == []
    app.job_list.until_text.value = ""
    until(app, lambda: sorted(shown_names(app)) == [gone, live], what="both jobs again")
    assert app.job_list.date_error.layout.display == "none"
    client.delete(live, kind="PyTorchJob")


def test_show_more_reads_only_the_next_history_page(app: DTrainApp, client: Client, monkeypatch) -> None:
    tag = unique("page")
    names = [f"{tag}-{i}" for i in range(3)]
    for name in names:
        run_and_delete(client, app, name)
    calls: list[dict[str, Any]] = []
    real = client.history

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(client, "history", counted)
    app.job_list.history_page = 2
    app.job_list.text.value = tag
    until(app, lambda: len(shown_names(app)) == 2, what="the first page")
    assert shown_names(app) == [names[2], names[1]], "newest first"
    assert len(calls) == 1 and calls[0]["limit"] == 2 and calls[0]["after"] is None
    assert app.job_list.more.layout.display == "" and "Show more" in app.job_list.footer.value
    app.job_list.more.click()
    assert len(calls) == 2 and calls[1]["after"], "exactly one more page, from the cursor"
    assert shown_names(app) == [names[2], names[1], names[0]]
    assert app.job_list.more.layout.display == "none"


def test_rerun_creates_name_run2_and_selects_it(app: DTrainApp, client: Client) -> None:
    name = unique("again")
    run_and_delete(client, app, name, "print('once more', flush=True)")
    row = until(app, lambda: past_row(app, name), what=f"{name} as a past row")
    assert app.actions.rerun_button.layout.display == "none", "nothing ticked, nothing to re-run"
    row.line.selected = True
    assert app.actions.rerun_button.layout.display == ""
    assert app.actions.forget_button.layout.display == ""
    assert app.actions.suspend_button.layout.display == "none", "a past job cannot be suspended"
    app.actions.rerun_button.click()
    assert app.error == ""
    new = job_named(app, f"{name}-run2")
    assert new is not None and app.selected == (new.uid,)
    assert app.info == f"Re-run of PyTorchJob/{name} (local/default) created as {name}-run2"
    until(app, lambda: (j := finished(app, f"{name}-run2")) and j.phase == Phase.SUCCEEDED, what="the re-run")
    client.delete(f"{name}-run2", kind="PyTorchJob")


def test_edit_and_rerun_through_the_yaml(app: DTrainApp, client: Client, monkeypatch) -> None:
    name = unique("edit")
    client.create(solo(name, "print('old words', flush=True)"))
    job = until(app, lambda: finished(app, name), what=name)
    app.selected = (job.uid,)
    wizard = app.pages.wizard

    def cannot(_job: Any) -> list[str]:
        raise ValueError("this manifest has no form")

    # The YAML is the way when the wizard cannot show the manifest.
    monkeypatch.setattr(wizard, "edit_rerun", cannot, raising=False)
    app.actions.edit_button.click()
    editor = app.actions.editor
    assert app.actions.editor_box.layout.display == ""
    assert "this manifest has no form" in editor.heading.value
    assert f"name: {name}-run2" in editor.text
    # A broken edit is said with its line, and nothing is created.
    editor.editor_box.value = editor.text + "spec: [\n"
    editor.run_button.click()
    assert "line " in editor.issue_lines.value and job_named(app, f"{name}-run2") is None
    editor.editor_box.value = editor.text.replace("spec: [\n", "").replace("old words", "new words")
    editor.run_button.click()
    assert app.error == "", app.error
    assert app.actions.editor_box.layout.display == "none"
    new = until(app, lambda: finished(app, f"{name}-run2"), what="the edited re-run")
    assert app.selected == (new.uid,)
    assert app.info.startswith(f"Re-run of PyTorchJob/{name} ")
    assert [x.line for x in client.logs(new.name, kind="PyTorchJob")] == ["new words"]
    for gone in (name, new.name):
        client.delete(gone, kind="PyTorchJob")


def test_edit_and_rerun_opens_the_wizard_where_it_can(app: DTrainApp, client: Client, monkeypatch) -> None:
    name = unique("form")
    client.create(solo(name, "print('x')"))
    job = until(app, lambda: job_named(app, name), what=name)
    app.selected = (job.uid,)
    filled: list[str] = []
    monkeypatch.setattr(app.pages.wizard, "edit_rerun", lambda j: filled.append(j.name) or [], raising=False)
    app.actions.edit_button.click()
    assert filled == [name]
    assert app.tabs.selected_index == TABS.index("New") and app.pages.mode.value == "Wizard"
    # What the wizard's Create reports is then said as a re-run.
    new = client.rerun(name, kind="PyTorchJob")
    app.pages._on_created(new)
    assert app.info == f"Re-run of PyTorchJob/{name} (local/default) created as {new.name}"
    assert app.tabs.selected_index == TABS.index("Jobs") and app.selected == (new.uid,)
    for gone in (name, new.name):
        client.delete(gone, kind="PyTorchJob")


def test_forget_asks_then_removes_the_record(app: DTrainApp, client: Client) -> None:
    name = unique("forget")
    run_and_delete(client, app, name)
    row = until(app, lambda: past_row(app, name), what=f"{name} as a past row")
    row.line.selected = True
    app.actions.forget_button.click()
    assert app.confirm_box.layout.display == ""
    assert f"PyTorchJob/{name}" in app.confirm_text.value and "archived logs" in app.confirm_text.value
    assert app.confirm_yes.description == "Yes, forget"
    app.confirm_no.click()
    assert [j.name for j in client.history(search=name)] == [name], "Cancel forgets nothing"
    app.actions.forget_button.click()
    app.confirm_yes.click()
    assert app.error == "" and app.info == f"Forgot PyTorchJob/{name} (local/default)"
    assert [j for j in client.history(search=name) if j.name == name] == []
    assert past_row(app, name) is None and app.selected == ()


def test_delete_of_a_past_job_points_to_forget(app: DTrainApp, client: Client) -> None:
    name = unique("twice")
    run_and_delete(client, app, name)
    row = until(app, lambda: past_row(app, name), what=f"{name} as a past row")
    row.line.selected = True
    app.delete_button.click()
    assert "Already removed from the cluster" in app.error and "Forget" in app.error
    assert app.confirm_box.layout.display == "none"


def test_suspend_and_resume_buttons(app: DTrainApp, client: Client) -> None:
    name = unique("pause")
    client.create(solo(name, "import time; time.sleep(60)"))
    job = until(app, lambda: (j := job_named(app, name)) and j.phase == Phase.RUNNING and j, what=f"{name} running")
    until(app, lambda: app.job_list.backends, what="the backends")
    app.selected = (job.uid,)
    suspendable = any("suspend" in (b.get("capabilities") or []) for b in app.job_list.backends
                      if b.get("backend") == job.backend)
    assert app.actions.suspend_button.layout.display == ("" if suspendable else "none")
    assert app.actions.resume_button.layout.display == "none"
    if suspendable:
        app.actions.suspend_button.click()
        assert app.error == "", app.error
        suspended = until(app, lambda: (j := job_named(app, name)) and j.phase == Phase.SUSPENDED and j,
                          what="Suspended")
        app.selected = (suspended.uid,)
        assert app.actions.resume_button.layout.display == ""
        assert app.actions.suspend_button.layout.display == "none"
        app.actions.resume_button.click()
        assert app.error == "", app.error
        until(app, lambda: (j := job_named(app, name)) and j.phase == Phase.RUNNING, what="running again")
    client.delete(name, kind="PyTorchJob")


@pytest.fixture(scope="module")
def no_history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("no-history"), ("--DTrain.history=False",))
    try:
        yield server
    finally:
        server.stop()


def test_without_a_history_the_list_is_as_before(no_history_server: LiveServer) -> None:
    with no_history_server.client() as plain:
        panel = DTrainApp(plain, poll_timeout=1.0)
        try:
            name = unique("plain")
            plain.create(solo(name, "print('x')"))
            until(panel, lambda: finished(panel, name), what=name)
            assert panel.job_list.history is False
            assert panel.job_list.history_filters.layout.display == "none"
            plain.delete(name, kind="PyTorchJob")
            until(panel, lambda: job_named(panel, name) is None, what=f"{name} to go")
            panel.tick()
            assert panel.job_list.past == () and panel.job_list.visible == ()
            assert panel.error == ""
        finally:
            panel.close()


# ---------------------------------------------------------------------------------- the rules alone

def _job(phase: Phase, removed: str | None = None, conditions: list[dict[str, str]] | None = None) -> Job:
    return Job(backend="local", kind="PyTorchJob", api_version="kubeflow.org/v1", name="j", namespace="default",
               uid="u", created="2026-12-01T10:00:00Z", manifest={},
               status=JobStatus(phase=phase, conditions=conditions or []), removed=removed)


@pytest.mark.parametrize("text, expected", [
    ("", ""), ("2026-12-01", "2026-12-01"), ("2026-12-01T10:30", "2026-12-01T10:30:00Z"),
    ("2026-12-01 12:30:00+02:00", "2026-12-01T10:30:00Z"), (" 2026-12-01T10:30:00Z ", "2026-12-01T10:30:00Z"),
])
def test_a_bound_is_a_date_or_a_utc_time(text: str, expected: str) -> None:
    assert parse_bound(text, "From") == expected


@pytest.mark.parametrize("text", ["tomorrow", "12/01/2026", "2026-13-01", "2026-12-01T25:00"])
def test_a_bad_bound_says_which_field_and_the_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"^From: .* is not a date; write it as YYYY-MM-DD"):
        parse_bound(text, "From")


def test_a_date_alone_as_the_upper_bound_takes_in_its_day() -> None:
    assert within("2026-12-01T23:59:59Z", "", "2026-12-01")
    assert not within("2026-12-02T00:00:00Z", "", "2026-12-01")
    assert within("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z")
    assert not within("2026-11-30T23:59:59Z", "2026-12-01", "")
    assert not within(None, "2026-12-01", "") and within(None, "", "")


def test_show_live_and_finished() -> None:
    running, done, past = _job(Phase.RUNNING), _job(Phase.FAILED), _job(Phase.DELETED, removed="2026-12-02T00:00:00Z")
    assert [shows(j, "Live") for j in (running, done, past)] == [True, False, False]
    assert [shows(j, "Finished") for j in (running, done, past)] == [False, True, False]
    assert all(shows(j, "All") for j in (running, done, past))


def test_a_deleted_job_keeps_how_it_ended_or_becomes_deleted() -> None:
    succeeded = [{"type": "Succeeded", "status": "True", "reason": "PyTorchJobSucceeded"}]
    # "Deleting" on its way out; its conditions still say it succeeded.
    assert as_removed(_job(Phase.DELETING, conditions=succeeded)).phase == Phase.SUCCEEDED
    # The state before the delete says so when the conditions do not.
    assert as_removed(_job(Phase.DELETING), last=_job(Phase.FAILED)).phase == Phase.FAILED
    gone = as_removed(_job(Phase.RUNNING))
    assert gone.phase == Phase.DELETED and gone.removed and gone.removed.endswith("Z")
