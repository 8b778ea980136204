"""Relaying a log to one HTTP client: NDJSON lines or plain-text bytes, flushed as they come.

The log handler parses the query (`log_query`), asks the service for the stream (which raises
every refusal before the first line, so those are ordinary JSON errors) and hands it to a
`LogRelay`. What happens after the first byte is the relay's: a following reader races each
line against the client leaving; an error after the first line is the last NDJSON line
`{"error": ...}`, or a transfer cut short in plain text; the backend's stream is closed
whatever happens, so its readers stop with the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any, AsyncGenerator, Iterator

from tornado.iostream import IOStream, StreamClosedError
from tornado.web import RequestHandler

from ..backends.base import SizedChunks
from ..errors import DTrainError, InvalidRequest
from ..model.job import LogLine

log = logging.getLogger(__name__)


class ClientGone(ConnectionError):
    """The client left while its log was being sent or waited for."""

# Without follow, flush every this many lines: fewer, larger writes for big logs.
FLUSH_EVERY = 500
FORMATS = ("ndjson", "text")


def log_query(handler: Any) -> tuple[str, dict[str, Any]]:
    """(format, Backend.logs keywords) of a log request's query; the backend judges the values.

    Raises:
        InvalidRequest: an unknown format, or a flag or number that does not parse.
    """
    fmt = handler.get_query_argument("format", "ndjson")
    if fmt not in FORMATS:
        raise InvalidRequest(f"format must be 'ndjson' or 'text', not {fmt!r}", field="format")
    return fmt, dict(
        follow=handler.flag("follow"), pod=handler.get_query_argument("pod", None) or None,
        container=handler.get_query_argument("container", None) or None,
        tail=handler.int_arg("tail"), since_seconds=handler.int_arg("since_seconds"),
        previous=handler.flag("previous"), timestamps=handler.flag("timestamps"),
    )


class LogRelay:
    """Writes one opened log stream to the handler's client; `client_left()` stops it."""

    def __init__(self, handler: RequestHandler) -> None:
        self.handler = handler
        self._gone = asyncio.Event()
        self._waiting: asyncio.Task[Any] | None = None  # the task awaiting a followed line
        handler.set_header("Cache-Control", "no-cache")
        handler.set_header("X-Accel-Buffering", "no")  # let reverse proxies pass lines through at once

    def client_left(self) -> None:
        """The connection closed (called from the handler's `on_connection_close`, on the loop)."""
        self._gone.set()
        if self._waiting is not None:
            self._waiting.cancel()

    async def text(self, chunks: AsyncGenerator[bytes, None], *, follow: bool = False) -> None:
        """Relay byte chunks, each flushed before the next is read: memory holds about one chunk.

        Chunks of a known length (`SizedChunks`: a local log file as it was when opened) go out
        with `Content-Length`, each written as it is; otherwise tornado frames each chunk, which
        copies it twice (`HTTP1Connection._format_chunk`), a sixth of a 1 GB read's time. When
        they are a file's bytes, the kernel sends them from the file (`_send_file`).

        Plain text has no way to say "error" after the first byte, and ending the body normally
        would pass a cut log off as whole. So the connection is dropped without the body's end:
        the client sees an incomplete transfer (httpx: RemoteProtocolError) and can say so. A
        sized body that comes up short (a file truncated while read) is cut the same way.
        A follow ends when the client leaves, even while no byte comes.
        """
        handler = self.handler
        handler.set_header("Content-Type", "text/plain; charset=utf-8")
        handler.set_header("X-Content-Type-Options", "nosniff")
        size = chunks.size if isinstance(chunks, SizedChunks) else None
        if size is not None:
            handler.set_header("Content-Length", size)
        sent = 0
        try:
            by_kernel = None
            if isinstance(chunks, SizedChunks) and chunks.file is not None and chunks.size > 0:
                by_kernel = await self._send_file(*chunks.file, chunks.size)
            if by_kernel is not None:
                sent = by_kernel
            else:
                while True:
                    try:
                        chunk = await (self._next_or_gone(chunks) if follow else chunks.__anext__())
                    except StopAsyncIteration:
                        break
                    if chunk is None:
                        return  # the client went away
                    handler.write(chunk)
                    sent += len(chunk)
                    await handler.flush()
        except (StreamClosedError, ConnectionError):
            handler.request.connection.close()
            return
        except DTrainError as e:
            if not sent:
                raise
            log.warning("text log stream cut by an error after its first bytes: %s", e.message)
            handler.request.connection.close()
            return
        finally:
            try:
                await chunks.aclose()
            except (RuntimeError, DTrainError):
                pass  # a generator already closed or cancelled mid-step
        if size is not None and sent != size:
            log.warning("text log cut short: %d of its %d bytes were there to send", sent, size)
            handler.request.connection.close()
            return
        handler.finish()

    async def _send_file(self, path: Path, offset: int, size: int) -> int | None:
        """Send the body, `size` bytes of a file from `offset`, with sendfile(2); None where that cannot be.

        The kernel copies from the page cache into the socket: no read into Python, no write
        buffer (issue 18: a 1 GB read ran at 0.44-0.84 of cat's rate through reads and writes).
        Only on a plain TCP connection of tornado's HTTP/1 whose body goes out as written (not
        TLS, whose bytes are encrypted here; not a gzip transform). The headers are flushed
        first; tornado counts the body's bytes against Content-Length, so it is told of the
        bytes the kernel sent (a private counter of `HTTP1Connection`, checked for first: where
        it is missing the chunks are written as before). Returns the bytes sent, fewer than
        `size` when the file came up short (truncated or gone).

        The send runs on a descriptor of our own (a dup of the connection's): tornado closes its
        socket when the client leaves, and on its descriptor that would pull the fd out from under
        the loop's wait for writability (an EBADF traceback, or a wait that never ends and a
        stale entry that breaks the next connection given the same number). The client leaving
        cancels the send (`client_left`).

        Raises:
            ConnectionError: the client went away during the send, or the send failed.
        """
        handler = self.handler
        conn = handler.request.connection
        stream = getattr(conn, "stream", None)
        if (type(stream) is not IOStream or not hasattr(conn, "_expected_content_remaining")
                or handler.settings.get("compress_response") or handler.settings.get("gzip")):
            return None
        await handler.flush()  # the status line and headers, nothing of the body yet
        if conn._expected_content_remaining != size or stream.closed():
            return None  # something between rewrote the response: let tornado write it
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return 0
        loop = asyncio.get_running_loop()
        sock = stream.socket.dup()
        try:
            with f, self._ended_if_client_leaves():
                sent = await loop.sock_sendfile(sock, f, offset, size, fallback=False)
        except asyncio.SendfileNotAvailableError:
            return None  # nothing was sent: the chunks follow the headers as usual
        except OSError as e:
            if not isinstance(e, ConnectionError):
                log.warning("text log cut: sending %s stopped: %s", path.name, e)
            raise ConnectionError(f"the send stopped: {e}") from e
        finally:
            loop.remove_writer(sock.fileno())  # a cancelled send's own clean-up comes after the close
            sock.close()
        conn._expected_content_remaining -= sent
        return sent

    async def ndjson(self, lines: AsyncGenerator[LogLine, None], *, follow: bool) -> None:
        """One JSON object per line; every line flushed when following, else every FLUSH_EVERY lines."""
        handler = self.handler
        handler.set_header("Content-Type", "application/x-ndjson")
        every = 1 if follow else FLUSH_EVERY
        count = 0
        try:
            while True:
                try:
                    line = await (self._next_or_gone(lines) if follow else lines.__anext__())
                except StopAsyncIteration:
                    break
                except DTrainError as e:
                    if count == 0:
                        raise
                    handler.write(json.dumps(e.to_dict()) + "\n")
                    break
                if line is None or self._gone.is_set():
                    return  # the client went away
                handler.write(json.dumps(line.to_dict()) + "\n")
                count += 1
                if count % every == 0:
                    await handler.flush()
            handler.finish(set_content_type="application/x-ndjson")
        except StreamClosedError:
            return
        finally:
            try:
                await lines.aclose()
            except (RuntimeError, DTrainError):
                pass  # a generator already closed or cancelled mid-step

    async def _next_or_gone(self, lines: AsyncGenerator[Any, None]) -> Any:
        """The next line, or None when the client leaves first (a follower may wait long for a line).

        The line is awaited in this task itself: `client_left` cancels the wait, which runs
        through the generator, so it closes (and stops the backend's readers) at once. Racing a
        task per line against the client cost two tasks and two more passes of the loop per
        line, a quarter of a followed line's time in the server (issue 18).
        """
        try:
            with self._ended_if_client_leaves():
                return await lines.__anext__()
        except ClientGone:
            return None

    @contextlib.contextmanager
    def _ended_if_client_leaves(self) -> Iterator[None]:
        """The awaits inside are this task's wait on the client: `client_left` cancels them, and the
        cancellation ends here as ClientGone (the request's task itself goes on)."""
        if self._gone.is_set():
            raise ClientGone("the client had gone")
        self._waiting = asyncio.current_task()
        try:
            yield
        except asyncio.CancelledError:
            if not self._gone.is_set():
                raise  # not ours: the server is stopping
            uncancel = getattr(self._waiting, "uncancel", None)
            if uncancel is not None:
                uncancel()  # handled here: later awaits of this task (a generator's close) run on
            raise ClientGone("the client went away") from None
        finally:
            self._waiting = None
