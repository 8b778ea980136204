"""Container logs kept by the node agent, and the kubelet's log endpoint that serves them.

The API server answers `pods/<name>/log` by calling the node's kubelet at
`/containerLogs/{namespace}/{pod}/{container}` over HTTPS with its client certificate, passing
follow, previous, tailLines, sinceSeconds, sinceTime, timestamps and limitBytes along; the
kubelet's error texts (a container still waiting, no previous instance) come back to the
client as the API server's 400 message. This module is that endpoint, over an in-memory book
of lines: one list of lines per container instance, the last one growing while it runs.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, unquote, urlparse

Key = tuple[str, str, str]  # namespace, pod, container


def rfc3339nano(when: dt.datetime) -> str:
    """The kubelet's timestamp prefix: RFC 3339 in UTC with nanoseconds."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


@dataclass
class Instance:
    """One run of a container: its lines (time, text) and whether it has ended."""

    lines: list[tuple[dt.datetime, str]] = field(default_factory=list)
    ended: bool = False


class LogError(Exception):
    """A request the kubelet refuses; `status` is the HTTP status it answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class LogBook:
    """Every container instance's lines, safe to write and follow from many threads."""

    def __init__(self) -> None:
        self._instances: dict[Key, list[Instance]] = {}
        self._waiting: dict[Key, str] = {}
        self._changed = threading.Condition()

    def start(self, key: Key) -> None:
        """A new instance of the container starts (the old one, if any, ends)."""
        with self._changed:
            runs = self._instances.setdefault(key, [])
            if runs:
                runs[-1].ended = True
            runs.append(Instance())
            self._waiting.pop(key, None)
            self._changed.notify_all()

    def waiting(self, key: Key, reason: str) -> None:
        """The container has not started yet; log reads say why."""
        with self._changed:
            self._waiting[key] = reason

    def write(self, key: Key, text: str) -> None:
        with self._changed:
            runs = self._instances.get(key)
            if not runs or runs[-1].ended:
                return
            runs[-1].lines.append((dt.datetime.now(dt.timezone.utc), text))
            self._changed.notify_all()

    def end(self, key: Key) -> None:
        with self._changed:
            runs = self._instances.get(key)
            if runs:
                runs[-1].ended = True
            self._changed.notify_all()

    def forget_pod(self, namespace: str, pod: str) -> None:
        with self._changed:
            for key in [k for k in self._instances if k[:2] == (namespace, pod)]:
                self._instances[key][-1].ended = True
                del self._instances[key]
            for key in [k for k in self._waiting if k[:2] == (namespace, pod)]:
                del self._waiting[key]
            self._changed.notify_all()

    def read(self, key: Key, *, follow: bool = False, previous: bool = False, tail: int | None = None,
             since: dt.datetime | None = None, timestamps: bool = False,
             limit_bytes: int | None = None) -> Iterator[bytes]:
        """Yield the instance's lines as the kubelet writes them; raises LogError up front."""
        namespace, pod, container = key
        with self._changed:
            runs = self._instances.get(key)
            if runs is None:
                reason = self._waiting.get(key)
                if reason is not None:
                    raise LogError(400, f'container "{container}" in pod "{pod}" is waiting to start: {reason}')
                raise LogError(404, f'pod "{pod}" container "{container}" not found on this node')
            if previous:
                if len(runs) < 2:
                    raise LogError(400, f'previous terminated container "{container}" in pod "{pod}" not found')
                instance = runs[-2]
            else:
                instance = runs[-1]
            lines = [(t, s) for t, s in instance.lines if since is None or t >= since]
            start = len(instance.lines) - (len(lines) if tail is None else min(tail, len(lines)))
        sent = 0
        position = start
        while True:
            with self._changed:
                chunk = instance.lines[position:]
                position += len(chunk)
                done = instance.ended or not follow
                if not chunk and not done:
                    self._changed.wait(timeout=1.0)
                    continue
            for when, text in chunk:
                data = ((rfc3339nano(when) + " ") if timestamps else "") + text + "\n"
                encoded = data.encode()
                if limit_bytes is not None and sent + len(encoded) > limit_bytes:
                    yield encoded[: limit_bytes - sent]
                    return
                sent += len(encoded)
                yield encoded
            if done and position >= len(instance.lines):
                return


def _parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    book: LogBook  # set on the subclass each server makes

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # the agent's own log says what matters; one line per request would drown it

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.split("/") if p]
        if parts == ["healthz"]:
            return self._plain(200, b"ok")
        if len(parts) != 4 or parts[0] != "containerLogs":
            return self._plain(404, b"404 page not found")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        flag = lambda name: query.get(name, "false").lower() in ("true", "1")  # noqa: E731
        since = None
        if "sinceSeconds" in query:
            since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=int(query["sinceSeconds"]))
        elif "sinceTime" in query:
            since = _parse_time(query["sinceTime"])
        try:
            lines = self.book.read(tuple(parts[1:]), follow=flag("follow"), previous=flag("previous"),
                                   tail=int(query["tailLines"]) if "tailLines" in query else None,
                                   since=since, timestamps=flag("timestamps"),
                                   limit_bytes=int(query["limitBytes"]) if "limitBytes" in query else None)
            first = next(lines, None)
        except LogError as e:
            return self._plain(e.status, str(e).encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if first is not None:
                self._chunk(first)
                for data in lines:
                    self._chunk(data)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the reader went away (kubectl logs -f ended): nothing to tell anyone
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _plain(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KubeletLogServer:
    """HTTPS on 127.0.0.1:port serving `/containerLogs/...` from a LogBook.

    Only clients with a certificate from the cluster's CA get in (the API server's kubelet
    client certificate), as on a real kubelet.
    """

    def __init__(self, book: LogBook, cert: Path, key: Path, ca: Path, port: int = 0) -> None:
        handler = type("Handler", (_Handler,), {"book": book})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca))
        context.load_cert_chain(str(cert), str(key))
        context.verify_mode = ssl.CERT_REQUIRED
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="kubelet-logs", daemon=True)

    def start(self) -> "KubeletLogServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
