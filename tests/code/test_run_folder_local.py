"""`Client.run("train.py", workdir=...)` against a real Jupyter server on the local backend: the
folder travels as an archive beside the manifest, is unpacked once into the job's own folder,
and every replica runs the script there with its arguments."""

from __future__ import annotations

import base64
import io
import json
import textwrap
from pathlib import Path

import httpx
import pytest

from dtrain_jupyter import Client, InvalidRequest, JobNotFound, RemoteError, cli
from dtrain_jupyter.cli import Console
from dtrain_jupyter.code.job import CODE_ANNOTATION, FolderJob

from ..server.live import LiveServer, module_client, module_server

TRAIN = """\
import argparse
import os
import helper

parser = argparse.ArgumentParser()
parser.add_argument("--scale", type=int, required=True)
options = parser.parse_args()
rank = os.environ["RANK"]
with open(os.path.join(os.environ["DTRAIN_OUTPUT_DIR"], f"rank-{rank}.txt"), "w") as out:
    out.write(f"{helper.VALUE * options.scale} {os.getcwd() == os.environ['DTRAIN_CODE_DIR']}")
print("trained rank", rank, flush=True)
"""


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(text))
    return folder


server = module_server("folder-server")
client = module_client()



def test_a_script_importing_its_helper_runs_on_two_replicas_from_a_snapshot(
        client: Client, server: LiveServer, tmp_path: Path) -> None:
    work = write(tmp_path, {"train.py": TRAIN, "helper.py": "VALUE = 5\n", "data/big.bin": "x" * 100,
                            ".dtrainignore": "data/\n"})
    job = client.run("train.py", workdir=str(work), args=["--scale", "3"], kind="PyTorchJob", workers=1)
    # Edits after create do not reach the job: it runs the folder as it was packed.
    (work / "helper.py").write_text("VALUE = 1000\n")
    try:
        assert client.result(job.name, timeout=120, progress=False) is None
        for pod in ("master-0", "worker-0"):
            assert client.read_output(job.name, f"rank-{'0' if pod == 'master-0' else '1'}.txt") == b"15 True"
        assert any("trained rank 1" in entry.line for entry in client.logs(job.name, pod=f"{job.name}-worker-0"))
        folder = server.root / "state" / "default" / "pytorchjobs" / job.name
        assert sorted(p.name for p in (folder / "code").iterdir()) == [".dtrain-code.json", ".dtrainignore",
                                                                      "helper.py", "train.py"]
        assert (folder / "code" / "helper.py").read_text() == "VALUE = 5\n"
        origin = json.loads(client.get(job.name).manifest["metadata"]["annotations"][CODE_ANNOTATION])
        assert origin["from"] == "folder" and origin["entry"] == "train.py" and origin["files"] == 3
        assert (folder / "code.tar.gz").stat().st_size == origin["bytes"]
    finally:
        client.delete(job.name)


def test_a_failing_script_comes_back_with_its_traceback_and_pod(client: Client, tmp_path: Path) -> None:
    work = write(tmp_path, {"src/train.py": "import helper\nhelper.explode(7)\n",
                            "src/helper.py": "def explode(n):\n    raise ValueError(f'bad shard {n}')\n"})
    job = client.run("src/train.py", workdir=str(work), kind="PyTorchJob")
    try:
        with pytest.raises(RemoteError) as info:
            client.result(job.name, timeout=120, progress=False)
    finally:
        client.delete(job.name)
    err = info.value
    # Both replicas raise; the earliest report is the one that comes back.
    assert err.pod in (f"{job.name}-master-0", f"{job.name}-worker-0") and err.fields["type"] == "ValueError"
    assert err.message.startswith("src/train.py")
    assert "raise ValueError(f'bad shard {n}')" in err.traceback and "helper.py" in err.traceback
    assert "runner" not in err.traceback  # the runner's own frames are left out


