"""The composed panel against a live server: jobs arrive by the feed, delete asks first, errors show."""

from __future__ import annotations

import yaml

from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui import app as app_module
from dtrain_jupyter.ui.app import FLOW_CREATE, FLOW_DELETE, TABS, DTrainApp
from dtrain_jupyter.ui.assistive import BUSY
from dtrain_jupyter.ui.words import age, job_ref

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
    assert "Succeeded" in row.line.facts
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
    assert app.job_list.row(job.uid).line.selected is True
    app.delete_button.click()
    assert app.confirm_box.layout.display == ""
    assert f"PyTorchJob/{name}" in app.confirm_text.value
    # What goes with it is said: its pods, their logs, its output files (issue 17).
    assert "its 2 pods, their logs and its output folder with every file in it" in app.confirm_text.value
    app.confirm_no.click()
    assert app.confirm_box.layout.display == "none"
    assert client.get(name, kind="PyTorchJob").name == name  # nothing was deleted
    app.delete_button.click()
    app.confirm_yes.click()
    assert app.error == ""
    assert app.selected == ()
    until(app, lambda: job_named(app, name) is None, what=f"{name} to disappear")


def test_the_confirmation_takes_the_focus_and_gives_it_back_to_delete(app: DTrainApp, client, monkeypatch) -> None:
    # ipywidgets' focus() is a {"do": "focus"} message to the button's view, sent after the box
    # was shown or hidden (the front end applies the kernel's messages in order).
    sent: list[tuple[str, dict]] = []
    for part, button in (("yes", app.confirm_yes), ("delete", app.delete_button)):
        monkeypatch.setattr(button, "send", lambda content, buffers=None, part=part: sent.append((part, content)))
    name = unique("focus")
    client.create(python_job(name, "import time; time.sleep(30)"))
    job = until(app, lambda: job_named(app, name), what=name)
    app.selected = (job.uid,)
    app.delete_button.click()
    assert sent == [("yes", {"do": "focus"})] and app.confirm_box.layout.display == ""
    app.confirm_no.click()
    assert sent[1:] == [("delete", {"do": "focus"})] and app.confirm_box.layout.display == "none"
    app.delete_button.click()
    app.confirm_yes.click()
    # Back on Delete once it is enabled again: a disabled button cannot take the focus.
    assert sent[2:] == [("yes", {"do": "focus"}), ("delete", {"do": "focus"})]
    assert not app.delete_button.disabled
    until(app, lambda: job_named(app, name) is None, what=f"{name} to disappear")


def test_busy_marks_the_panel_around_the_disabled_buttons(app: DTrainApp) -> None:
    # keyboard.ts gives focus back to a button disabled under it once the panel is not busy:
    # the mark comes before the buttons are disabled and goes after they are enabled again.
    seen: list[tuple[str, object]] = []
    app.observe(lambda change: seen.append(("busy", BUSY in change["new"])), "_dom_classes")
    app.delete_button.observe(lambda change: seen.append(("disabled", change["new"])), "disabled")
    app.busy = True
    app.busy = False
    assert seen == [("busy", True), ("disabled", True), ("disabled", False), ("busy", False)]


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
    row.line.click("log")
    assert app.tabs.selected_index == TABS.index("Log")
    until(app, lambda: any("to the log" in line for line in app.pages.log_view.visible_lines()), what="log")
    row.line.click("output")
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


def test_an_open_pods_table_ages_with_its_job(app: DTrainApp, client, monkeypatch) -> None:
    # Issue 17 B1: the job's Age kept counting while its open pods' Age stayed as first drawn.
    name = unique("ages")
    client.create(python_job(name, "print('ok')"))
    until(app, lambda: finished(app, name), what=name)
    row = app.job_list.row_by_name(name)
    row.line.click("name")
    line = row.pods.line(f"{name}-master-0")
    age_cell = line.cells[-1]
    first = age_cell.value
    assert first, "a started pod has an age"
    until(app, lambda: age(line.pod.started) != first, what="the pod to be a second older")
    monkeypatch.setattr(app_module, "AGE_REFRESH_S", 0.0)  # the periodic age refresh is due now
    app.tick()
    assert age_cell.value != first
    assert age_cell.tooltip == age_cell.value
    client.delete(name, kind="PyTorchJob")


def test_a_create_error_replaces_the_created_line(app: DTrainApp, client) -> None:
    # Issue 17 B3: an old green "Created ..." stayed under a new red "The job is not valid".
    name = unique("flow")
    editor = app.pages.yaml_editor
    editor.text = yaml.safe_dump(python_job(name, "print('ok')"))
    editor.create_button.click()
    assert app.error == "" and app.info.startswith(f"Created PyTorchJob/{name} ")
    editor.text = "apiVersion: kubeflow.org/v1\nkind: PyTorchJob\nmetadata: {name: Not-A-Name}\n"
    editor.create_button.click()
    assert app.error.startswith("The job is not valid")
    assert app.info == "" and app.info_line.layout.display == "none"
    client.delete(name, kind="PyTorchJob")


