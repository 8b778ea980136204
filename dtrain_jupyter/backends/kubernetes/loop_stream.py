"""A streamed API server response read on the server loop: HTTP/1.1 and TLS on a plain connection, no thread.

A followed log read by a thread reached the loop through a wake-up of the loop and a hand-over
of the interpreter lock. Read here, the body's bytes are handed on in the loop pass that read
them from the socket. In three back-to-back pairs of runs of the log follow benchmark, the
Kubernetes follow's p50 went from 1.16-1.28x kubectl's to 1.10-1.18x, and the burst of first
follows under 50 clients from about 300 ms to 200 ms (issue 18,
`benchmarks/findings/server-under-load.md`).

The connection is the kubernetes client's, rebuilt: the same CA, client certificate, server
name and bearer token (asked of the configuration each time, so a refreshed token is used).
TLS runs over memory buffers (`ssl.SSLObject`), not through asyncio's TLS transport, which
keeps a 256 KiB buffer per connection: with a stream per followed pod that doubled the server's
memory growth under 50 clients. Reads go into one buffer per thread, consumed before the next
read. A proxy is not spoken here: where one is configured, `supported` says no and callers
read the stream on a thread. One request per connection; the body is chunked (how the API
server streams), or has a length, or lasts until the connection closes.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

import certifi
from kubernetes import client as k8s_client
from kubernetes.client.rest import should_bypass_proxies

# The most a response's status line and headers may take, and the most of an error's body kept.
MAX_HEAD = 64 * 1024
MAX_ERROR_BODY = 1024 * 1024
# Bytes a socket read may bring (the read buffer, one per thread that runs a loop).
READ_SIZE = 64 * 1024
# Body bytes kept for a reader that has not started taking them; past this the socket is not read
# until it does (the server waits, as it would for a thread that has not read yet).
HOLD_LIMIT = 1024 * 1024
_read_buffers = threading.local()


class StreamBroken(ConnectionError):
    """The API server's response broke the HTTP rules (a bad status line or chunk), or ended mid-body."""


@dataclass(frozen=True)
class Head:
    """A response's status code and headers (names lower-cased)."""

    status: int
    headers: dict[str, str]


def supported(configuration: k8s_client.Configuration) -> bool:
    """Whether a stream to this cluster can be read here (it is not reached through a proxy)."""
    return not (configuration.proxy and not should_bypass_proxies(
        configuration.host, no_proxy=configuration.no_proxy or ""))


def ssl_context(configuration: k8s_client.Configuration) -> ssl.SSLContext | None:
    """The TLS settings the kubernetes client would use for this cluster; None for plain http."""
    if urlsplit(configuration.host).scheme != "https":
        return None
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or certifi.where())
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif configuration.assert_hostname is False:
        context.check_hostname = False
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    return context


def server_hostname(configuration: k8s_client.Configuration) -> str | None:
    """The name the server's certificate is checked against (and sent in SNI)."""
    if isinstance(configuration.assert_hostname, str):
        return configuration.assert_hostname
    return configuration.tls_server_name or urlsplit(configuration.host).hostname


