"""The `dtrain` command: the offline `validate`, the grammar, and every verb against a real server."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dtrain_jupyter.cli import Console, build_parser, run

from .server.conftest import unique
from .server.live import LiveServer, pytorch_yaml

PYTHON = sys.executable


def _run(argv, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, Console(out=out, err=err, stdin=io.StringIO(stdin)))
    return code, out.getvalue(), err.getvalue()


# -- validate (offline) -------------------------------------------------------------------------

def test_validate_accepts_every_official_example(conformance_dir: Path) -> None:
    files = sorted(str(p) for p in conformance_dir.glob("*/*.yaml") if p.parent.name != "crds")
    assert files
    code, out, _ = _run(["validate", *files])
    assert out.splitlines() == [f"{f}: ok" for f in files]
    assert code == 0


BROKEN = """\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: Bad_Name
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 2
      template:
        spec:
          containers:
            - name: pytorch
              image: busybox
"""


def test_validate_prints_file_line_column_path_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    code, out, _ = _run(["validate", str(bad)])
    assert code == 1
    lines = out.splitlines()
    assert lines, out
    for line in lines:
        file, lineno, col, rest = line.split(":", 3)
        assert file == str(bad) and int(lineno) >= 1 and int(col) >= 1 and rest.strip()
    assert any(":4:" in line and "metadata.name" in line for line in lines)
    assert any("replicas" in line for line in lines)


@pytest.mark.parametrize("kind", ["missing", "directory", "binary", "huge", "empty", "not-yaml", "list"])
def test_validate_never_tracebacks(tmp_path: Path, kind: str) -> None:
    target = tmp_path / kind
    if kind == "directory":
        target.mkdir()
    elif kind == "binary":
        target.write_bytes(bytes(range(256)) * 4)
    elif kind == "huge":
        target.write_bytes(b"a: " + b"x" * (2 << 20) + b"\n")
    elif kind == "empty":
        target.write_text("")
    elif kind == "not-yaml":
        target.write_text("key: [unclosed\n  other: {")
    elif kind == "list":
        target.write_text("- 1\n- 2\n")
    code, out, err = _run(["validate", str(target)])
    assert code == 1
    assert out.startswith(f"{target}:") and "Traceback" not in out + err


def test_validate_reads_standard_input(conformance_dir: Path) -> None:
    text = (conformance_dir / "training-operator-v1.9" / "tensorflow_simple.yaml").read_text()
    assert _run(["validate", "-"], stdin=text)[:2] == (0, "-: ok\n")


def test_validate_command_in_a_subprocess(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    proc = subprocess.run([PYTHON, "-m", "dtrain_jupyter", "validate", str(bad)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and proc.stdout.startswith(f"{bad}:4:") and not proc.stderr


def test_validate_issues_come_in_text_order(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BROKEN)
    code, out, _ = _run(["validate", str(bad)])
    lines = [int(line.split(":")[1]) for line in out.splitlines()]
    assert code == 1 and len(lines) >= 2 and lines == sorted(lines)


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    # `dtrain validate ... | head -1`: the reader leaves early; no error, no traceback. Thousands of
    # bad documents print far more than a pipe buffers, so the writer meets the closed end.
    many = tmp_path / "many.yaml"
    many.write_text("---\n".join(f"apiVersion: example.com/v1\nkind: Nope{i}\n" for i in range(3000)))
    proc = subprocess.run(f"{PYTHON} -m dtrain_jupyter validate {many} | head -1",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stdout.startswith(f"{many}:2:1: kind:") and proc.stdout.count("\n") == 1
    assert proc.stderr == ""


# -- the grammar --------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [[], ["nope"], ["get"], ["logs", "x", "--tail", "many"], ["list", "-o", "xml"],
                                  ["wait", "x", "--for", "ever"], ["delete"]], ids=str)
def test_bad_arguments_print_usage_and_exit_2(argv: list[str]) -> None:
    code, out, err = _run(argv)
    assert code == 2 and "usage:" in err and "Traceback" not in err


def test_help_exits_0_with_the_help_text() -> None:
    code, out, _ = _run(["logs", "--help"])
    assert code == 0 and "--follow" in out and "--previous" in out


def test_one_parser_knows_every_verb() -> None:
    parser = build_parser()
    for argv in (["list", "-A", "-o", "wide"], ["create", "-f", "-", "--dry-run", "--backend", "local"],
                 ["run", "-f", "x.yaml"], ["get", "pytorchjob/x", "-o", "yaml"], ["pods", "x"],
                 ["logs", "x", "-f", "--pod", "p", "--tail", "3", "--previous", "--timestamps"],
                 ["events", "x"], ["output", "x", "a/b.txt"], ["wait", "x", "--for", "succeeded", "--timeout", "5"],
                 ["delete", "a", "b", "-y"], ["list", "--url", "http://h:1/", "--token", "t", "-n", "ns"]):
        assert parser.parse_args(argv).command == argv[0]


def test_server_errors_become_one_line_and_exit_1(tmp_path: Path) -> None:
    # Nothing listens on this port: the client's BackendUnavailable is printed, not raised.
    code, _, err = _run(["list", "--url", "http://127.0.0.1:9/", "--token", "x"])
    assert code == 1 and err.startswith("error: cannot reach the Jupyter server") and "Traceback" not in err


# -- against a running server (the command in a subprocess) -----------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    live = LiveServer(tmp_path_factory.mktemp("cli-server"))
    yield live
    live.stop()


def dtrain(server: LiveServer, *argv: str, stdin: str | None = None, explicit: bool = True,
           timeout: float = 180) -> subprocess.CompletedProcess:
    """`dtrain ARGS` as a terminal user runs it: the console script when installed."""
    script = Path(sys.executable).with_name("dtrain")
    cmd = [str(script)] if script.exists() else [PYTHON, "-m", "dtrain_jupyter"]
    args = list(argv) + (["--url", server.url, "--token", server.token] if explicit else [])
    env = {**server.env}
    return subprocess.run(cmd + args, input=stdin, capture_output=True, text=True, timeout=timeout, env=env)


def test_run_follows_logs_and_exits_with_the_job_result(server: LiveServer, tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    name, failing = unique(), unique()
    good.write_text(pytorch_yaml(name))
    bad.write_text(pytorch_yaml(failing).replace("import os", "raise SystemExit(4); import os"))
    proc = dtrain(server, "run", "-f", str(good))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"pytorchjob/{name} created on local in default"
    assert f"[{name}-master-0] hello from rank 0" in lines and lines[-1] == f"pytorchjob/{name} Succeeded"
    proc = dtrain(server, "run", "-f", str(bad))
    assert proc.returncode == 1 and proc.stdout.splitlines()[-1] == f"pytorchjob/{failing} Failed"
    assert dtrain(server, "delete", name, failing, "-y").returncode == 0


def test_verbs_in_a_terminal_with_discovery(server: LiveServer) -> None:
    name = unique()
    # No --url: the command finds the one running server through its runtime file.
    proc = dtrain(server, "create", "-f", "-", stdin=pytorch_yaml(name), explicit=False)
    assert proc.returncode == 0, proc.stderr
    assert dtrain(server, "wait", f"pytorchjob/{name}", "--for", "succeeded", "--timeout", "120").returncode == 0
    proc = dtrain(server, "list", "-o", "wide", explicit=False)
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "KIND", "BACKEND"] and any(r.split()[0] == name for r in rows)
    proc = dtrain(server, "get", name, "-o", "yaml")
    assert "phase: Succeeded" in proc.stdout and "kind: PyTorchJob" in proc.stdout
    proc = dtrain(server, "pods", name)
    assert f"{name}-master-0" in proc.stdout and "Succeeded" in proc.stdout
    proc = dtrain(server, "logs", name, "--pod", f"{name}-worker-0")
    assert proc.stdout == "hello from rank 1\n"
    proc = dtrain(server, "output", name)
    assert "rank-0.txt" in proc.stdout and "rank-1.txt" in proc.stdout
    # The listing first says where the files are (the job's folder under the server's state_dir).
    assert proc.stdout.splitlines()[0].startswith("Output location: folder ") and name in proc.stdout.splitlines()[0]
    proc = dtrain(server, "output", name, "rank-0.txt")
    assert proc.stdout == "rank 0"
    assert dtrain(server, "events", name).returncode == 0
    proc = dtrain(server, "delete", name, "nope-" + name, "-y")
    assert proc.returncode == 1 and f"pytorchjob/{name} deleted" in proc.stdout and "not found" in proc.stderr
    proc = dtrain(server, "get", name)
    assert proc.returncode == 0 and "removed from the cluster" in proc.stdout and "job history" in proc.stdout
    proc = dtrain(server, "get", "never-" + name)
    assert proc.returncode == 1 and proc.stderr.startswith("error: job") and "Traceback" not in proc.stderr


def test_create_reports_every_invalid_field(server: LiveServer, tmp_path: Path) -> None:
    proc = dtrain(server, "create", "-f", "-", stdin=pytorch_yaml("Bad_Name"))
    assert proc.returncode == 1 and "metadata.name" in proc.stderr and "4:" in proc.stderr
    proc = dtrain(server, "create", "-f", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 1 and "no such file" in proc.stderr


def test_wait_timeout_exits_1(server: LiveServer) -> None:
    name = unique()
    dtrain(server, "create", "-f", "-", stdin=pytorch_yaml(name).replace("import os", "import time; time.sleep(30); import os"))
    proc = dtrain(server, "wait", name, "--timeout", "0.5")
    assert proc.returncode == 1 and "still" in proc.stderr
    dtrain(server, "delete", name, "-y")


def test_an_unexpected_failure_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_client(args):
        raise ZeroDivisionError("boom")

    out, err = io.StringIO(), io.StringIO()
    code = run(["list"], Console(out=out, err=err), make_client=broken_client)
    assert code == 1 and err.getvalue().startswith("error: internal error in dtrain (ZeroDivisionError: boom)")
    monkeypatch.setenv("DTRAIN_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        run(["list"], Console(out=out, err=err), make_client=broken_client)


# -- tensorboard: a real job writing event files, a real TensorBoard behind the server's proxy ---

TENSORBOARD_SCRIPT = ("import os; from torch.utils.tensorboard import SummaryWriter; "
                      "w = SummaryWriter(os.environ['DTRAIN_OUTPUT_DIR']); w.add_scalar('loss', 0.5, 1); w.close()")


def _one_replica(name: str, script: str) -> dict:
    container = {"name": "pytorch", "image": "python:3.11", "command": [PYTHON, "-c", script]}
    master = {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": master}}}


def test_tensorboard_prints_its_address_or_names_the_job_without_event_files(server: LiveServer,
                                                                               capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch.utils.tensorboard")
    from IPython.core.interactiveshell import InteractiveShell

    assert build_parser().parse_args(["tensorboard", "a", "pytorchjob/b", "-k", "PyTorchJob"]).names == [
        "a", "pytorchjob/b"]
    scalars, empty = unique(), unique()
    with server.client() as client:
        client.create(_one_replica(scalars, TENSORBOARD_SCRIPT))
        client.create(_one_replica(empty, "print('no event files')"))
        for name in (scalars, empty):
            assert client.wait(name, timeout=120).phase.value == "Succeeded", list(client.logs(name))
    proc = dtrain(server, "tensorboard", scalars, "-k", "PyTorchJob", "-n", "default", "--backend", "local")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == server.url + "dtrain/tensorboard/\n"
    proc = dtrain(server, "tensorboard", scalars, empty)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"error: PyTorchJob {empty!r} has no TensorBoard event files")
    assert "SummaryWriter(os.environ['DTRAIN_OUTPUT_DIR'])" in proc.stderr
    proc = dtrain(server, "tensorboard", "never-" + scalars)
    assert proc.returncode == 1 and proc.stderr.startswith("error: job") and "never-" + scalars in proc.stderr
    # The magic reads the same grammar.
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "dtrain_jupyter")
    capsys.readouterr()
    shell.run_line_magic("dtrain", f"tensorboard {scalars} --url {server.url} --token {server.token}")
    assert capsys.readouterr().out == server.url + "dtrain/tensorboard/\n"
