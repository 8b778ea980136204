"""The log view on real job logs: merged with pod prefixes, one pod, filter, bound, download, escaping."""

from __future__ import annotations

import base64
import re

import pytest

from dtrain_jupyter.ui.log_view import LogView

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


def test_download_link_carries_the_shown_text(client, logged_job) -> None:
    view = LogView(client)
    view.show(logged_job, f"{logged_job.name}-master-0")
    _flush_until(view, lambda: not view.loading and view.lines(), "lines")
    view.download_button.click()
    link = view.download_link.value
    assert f'download="{logged_job.name}-{logged_job.name}-master-0.log"' in link
    payload = re.search(r"base64,([A-Za-z0-9+/=]+)", link).group(1)
    assert base64.b64decode(payload).decode().splitlines()[0] == "rank 0 line 0"


def test_switching_the_log_to_another_job_or_pod_clears_the_download_link(client, logged_job) -> None:
    # Issue 17 B2: job A's "Save ….log (16 lines)" link was still shown under job B's log.
    other = unique("logs")
    client.create(python_job(other, "print('other job')", kind="TFJob"))
    other_job = client.wait(other, kind="TFJob", timeout=90, progress=False)
    view = LogView(client)
    view.show(logged_job, f"{logged_job.name}-master-0")
    _flush_until(view, lambda: not view.loading and view.lines(), "lines")
    view.download_button.click()
    assert "Save" in view.download_link.value
    view.show(other_job)
    assert view.download_link.value == ""
    _flush_until(view, lambda: not view.loading and view.lines(), "the other job's lines")
    view.download_button.click()
    assert f"Save {other}.log" in view.download_link.value
    view.pod_choice.value = f"{other}-worker-0"
    assert view.download_link.value == ""
    client.delete(other, kind="TFJob")


def test_a_missing_pod_fails_visibly(client, logged_job) -> None:
    view = LogView(client)
    view.show(logged_job, "no-such-pod")
    _flush_until(view, lambda: view.last_error is not None, "the error")
    assert "no-such-pod" in str(view.last_error)


def test_follow_streams_until_the_job_ends(client) -> None:
    name = unique("follow")
    client.create(python_job(name, "import time\nfor i in range(5):\n    print('tick', i, flush=True)\n"
                                   "    time.sleep(0.3)\n", kind="TFJob", workers=1))
    job = client.get(name, kind="TFJob")
    view = LogView(client)
    view.pod = f"{name}-worker-0"
    view.follow = True
    view.show(job, f"{name}-worker-0")
    _flush_until(view, lambda: any("tick 4" in s for s in view.visible_lines()), "tick 4")
    assert [e.line for e in view.lines()][:5] == [f"tick {i}" for i in range(5)]
    view.follow_box.value = False
    assert view.follow is False
    client.delete(name, kind="TFJob")