def request_bytes(configuration: k8s_client.Configuration, path: str, query: dict[str, Any],
                  authorization: str | None) -> bytes:
    """A GET request for `path` with `query` (None values dropped, booleans as "true"/"false")."""
    url = urlsplit(configuration.host)
    pairs = [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in query.items() if v is not None]
    target = (url.path.rstrip("/") + path) + ("?" + urlencode(pairs) if pairs else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {url.netloc}", "Accept: */*", "User-Agent: dtrain-jupyter",
             "Connection: close"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(eq=False)
class _BodyReader:
    """Parses one response: its head (awaited through `head`), then its body into `on_bytes`.

    Fed by its connection (`_Connection`): `data_received` with the plain bytes, `connection_lost`."""

    loop: asyncio.AbstractEventLoop
    head: asyncio.Future[Head] = field(init=False)
    ended: asyncio.Future[None] = field(init=False)
    on_bytes: Callable[[bytes], None] | None = None
    transport: Any = None  # the connection: close, abort, is_closing, pause_reading, resume_reading
    _buf: bytearray = field(default_factory=bytearray)
    _state: str = "head"      # head, size, data, crlf, trailer, length, close, done
    _need: int = 0            # bytes still to come of this chunk (data) or of the body (length)
    _held: list[bytes] = field(default_factory=list)  # body bytes before anyone took them
    _held_bytes: int = 0
    _paused: bool = False

    def __post_init__(self) -> None:
        self.head = self.loop.create_future()
        self.ended = self.loop.create_future()
        # A response dropped unread ends "broken", and nobody asks how: not a logged warning.
        for future in (self.head, self.ended):
            future.add_done_callback(lambda f: f.cancelled() or f.exception())

    def take(self, on_bytes: Callable[[bytes], None]) -> None:
        """From now on, hand each piece of the body to `on_bytes` (those already read first)."""
        held, self._held, self._held_bytes = self._held, [], 0
        self.on_bytes = on_bytes
        for piece in held:
            on_bytes(piece)
        if self._paused:
            self._paused = False
            self.transport.resume_reading()

    # ---- from the connection ---------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._buf += data
        try:
            self._parse()
        except StreamBroken as e:
            self._fail(e)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._state == "close":
            self._state = "done"
            self._finish(None)
        elif self._state != "done":
            self._fail(exc or StreamBroken("the API server closed the connection mid-response"))

    # ---- parsing ---------------------------------------------------------------------------
    def _parse(self) -> None:
        buf = self._buf
        while buf and self._state != "done":
            if self._state == "head":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise StreamBroken("the API server's response headers are too long")
                    return
                self._start_body(_parse_head(bytes(buf[:end])))
                del buf[:end + 4]
            elif self._state in ("size", "trailer"):
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > MAX_HEAD:
                        raise StreamBroken("a chunk header of the API server's response is too long")
                    return
                line = bytes(buf[:end])
                del buf[:end + 2]
                if self._state == "trailer":
                    if not line:
                        self._state = "done"
                        self._finish(None)
                    continue
                try:
                    self._need = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise StreamBroken(f"a bad chunk size in the API server's response: {line[:40]!r}") from None
                self._state = "data" if self._need else "trailer"
            elif self._state == "data":
                piece = bytes(buf[:self._need])
                del buf[:len(piece)]
                self._need -= len(piece)
                self._body(piece)
                if not self._need:
                    self._state = "crlf"
            elif self._state == "crlf":
                if len(buf) < 2:
                    return
                if buf[:2] != b"\r\n":
                    raise StreamBroken("a chunk of the API server's response does not end where its size says")
                del buf[:2]
                self._state = "size"
            else:  # length, close: `_body` takes what belongs to the body
                self._body(bytes(buf))
                buf.clear()

    def _start_body(self, head: Head) -> None:
        if head.headers.get("transfer-encoding", "").lower().endswith("chunked"):
            self._state = "size"
        elif "content-length" in head.headers:
            try:
                self._need = int(head.headers["content-length"])
            except ValueError:
                raise StreamBroken("a bad Content-Length in the API server's response") from None
            self._state = "length" if self._need else "done"
        else:
            self._state = "close"
        if not self.head.done():
            self.head.set_result(head)
        if self._state == "done":
            self._finish(None)

    def _body(self, piece: bytes) -> None:
        if self._state == "length":
            piece = piece[:self._need]
            self._need -= len(piece)
            if not self._need:
                self._state = "done"
        if piece:
            if self.on_bytes is not None:
                self.on_bytes(piece)
            else:
                self._held.append(piece)
                self._held_bytes += len(piece)
                if self._held_bytes > HOLD_LIMIT and not self._paused and self.transport is not None:
                    self._paused = True
                    self.transport.pause_reading()
        if self._state == "done":
            self._finish(None)

    def _finish(self, error: BaseException | None) -> None:
        if not self.ended.done():
            if error is None:
                self.ended.set_result(None)
            else:
                self.ended.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: BaseException) -> None:
        self._state = "done"
        if not self.head.done():
            self.head.set_exception(error)
        self._finish(error)


class _Connection(asyncio.BufferedProtocol):
    """The socket under one response: TLS over memory buffers where `context` is given.

    `ready` resolves once the handshake is done (at once without TLS); the response's reader
    then gets the plain bytes and uses this object as its transport."""

    def __init__(self, loop: asyncio.AbstractEventLoop, reader: _BodyReader, context: ssl.SSLContext | None,
                 hostname: str | None) -> None:
        self.reader = reader
        self.ready: asyncio.Future[None] = loop.create_future()
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.transport: asyncio.Transport | None = None
        self._tls: ssl.SSLObject | None = None
        if context is not None:
            self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            self._tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=hostname)

    # ---- the reader's transport ------------------------------------------------------------
    def write(self, data: bytes) -> None:
        assert self.transport is not None
        if self._tls is None:
            self.transport.write(data)
            return
        self._tls.write(data)
        self._send_tls()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    # ---- asyncio.BufferedProtocol ----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self._tls is None:
            self._become_ready()
        else:
            self._handshake()

    def get_buffer(self, sizehint: int) -> memoryview:
        view = getattr(_read_buffers, "view", None)
        if view is None:
            view = _read_buffers.view = memoryview(bytearray(READ_SIZE))
        return view

    def buffer_updated(self, nbytes: int) -> None:
        data = _read_buffers.view[:nbytes]
        if self._tls is None:
            self.reader.data_received(bytes(data))
            return
        self._incoming.write(data)
        if not self.ready.done():
            self._handshake()
            if not self.ready.done() or self.ready.exception() is not None:
                return
        pieces = []
        try:
            while piece := self._tls.read(READ_SIZE):
                pieces.append(piece)
        except ssl.SSLWantReadError:
            pass  # the rest of a record is still on its way
        except ssl.SSLZeroReturnError:
            self.abort()  # the server's close_notify: the end of the connection
        except ssl.SSLError as e:
            self.reader.connection_lost(e)
            self.abort()
            return
        self._send_tls()  # what reading produced to send back (a key update's answer)
        if pieces:
            self.reader.data_received(b"".join(pieces))

    def eof_received(self) -> bool:
        return False  # close; connection_lost says how the response ended

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or StreamBroken("the API server closed the connection during the handshake"))
            return
        self.reader.connection_lost(exc)

    # ---- TLS -------------------------------------------------------------------------------
    def _handshake(self) -> None:
        assert self._tls is not None
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._send_tls()
            return
        except ssl.SSLError as e:  # a certificate refused, a protocol error: the connection ends here
            self.ready.set_exception(e)
            self.abort()
            return
        self._send_tls()
        self._become_ready()

    def _send_tls(self) -> None:
        data = self._outgoing.read()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _become_ready(self) -> None:
        self.reader.connection_made(self)
        self.ready.set_result(None)


def _parse_head(raw: bytes) -> Head:
    status_line, *header_lines = raw.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise StreamBroken(f"the API server's answer is not HTTP/1.1: {status_line[:60]!r}")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Head(int(parts[1]), headers)


class LoopStream:
    """One open response whose body is read on the loop; see the module's docstring.

    `start(on_bytes)` hands every piece of the body to `on_bytes` in the loop pass that read it;
    `ended` resolves when the body is whole, or fails with what broke it. `close` and
    `shutdown` may be called from any thread.
    """

    def __init__(self, reader: _BodyReader, head: Head) -> None:
        self._reader = reader
        self.status = head.status
        self.headers = head.headers
        self.ended = reader.ended

    def start(self, on_bytes: Callable[[bytes], None]) -> None:
        self._reader.take(on_bytes)

    async def read_all(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """The rest of the body, up to `limit` bytes (an error's Status, a short answer)."""
        pieces: list[bytes] = []
        size = [0]

        def keep(piece: bytes) -> None:
            if size[0] < limit:
                pieces.append(piece[:limit - size[0]])
                size[0] += len(pieces[-1])

        self.start(keep)
        try:
            await self.ended
        finally:
            self.close()
        return b"".join(pieces)

    def close(self) -> None:
        """Drop the connection (from any thread); the body ends as broken unless it was whole."""
        transport = self._reader.transport
        if transport is None or transport.is_closing():
            return
        loop = self._reader.loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            transport.abort()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(transport.abort)

    shutdown = close


async def open_stream(configuration: k8s_client.Configuration, context: ssl.SSLContext | None, path: str,
                      query: dict[str, Any], authorization: str | None, connect_timeout: float) -> LoopStream:
    """Send a GET and read its status and headers; the body is the caller's to `start` or `read_all`.

    Raises:
        OSError (refused, reset, TLS; StreamBroken), asyncio.TimeoutError (no answer within `connect_timeout`).
    """
    loop = asyncio.get_running_loop()
    url = urlsplit(configuration.host)
    port = url.port or (443 if url.scheme == "https" else 80)
    reader = _BodyReader(loop)
    hostname = server_hostname(configuration) if context is not None else None
    connection = _Connection(loop, reader, context, hostname)

    async def connect_and_read_head() -> Head:
        await loop.create_connection(lambda: connection, url.hostname, port)
        await connection.ready  # the TLS handshake
        connection.write(request_bytes(configuration, path, query, authorization))
        return await reader.head

    try:
        head = await asyncio.wait_for(connect_and_read_head(), connect_timeout)
    except BaseException:
        connection.abort()
        raise
    return LoopStream(reader, head)
