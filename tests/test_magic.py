"""The %dtrain magic: the command grammar in IPython's InteractiveShell and in a real kernel."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from .code.conftest import offline_pip_env, write_wheel
from .server.conftest import unique
from .server.live import LiveServer, pytorch_yaml


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Local replicas inherit the server's environment: their pip installs `--packages` from a
    # folder holding one wheel, with no network, into a cache of this module's own.
    wheels = tmp_path_factory.mktemp("wheels")
    write_wheel(wheels, "dtrain-demo-pkg", "1.0", "VALUE = 5\n")
    live = LiveServer(tmp_path_factory.mktemp("magic-server"), start=False)
    live.env.update(offline_pip_env(wheels, tmp_path_factory.mktemp("package-cache")))
    live.start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "dtrain_jupyter")
    return ip


def test_load_ext_registers_line_and_cell_magic(shell: InteractiveShell) -> None:
    magics = shell.magics_manager.magics
    assert "dtrain" in magics["line"] and "dtrain" in magics["cell"]


@pytest.mark.parametrize("line", ["bogus", "logs", "get --tail x", "list -o xml", "wait x --for ever",
                                  "'unbalanced", "logs x --tail=-"], ids=str)
def test_bad_arguments_print_usage_and_never_raise(shell: InteractiveShell, capsys: Any, line: str) -> None:
    shell.run_line_magic("dtrain", line)
    err = capsys.readouterr().err
    assert ("usage:" in err or "cannot read the arguments" in err) and "Traceback" not in err


def test_help_prints_and_returns(shell: InteractiveShell, capsys: Any) -> None:
    assert shell.run_line_magic("dtrain", "list --help") is None
    assert "--all-namespaces" in capsys.readouterr().out


def test_cell_form_needs_a_manifest_command(shell: InteractiveShell, capsys: Any) -> None:
    shell.run_cell_magic("dtrain", "list", "x: 1")
    assert "cell form takes one of" in capsys.readouterr().err


def test_cell_validate_is_offline(shell: InteractiveShell, capsys: Any) -> None:
    shell.run_cell_magic("dtrain", "validate", pytorch_yaml("ok-name"))
    assert capsys.readouterr().out.strip() == "-: ok"
    shell.run_cell_magic("dtrain", "validate", pytorch_yaml("Bad_Name"))
    assert capsys.readouterr().out.startswith("-:4:")


def test_magic_verbs_against_a_server(shell: InteractiveShell, server: LiveServer, capsys: Any) -> None:
    where = f"--url {server.url} --token {server.token}"
    name = unique()
    shell.run_cell_magic("dtrain", f"create {where}", pytorch_yaml(name))
    assert capsys.readouterr().out.strip() == f"pytorchjob/{name} created on local in default"
    shell.run_line_magic("dtrain", f"wait {name} --for succeeded --timeout 120 {where}")
    assert capsys.readouterr().out.strip() == f"pytorchjob/{name} Succeeded"
    shell.run_line_magic("dtrain", f"list {where}")
    out = capsys.readouterr().out
    assert name in out and "Succeeded" in out
    shell.run_line_magic("dtrain", f"logs {name} {where}")
    assert sorted(capsys.readouterr().out.splitlines()) == [
        f"[{name}-master-0] hello from rank 0", f"[{name}-worker-0] hello from rank 1"]
    shell.run_line_magic("dtrain", f"output {name} rank-1.txt {where}")
    assert capsys.readouterr().out.strip() == "rank 1"
    shell.run_line_magic("dtrain", f"get pytorchjob/{name} -o json {where}")
    assert '"phase": "Succeeded"' in capsys.readouterr().out
    shell.run_line_magic("dtrain", f"delete {name} {where}")
    assert capsys.readouterr().out.strip() == f"pytorchjob/{name} deleted"
    shell.run_line_magic("dtrain", f"get {name} {where}")
    assert "removed" in capsys.readouterr().out  # from the job history
    shell.run_line_magic("dtrain", f"get never-{name} {where}")
    assert "not found" in capsys.readouterr().err


def test_magic_in_a_real_kernel(server: LiveServer) -> None:
    kernel = server.start_kernel()
    name = unique()
    try:
        assert kernel.execute("%load_ext dtrain_jupyter")["error"] is None
        created = kernel.execute(f"%%dtrain create\n{pytorch_yaml(name)}")
        waited = kernel.execute(f"%dtrain wait {name} --timeout 120")
        listed = kernel.execute("%dtrain list")
        pods = kernel.execute(f"%dtrain pods {name}")
        bad = kernel.execute("%dtrain frobnicate")
        panel = kernel.execute("%dtrain")
        deleted = kernel.execute(f"%dtrain delete {name}")
    finally:
        kernel.shutdown()
    assert created["error"] is None and created["stdout"].strip() == f"pytorchjob/{name} created on local in default"
    assert waited["stdout"].strip() == f"pytorchjob/{name} Succeeded"
    # Results display as rich HTML in a notebook.
    [table] = [d for d in listed["displays"] if name in d.get("text/html", "")]
    assert "<table" in table["text/html"] and "Succeeded" in table["text/html"]
    assert any("<table" in d.get("text/html", "") and "Master" in d["text/html"] for d in pods["displays"])
    assert bad["error"] is None and "usage:" in bad["stderr"]
    # `%dtrain` alone shows the panel inline (an ipywidget view).
    assert panel["error"] is None and not panel["stderr"]
    assert any("application/vnd.jupyter.widget-view+json" in d for d in panel["displays"])
    assert deleted["stdout"].strip() == f"pytorchjob/{name} deleted"


# -- %%dtrain run with code options: the cell runs as the script of every replica -------------

def test_cell_run_streams_the_replicas_output_and_returns_the_last_expression(
        shell: InteractiveShell, server: LiveServer, capsys: Any) -> None:
    shell.run_cell("SCALE = 3\ndef helper(x):\n    return x * SCALE\n")
    where = f"--url {server.url} --token {server.token}"
    value = shell.run_cell_magic("dtrain", f"run --kind TFJob --workers 2 --every-rank {where}",
                                 "import json, os\ntask = json.loads(os.environ['TF_CONFIG'])['task']\n"
                                 "print('task', task['index'])\nhelper(task['index'] + 1)\n")
    out = capsys.readouterr().out.splitlines()
    assert value == [3, 6]
    created = out[0].split()[0]
    assert created.startswith("tfjob/cell-") and "created on local in default" in out[0]
    name = created.split("/")[1]
    assert sorted(line for line in out if " task " in line) == [f"[{name}-worker-0] task 0", f"[{name}-worker-1] task 1"]
    assert not any("DTRAIN_" in line for line in out), out  # the runner's reports are not shown
    assert out[-1] == f"<TFJob {name} Succeeded>"  # the job's summary ends the output
    shell.run_line_magic("dtrain", f"delete {name} {where}")


def test_cell_run_reports_a_remote_exception_in_one_line(shell: InteractiveShell, server: LiveServer,
                                                         capsys: Any) -> None:
    where = f"--url {server.url} --token {server.token}"
    value = shell.run_cell_magic("dtrain", f"run --kind PyTorchJob --workers 0 --name {unique('cellfail')} {where}",
                                 "x = 1\nraise ValueError(f'bad value {x}')\n")
    captured = capsys.readouterr()
    assert value is None
    # The traceback came with the replica's output, its lines numbered as in the cell.
    assert 'File "<cell>", line 2, in <module>' in captured.out and "ValueError: bad value 1" in captured.out
    [summary] = captured.err.strip().splitlines()
    assert summary.startswith("the cell raised ValueError on rank 0 in pod cellfail-") and "bad value 1" in summary
    name = summary.split(" in pod ")[1].split("-master-0")[0]
    shell.run_line_magic("dtrain", f"delete {name} {where}")


def test_cell_run_installs_its_packages_first(shell: InteractiveShell, server: LiveServer, capsys: Any) -> None:
    where = f"--url {server.url} --token {server.token}"
    name = unique("cellpkg")
    value = shell.run_cell_magic("dtrain", f"run --workers 0 --name {name} --packages dtrain-demo-pkg>=1,<2 {where}",
                                 "import dtrain_demo_pkg\ndtrain_demo_pkg.VALUE * 2\n")
    out = capsys.readouterr().out
    assert value == 10
    # pip's own lines streamed into the cell, before the summary.
    assert f"[{name}-master-0] dtrain: installing dtrain-demo-pkg<2,>=1 into " in out
    assert f"[{name}-master-0] Successfully installed dtrain-demo-pkg-1.0" in out
    shell.run_line_magic("dtrain", f"delete {name} {where}")


def test_cell_run_refuses_a_bad_requirement_before_asking_a_server(shell: InteractiveShell, capsys: Any) -> None:
    assert shell.run_cell_magic("dtrain", "run --packages einops,numpy=>1 --url http://127.0.0.1:9/", "1\n") is None
    err = capsys.readouterr().err
    assert err.startswith("%%dtrain run: packages cannot be installed: packages[1] 'numpy=>1' is not")
    assert "Traceback" not in err


def test_cell_run_refuses_what_cannot_travel_before_asking_a_server(shell: InteractiveShell, capsys: Any) -> None:
    shell.run_cell("class Net:\n    def forward(self):\n        return 1\nnet = Net()\n")
    assert shell.run_cell_magic("dtrain", "run --kind PyTorchJob", "net.forward()\n") is None
    err = capsys.readouterr().err
    assert "'net' (read by the cell) is a Net object" in err and "Traceback" not in err


@pytest.mark.parametrize(("line", "words"), [("run --kind XGBoostJob", "use PyTorchJob, TFJob or MPIJob"),
                                             ("run --workers two", "invalid int value")], ids=["kind", "workers"])
def test_cell_run_usage_errors(shell: InteractiveShell, capsys: Any, line: str, words: str) -> None:
    assert shell.run_cell_magic("dtrain", line, "print(1)\n") is None
    err = capsys.readouterr().err
    assert "usage: %%dtrain run" in err and words in err


def test_cell_run_without_code_options_still_takes_a_manifest(shell: InteractiveShell, server: LiveServer,
                                                              capsys: Any) -> None:
    name = unique()
    shell.run_cell_magic("dtrain", f"run --url {server.url} --token {server.token}", pytorch_yaml(name))
    out = capsys.readouterr().out
    assert f"pytorchjob/{name} created" in out and f"pytorchjob/{name} Succeeded" in out
    shell.run_line_magic("dtrain", f"delete {name} --url {server.url} --token {server.token}")


def test_interrupting_a_cell_run_stops_following_not_the_job(server: LiveServer) -> None:
    import threading
    import time

    import httpx

    kernel = server.start_kernel()
    client = server.client()
    name = unique("slow")
    try:
        assert kernel.execute("%load_ext dtrain_jupyter")["error"] is None
        done: dict[str, Any] = {}
        cell = f"%%dtrain run --kind PyTorchJob --workers 0 --name {name}\nprint('started', flush=True)\n" \
               "import time\ntime.sleep(120)\n"
        runner = threading.Thread(target=lambda: done.update(kernel.execute(cell, timeout=180)))
        runner.start()
        deadline = time.monotonic() + 60
        while not any(line.line == "started" for line in _lines(client, name)):
            assert time.monotonic() < deadline, "the cell's job never printed"
            time.sleep(0.3)
        httpx.post(f"{server.url}api/kernels/{kernel.id}/interrupt", headers=server.headers, timeout=30)
        runner.join(60)
        assert not runner.is_alive()
        assert done["error"] is None, done["error"]
        assert f"stopped following pytorchjob/{name}; the job keeps running" in done["stderr"]
        assert f"%dtrain delete pytorchjob/{name}" in done["stderr"]
        assert f"[{name}-master-0] started" in done["stdout"]
        assert client.get(name).phase.value == "Running"
    finally:
        try:
            client.delete(name)
        finally:
            client.close()
            kernel.shutdown()


def _lines(client: Any, name: str) -> list[Any]:
    from dtrain_jupyter import JobNotFound

    try:
        return list(client.logs(name))
    except JobNotFound:
        return []


class _Cluster:
    """A client of a server whose one backend serves MPIJob at `served` only; create refuses, so
    nothing runs, after noting the version it was sent."""

    def __init__(self, served: list[str]) -> None:
        self.served = served
        self.sent: list[str] = []

    def backends(self) -> list[dict[str, Any]]:
        return [{"backend": "kubernetes", "default": True, "kinds": {"MPIJob": self.served}}]

    def create(self, spec: Any, **_where: Any) -> Any:
        from dtrain_jupyter.errors import Forbidden

        self.sent.append(spec.api_version)
        raise Forbidden("stop here", verb="create", resource="mpijobs", namespace="default")


@pytest.mark.parametrize(("served", "sent"), [
    (["kubeflow.org/v2beta1"], "kubeflow.org/v2beta1"),
    (["kubeflow.org/v1"], "kubeflow.org/v1"),                         # the Training Operator's CRD only
    (["kubeflow.org/v1", "kubeflow.org/v2beta1"], "kubeflow.org/v2beta1"),  # both: the preferred one
], ids=["mpi-operator", "training-operator", "both"])
def test_cell_run_writes_an_mpijob_at_the_version_its_cluster_serves(shell: InteractiveShell, monkeypatch: Any,
                                                                     capsys: Any, served: list[str],
                                                                     sent: str) -> None:
    from dtrain_jupyter.magic import DTrainMagics

    magics = next(m for m in shell.magics_manager.registry.values() if isinstance(m, DTrainMagics))
    cluster = _Cluster(served)
    monkeypatch.setattr(magics, "_make_client", lambda args: cluster)
    assert shell.run_cell_magic("dtrain", "run --kind MPIJob --workers 1", "print(1)\n") is None
    assert cluster.sent == [sent]
    assert "%%dtrain run: stop here" in capsys.readouterr().err
