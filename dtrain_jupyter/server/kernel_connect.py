"""A kernel websocket that does not lose half a second to its first iopub message.

When a browser opens a kernel's websocket, jupyter_server gives it new ZMQ sockets and "nudges"
the kernel before relaying anything: it sends a kernel_info_request, and repeats it every 0.5 s
until a reply and an iopub message have both come back (`ZMQChannelsWebsocketConnection.nudge`).
The first request goes out the moment the sockets exist. A kernel that is already up answers it
within a millisecond, often before the new iopub socket's subscription has reached the kernel,
so the status messages of that answer are dropped. ipykernel's iopub socket greets a new
subscriber with an `iopub_welcome`, but only for a topic nobody subscribed yet, and the server's
own activity watcher subscribed the same topic at the kernel's start. The websocket then waits
for the second request, 0.5 s later.

On the panel's cold click (benchmarks/panel_timeline.py --cold, server log at DEBUG) this was
half the openings: "Nudge: attempt 1", no iopub, "Nudge: attempt 2" 501 ms later, and the
kernel's first status reached the browser at ~900 ms instead of ~430 ms. Every notebook opened
on a running kernel meets the same race.

`SettledNudgeConnection` waits `SUBSCRIBE_WAIT_S` before the first nudge, time for a loopback
subscription to arrive. Where it is not enough the second nudge still comes 0.5 s later, as
before. The server extension installs it only in place of jupyter_server's own default class
(`install`), never over a gateway's or a configured one, and `c.DTrain.settled_kernel_connect =
False` leaves the default.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

#: Seconds between the websocket's ZMQ sockets being made and the first kernel_info_request. A
#: loopback ZMQ connect and subscribe take about a millisecond; this leaves room for a busy server.
SUBSCRIBE_WAIT_S = 0.02
#: The settings key jupyter_server's websocket handler reads its connection class from.
SETTING = "kernel_websocket_connection_class"


class SettledNudgeConnection(ZMQChannelsWebsocketConnection):
    """jupyter_server's kernel websocket connection, with a short wait before the first nudge."""

    def nudge(self) -> asyncio.Future[None]:
        async def settled() -> None:
            await asyncio.sleep(SUBSCRIBE_WAIT_S)
            await ZMQChannelsWebsocketConnection.nudge(self)

        return asyncio.ensure_future(settled())


def install(serverapp: Any, settings: dict[str, Any]) -> bool:
    """Put `SettledNudgeConnection` in `settings` where the server uses jupyter_server's default.

    Returns whether it did (a gateway, or a class of the person's own, is left alone).
    """
    if serverapp.kernel_websocket_connection_class is not ZMQChannelsWebsocketConnection:
        return False
    settings[SETTING] = SettledNudgeConnection
    return True
