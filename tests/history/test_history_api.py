"""The job history through a real server and the Python client: past jobs answer get, pods,
events and logs; history pages, search and forget; re-run of live and past jobs (edited, and
with a script folder's code kept by the history); a server with the history off."""

from __future__ import annotations

import sqlite3
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from dtrain_jupyter import Client, FolderJob, InvalidRequest, JobNotFound, NotFound
from dtrain_jupyter.model.status import Phase

from ..server.live import LiveServer, module_client, module_server


def manifest(name: str, *lines: str, code: int = 0) -> dict:
    script = "; ".join([*(f"print({line!r}, flush=True)" for line in lines), f"raise SystemExit({code})"])
    container = {"name": "pytorch", "image": "python:3.11", "command": [sys.executable, "-c", script]}
    spec = {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": spec}}}


server = module_server("history-server")
client = module_client()



def archived(client: Client, name: str, timeout: float = 60) -> None:
    """Wait until the history holds the finished job with a complete log of every pod."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        records = [j for j in client.history(search=name) if j.name == name]
        if records and records[0].phase.finished and not records[0].record["incomplete_logs"] \
                and records[0].record["log_bytes"] > 0 and not records[0].record["archiving"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} was not archived in {timeout} s: {client.history(search=name)}")


def run_then_delete(client: Client, job: dict) -> None:
    """Run the job to its end, wait until its log is archived, delete it, and wait until the
    server answers for it from its record."""
    name = job["metadata"]["name"]
    client.create(job)
    client.wait(name, timeout=60)
    archived(client, name)
    client.delete(name)
    deadline = time.monotonic() + 30
    while not client.get(name).removed:
        assert time.monotonic() < deadline, f"{name}'s record was not marked removed 30 s after its delete"
        time.sleep(0.2)


def test_a_job_just_deleted_answers_before_its_record_says_so(server: LiveServer, client: Client) -> None:
    # For a moment after a delete the cluster no longer lists the job and its record is not
    # marked removed yet; the record is un-marked here to hold that moment open.
    run_then_delete(client, manifest("leaving", "one line"))
    with sqlite3.connect(server.root / "data" / "dtrain-history" / "history.sqlite3") as db:
        assert db.execute("UPDATE jobs SET deleted=NULL WHERE name='leaving'").rowcount == 1
    assert client.get("leaving").phase == Phase.SUCCEEDED
    assert [x.line for x in client.logs("leaving")] == ["one line"]


def test_a_deleted_job_answers_from_the_history(client: Client) -> None:
    run_then_delete(client, manifest("gone", "first", "second", code=2))
    job = client.get("gone")
    assert job.removed and job.phase == Phase.FAILED
    assert [(x.pod, x.line) for x in client.logs("gone")] == [("gone-master-0", "first"),
                                                               ("gone-master-0", "second")]
    assert [x.line for x in client.logs("gone", pod="gone-master-0", tail=1)] == ["second"]
    assert [(p.name, p.exit_code) for p in client.pods("gone")] == [("gone-master-0", 2)]
    assert client.events("gone") is not None
    with pytest.raises(InvalidRequest, match="archived log cannot answer previous"):
        list(client.logs("gone", previous=True))


def test_history_pages_filters_and_search(client: Client) -> None:
    for name in ("page-a", "page-b", "page-c"):
        client.create(manifest(name, name))
    for name in ("page-a", "page-b", "page-c"):
        client.wait(name, timeout=60)
    first = client.history(search="page-", limit=2, total=True)
    assert [j.name for j in first] == ["page-c", "page-b"] and first.total == 3 and first.next
    second = client.history(search="page-", limit=2, after=first.next)
    assert [j.name for j in second] == ["page-a"] and second.next is None
    assert {j.name for j in client.history("finished", "page")} == {"page-a", "page-b", "page-c"}
    assert [j.name for j in client.history("live", "page")] == []
    with pytest.raises(InvalidRequest, match="show must be one of"):
        client.history("sometimes")
    with pytest.raises(InvalidRequest, match="'yesterday' is not a date") as bad:
        client.history(since="yesterday")
    assert bad.value.fields["argument"] == "from"
    # A time with an offset is compared in UTC, as records keep their creation times.
    assert client.history(search="page-", until="2000-01-01T00:00:00+02:00") == []


def test_rerun_live_past_and_edited(client: Client) -> None:
    client.create(manifest("again", "one"))
    client.wait("again", timeout=60)
    rerun = client.rerun("again")
    assert rerun.name == "again-run2"
    assert client.wait("again-run2", timeout=60).phase == Phase.SUCCEEDED
    assert [x.line for x in client.logs("again-run2")] == ["one"]

    archived(client, "again")
    client.delete("again")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not client.get("again").removed:
        time.sleep(0.2)
    edited = manifest("again-edited", "edited")
    third = client.rerun("again", manifest=yaml.safe_dump(edited))
    assert third.name == "again-edited"
    assert client.wait("again-edited", timeout=60).phase == Phase.SUCCEEDED
    assert [x.line for x in client.logs("again-edited")] == ["edited"]
    assert client.rerun("again", dry_run=True).name == "again-run3"

    other = manifest("x", "x")
    other["kind"] = "TFJob"
    other["spec"] = {"tfReplicaSpecs": other["spec"]["pytorchReplicaSpecs"]}
    with pytest.raises(InvalidRequest, match="must be a PyTorchJob"):
        client.rerun("again", manifest=other)


def test_forget(client: Client) -> None:
    client.create(manifest("forget-me", "x"))
    client.wait("forget-me", timeout=60)
    with pytest.raises(InvalidRequest, match="delete it first"):
        client.forget("forget-me")
    archived(client, "forget-me")
    client.delete("forget-me")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not client.get("forget-me").removed:
        time.sleep(0.2)
    assert client.forget("forget-me") == 1
    with pytest.raises(JobNotFound, match="nor in the job history"):
        client.get("forget-me")
    with pytest.raises(JobNotFound):
        client.forget("forget-me")


def test_a_script_folder_job_runs_again_after_its_folder_and_job_are_gone(client: Client, tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(textwrap.dedent("""\
        import sys
        print("script says", sys.argv[1:], flush=True)
    """))
    job = client.create(FolderJob("train.py", workdir=tmp_path, args=["--n", "3"], kind="PyTorchJob", workers=0,
                                  name="folder-old"))
    client.wait(job.name, timeout=90)
    archived(client, job.name)
    client.delete(job.name)
    (tmp_path / "train.py").unlink()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not client.get(job.name).removed:
        time.sleep(0.2)
    again = client.rerun(job.name)
    assert client.wait(again.name, timeout=90).phase == Phase.SUCCEEDED
    assert any("script says ['--n', '3']" in x.line for x in client.logs(again.name))


def test_a_server_without_history_says_so(tmp_path: Path) -> None:
    live = LiveServer(tmp_path, ("--DTrain.history=False",))
    try:
        with Client(url=live.url, token=live.token) as c:
            with pytest.raises(NotFound, match="keeps no job history"):
                c.history()
            c.create(manifest("plain", "x"))
            c.wait("plain", timeout=60)
            c.delete("plain")
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    c.get("plain")
                except JobNotFound as e:
                    assert "history" not in e.message
                    break
                time.sleep(0.2)
            else:
                raise AssertionError("the deleted job stayed")
    finally:
        live.stop()


def test_a_record_says_while_its_logs_are_being_archived(client: Client, tmp_path: Path) -> None:
    """`archiving` is true while a running pod's log is followed into the archive, false once the
    job ended and its last logs were read: only then is what a read of them shows final."""
    gate = tmp_path / "go"
    script = (f"import pathlib, time\nprint('started', flush=True)\n"
              f"while not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.05)\nprint('done', flush=True)")
    job = manifest("archiving")
    job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["command"] = [
        sys.executable, "-c", script]
    client.create(job)

    def record() -> dict:
        found = [j for j in client.history(search="archiving") if j.name == "archiving"]
        return found[0].record if found else {}

    deadline = time.monotonic() + 60
    while not record().get("archiving"):
        assert time.monotonic() < deadline, f"never seen archiving while it runs: {record()}"
        time.sleep(0.1)
    gate.touch()
    client.wait("archiving", timeout=60)
    archived(client, "archiving")
    assert record()["archiving"] is False and record()["log_bytes"] > 0
    assert [line.line for line in client.logs("archiving")] == ["started", "done"]
