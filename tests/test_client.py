"""The Python client against a real `jupyter server` subprocess, and inside a kernel it started."""

from __future__ import annotations

import json
import os
import shutil
import ssl
from pathlib import Path

import pytest

from dtrain_jupyter import (
    BackendUnavailable, Client, DTrainError, InvalidJob, InvalidRequest, JobExists, JobNotFound, NotFound,
)
from dtrain_jupyter.client import Outputs, discover, running_servers, split_name, tls_context
from dtrain_jupyter.model.job import LogLine
from dtrain_jupyter.render import JobList, RichJob

from .server.conftest import unique
from .server.live import LiveServer, module_client, module_server, pytorch_yaml


server = module_server("client-server")
client = module_client()



def test_create_logs_wait_outputs_delete(client: Client, server: LiveServer) -> None:
    name = unique()
    job = client.create(pytorch_yaml(name))
    assert isinstance(job, RichJob) and repr(job) == f"<PyTorchJob {name} {job.phase}>"
    done = client.wait(name, timeout=120)
    assert done.phase.value == "Succeeded"
    lines = list(client.logs(name))
    assert all(isinstance(x, LogLine) for x in lines)
    assert sorted(x.line for x in lines) == ["hello from rank 0", "hello from rank 1"]
    assert sorted(x.line for x in client.logs(f"pytorchjob/{name}", follow=True)) == sorted(x.line for x in lines)
    # The plain-text form: the same lines, bytes as the replica wrote them, no object per line.
    master = f"{name}-master-0"
    assert b"".join(client.log_bytes(name, pod=master)) == b"hello from rank 0\n"
    assert b"".join(client.log_bytes(name, pod=master, tail=0)) == b""
    with pytest.raises(DTrainError) as missing:
        list(client.log_bytes(name, pod=f"{name}-nope-0"))
    assert missing.value.status_code in (400, 404) and "nope" in missing.value.message
    pods = client.pods(name)
    assert len(pods) == 2 and "Master" in pods.text()
    files = client.outputs(name)
    assert isinstance(files, list) and sorted(f.path for f in files) == ["rank-0.txt", "rank-1.txt"]
    folder = server.root / "state" / "default" / "pytorchjobs" / name / "output"
    assert files.location == {"folder": str(folder)}
    assert files.text().startswith(f"Output location: folder {folder}\n") and str(folder) in files._repr_html_()
    assert client.read_output(name, "rank-0.txt") == b"rank 0"
    assert client.read_output(name, "rank-0.txt", limit=2) == b"ra"
    # Files that cannot be listed (here: the folder is gone) still say where they would be.
    shutil.rmtree(folder)
    with pytest.raises(NotFound) as gone:
        client.outputs(name)
    assert gone.value.fields["location"] == {"folder": str(folder)}
    listed = client.list()
    assert isinstance(listed, JobList) and name in listed.text() and name in listed._repr_html_()
    assert client.get(name).to_dict()["status"]["phase"] == "Succeeded"
    assert client.delete(name).name == name
    # Gone from the cluster, still in the job history: answered from there, and said so.
    past = client.get(name)
    assert past.removed and "removed" in repr(past) and "job history" in past.text()


def test_errors_come_back_as_our_types(client: Client) -> None:
    with pytest.raises(InvalidJob) as info:
        client.create(pytorch_yaml("Bad_Name"))
    assert info.value.issues[0].path == "metadata.name" and info.value.issues[0].line == 4
    name = unique()
    client.create(pytorch_yaml(name))
    with pytest.raises(JobExists):
        client.create(pytorch_yaml(name))
    with pytest.raises(InvalidRequest):
        client.list(phase="Sleeping")
    with pytest.raises(InvalidRequest):
        client.create(12345)  # type: ignore[arg-type]
    client.wait(name, timeout=120)
    client.delete(name)


def test_validate_and_dry_run_create_nothing(client: Client) -> None:
    name = unique()
    assert client.validate(pytorch_yaml(name)) == []
    issues = client.validate(pytorch_yaml("Bad_Name"))
    assert [i.path for i in issues] == ["metadata.name"]
    assert client.create(pytorch_yaml(name), dry_run=True).name == name
    with pytest.raises(JobNotFound):
        client.get(name)


