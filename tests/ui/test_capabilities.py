"""The panel offers what a job's backend can do, as `Client.backends()` lists it, and nothing more.

Each part is given a made-up backends list and a client that records what it is asked: the Log
page's "Previous attempt" and "Line times", the events under the pods, the Output button's
words (the Output page and the YAML editor's dry run have theirs in test_output_view.py and
test_yaml_editor.py).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from dtrain_jupyter.backends.base import CAPABILITIES
from dtrain_jupyter.model.job import Event, Job, JobStatus, LogLine, Pod
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui import capabilities
from dtrain_jupyter.ui.capabilities import default_backend, lacks, offers
from dtrain_jupyter.ui.job_row import JobRow
from dtrain_jupyter.ui.log_view import LogView
from dtrain_jupyter.ui.pods import PodsView

EVERYTHING = ["dry-run", "events", "line-times", "outputs", "previous-logs", "suspend"]


def _described(name: str, caps: list[str], ready: bool = True, **more: Any) -> dict[str, Any]:
    return {"backend": name, "ready": ready, "capabilities": caps, **more}


def _job(backend: str = "edge", phase: Phase = Phase.RUNNING) -> Job:
    return Job(backend=backend, kind="PyTorchJob", api_version="kubeflow.org/v1", name="j", namespace="default",
               uid="uid-j", created="", manifest={}, status=JobStatus(phase=phase))


def test_the_names_are_the_servers() -> None:
    names = {capabilities.DRY_RUN, capabilities.EVENTS, capabilities.OUTPUTS, capabilities.PREVIOUS_LOGS,
             capabilities.LINE_TIMES, capabilities.SUSPEND}
    assert names <= set(CAPABILITIES)


@pytest.mark.parametrize("backends, lacking, offered", [
    ((_described("edge", ["events"]),), True, False),
    ((_described("edge", ["events", "outputs"]),), False, True),
    # Not started yet: it has said nothing, so nothing is held back, and nothing extra is done.
    ((_described("edge", [], ready=False),), False, False),
    # Started and not ready (its cluster unreachable): what it listed still holds.
    ((_described("edge", ["events"], ready=False),), True, False),
    ((_described("other", ["events"]),), False, False),  # not listed at all
    (({"backend": "edge", "ready": True},), False, False),  # a server that lists no capabilities
], ids=["lacks", "offers", "not-started", "started-not-ready", "unlisted", "old-server"])
def test_lacks_and_offers(backends, lacking: bool, offered: bool) -> None:
    assert lacks(backends, "edge", "outputs") is lacking
    assert offers(backends, "edge", "outputs") is offered


def test_the_default_backend_is_the_one_marked_so() -> None:
    assert default_backend((_described("a", []), _described("b", [], default=True))) == "b"
    assert default_backend((_described("a", []),)) == ""


# ---------------------------------------------------------------- the log page
class _Logs:
    """A client whose job has one pod and whose logs record how they were asked for."""

    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []
        self.read = threading.Event()

    def pods(self, name: str, **_ref: Any) -> list[Pod]:
        return [Pod(name="j-master-0", namespace="default", job_name="j", replica_type="Master", replica_index=0,
                    phase="Succeeded")]

    def logs(self, name: str, **options: Any) -> list[LogLine]:
        self.asked.append(options)
        self.read.set()
        return []

    def job_link(self, job: Job, resource: str = "", file: str = "", **params: Any) -> str:
        return f"/{resource}?{params}"


def _last_read(client: _Logs) -> dict[str, Any]:
    assert client.read.wait(10), "the log was never read"
    client.read.clear()
    return client.asked[-1]


@pytest.mark.parametrize("caps, previous, times", [
    (["events", "outputs", "previous-logs", "suspend"], True, False),  # as the local backend lists them
    (["events", "previous-logs", "line-times", "dry-run", "suspend"], True, True),  # as a Kubernetes one does
    (["events"], False, False),
], ids=["local-like", "kubernetes-like", "neither"])
def test_the_log_page_offers_previous_attempts_and_line_times_only_where_kept(caps, previous: bool,
                                                                             times: bool) -> None:
    client = _Logs()
    view = LogView(client)
    view.backends = (_described("edge", caps),)
    view.show(_job(phase=Phase.SUCCEEDED))
    _last_read(client)
    assert (view.previous_box.layout.display != "none") is previous
    assert (view.times_box.layout.display != "none") is times
    if times:
        view.times_box.value = True  # a person ticks it: the log is read again, stamped
        assert _last_read(client)["timestamps"] is True
        assert view.timestamps


def test_an_option_the_next_jobs_backend_lacks_is_switched_off() -> None:
    client = _Logs()
    view = LogView(client)
    view.backends = (_described("kube", EVERYTHING), _described("edge", ["events"]))
    view.show(_job("kube", Phase.SUCCEEDED))
    _last_read(client)
    view.previous_box.value = True
    view.times_box.value = True
    assert _last_read(client)["previous"] is True
    view.show(_job("edge", Phase.SUCCEEDED))
    asked = _last_read(client)
    assert asked["previous"] is False and asked["timestamps"] is False
    assert not view.previous_box.value and not view.times_box.value
    assert view.previous_box.layout.display == "none" and view.last_error is None


def test_a_backend_that_has_not_said_gets_every_option() -> None:
    view = LogView(_Logs())
    view.backends = (_described("edge", [], ready=False),)
    view.job = _job()
    assert view.previous_box.layout.display == "" and view.times_box.layout.display == ""


# ---------------------------------------------------------------- events under the pods
class _Pods:
    def __init__(self) -> None:
        self.events_asked = 0

    def pods(self, name: str, **_ref: Any) -> list[Pod]:
        return [Pod(name="j-master-0", namespace="default", job_name="j", replica_type="Master", replica_index=0,
                    phase="Running")]

    def events(self, name: str, **_ref: Any) -> list[Event]:
        self.events_asked += 1
        return [Event(type="Normal", reason="Started", message="started", object_kind="Pod",
                      object_name="j-master-0")]


@pytest.mark.parametrize("caps, asked", [(["events"], 1), (["outputs"], 0), ([], 1)], ids=["kept", "none", "unsaid"])
def test_events_are_read_only_where_the_backend_keeps_them(caps: list[str], asked: int) -> None:
    client = _Pods()
    ready = bool(caps)
    view = PodsView(client, _job(), lambda *a: None, backends=(_described("edge", caps, ready=ready),))
    view.refresh()
    assert client.events_asked == asked
    assert len(view.pods) == 1 and view.notice == "" and view.last_error is None
    assert ("started" in view.line("j-master-0").event_lines.value) is bool(asked)


def test_a_rows_pods_learn_what_its_backend_keeps() -> None:
    client = _Pods()
    row = JobRow(_job(), client, lambda *a: None, backends=(_described("edge", ["outputs"]),))
    row.expanded = True
    assert client.events_asked == 0
    row.backends = (_described("edge", ["events", "outputs"]),)
    row.pods.refresh()
    assert client.events_asked == 1


# ---------------------------------------------------------------- the Output button
def test_the_output_button_says_when_the_backend_keeps_no_files() -> None:
    row = JobRow(_job(), _Pods(), lambda *a: None, backends=(_described("edge", ["events"]),))
    assert row.line.title("output") == "Result of j; its backend keeps no output files"
    row.backends = (_described("edge", ["events", "outputs"]),)
    assert row.line.title("output") == "Result and output files of j"
    assert row.last_error is None


def test_the_panel_hands_the_backends_it_reads_to_every_part(app) -> None:
    from dtrain_jupyter.ui.feed import BACKENDS, FeedItem

    described = [_described("local", ["events", "outputs", "previous-logs"], default=True)]
    log_view = app.pages.log_view  # built before the backends change: it hears of them
    app.apply([FeedItem(BACKENDS, described)])
    assert app.job_list.backends == tuple(described) == log_view.backends
    assert app.pages.output_view.backends == tuple(described)  # built after: it is given them
