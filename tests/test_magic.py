"""The %dtrain magic: the command grammar in IPython's InteractiveShell and in a real kernel."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from .server.conftest import unique
from .server.live import LiveServer, pytorch_yaml


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("magic-server"))
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