def test_kind_slash_name_disambiguates(client: Client) -> None:
    name = unique()
    client.create(pytorch_yaml(name))
    tf = {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": name},
          "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {
              "containers": [{"name": "tensorflow", "image": "x", "command": ["python", "-c", "print('tf')"]}]}}}}}}
    client.create(tf)
    with pytest.raises(InvalidRequest) as info:
        client.get(name)
    assert "ambiguous" in info.value.message
    assert client.get(f"tfjob/{name}").kind == "TFJob"
    assert client.wait(f"TFJob/{name}", timeout=120).phase.value == "Succeeded"
    client.wait(f"pytorchjobs/{name}", timeout=120)
    for ref in (f"tfjob/{name}", f"pytorchjob/{name}"):
        client.delete(ref)


def test_changes_feed_and_backends(client: Client) -> None:
    cursor, first = client.changes(None, timeout=0)
    assert first.resync is True and first == []
    name = unique()
    client.create(pytorch_yaml(name))
    cursor, changes = client.changes(cursor, timeout=10)
    assert not changes.resync and any(c.type == "ADDED" and c.job.name == name for c in changes)
    [local] = client.backends()
    assert local["backend"] == "local" and local["ready"] is True
    client.wait(name, timeout=120, until="succeeded")
    client.delete(name)


def test_wait_times_out_and_reports_failure(client: Client) -> None:
    slow, bad = unique(), unique()
    client.create(pytorch_yaml(slow).replace("import os", "import time; time.sleep(30); import os"))
    with pytest.raises(TimeoutError):
        client.wait(slow, timeout=0.5)
    client.delete(slow)
    client.create(pytorch_yaml(bad).replace("import os", "raise SystemExit(3); import os"))
    with pytest.raises(DTrainError) as info:
        client.wait(bad, timeout=120, until="succeeded")
    assert type(info.value) is DTrainError and info.value.fields["phase"] == "Failed"
    client.delete(bad)


def test_discovery_order(server: LiveServer, tmp_path: Path) -> None:
    # A decoy record for a live process that is not the kernel's parent (this test process).
    decoy = server.runtime_dir / f"jpserver-{os.getpid()}.json"
    decoy.write_text(json.dumps({"url": "http://127.0.0.1:9/", "token": "decoy", "pid": os.getpid()}))
    stale = server.runtime_dir / "jpserver-999999999.json"
    stale.write_text(json.dumps({"url": "http://127.0.0.1:8/", "token": "stale", "pid": 999999999}))
    try:
        runtime = str(server.runtime_dir)
        assert {s["pid"] for s in running_servers(runtime)} == {server.pid, os.getpid()}
        found = discover({"JPY_PARENT_PID": str(server.pid)}, runtime)
        assert (found["url"], found["token"]) == (server.url, server.token)
        found = discover({"DTRAIN_URL": "http://h:1/", "DTRAIN_TOKEN": "t"}, runtime)
        assert (found["url"], found["token"]) == ("http://h:1/", "t")
        with pytest.raises(BackendUnavailable, match="2 Jupyter servers"):
            discover({}, runtime)
    finally:
        decoy.unlink()
        stale.unlink()
    assert discover({}, str(server.runtime_dir))["token"] == server.token
    with pytest.raises(BackendUnavailable, match="no running Jupyter server"):
        discover({}, str(tmp_path))


def test_unreachable_server_is_backend_unavailable() -> None:
    with Client(url="http://127.0.0.1:9/", token="x") as c, pytest.raises(BackendUnavailable):
        c.list()


@pytest.mark.parametrize(("text", "expected"), [("x", (None, "x")), ("TFJob/x", ("TFJob", "x"))])
def test_split_name(text: str, expected: tuple) -> None:
    assert split_name(text) == expected


@pytest.mark.parametrize("text", ["", "/x", "a/", "a/b/c"])
def test_split_name_refuses_malformed(text: str) -> None:
    with pytest.raises(InvalidRequest):
        split_name(text)


