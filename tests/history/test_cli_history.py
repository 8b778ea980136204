"""The job history from the command line and the magic: `list --history` (pages, search, JSON),
`rerun` (new name, edited manifest, dry run), `forget` (asked, and with -y), and the verbs that
answer for a past job from its record, each saying so on stderr."""

from __future__ import annotations

import io
import json
import re
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from IPython.core.interactiveshell import InteractiveShell

from dtrain_jupyter import Client, JobNotFound
from dtrain_jupyter.cli import Console, build_parser, run
from dtrain_jupyter.model.status import Phase

from ..server.live import LiveServer, module_client, module_server
from .test_history_api import archived, manifest


server = module_server("cli-history-server")
client = module_client()



def tag() -> str:
    return uuid.uuid4().hex[:6]


def dtrain(server: LiveServer, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`dtrain ARGS --url U --token T` in a subprocess, as a terminal user runs it."""
    script = Path(sys.executable).with_name("dtrain")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "dtrain_jupyter"]
    return subprocess.run(cmd + list(argv) + ["--url", server.url, "--token", server.token], input=stdin,
                          capture_output=True, text=True, timeout=120, env=server.env)


class Terminal(io.StringIO):
    """Standard input that is a terminal: `dtrain` asks before it forgets."""

    def isatty(self) -> bool:
        return True


def in_process(server: LiveServer, *argv: str, stdin: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run([*argv, "--url", server.url, "--token", server.token], Console(out=out, err=err, stdin=stdin))
    return code, out.getvalue(), err.getvalue()


def past(client: Client, name: str, *lines: str, code: int = 0, running: bool = False) -> None:
    """A job that ran (created here unless `running` says it already was), was archived, and was
    deleted: only the history has it now."""
    if not running:
        client.create(manifest(name, *lines, code=code))
    client.wait(name, timeout=60)
    archived(client, name)
    client.delete(name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not client.get(name).removed:
        time.sleep(0.2)
    assert client.get(name).removed


def rows(stdout: str) -> list[list[str]]:
    """The table's rows (header dropped), cut at the header's column starts (a cell may be blank)."""
    header, *lines = [line for line in stdout.splitlines() if line and not line.startswith("next page:")]
    starts = [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", header)]
    return [[line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])] for line in lines]


# -- the grammar (no server) ------------------------------------------------------------------

def test_the_parser_knows_the_history_verbs() -> None:
    parser = build_parser()
    args = parser.parse_args(["rerun", "old", "--name", "new", "--backend", "local", "-n", "b", "-f", "x.yaml",
                              "--dry-run", "--from-backend", "local", "--from-namespace", "a"])
    assert (args.name, args.new_name, args.backend, args.namespace, args.from_backend, args.from_namespace) == \
        ("old", "new", "local", "b", "local", "a")
    assert parser.parse_args(["forget", "a", "b", "-y"]).names == ["a", "b"]
    args = parser.parse_args(["list", "--history", "--show", "finished", "--search", "mnist", "--limit", "5",
                              "--after", "c1", "--since", "2026-12-01", "--until", "2026-12-01T12:00:00+02:00"])
    # A time with an offset is compared as the records keep theirs: UTC, RFC 3339.
    assert (args.show, args.since, args.until) == ("finished", "2026-12-01", "2026-12-01T10:00:00Z")


@pytest.mark.parametrize("argv, says", [
    (["list", "--since", "yesterday"], "is not a date"),
    (["list", "--history", "--show", "gone"], "invalid choice"),
    (["list", "--search", "x"], "--search is for the job history"),
    (["list", "--show", "all", "--limit", "3"], "--show, --limit are for the job history"),
    (["list", "--history", "-o", "wide"], "-o wide is the cluster's list"),
    (["rerun"], "usage:"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_history_arguments_exit_2(argv: list[str], says: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    # No server is asked: the arguments are refused first.
    code = run(argv + ["--url", "http://127.0.0.1:9/"], Console(out=out, err=err))
    assert code == 2 and says in err.getvalue() and "Traceback" not in err.getvalue()


def test_the_history_table_in_a_notebook_escapes_every_cell() -> None:
    from dtrain_jupyter.cli import HistoryTable
    from dtrain_jupyter.render import RichJob

    job = RichJob.from_dict({"backend": "local", "kind": "PyTorchJob", "name": "<b>x</b>", "namespace": "default",
                             "created": "2026-12-01T10:04:00Z", "removed": "2026-12-01T11:00:00Z",
                             "status": {"phase": "Failed"}})
    job.record = {"log_bytes": 2048, "incomplete_logs": ["p"]}
    html = HistoryTable([job], "%dtrain list --history --search '<i>' --after c")._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html and "&lt;i&gt;" in html
    assert "2.0 KiB (cut short)" in html and "2026-12-01 10:04" in html and ">Failed</span>" in html


# -- against a running server -------------------------------------------------------------------

def test_list_history_pages_search_and_json(server: LiveServer, client: Client) -> None:
    t = tag()
    names = [f"hist-{t}-{x}" for x in "abc"]
    past(client, names[0], "old")
    for name in names[1:]:
        client.create(manifest(name, name))
        client.wait(name, timeout=60)

    proc = dtrain(server, "list", "--history", "--search", f"hist-{t}", "--limit", "2")
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0].split()
    assert header[:5] == ["NAME", "KIND", "BACKEND", "NAMESPACE", "PHASE"] and header[-2:] == ["REMOVED", "LOGS"]
    first = rows(proc.stdout)
    assert [r[0] for r in first] == [names[2], names[1]]  # newest first
    assert first[0][1:5] == ["PyTorchJob", "local", "default", "Succeeded"] and first[0][-1].endswith("B")
    follow = proc.stdout.splitlines()[-1]
    assert follow.startswith("next page: dtrain list --history --search ") and server.token not in follow
    # The printed command is the next page: run it as a person would paste it.
    argv = shlex.split(follow.removeprefix("next page: "))[1:]
    assert "--after" in argv and "--url" in argv
    proc = dtrain(server, *argv[:argv.index("--url")], *argv[argv.index("--url") + 2:])
    assert proc.returncode == 0, proc.stderr
    (last,) = rows(proc.stdout)
    assert last[0] == names[0] and last[6].startswith("removed ") and last[6].endswith(" ago")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", last[5])
    assert "next page:" not in proc.stdout

    proc = dtrain(server, "list", "--history", "--search", f"hist-{t}", "-o", "json")
    page = json.loads(proc.stdout)
    assert set(page) == {"items", "next"} and page["next"] is None
    by_name = {item["name"]: item for item in page["items"]}
    assert set(by_name) == set(names)
    assert by_name[names[0]]["removed"] and by_name[names[0]]["record"]["log_bytes"] > 0
    assert "removed" not in by_name[names[1]]

    proc = dtrain(server, "list", "--history", "--search", f"hist-{t}", "--show", "live")
    assert proc.returncode == 0 and proc.stdout.strip() == "No job records."
    # The cluster's own list is as it was: the deleted job is not on it.
    proc = dtrain(server, "list")
    assert names[1] in proc.stdout and names[0] not in proc.stdout


def test_rerun_by_name_edited_and_dry_run(server: LiveServer, client: Client, tmp_path: Path) -> None:
    old = f"again-{tag()}"
    client.create(manifest(old, "one"))
    client.wait(old, timeout=60)

    proc = dtrain(server, "rerun", old)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"pytorchjob/{old}-run2 created on local in default (re-run of {old})"
    assert client.wait(f"{old}-run2", timeout=60).phase == Phase.SUCCEEDED

    proc = dtrain(server, "rerun", f"pytorchjob/{old}", "--name", f"{old}-named", "-n", "other")
    assert proc.stdout.strip() == f"pytorchjob/{old}-named created on local in other (re-run of pytorchjob/{old})"
    assert client.wait(f"{old}-named", namespace="other", timeout=60).phase == Phase.SUCCEEDED

    past(client, old, running=True)
    edited = tmp_path / "edited.yaml"
    edited.write_text(yaml.safe_dump(manifest(f"{old}-edited", "edited")))
    proc = dtrain(server, "rerun", old, "-f", str(edited))
    assert proc.stdout.strip() == f"pytorchjob/{old}-edited created on local in default (re-run of {old})"
    client.wait(f"{old}-edited", timeout=60)
    assert [x.line for x in client.logs(f"{old}-edited")] == ["edited"]

    proc = dtrain(server, "rerun", old, "--dry-run")
    assert proc.stdout.strip() == f"pytorchjob/{old}-run3 created on local in default (re-run of {old}, dry run)"
    with pytest.raises(JobNotFound):
        client.get(f"{old}-run3")

    other_kind = manifest("x", "x")
    other_kind["kind"] = "TFJob"
    other_kind["spec"] = {"tfReplicaSpecs": other_kind["spec"]["pytorchReplicaSpecs"]}
    other_kind["spec"]["tfReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["name"] = "tensorflow"
    proc = dtrain(server, "rerun", old, "-f", "-", stdin=yaml.safe_dump(other_kind))
    assert proc.returncode == 1 and "must be a PyTorchJob" in proc.stderr and "Traceback" not in proc.stderr
    proc = dtrain(server, "rerun", f"never-{old}")
    assert proc.returncode == 1 and "nor in the job history" in proc.stderr


def test_forget_asks_and_with_yes_does_not(server: LiveServer, client: Client) -> None:
    name = f"forget-{tag()}"
    client.create(manifest(name, "x"))
    client.wait(name, timeout=60)
    proc = dtrain(server, "forget", name, "-y")
    assert proc.returncode == 1 and "delete it first" in proc.stderr

    past(client, name, running=True)
    code, out, _ = in_process(server, "forget", name, stdin=Terminal("n\n"))
    assert code == 0 and out == f"forget {name}? its records and archived logs go for good [y/N] {name}: kept\n"
    assert client.get(name).removed  # still remembered
    code, out, _ = in_process(server, "forget", name, stdin=Terminal("y\n"))
    assert code == 0 and out.endswith(f"{name} forgotten (1 record and archived logs removed from the job history)\n")
    with pytest.raises(JobNotFound):
        client.get(name)

    other = f"forget-{tag()}"
    past(client, other, "y")
    proc = dtrain(server, "forget", other, "-y")
    assert proc.returncode == 0 and proc.stdout.startswith(f"{other} forgotten (1 record")
    proc = dtrain(server, "forget", other, "-y")
    assert proc.returncode == 1 and "nor in the job history" in proc.stderr


def test_a_past_job_answers_and_says_it_is_from_the_history(server: LiveServer, client: Client) -> None:
    name = f"gone-{tag()}"
    past(client, name, "first", "second", code=3)
    note = f"note: pytorchjob/{name} left the cluster at "

    for verb, says in (("get", "this is its record in the job history"),
                       ("pods", "these are its pods as last seen, from the job history"),
                       ("events", "these are its events as the job history kept them"),
                       ("logs", "these are its logs as the job history archived them")):
        proc = dtrain(server, verb, name)
        assert proc.returncode == 0, (verb, proc.stderr)
        (line,) = proc.stderr.splitlines()
        assert line.startswith(note) and line.endswith(says), line
    assert dtrain(server, "logs", name).stdout.splitlines() == [f"[{name}-master-0] first", f"[{name}-master-0] second"]
    assert dtrain(server, "logs", name, "--pod", f"{name}-master-0", "--tail", "1").stdout == "second\n"
    assert f"{name}-master-0" in dtrain(server, "pods", name).stdout
    proc = dtrain(server, "get", name, "-o", "json")
    assert json.loads(proc.stdout)["removed"]  # stdout stays pure JSON; the note is on stderr

    for argv in (["output", name], ["output", name, "rank-0.txt"]):
        proc = dtrain(server, *argv)
        first, second = proc.stderr.splitlines()
        assert proc.returncode == 1 and first.startswith(note) and proc.stdout == ""
        assert "keeps its record and logs, not its output files" in second

    proc = dtrain(server, "wait", name)
    assert proc.returncode == 0 and proc.stdout.strip() == f"pytorchjob/{name} Failed"
    assert proc.stderr.startswith(note) and proc.stderr.rstrip().endswith("this is its last phase, from the job history")
    proc = dtrain(server, "wait", name, "--for", "succeeded")
    assert proc.returncode == 1 and "Failed" in proc.stderr.splitlines()[-1]


def test_wait_returns_for_a_job_deleted_while_it_ran(client: Client) -> None:
    name = f"mid-{tag()}"
    job = manifest(name, "start")
    job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["command"] = [
        sys.executable, "-c", "import time; print('start', flush=True); time.sleep(300)"]
    client.create(job)
    deadline = time.monotonic() + 60
    while client.get(name).phase != Phase.RUNNING and time.monotonic() < deadline:
        time.sleep(0.2)
    client.delete(name)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not client.get(name).removed:
        time.sleep(0.2)
    # Its record never finishes: without the removed check this wait would run into its timeout.
    done = client.wait(name, timeout=30, progress=False)
    assert done.removed and not done.phase.finished


# -- the magic ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "dtrain_jupyter")
    return ip


def test_magic_history_verbs(shell: InteractiveShell, server: LiveServer, client: Client, capsys: Any) -> None:
    where = f"--url {server.url} --token {server.token}"
    name = f"magic-{tag()}"
    past(client, name, "from the magic")

    shell.run_line_magic("dtrain", f"list --history --search {name} {where}")
    (row,) = rows(capsys.readouterr().out)
    assert row[0] == name and row[6].startswith("removed ")

    shell.run_line_magic("dtrain", f"rerun {name} {where}")
    assert capsys.readouterr().out.strip() == f"pytorchjob/{name}-run2 created on local in default (re-run of {name})"
    # Edit and re-run: the cell is the edited manifest.
    shell.run_cell_magic("dtrain", f"rerun {name} {where}", yaml.safe_dump(manifest(f"{name}-cell", "edited")))
    assert capsys.readouterr().out.strip() == f"pytorchjob/{name}-cell created on local in default (re-run of {name})"
    client.wait(f"{name}-cell", timeout=60)
    assert [x.line for x in client.logs(f"{name}-cell")] == ["edited"]
    shell.run_line_magic("dtrain", f"list --history --search {name} --limit 1 {where}")
    follow = capsys.readouterr().out.splitlines()[-1]
    assert follow.startswith(f"next page: %dtrain list --history --search {name} --limit 1 --url ")

    shell.run_line_magic("dtrain", f"get {name} {where}")
    captured = capsys.readouterr()
    assert f"note: pytorchjob/{name} left the cluster at " in captured.err and name in captured.out

    shell.run_line_magic("dtrain", f"forget {name} -y {where}")
    assert capsys.readouterr().out.startswith(f"{name} forgotten (1 record")
    with pytest.raises(JobNotFound):
        client.get(name)
