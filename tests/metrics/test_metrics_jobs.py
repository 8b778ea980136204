"""Metrics of real jobs on the local backend, through a real Jupyter server and the Python client:
a DDP job reporting with report() (both ranks, progress, ETA), a job printing Keras-style lines,
bad requests, a past job, forget, and a server restart."""

from __future__ import annotations

import csv
import io
import sqlite3
import sys
import time

import httpx
import pytest

from dtrain_jupyter import Client, InvalidRequest, JobNotFound
from dtrain_jupyter.cli import Console, run

from ..server.live import LiveServer, module_client, module_server
from .conftest import PROGRAMS, follow, job, script

KERAS = ("import time",
         "for epoch in (1, 2):",
         "    print(f'Epoch {epoch}/2', flush=True)",
         "    for n in (5, 10):",
         "        loss = 1.0 / (epoch * n)",
         "        print(f'{n}/10 [======] - 0s 3ms/step - loss: {loss:.4f} - accuracy: {0.5 + epoch * n / 100:.4f}', "
         "flush=True)",
         "        time.sleep(0.05)")


server = module_server("metrics-server")
client = module_client()



@pytest.mark.slow
def test_a_ddp_job_reporting_gives_both_ranks_points_and_progress(client: Client) -> None:
    steps = 40
    command = [sys.executable, str(PROGRAMS / "ddp_report.py"), str(steps), "0.15"]
    client.create(job("ddp-report", command, workers=1))
    seen_live = []
    deadline = time.monotonic() + 120
    while not seen_live and time.monotonic() < deadline:
        # /progress lists the job while it runs and reports progress.
        seen_live = [p for p in client.progress() if p.name == "ddp-report" and p.eta_seconds is not None]
        time.sleep(0.2)
    assert seen_live, "the running job never showed progress with an ETA on /progress"
    assert 0 < seen_live[0].fraction < 1 and seen_live[0].eta_seconds > 0 and seen_live[0].uid
    held, answers = follow(client, "ddp-report")
    assert len(answers) > 1  # points came in more than one answer: the follow was incremental
    for replica in ("master-0", "worker-0"):
        loss = held.get(replica, "loss", "report")
        assert loss is not None, [s.key for s in held.series]
        assert loss.step == list(range(1, steps + 1))
        assert loss.value[-1] < loss.value[0]  # it trained
    assert held.progress.fraction == 1.0 and held.progress.eta_seconds == 0.0
    assert not any(p.name == "ddp-report" for p in client.progress())  # finished: no longer live


@pytest.mark.slow
def test_keras_style_lines_give_points_without_report(client: Client) -> None:
    client.create(job("keras-lines", script(*KERAS)))
    held, _ = follow(client, "keras-lines")
    loss = held.get("master-0", "loss", "log")
    assert loss.step == [5, 10, 15, 20]  # the n/10 counter within each epoch
    assert loss.value == pytest.approx([0.2, 0.1, 0.1, 0.05])
    assert held.get("master-0", "accuracy", "log").value == pytest.approx([0.55, 0.6, 0.6, 0.7])
    assert held.progress is None


@pytest.mark.slow
def test_a_past_job_keeps_its_points_and_forget_removes_them(client: Client) -> None:
    client.create(job("past-metrics", script("print('step 1 loss=0.5', flush=True)")))
    first, _ = follow(client, "past-metrics")
    client.delete("past-metrics")
    deadline = time.monotonic() + 30
    while not client.get("past-metrics").removed:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    page = client.metrics("past-metrics")
    assert page.finished and page.get("master-0", "loss").value == [0.5]
    assert client.metrics("past-metrics", since=page.cursor).series == []
    client.forget("past-metrics")
    with pytest.raises(JobNotFound):
        client.metrics("past-metrics")


def test_bad_requests_name_their_argument(server: LiveServer, client: Client) -> None:
    client.create(job("bad-args", script("print('loss=1', flush=True)")))
    url = f"{server.url}dtrain/api/local/namespaces/default/pytorchjobs/bad-args/metrics"
    for query, argument in (("since=-1", "since"), ("since=x", "since"), ("wait=26", "wait"),
                            ("wait=-1", "wait"), ("wait=nan", "wait")):
        answer = httpx.get(f"{url}?{query}", headers=server.headers)
        assert answer.status_code == 400, (query, answer.text)
        assert answer.json()["error"] == "InvalidRequest" and answer.json()["argument"] == argument, answer.json()
    missing = httpx.get(url.replace("bad-args", "no-such-job"), headers=server.headers)
    assert missing.status_code == 404 and missing.json()["error"] == "JobNotFound"
    with pytest.raises(InvalidRequest, match="wait"):
        client.metrics("bad-args", wait=30)


