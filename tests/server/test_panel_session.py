"""`POST /dtrain/api/panel-session`: the labextension's panel kernel, started to read ahead.

A real server and real kernels: the session is the record JupyterLab's own sessions API makes
(so the shell's SessionContext finds it by path), one per path however many ask at once, and its
IPython kernel loads the read-ahead extension (ui/preload.py) and keeps no history.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dtrain_jupyter.server import panel_session
from dtrain_jupyter.server.panel_session import PRELOAD_ARGUMENTS, PRELOAD_EXTENSION, SESSION_TYPE, preload_arguments

from .conftest import unique


def kernel_command(serverapp: Any, kernel_id: str) -> list[str]:
    pid = serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


async def in_kernel(serverapp: Any, kernel_id: str, code: str) -> str:
    """What `code` prints in the kernel, run through a client of the server's own kernel manager."""
    client = serverapp.kernel_manager.get_kernel(kernel_id).client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=60)
        printed: list[str] = []
        reply = await client.execute_interactive(
            code, timeout=60,
            output_hook=lambda msg: printed.append(msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(printed)
    finally:
        client.stop_channels()


async def test_it_starts_the_session_jupyterlab_then_finds_by_its_path(api, jp_fetch, jp_serverapp) -> None:
    path = unique("panel") + ".dtrain"
    code, model, _ = await api("panel-session", method="POST",
                               body={"path": path, "name": "Distributed Training", "kernel": "python3"})
    try:
        assert code == 201, model
        assert (model["path"], model["name"], model["type"]) == (path, "Distributed Training", SESSION_TYPE)
        assert model["kernel"]["name"] == "python3"
        listed = [s for s in await jp_serverapp.session_manager.list_sessions() if s["path"] == path]
        assert [s["id"] for s in listed] == [model["id"]]
        command = kernel_command(jp_serverapp, model["kernel"]["id"])
        assert command[-len(PRELOAD_ARGUMENTS):] == list(PRELOAD_ARGUMENTS)

        # Asked again (a page reload, the other panel): the same session, no second kernel.
        code, again, _ = await api("panel-session", method="POST", body={"path": path})
        assert code == 200 and again["id"] == model["id"]
        assert len(jp_serverapp.kernel_manager.list_kernel_ids()) == 1
    finally:
        await jp_serverapp.session_manager.delete_session(model["id"])


async def test_two_tabs_asking_at_once_share_one_kernel(api, jp_serverapp) -> None:
    path = unique("panel") + ".dtrain"
    answers = await asyncio.gather(*(api("panel-session", method="POST", body={"path": path}) for _ in range(3)))
    try:
        assert sorted(code for code, _, _ in answers) == [200, 200, 201]
        assert len({model["id"] for _, model, _ in answers}) == 1
        assert len(jp_serverapp.kernel_manager.list_kernel_ids()) == 1
        assert len(panel_session._starting) == 0  # no lock outlives its requests
    finally:
        await jp_serverapp.session_manager.delete_session(answers[0][1]["id"])


async def test_its_kernel_reads_ahead_and_keeps_no_history(api, jp_serverapp) -> None:
    code, model, _ = await api("panel-session", method="POST", body={"path": unique("panel") + ".dtrain"})
    assert code == 201, model
    try:
        printed = await in_kernel(jp_serverapp, model["kernel"]["id"], (
            "import sys, dtrain_jupyter.ui as ui\n"
            "ui._WARMING.join(60)\n"
            "print(type(ui._WARMING).__name__, 'dtrain_jupyter.ui.app' in sys.modules, "
            "get_ipython().history_manager.enabled, 'click' in sys.modules, callable(sys.modules['httpx'].main), "
            "type(get_ipython().kernel).__name__, any(m.startswith('_pydevd') for m in sys.modules))\n"))
        # Read ahead: the panel imported, no history, none of httpx's command line (click), and
        # a kernel built without the debugger (debugpy's pydevd never loaded).
        assert printed.split() == ["Thread", "True", "False", "False", "True", "PanelKernel", "False"]
    finally:
        await jp_serverapp.session_manager.delete_session(model["id"])


@pytest.mark.parametrize("body, field", [
    ({}, "path"), ({"path": ""}, "path"), ({"path": 7}, "path"), ({"path": "x" * 1025}, "path"),
    ({"path": "a\u0000b"}, "path"), ({"path": "\ud800"}, "path"),
    ({"path": "p", "name": 3}, "name"), ({"path": "p", "name": "\udfff"}, "name"),
    ({"path": "p", "kernel": ""}, "kernel"), ({"path": "p", "kernel": "no-such-spec"}, "kernel"),
    ({"path": "p", "kernel": 7}, "kernel"),
])
async def test_a_malformed_request_names_its_field(api, jp_serverapp, body: dict, field: str) -> None:
    code, error, _ = await api("panel-session", method="POST", body=body)
    assert code == 400 and error["field"] == field, error
    assert jp_serverapp.kernel_manager.list_kernel_ids() == []


async def test_a_body_that_is_no_json_object_is_refused(api) -> None:
    code, error, _ = await api("panel-session", method="POST", body="[1, 2]")
    assert code == 400 and "path" in error["message"]
    code, error, _ = await api("panel-session", method="POST", body="path: x",
                               headers={"Content-Type": "text/plain"})
    assert code == 400 and "path" in error["message"]


async def test_json_sent_as_plain_text_is_read(api, jp_serverapp) -> None:
    # fetch() labels a string body text/plain unless told otherwise.
    code, model, _ = await api("panel-session", method="POST", body='{"path": "plain.dtrain"}',
                               headers={"Content-Type": "text/plain;charset=UTF-8"})
    try:
        assert code == 201 and model["path"] == "plain.dtrain"
    finally:
        await jp_serverapp.session_manager.delete_session(model["id"])


class _Specs:
    def __init__(self, argv: list[str]) -> None:
        self.argv = argv

    def get_kernel_spec(self, name: str) -> Any:
        if name != "python3":
            raise KeyError(name)
        return type("Spec", (), {"argv": self.argv})()


def _server(argv: list[str], gateway: bool = False) -> Any:
    return type("Server", (), {
        "kernel_spec_manager": _Specs(argv),
        "kernel_manager": type("KM", (), {"default_kernel_name": "python3"})(),
        "gateway_config": type("Gateway", (), {"gateway_enabled": gateway})(),
    })()


def test_only_an_ipython_kernel_this_server_starts_takes_the_arguments() -> None:
    ipython = ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    assert preload_arguments(_server(ipython), "python3") == list(PRELOAD_ARGUMENTS)
    assert preload_arguments(_server(ipython), None) == list(PRELOAD_ARGUMENTS)  # the default spec
    assert preload_arguments(_server(ipython, gateway=True), "python3") == []
    assert preload_arguments(_server(["R", "--slave", "-e", "IRkernel::main()"]), "python3") == []
    assert preload_arguments(_server(ipython), "no-such-spec") == []
    assert f"--ext={PRELOAD_EXTENSION}" in PRELOAD_ARGUMENTS


async def test_a_kernel_that_cannot_start_is_said_in_words(api, jp_serverapp, monkeypatch) -> None:
    async def refuse(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("no such executable: /opt/python/bin/python")

    monkeypatch.setattr(jp_serverapp.kernel_manager, "start_kernel", refuse)
    code, error, _ = await api("panel-session", method="POST", body={"path": "broken.dtrain"})
    assert code == 500 and "did not start: no such executable" in error["message"], error
    assert [s for s in await jp_serverapp.session_manager.list_sessions() if s["path"] == "broken.dtrain"] == []
