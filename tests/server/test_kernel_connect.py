"""`c.DTrain.settled_kernel_connect`: kernel websockets wait for their iopub subscription before the first nudge.

The race itself (a kernel's answer lost before the subscription arrives) is timing on ZMQ's side
and is measured in benchmarks/panel_timeline.py; these tests hold what the server does: which
class opens kernel websockets, that it leaves a configured one alone, that its first nudge comes
after the wait, and that a real kernel is reached through it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from dtrain_jupyter.server import kernel_connect
from dtrain_jupyter.server.kernel_connect import SETTING, SUBSCRIBE_WAIT_S, SettledNudgeConnection, install


@pytest.fixture
def dtrain_config(tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    settled = getattr(request, "param", True)
    return {"backend": "local", "state_dir": str(tmp_path / "dtrain-state"), "settled_kernel_connect": settled}


@pytest.mark.parametrize("dtrain_config, expected", [(True, SettledNudgeConnection),
                                                     (False, ZMQChannelsWebsocketConnection)],
                         indirect=["dtrain_config"], ids=["on", "off"])
async def test_the_server_opens_kernel_websockets_with_the_settled_class_unless_turned_off(
        jp_serverapp: Any, expected: type) -> None:
    assert jp_serverapp.web_app.settings[SETTING] is expected


def test_a_gateway_or_configured_class_is_left_alone() -> None:
    class Mine(ZMQChannelsWebsocketConnection):
        pass

    class Server:
        kernel_websocket_connection_class = Mine

    settings: dict[str, Any] = {SETTING: Mine}
    assert install(Server(), settings) is False
    assert settings[SETTING] is Mine


async def test_the_first_nudge_comes_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    happened: list[Any] = []

    async def sleep(seconds: float) -> None:
        happened.append(("wait", seconds))

    def nudge(self: Any) -> asyncio.Future[None]:
        happened.append("nudge")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    monkeypatch.setattr(kernel_connect.asyncio, "sleep", sleep)
    monkeypatch.setattr(ZMQChannelsWebsocketConnection, "nudge", nudge)
    pending = SettledNudgeConnection.nudge(object.__new__(SettledNudgeConnection))
    assert happened == []  # nothing is sent before the wait
    await pending
    assert happened == [("wait", SUBSCRIBE_WAIT_S), "nudge"]


async def test_a_kernel_answers_through_a_settled_websocket(jp_serverapp: Any, jp_fetch: Any, jp_ws_fetch: Any,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    nudged: list[Any] = []
    real = SettledNudgeConnection.nudge
    monkeypatch.setattr(SettledNudgeConnection, "nudge", lambda self: nudged.append(self) or real(self))
    reply = await jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
    kernel_id = json.loads(reply.body)["id"]
    try:
        ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "channel": "shell", "header": {"msg_id": msg_id, "msg_type": "kernel_info_request", "username": "t",
                                           "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "content": {}, "buffers": []}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.read_message(), timeout=60))
            if message.get("parent_header", {}).get("msg_id") == msg_id and message["channel"] == "shell":
                break
        assert message["header"]["msg_type"] == "kernel_info_reply" and message["content"]["status"] == "ok"
        assert len(nudged) == 1 and isinstance(nudged[0], SettledNudgeConnection)
        ws.close()
    finally:
        await jp_fetch("api", "kernels", kernel_id, method="DELETE")
