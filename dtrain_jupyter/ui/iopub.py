"""This kernel's IOPub socket told to wait for room rather than drop a message.

ipykernel publishes everything a kernel shows (output, and every widget model and update) on a
ZeroMQ XPUB socket. By default that socket drops a message when its pipe to the Jupyter server
is at its high-water mark: 1,000 messages, and often fewer in practice. A dropped output line is a
gap in a log; a dropped widget `comm_open` is a model the browser never hears of, and every
view holding it stays empty with no error anywhere. Opening the panel's New page sends some 560
models and 300 updates at once. On a busy machine (two cores shared by the kernel, the server and
the browser) the server read them too slowly, a few were dropped, and the page stayed blank.

With `ZMQ_XPUB_NODROP` the socket holds the sender instead: the kernel's IOPub thread waits
until the server has taken what is queued. A consumer that stops reading for good would then
stall the kernel's output, so a send gives up after `SEND_TIMEOUT_MS` (that one message is lost
and ipykernel logs why). Both options are read at each send, so setting them on a socket that is
already connected works; they are set on the IOPub thread, the one thread that uses the socket.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

# How long one IOPub send may wait for room before that message is given up.
SEND_TIMEOUT_MS = 30_000

_SET_ON: set[int] = set()  # id() of the IOPub threads already told


def keep_every_message() -> bool:
    """Make this kernel's IOPub socket wait rather than drop (once per kernel); whether it is so.

    Does nothing outside an ipykernel kernel (plain Python, a terminal IPython) or when the IOPub
    socket is not an XPUB socket (an ipykernel older than 6).
    """
    thread = _iopub_thread()
    if thread is None:
        return False
    if id(thread) not in _SET_ON:
        # Scheduled like a send: it runs on the IOPub thread before anything published after it.
        thread.schedule(lambda: _no_drop(thread.socket))
        _SET_ON.add(id(thread))
    return True


def _iopub_thread() -> Any:
    try:
        import zmq
        from IPython import get_ipython
    except ImportError:
        return None
    kernel = getattr(get_ipython(), "kernel", None)
    thread = getattr(kernel, "iopub_thread", None)
    socket = getattr(thread, "socket", None)
    if socket is None or not hasattr(thread, "schedule") or socket.socket_type != zmq.XPUB:
        return None
    return thread


def _no_drop(socket: Any) -> None:
    import zmq

    if socket is None or socket.closed:
        return
    try:
        socket.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
        socket.setsockopt(zmq.XPUB_NODROP, 1)
    except zmq.ZMQError as e:
        # A libzmq without the option: the kernel publishes as before. Raising here would only
        # stop the IOPub thread's batch of sends.
        log.warning("dtrain: the kernel's IOPub socket keeps dropping when full: %s", e)
