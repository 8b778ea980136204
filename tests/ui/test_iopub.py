"""A real kernel's IOPub socket after `keep_every_message()`: a reader that falls behind loses nothing.

The reader here stops reading while the kernel publishes 5,000 outputs of 10 kB (50 MB), far
more than ZeroMQ's pipes and the loopback socket hold together, then reads them all. On a kernel
left as it is, the XPUB socket drops what does not fit (the second test shows it, so the first one
can fail); after `keep_every_message()` the kernel waits for the reader and every message arrives.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

MESSAGES = 5_000
BIG = 10_000
# Seconds without a message after which a reader stops waiting for more: long while the kernel
# may still be publishing, short once it has replied (what is left is all in the pipes).
QUIET_S = 60
QUIET_AFTER_REPLY_S = 3
# Seconds the reader falls behind.
BEHIND_S = 5
PUBLISH = f"""
from IPython.display import display
for i in range({MESSAGES}):
    display({{'text/plain': str(i) + ' ' + 'x' * {BIG}}}, raw=True)
"""


@pytest.fixture
def kernel() -> Iterator[tuple[KernelManager, Any]]:
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    client = manager.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _reply(client: Any, msg_id: str) -> None:
    while True:
        reply = client.get_shell_msg(timeout=120)
        if reply["parent_header"].get("msg_id") == msg_id:
            assert reply["content"]["status"] == "ok", reply["content"]
            return


def _shown(client: Any, msg_id: str, quiet: float = QUIET_S) -> list[int]:
    """The numbers the kernel's outputs for `msg_id` showed, read until its idle status (or,
    when that was dropped too, until nothing more comes)."""
    shown: list[int] = []
    while True:
        try:
            msg = client.get_iopub_msg(timeout=quiet)
        except queue.Empty:
            return shown
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "display_data":
            shown.append(int(msg["content"]["data"]["text/plain"].split(" ", 1)[0]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return shown


def test_a_reader_that_falls_behind_gets_every_message(kernel) -> None:
    _manager, client = kernel
    _reply(client, client.execute("from dtrain_jupyter.ui.iopub import keep_every_message\n"
                                  "assert keep_every_message()"))
    msg_id = client.execute(PUBLISH)
    time.sleep(BEHIND_S)  # the kernel waits meanwhile: its output has nowhere to go
    assert _shown(client, msg_id) == list(range(MESSAGES))
    _reply(client, msg_id)


def test_without_it_the_kernel_drops_what_does_not_fit(kernel) -> None:
    """Falling behind loses messages on a kernel left as it is: the kernel finishes publishing
    (its reply comes) while nothing is read, and what did not fit is gone."""
    _manager, client = kernel
    msg_id = client.execute(PUBLISH)
    _reply(client, msg_id)
    shown = _shown(client, msg_id, QUIET_AFTER_REPLY_S)
    assert len(shown) < MESSAGES and shown == sorted(shown)


def test_outside_a_kernel_it_does_nothing() -> None:
    from dtrain_jupyter.ui.iopub import keep_every_message

    assert keep_every_message() is False