def test_in_a_kernel_the_client_finds_its_own_server(server: LiveServer) -> None:
    # A decoy record makes "the only running server" ambiguous: only JPY_PARENT_PID can pick.
    decoy = server.runtime_dir / f"jpserver-{os.getpid()}.json"
    decoy.write_text(json.dumps({"url": "http://127.0.0.1:9/", "token": "decoy", "pid": os.getpid()}))
    kernel = server.start_kernel()
    name = unique()
    try:
        result = kernel.execute(
            "from dtrain_jupyter import Client\n"
            "c = Client()\n"
            f"print('url', c.url)\n"
            f"job = c.create({pytorch_yaml(name)!r})\n"
            f"for line in c.logs({name!r}, follow=True):\n"
            "    print('log', line.line)\n"
            f"print('phase', c.wait({name!r}, timeout=120).phase)\n"
            f"print('deleted', c.delete({name!r}).name)\n"
        )
    finally:
        kernel.shutdown()
        decoy.unlink()
    assert result["error"] is None, result["error"]
    out = result["stdout"].splitlines()
    assert f"url {server.url}" in out
    assert sorted(x for x in out if x.startswith("log ")) == ["log hello from rank 0", "log hello from rank 1"]
    assert "phase Succeeded" in out and f"deleted {name}" in out
    # wait() showed its progress in the notebook as an updating display.
    assert any("text/html" in d and "waiting for" in d["text/html"] for d in result["displays"])


def test_following_streams_lines_while_the_job_runs(client: Client) -> None:
    name = unique()
    client.create(pytorch_yaml(name).replace("import os", "import time; print('first', flush=True); time.sleep(3); import os"))
    stream = client.logs(name, follow=True)
    first = next(stream)
    still = client.get(name).phase
    rest = list(stream)  # ends by itself when the replicas have exited
    assert first.line == "first" and not still.finished
    assert sorted(x.line for x in rest) == ["first", "hello from rank 0", "hello from rank 1"]
    client.wait(name, timeout=60)
    client.delete(name)


def test_a_large_list_is_decoded_with_the_cycle_collector_paused(client: Client, monkeypatch) -> None:
    import gc

    import dtrain_jupyter.client as client_module
    from dtrain_jupyter.model.job import Job

    name = unique("gc")
    client.create(pytorch_yaml(name, "print('x')"))
    seen: list[bool] = []
    real = Job.from_dict.__func__

    def spying(cls, data):  # noqa: ANN001 - mirrors the classmethod
        seen.append(gc.isenabled())
        return real(cls, data)

    monkeypatch.setattr(Job, "from_dict", classmethod(spying))
    monkeypatch.setattr(client_module, "PAUSE_GC_ABOVE_BYTES", 0)  # this test's list counts as large
    try:
        assert gc.isenabled()
        assert any(j.name == name for j in client.list())
        assert seen and not any(seen), "decoding ran with the collector on"
        assert gc.isenabled(), "the collector was not switched back on"
        # A caller that had it off keeps it off.
        gc.disable()
        try:
            client.list()
            assert not gc.isenabled()
        finally:
            gc.enable()
        # A small list is decoded as usual.
        monkeypatch.setattr(client_module, "PAUSE_GC_ABOVE_BYTES", 1 << 40)
        seen.clear()
        client.list()
        assert seen and all(seen)
    finally:
        monkeypatch.undo()
        client.delete(name, kind="PyTorchJob")


def test_an_output_location_on_a_claim_reads_as_words_and_is_escaped() -> None:
    files = Outputs([], {"claim": "results<b>", "path": "/runs/pt"})
    assert files.where == "volume claim results<b>, path /runs/pt"
    assert files.text().splitlines()[0] == "Output location: volume claim results<b>, path /runs/pt"
    assert "results&lt;b&gt;" in files._repr_html_() and "<b>" not in files._repr_html_()
    assert Outputs([]).where == "" and Outputs([]).text() == "No output files."


# ---------------------------------------------------------------------------------------------- TLS
def _tls(client: Client) -> dict[str, int]:
    return client._http._transport._pool._ssl_context.cert_store_stats()


def test_a_plain_http_client_loads_no_ca_bundle_and_still_talks(client: Client) -> None:
    # The bundle cost ~20 ms of every Client() and is never used over http://.
    assert client.url.startswith("http://") and _tls(client)["x509_ca"] == 0
    assert isinstance(client.list(), list)


def test_an_https_client_verifies_with_the_ca_bundle() -> None:
    remote = Client(url="https://dtrain.example.invalid/", token="t")
    try:
        assert _tls(remote)["x509_ca"] > 0
    finally:
        remote.close()


def test_the_tls_context_of_a_plain_http_client_refuses_tls() -> None:
    context = tls_context("http://127.0.0.1:8888/")
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname  # fails closed
