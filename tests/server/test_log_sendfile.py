"""A file body sent by sendfile when its client leaves mid-send: the request ends, the file closes, the server serves on.

A plain tornado application around `LogRelay.text` (the log handler's relay), so the client can be
a raw socket that stops reading with a small receive buffer and then resets or half-closes the
connection while the server waits to send more.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from pathlib import Path

import pytest
import tornado.httpserver
import tornado.web

from dtrain_jupyter.backends.local.logs import sized_chunks
from dtrain_jupyter.server.log_stream import LogRelay

SIZE = 16 << 20  # far more than the socket buffers hold, so the send is waiting when the client leaves


class _Relayed(tornado.web.RequestHandler):
    relay: LogRelay | None = None

    def initialize(self, path: Path, ended: list[str]) -> None:
        self.path, self.ended = path, ended

    async def get(self) -> None:
        self.relay = LogRelay(self)
        try:
            await self.relay.text(sized_chunks(self.path))
        finally:
            self.ended.append("ended")

    def on_connection_close(self) -> None:
        if self.relay is not None:
            self.relay.client_left()


def _open_descriptors(path: Path) -> int:
    return sum(1 for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") == str(path))


async def _leave_mid_send(port: int, how: str) -> None:
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    await loop.sock_connect(s, ("127.0.0.1", port))
    await loop.sock_sendall(s, b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    got = 0
    while got < 200_000:
        got += len(await loop.sock_recv(s, 65536))
    await asyncio.sleep(0.2)  # the server's send buffer fills: sendfile waits to write
    if how == "reset":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    else:  # half-close: a FIN, the socket kept and nothing more read
        s.shutdown(socket.SHUT_WR)
        await asyncio.sleep(1.0)
        s.close()


async def _read_all(port: int) -> int:
    loop = asyncio.get_running_loop()
    s = socket.socket()
    s.setblocking(False)
    await loop.sock_connect(s, ("127.0.0.1", port))
    await loop.sock_sendall(s, b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    data = bytearray()
    with s:
        while chunk := await asyncio.wait_for(loop.sock_recv(s, 1 << 20), 10):
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {SIZE}".encode() in head, head
    return len(body)


@pytest.mark.parametrize("how", ["reset", "half-close"])
async def test_a_client_leaving_mid_send_ends_the_request_and_the_server_serves_on(tmp_path, caplog, how) -> None:
    path = tmp_path / "big.log"
    path.write_bytes((b"x" * 99 + b"\n") * (SIZE // 100) + b"y" * (SIZE % 100))
    ended: list[str] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    server = tornado.httpserver.HTTPServer(tornado.web.Application([("/", _Relayed, {"path": path, "ended": ended})]))
    server.add_sockets([listener])
    try:
        with caplog.at_level(logging.ERROR):
            await _leave_mid_send(port, how)
            for _ in range(100):
                if ended:
                    break
                await asyncio.sleep(0.05)
            assert ended == ["ended"], "the request never ended"
            assert _open_descriptors(path) == 0
            # The next connection (it may get the same descriptor number) is served whole.
            assert await _read_all(port) == SIZE
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    finally:
        server.stop()
        await server.close_all_connections()
