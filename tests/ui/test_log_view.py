"""The log view on real job logs: merged with pod prefixes, one pod, filter, bound, download, escaping."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import httpx
import pytest

from dtrain_jupyter.errors import JobNotFound
from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.log_view import LogView, log_html

from .conftest import python_job, unique, until

PAYLOAD = "<img src=x onerror=alert(1)>"
PROGRAM = (
    "import os\n"
    "rank = os.environ['RANK']\n"
    "for i in range(40):\n"
    "    print(f'rank {rank} line {i}', flush=True)\n"
    f"print({PAYLOAD!r}, flush=True)\n"
)


@pytest.fixture(scope="module")
def logged_job(client):
    name = unique("logs")
    client.create(python_job(name, PROGRAM, workers=1))
    job = client.wait(name, kind="PyTorchJob", timeout=90, progress=False)
    yield job
    client.delete(name, kind="PyTorchJob")


def _flush_until(view: LogView, predicate, what: str):
    class _Ticker:  # the app's tick, for a view used on its own
        error = ""

        @staticmethod
        def tick() -> None:
            view.flush()

    return until(_Ticker, predicate, timeout=60, what=what)


def test_all_pods_merged_with_a_pod_prefix(client, logged_job) -> None:
    view = LogView(client)
    view.show(logged_job)
    _flush_until(view, lambda: not view.loading and len(view.lines()) >= 82, "both logs")
    shown = view.visible_lines()
    assert any(re.match(r"\[.*master-0\] rank 0 line 0$", s) for s in shown)
    assert any(re.match(r"\[.*worker-0\] rank 1 line 39$", s) for s in shown)
    pods = {value for _label, value in view.pod_choice.options if value}
    assert len(pods) == 2


def test_one_pod_without_prefix_and_a_text_filter(client, logged_job) -> None:
    view = LogView(client)
    pod = f"{logged_job.name}-worker-0"
    view.show(logged_job, pod)
    _flush_until(view, lambda: not view.loading and view.lines(), "the worker log")
    assert all(entry.pod == pod for entry in view.lines())
    view.filter_box.value = "line 7"
    assert view.visible_lines() == ["rank 1 line 7"]
    assert "rank 1 line 8" not in view.text.value


def test_the_buffer_never_holds_more_than_max_lines(client, logged_job) -> None:
    view = LogView(client, max_lines=10)
    view.show(logged_job)
    _flush_until(view, lambda: not view.loading and view.lines(), "lines")
    assert len(view.lines()) == 10
    assert "older lines dropped" in view.status.value


def test_tail_asks_the_server_for_the_last_lines(client, logged_job) -> None:
    view = LogView(client)
    view.tail = 3
    view.show(logged_job, f"{logged_job.name}-master-0")
    _flush_until(view, lambda: not view.loading and view.lines(), "tail")
    assert [e.line for e in view.lines()] == ["rank 0 line 38", "rank 0 line 39", PAYLOAD]


def test_log_text_is_escaped_never_markup(client, logged_job) -> None:
    view = LogView(client)
    view.show(logged_job)
    _flush_until(view, lambda: not view.loading and len(view.lines()) >= 82, "lines")
    assert PAYLOAD not in view.text.value
    assert "&lt;img src=x onerror=alert(1)&gt;" in view.text.value


def _links(view: LogView) -> list[dict[str, str]]:
    """The download anchors of the view, each as its attributes (unescaped) and text."""
    found = []
    for attrs, text in re.findall(r"<a ([^>]*)>([^<]*)</a>", view.download_link.value):
        found.append({**{k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', attrs)}, "text": text})
    return found


def test_download_is_one_link_to_the_whole_text_log_of_the_pod(client, dtrain_server, logged_job) -> None:
    view = LogView(client)
    pod = f"{logged_job.name}-master-0"
    view.tail = 3  # the view shows 3 lines; the download is the whole log
    view.show(logged_job, pod)
    [link] = _links(view)
    assert link["download"] == f"{pod}.log" and link["text"] == "Download"
    assert "dtrain-download" in link["class"]
    assert link["href"] == client.job_link(logged_job, "log", pod=pod, format="text")
    # The page's browser fetches it relative to the server's root; here, with the token instead of the cookie.
    answer = httpx.get(dtrain_server.url.rstrip("/") + link["href"], headers=dtrain_server.headers, timeout=30)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    lines = answer.text.splitlines()
    assert lines[0] == "rank 0 line 0" and lines[-1] == PAYLOAD and len(lines) == 41


def test_all_pods_offer_one_download_per_pod(client, logged_job) -> None:
    view = LogView(client)
    view.show(logged_job)
    pods = [f"{logged_job.name}-master-0", f"{logged_job.name}-worker-0"]
    assert [(link["text"], link["download"]) for link in _links(view)] == [(p, f"{p}.log") for p in pods]
    assert all(f"pod={p}&" in link["href"] for p, link in zip(pods, _links(view)))


def test_the_previous_attempt_box_moves_the_link_to_that_log(client, logged_job) -> None:
    view = LogView(client)
    view.show(logged_job, f"{logged_job.name}-master-0")
    view.previous_box.value = True
    assert "previous=true" in _links(view)[0]["href"]
    view.previous_box.value = False
    assert "previous" not in _links(view)[0]["href"]


def test_switching_the_log_to_another_job_or_pod_moves_the_download_link(client, logged_job) -> None:
    # Issue 17 B2: job A's download link was still offered under job B's log.
    other = unique("logs")
    client.create(python_job(other, "print('other job')", kind="TFJob"))
    other_job = client.wait(other, kind="TFJob", timeout=90, progress=False)
    view = LogView(client)
    view.show(logged_job, f"{logged_job.name}-master-0")
    assert logged_job.name in _links(view)[0]["href"]
    view.show(other_job)
    assert [link["download"] for link in _links(view)] == [f"{other}-worker-0.log"]
    assert all(logged_job.name not in link["href"] for link in _links(view))
    view.show(logged_job)
    view.pod_choice.value = f"{logged_job.name}-worker-0"
    assert [link["download"] for link in _links(view)] == [f"{logged_job.name}-worker-0.log"]
    client.delete(other, kind="TFJob")


def test_a_failed_pod_list_leaves_no_old_link(client, logged_job) -> None:
    view = LogView(client)
    view.show(logged_job, f"{logged_job.name}-master-0")
    with pytest.raises(JobNotFound):
        view.show(replace(logged_job, name="no-such-job", uid="x"))
    assert view.download_link.value == ""


def test_the_controls_read_as_separate_labelled_things(client) -> None:
    # Issue 17: "Follow Tail 500" read as one phrase.
    view = LogView(client)
    assert view.follow_box.description == "Follow new lines"
    tail = next(box for box in view.children[1].children if "dtrain-tail" in box._dom_classes)
    assert tail.children[0] is view.tail_box and view.tail_box.description == "Last"
    assert tail.children[1].value == "lines"


def test_the_log_box_is_reachable_by_keyboard_and_a_followed_one_opens_at_its_end() -> None:
    # The box scrolls: in the Tab order, with a name. Following, it is laid out bottom-up.
    still = log_html("a <b>\nb", follow=False)
    assert still == '<pre class="dtrain-log" tabindex="0" role="region" aria-label="Log lines">a &lt;b&gt;\nb</pre>'
    assert 'class="dtrain-log dtrain-log-follow"' in log_html("", follow=True)


def test_a_missing_pod_fails_visibly(client, logged_job) -> None:
    view = LogView(client)
    view.show(logged_job, "no-such-pod")
    _flush_until(view, lambda: view.last_error is not None, "the error")
    assert "no-such-pod" in str(view.last_error)


def test_a_running_job_follows_by_default_and_a_finished_one_does_not(client, logged_job) -> None:
    name = unique("follow")
    client.create(python_job(name, "import time\nfor i in range(5):\n    print('tick', i, flush=True)\n"
                                   "    time.sleep(0.3)\n", kind="TFJob", workers=1))
    job = client.get(name, kind="TFJob")
    assert not job.phase.finished
    view = LogView(client)
    view.show(job, f"{name}-worker-0")
    assert view.follow is True and view.follow_box.value is True
    _flush_until(view, lambda: any("tick 4" in s for s in view.visible_lines()), "tick 4")
    assert [e.line for e in view.lines()][:5] == [f"tick {i}" for i in range(5)]
    view.show(logged_job, f"{logged_job.name}-master-0")
    assert view.follow is False and view.follow_box.value is False
    view.follow_box.value = True
    assert view.follow is True
    view.follow_box.value = False
    assert view.follow is False
    client.delete(name, kind="TFJob")


def test_following_reads_once_when_the_view_opens(client, logged_job, monkeypatch) -> None:
    reads = []
    real = client.logs
    monkeypatch.setattr(client, "logs", lambda *a, **k: reads.append(k["follow"]) or real(*a, **k))
    running = replace(logged_job, status=replace(logged_job.status, phase=Phase.RUNNING))
    view = LogView(client)
    view.show(running, f"{logged_job.name}-master-0")
    _flush_until(view, lambda: not view.loading, "the read to end")
    assert reads == [True], "one read, following: not a plain read then a following one"