def test_metrics_need_authentication(server: LiveServer) -> None:
    answer = httpx.get(f"{server.url}dtrain/api/progress")
    assert answer.status_code == 403


def _cli(server: LiveServer, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run([*argv, "--url", server.url, "--token", server.token], Console(out=out, err=err))
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
def test_the_cli_prints_a_table_csv_and_follows(server: LiveServer, client: Client) -> None:
    lines = [f"print('step {n} loss={1 / n:.3f} acc=0.{n}', flush=True)" for n in range(1, 4)]
    client.create(job("cli-metrics", script("import time", "time.sleep(1)", *lines)))
    code, out, err = _cli(server, "metrics", "cli-metrics", "--follow", "-k", "PyTorchJob")
    assert code == 0, err
    printed = out.splitlines()
    # Each answer's points print as they come, series by series: each series in its own order.
    for name, values in (("loss", ("1", "0.5", "0.333")), ("acc", ("0.1", "0.2", "0.3"))):
        assert [x for x in printed if f"  {name}  " in x] == [f"master-0  {name}  step {n}  {value}"
                                                             for n, value in enumerate(values, 1)]
    assert len(printed) == 6
    code, out, _ = _cli(server, "metrics", "pytorchjob/cli-metrics")
    assert out.splitlines()[0].split() == ["REPLICA", "METRIC", "SOURCE", "LAST", "MIN", "MAX", "POINTS"]
    assert out.splitlines()[1].split() == ["master-0", "loss", "log", "0.333", "0.333", "1", "3"]
    code, out, _ = _cli(server, "metrics", "cli-metrics", "--csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["replica", "metric", "source", "step", "time", "value"]
    assert [(r[1], r[3], float(r[5])) for r in rows[1:4]] == [("loss", "1", 1.0), ("loss", "2", 0.5), ("loss", "3", 0.333)]
    code, _, err = _cli(server, "metrics", "no-such-job")
    assert code == 1 and err.startswith("error: ") and "no-such-job" in err


@pytest.mark.slow
def test_the_magic_runs_the_metrics_command(server: LiveServer, client: Client, monkeypatch, capsys) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    client.create(job("magic-metrics", script("print('loss=0.75', flush=True)")))
    follow(client, "magic-metrics")
    monkeypatch.setenv("DTRAIN_URL", server.url)
    monkeypatch.setenv("DTRAIN_TOKEN", server.token)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "dtrain_jupyter")
    shell.run_line_magic("dtrain", "metrics magic-metrics")
    printed = capsys.readouterr()
    assert "master-0" in printed.out and "0.75" in printed.out, printed


TENSORBOARD_JOB = ("import os, time",
                   "from torch.utils.tensorboard import SummaryWriter",
                   "w = SummaryWriter(os.path.join(os.environ['DTRAIN_OUTPUT_DIR'], 'tb'))",
                   "[w.add_scalar('train/loss', 1.0 / (step + 1), step) for step in range(5)]",
                   "w.close()")


def tensorboard_series(server: LiveServer) -> list[tuple[str, str, int]]:
    """(replica, tag, points) of every TensorBoard series in the server's metric store, read directly."""
    path = server.root / "data" / "dtrain-history" / "metrics.sqlite3"
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT replica, name, count FROM series WHERE source='tensorboard'").fetchall()
    finally:
        db.close()


@pytest.mark.slow
def test_a_finished_jobs_tensorboard_scalars_are_read_without_a_request(server: LiveServer, client: Client) -> None:
    pytest.importorskip("torch.utils.tensorboard")
    client.create(job("tb-finish", script(*TENSORBOARD_JOB)))
    assert client.wait("tb-finish", timeout=120).phase.finished
    # Nobody asked for its metrics: the history reads the event files as it learns the job finished.
    deadline = time.monotonic() + 60
    while ("tb", "train/loss", 5) not in tensorboard_series(server):
        assert time.monotonic() < deadline, f"the scalars were never read: {tensorboard_series(server)}"
        time.sleep(0.2)
    loss = client.metrics("tb-finish").get("tb", "train/loss", "tensorboard")
    assert loss.step == [0, 1, 2, 3, 4] and loss.value == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