def test_a_script_exiting_with_a_status_fails_with_it(client: Client, tmp_path: Path) -> None:
    work = write(tmp_path, {"check.py": "import sys\nprint(sys.argv[1:])\nsys.exit(int(sys.argv[1]))\n"})
    ok = client.run("check.py", workdir=str(work), args=["0"])
    bad = client.run("check.py", workdir=str(work), args=["3"])
    try:
        assert client.result(ok.name, timeout=120, progress=False) is None
        with pytest.raises(RemoteError) as info:
            client.result(bad.name, timeout=120, progress=False)
        assert info.value.fields["type"] == "SystemExit" and "check.py exited with status 3" in info.value.message
        assert any("['3']" in entry.line for entry in client.logs(bad.name))
    finally:
        client.delete(ok.name)
        client.delete(bad.name)


def test_refusals_happen_before_anything_is_sent(client: Client, tmp_path: Path) -> None:
    work = write(tmp_path, {"train.py": "print(1)\n"})
    with pytest.raises(InvalidRequest) as info:
        client.run("train.py", workdir=str(work), args=["--lr", 0.1], name="never-made")
    assert info.value.fields["names"] == ["args[1]"]
    with pytest.raises(InvalidRequest) as info:
        client.run("missing.py", workdir=str(work), name="never-made")
    assert info.value.fields["names"] == ["script"]
    with pytest.raises(JobNotFound):
        client.get("never-made")


def test_dry_run_creates_nothing(client: Client, tmp_path: Path) -> None:
    job = client.run("train.py", workdir=str(write(tmp_path, {"train.py": "print(1)\n"})), dry_run=True)
    assert job.name.startswith("train-")
    with pytest.raises(JobNotFound):
        client.get(job.name)


def test_the_server_checks_the_archive_it_is_sent(server: LiveServer, tmp_path: Path) -> None:
    spec = FolderJob("train.py", write(tmp_path, {"train.py": "print(1)\n"}))
    body = {"manifest": spec.to_manifest(), "code": spec.code.to_body()}
    url = server.url + "dtrain/api/jobs"

    def post(code: dict) -> httpx.Response:
        return httpx.post(url, json={**body, "code": code}, headers=server.headers, timeout=30)

    answer = post({**body["code"], "archive": "not base64!"})
    assert answer.status_code == 400 and answer.json()["field"] == "code.archive"
    answer = post({**body["code"], "sha256": "0" * 64})
    assert answer.status_code == 400 and answer.json()["field"] == "code.sha256"
    too_big = base64.b64encode(b"\0" * 1_000_001).decode()
    answer = post({**body["code"], "archive": too_big})
    assert answer.status_code == 400 and answer.json()["field"] == "code.archive"
    # The manifest alone names a ConfigMap the local backend cannot read.
    answer = httpx.post(url, json={"manifest": body["manifest"]}, headers=server.headers, timeout=30)
    assert answer.status_code == 400 and answer.json()["field"] == "code"
    assert "no code archive came with it" in answer.json()["message"]


def test_the_command_runs_a_script_folder_and_exits_with_its_result(server: LiveServer, tmp_path: Path) -> None:
    work = write(tmp_path, {"echo.py": "import sys\nprint('GOT', *sys.argv[1:])\nsys.exit(len(sys.argv) - 3)\n"})
    where = ["--url", server.url, "--token", server.token, "--workdir", str(work)]
    for args, code in ((["a", "--b"], 0), (["a"], 1)):
        out, err = io.StringIO(), io.StringIO()
        status = cli.run(["run-script", "echo.py", *where, "--", *args], Console(out=out, err=err))
        assert status == code, err.getvalue()
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("pytorchjob/echo-") and f"GOT {' '.join(args)}" in out.getvalue()
        assert lines[-1].endswith("Succeeded" if code == 0 else "Failed")
        with Client(url=server.url, token=server.token) as c:
            c.delete(lines[0].split()[0].split("/")[1])
