"""The run-details widget (`job.show()`, `%dtrain show NAME`) on a real server with real local jobs."""

from __future__ import annotations

import time
from typing import Any

import IPython.display
import pytest
from IPython.core.interactiveshell import InteractiveShell

from dtrain_jupyter.client import Client
from dtrain_jupyter.ui.run_details import RunDetails

from .conftest import WAIT_TIMEOUT_S, python_job, unique

PROGRAM = ("import time\n"
           "for step in range(12):\n"
           "    print(f'line {step} loss={1.0 / (step + 1):.4f}', flush=True)\n"
           "    time.sleep({pause})\n")


def settle(details: RunDetails, timeout: float = WAIT_TIMEOUT_S) -> None:
    """Tick the widget (as its pump would on the kernel loop) until the record is complete."""
    deadline = time.monotonic() + timeout
    while details.tick():
        if time.monotonic() > deadline:
            raise AssertionError(f"still live after {timeout}s: {details.header.value!r}")
        time.sleep(0.1)


def test_a_running_job_updates_until_it_ends_then_stays_as_its_record(client: Client) -> None:
    name = unique("details")
    job = client.create(python_job(name, PROGRAM.replace("{pause}", "0.3")), backend="local")
    details = RunDetails(client, job, tail=5, wait=5)
    try:
        assert details.live
        settle(details)
        assert "Succeeded" in details.header.value and name in details.header.value
        assert "master-0" in details.pods_box.value and "worker-0" in details.pods_box.value
        # The last five lines of the log, following to the end: "line 11" is there, "line 0" is not.
        assert "line 11 loss=" in details.log_box.value and "line 0 " not in details.log_box.value
        assert "loss" in details.metrics.grid.charts
        assert all(len(c.value) == 12 for c in details.metrics.grid.charts["loss"].curves)
        assert details.problem.value == ""
        # Nothing more is read once it ended: the widget is the run's record.
        before = details.log_box.value
        assert details.tick() is False and details.log_box.value == before
    finally:
        details.close()


def test_job_show_puts_the_widget_in_the_cell(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    name = unique("show")
    client.create(python_job(name, PROGRAM.replace("{pause}", "0")), backend="local")
    job = client.wait(name, backend="local", progress=False)
    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    assert job.show(client=client, tail=3) is None
    try:
        assert len(shown) == 1 and isinstance(shown[0], RunDetails)
        settle(shown[0])
        assert shown[0].job.name == name and "line 11" in shown[0].log_box.value
    finally:
        shown[0].close()


def test_the_magic_shows_a_job_and_says_an_unknown_one_in_words(client: Client, dtrain_server: Any,
                                                               monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "dtrain_jupyter")
    name = unique("magic-show")
    client.create(python_job(name, PROGRAM.replace("{pause}", "0")), backend="local")
    client.wait(name, backend="local", progress=False)
    shown: list[Any] = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    where = f"--url {dtrain_server.url} --token {dtrain_server.token} --backend local"
    shell.run_line_magic("dtrain", f"show {name} --tail 4 {where}")
    try:
        assert len(shown) == 1 and isinstance(shown[0], RunDetails) and shown[0].tail == 4
    finally:
        shown[0].close()
    shell.run_line_magic("dtrain", f"show no-such-job-here {where}")
    err = capsys.readouterr().err
    assert err.startswith("%dtrain show: ") and "no-such-job-here" in err and "Traceback" not in err
    shell.run_line_magic("dtrain", "show")
    assert "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("tail, words", [("-1", "-1 is too few: must be 1 or more"),
                                         ("0", "0 is too few: must be 1 or more"),
                                         ("many", "'many' is not a whole number")])
def test_a_tail_below_one_is_refused_in_words(tail: str, words: str, capsys: Any) -> None:
    # Issue 15 review: --tail -1 reached deque(maxlen=-1) and the cell showed a traceback.
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "dtrain_jupyter")
    shell.run_line_magic("dtrain", f"show some-job --tail {tail}")
    err = capsys.readouterr().err
    assert f"argument --tail: {words}" in err and "Traceback" not in err