def test_deleting_turns_into_deleted_once_the_job_left_then_clears(app: DTrainApp, client) -> None:
    # Issue 17 B3: "Deleting PyTorchJob/x" stayed for minutes after x had left the list.
    app.info_seconds = 0.0  # a success line clears at the next tick
    lines: list[str] = []
    app.observe(lambda change: lines.append(change["new"]), "info")
    name = unique("gone")
    client.create(python_job(name, "import time; time.sleep(30)"))
    job = until(app, lambda: job_named(app, name), what=name)
    app.selected = (job.uid,)
    app.delete_button.click()
    app.confirm_yes.click()
    ref = job_ref(job)
    assert app.info == f"Deleting {ref}"
    # While the job is listed the line keeps saying so, whatever info_seconds is.
    until(app, lambda: job_named(app, name) is None or app.info != f"Deleting {ref}", what=f"{name} to disappear")
    assert job_named(app, name) is None
    app.tick()
    assert lines == [f"Deleting {ref}", f"Deleted {ref}", ""]
    assert app.info_line.layout.display == "none"


def test_an_error_stays_when_success_lines_expire(app: DTrainApp) -> None:
    app.info_seconds = 0.0
    app.selected = ()
    app.delete_button.click()
    for _ in range(3):
        app.tick()
    assert "Tick the jobs" in app.error and app.error_box.layout.display == ""


def test_a_flow_replaces_only_its_own_lines(client) -> None:
    panel = DTrainApp(client, start=False)
    try:
        panel.report_error(RuntimeError("the log broke"))  # no flow: only a newer error replaces it
        panel.say(FLOW_CREATE, info="Created A")
        assert panel.error.endswith("the log broke") and panel.info == "Created A"
        panel.say(FLOW_DELETE, error="Tick the jobs to delete first.")
        assert panel.error == "Tick the jobs to delete first." and panel.info == "Created A"
        panel.say(FLOW_CREATE, error="The job is not valid")
        assert panel.error == "The job is not valid" and panel.info == ""
        panel.say(FLOW_CREATE, info="Created B")
        assert panel.error == "" and panel.info == "Created B"
        assert panel.error_box.layout.display == "none" and panel.info_line.layout.display == ""
    finally:
        panel.close()


def test_an_html_line_is_shown_as_given_and_stays_until_a_newer_line(client) -> None:
    # Issue 15 review: the TensorBoard link cleared itself after 8 s, before a person without
    # dtrain's JupyterLab extension (Notebook 7, VS Code) could click it.
    panel = DTrainApp(client, start=False)
    try:
        panel.info_seconds = 0.0
        link = '<a href="/dtrain/tensorboard/">Open &lt;TensorBoard&gt;</a>'
        panel.say("tensorboard", info_html=link)
        for _ in range(3):
            panel.tick()
        assert panel.info_line.value == link and panel.info_line.layout.display == ""
        panel.say(FLOW_CREATE, info="Created <A>")  # a newer line of any flow takes its place, escaped
        assert panel.info_line.value == "Created &lt;A&gt;" and panel.info_html == ""
        panel.say("tensorboard", info_html=link)
        panel.say("tensorboard", error="TensorBoard could not start")  # its own failure replaces it
        assert panel.info_line.layout.display == "none" and panel.error == "TensorBoard could not start"
    finally:
        panel.close()


def test_the_delete_confirmation_says_cluster_output_volumes_stay(client) -> None:
    from dtrain_jupyter.model.job import Job, JobStatus, ReplicaCounts

    panel = DTrainApp(client, start=False)
    try:
        local = Job("local", "TFJob", "kubeflow.org/v1", "here", "default", "uid-here", "", {},
                    JobStatus(phase=Phase.RUNNING, replicas={"Worker": ReplicaCounts(replicas=1, active=1)}))
        cluster = Job("kubernetes", "PyTorchJob", "kubeflow.org/v1", "<b>there</b>", "team", "uid-there", "", {},
                      JobStatus(phase=Phase.RUNNING, replicas={"Master": ReplicaCounts(replicas=1),
                                                               "Worker": ReplicaCounts(replicas=3)}))
        panel.upsert(local)
        panel.upsert(cluster)
        panel.selected = ("uid-here", "uid-there")
        panel.delete_button.click()
        text = panel.confirm_text.value
        assert text.startswith("<b>Delete 2 jobs?</b>")
        assert "TFJob/here (local/default)</b>: its 1 pod, their logs and its output folder" in text
        assert ("PyTorchJob/&lt;b&gt;there&lt;/b&gt; (kubernetes/team)</b>: its 4 pods and their logs; files it "
                "wrote to a volume claim stay (claims are not deleted)") in text
        assert "<b>there</b>" not in text
    finally:
        panel.close()
