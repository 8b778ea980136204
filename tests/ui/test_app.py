"""The composed panel against a live server: jobs arrive by the feed, delete asks first, errors show."""

from __future__ import annotations

from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.app import TABS, DTrainApp

from .conftest import finished, job_named, python_job, unique, until


def test_root_widget_carries_the_panel_class(app: DTrainApp) -> None:
    assert "dtrain-panel" in app._dom_classes
    assert "<style>" in app.children[0].value


def test_a_job_created_elsewhere_appears_and_moves_to_succeeded(app: DTrainApp, client) -> None:
    name = unique("feed")
    client.create(python_job(name, "print('hi')"))
    job = until(app, lambda: finished(app, name), what=f"{name} to finish")
    assert job.phase == Phase.SUCCEEDED
    row = app.job_list.row_by_name(name)
    assert "Succeeded" in row.facts.value
    assert row in app.job_list.rows_box.children
    client.delete(name, kind="PyTorchJob")


def test_backend_line_says_where_the_panel_points(app: DTrainApp) -> None:
    until(app, lambda: app.banner.backends, what="backends")
    assert "local" in app.banner.where.value
    assert app.banner.showing == ""


def test_delete_names_the_jobs_and_waits_for_confirmation(app: DTrainApp, client) -> None:
    name = unique("del")
    client.create(python_job(name, "import time; time.sleep(30)"))
    job = until(app, lambda: job_named(app, name), what=name)
    app.selected = (job.uid,)
    assert app.job_list.row(job.uid).check.value is True
    app.delete_button.click()
    assert app.confirm_box.layout.display == ""
    assert f"PyTorchJob/{name}" in app.confirm_text.value
    app.confirm_no.click()
    assert app.confirm_box.layout.display == "none"
    assert client.get(name, kind="PyTorchJob").name == name  # nothing was deleted
    app.delete_button.click()
    app.confirm_yes.click()
    assert app.error == ""
    assert app.selected == ()
    until(app, lambda: job_named(app, name) is None, what=f"{name} to disappear")


def test_delete_with_nothing_ticked_says_so(app: DTrainApp) -> None:
    app.selected = ()
    app.delete_button.click()
    assert "Tick the jobs" in app.error
    assert app.confirm_box.layout.display == "none"
    app.dismiss.click()
    assert app.error == "" and app.error_box.layout.display == "none"


def test_a_failing_callback_shows_in_the_error_trait(client) -> None:
    # A client of a server that is not there: pressing Refresh must fail visibly, not silently.
    from dtrain_jupyter.client import Client

    from tests.server.live import free_port

    dead = Client(url=f"http://127.0.0.1:{free_port()}/", token="x")
    panel = DTrainApp(dead, start=False)
    try:
        panel.refresh_button.click()
        assert panel.error, "the failure must reach the error line"
        assert panel.error_box.layout.display == ""
        assert panel.busy is False
    finally:
        panel.close()
        dead.close()


def test_row_log_and_output_buttons_open_their_tabs(app: DTrainApp, client) -> None:
    name = unique("tabs")
    client.create(python_job(name, "print('to the log')"))
    until(app, lambda: finished(app, name), what=name)
    row = app.job_list.row_by_name(name)
    row.log_button.click()
    assert app.tabs.selected_index == TABS.index("Log")
    until(app, lambda: any("to the log" in line for line in app.pages.log_view.visible_lines()), what="log")
    row.output_button.click()
    assert app.tabs.selected_index == TABS.index("Output")
    assert name in app.pages.output_view.summary.value
    client.delete(name, kind="PyTorchJob")


def test_error_trait_is_bounded(app: DTrainApp) -> None:
    app.error = "x" * 100_000
    assert len(app.error) < 5000


def test_unreachable_server_shows_one_banner(client) -> None:
    from dtrain_jupyter.client import Client

    from tests.server.live import free_port

    dead = Client(url=f"http://127.0.0.1:{free_port()}/", token="x")
    panel = DTrainApp(dead, poll_timeout=1.0)
    try:
        until(panel, lambda: panel.banner.showing, timeout=30, what="the outage banner")
        assert "retrying" in panel.banner.showing
        assert panel.error == ""  # an outage is the banner's job, not the error line's
    finally:
        panel.close()
        dead.close()
