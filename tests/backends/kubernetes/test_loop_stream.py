"""A stream read on the server loop: the HTTP/1.1 body framing, and `Api.astream` on the API double.

The framing is fed to the protocol byte by byte and in one piece, so every state meets a
boundary; the requests go to the double over TLS with its CA and token, as a follow does.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

import pytest
from kubernetes import client as k8s_client

from dtrain_jupyter.backends.kubernetes import loop_stream
from dtrain_jupyter.backends.kubernetes.api import Api, Call, resource_path
from dtrain_jupyter.backends.kubernetes.config import load_cluster_config
from dtrain_jupyter.backends.kubernetes.loop_stream import StreamBroken, _BodyReader
from dtrain_jupyter.errors import BackendUnavailable, Forbidden, NotFound

from .conftest import FAST

HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNKED_BODY = b"5\r\nhello\r\n6;name=value\r\n world\r\n1\r\n\n\r\n0\r\nX-Trailer: 1\r\n\r\n"


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False
        self.reading = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def close(self) -> None:
        self.closed = True

    abort = close

    def is_closing(self) -> bool:
        return self.closed


async def _read(pieces: list[bytes], *, lost: bool = False) -> tuple[_BodyReader, list[bytes]]:
    """Feed `pieces` to a reader (then end the connection where `lost`); (reader, body pieces)."""
    reader = _BodyReader(asyncio.get_running_loop())
    reader.connection_made(FakeTransport())
    body: list[bytes] = []
    fed_head = False
    for piece in pieces:
        reader.data_received(piece)
        if reader.head.done() and not fed_head:
            fed_head = True
            if reader.head.exception() is None:
                reader.take(body.append)
    if lost:
        reader.connection_lost(None)
    return reader, body


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


@pytest.mark.parametrize("split", [False, True], ids=["one-piece", "byte-by-byte"])
async def test_a_chunked_body_arrives_whole_with_extensions_and_trailers(split):
    data = HEAD_CHUNKED + CHUNKED_BODY
    reader, body = await _read(_bytewise(data) if split else [data])
    head = reader.head.result()
    assert head.status == 200 and head.headers["transfer-encoding"] == "chunked"
    assert b"".join(body) == b"hello world\n"
    assert reader.ended.done() and reader.ended.exception() is None
    assert reader.transport.closed  # one request per connection: closed once the body is whole


async def test_body_bytes_read_before_anyone_takes_them_are_kept():
    reader = _BodyReader(asyncio.get_running_loop())
    reader.connection_made(FakeTransport())
    reader.data_received(HEAD_CHUNKED + b"3\r\nabc\r\n")
    later: list[bytes] = []
    reader.take(later.append)
    reader.data_received(b"2\r\nde\r\n")
    assert later == [b"abc", b"de"] and not reader.ended.done()


async def test_a_body_nobody_takes_yet_stops_being_read_past_the_hold_limit():
    reader = _BodyReader(asyncio.get_running_loop())
    reader.connection_made(FakeTransport())
    reader.data_received(HEAD_CHUNKED)
    piece = b"x" * 4096
    for _ in range(loop_stream.HOLD_LIMIT // len(piece) + 1):
        reader.data_received(b"%x\r\n%s\r\n" % (len(piece), piece))
    assert not reader.transport.reading  # the server waits, as for a reader thread that has not read
    got: list[bytes] = []
    reader.take(got.append)
    assert reader.transport.reading and sum(map(len, got)) > loop_stream.HOLD_LIMIT


@pytest.mark.parametrize("split", [False, True], ids=["one-piece", "byte-by-byte"])
async def test_a_body_with_a_length_ends_at_its_length(split):
    data = b"HTTP/1.1 404 Not Found\r\nContent-Length: 7\r\n\r\n{\"a\":1}ignored"
    reader, body = await _read(_bytewise(data) if split else [data])
    assert reader.head.result().status == 404
    assert b"".join(body) == b'{"a":1}' and reader.ended.exception() is None


async def test_a_body_without_length_or_chunks_lasts_until_the_connection_closes():
    reader, body = await _read([b"HTTP/1.0 200 OK\r\n\r\nline one\n", b"line two\n"], lost=True)
    assert b"".join(body) == b"line one\nline two\n" and reader.ended.exception() is None


@pytest.mark.parametrize("pieces, why", [
    ([HEAD_CHUNKED + b"5\r\nhel"], "closed the connection mid-response"),
    ([HEAD_CHUNKED + b"zz\r\n"], "a bad chunk size"),
    ([HEAD_CHUNKED + b"3\r\nabcXY"], "does not end where its size says"),
    ([b"SSH-2.0-OpenSSH\r\n\r\n"], "not HTTP/1.1"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n"], "bad Content-Length"),
], ids=["cut", "bad-size", "overrun", "not-http", "bad-length"])
async def test_a_broken_response_ends_the_stream_as_broken_and_says_why(pieces, why):
    reader, _ = await _read(pieces, lost=True)
    with pytest.raises(StreamBroken, match=why):
        reader.ended.result()
    assert reader.transport.closed


def test_a_proxied_cluster_is_read_on_a_thread_unless_no_proxy_names_it():
    configuration = k8s_client.Configuration(host="https://10.1.2.3:6443")
    configuration.proxy = configuration.no_proxy = None  # whatever this machine's environment says
    assert loop_stream.supported(configuration)
    configuration.proxy = "http://proxy.example:3128"
    assert not loop_stream.supported(configuration)
    configuration.no_proxy = "10.1.2.3"
    assert loop_stream.supported(configuration)


def test_the_request_carries_the_servers_path_prefix_query_and_token():
    configuration = k8s_client.Configuration(host="https://example.test:6443/prefix/")
    raw = loop_stream.request_bytes(configuration, "/api/v1/namespaces/ns/pods/p/log",
                                    {"follow": True, "container": "c 1", "tailLines": None}, "Bearer abc")
    lines = raw.decode().split("\r\n")
    assert lines[0] == "GET /prefix/api/v1/namespaces/ns/pods/p/log?follow=true&container=c+1 HTTP/1.1"
    assert "Host: example.test:6443" in lines and "Authorization: Bearer abc" in lines
    assert raw.endswith(b"\r\n\r\n")


# ---- Api.astream on the API double ---------------------------------------------------------

@pytest.fixture
def api(kube_double):
    a = Api(load_cluster_config(kubeconfig=kube_double.kubeconfig_path), FAST)
    yield a
    a.close()


def _log_path(pod: str) -> str:
    return resource_path("", "v1", "pods", "default", pod, "log")


async def test_a_followed_log_is_read_on_the_loop_with_the_clusters_tls_and_token(api, kube_double):
    [job] = kube_double.bulk_load(1, kinds=("PyTorchJob",), pods_per_job=1)
    pod = f"{job}-master-0"
    container = kube_double.get_object("v1", "pods", "default", pod)["spec"]["containers"][0]["name"]
    kube_double.logs.write(("default", pod, container), "first")
    assert api.streams_on_loop
    resp = await api.astream(_log_path(pod), Call("get", "pods/log", "default", name=pod), query={"follow": True})
    got: list[bytes] = []
    resp.start(got.append)
    kube_double.logs.write(("default", pod, container), "second")
    for _ in range(200):
        if b"second" in b"".join(got):
            break
        await asyncio.sleep(0.02)
    assert b"".join(got).splitlines() == [b"first", b"second"]
    resp.close()
    with pytest.raises(StreamBroken):
        await resp.ended  # closed by us mid-body: not passed off as a whole log


async def test_the_api_servers_refusal_and_a_wrong_token_become_our_errors(api, kube_double):
    with pytest.raises(NotFound):
        await api.astream(_log_path("nobody-0"), Call("get", "pods/log", "default", name="nobody-0"))
    api.cluster.configuration.refresh_api_key_hook = None  # the kubeconfig's hook would restore the token
    api.cluster.configuration.api_key["authorization"] = "Bearer not-the-token"
    with pytest.raises(Forbidden, match="401"):
        await api.astream(_log_path("nobody-0"), Call("get", "pods/log", "default", name="nobody-0"))


async def test_a_token_refreshed_by_the_configuration_is_the_one_sent(api, kube_double):
    configuration = api.cluster.configuration
    good = configuration.api_key["authorization"]
    configuration.api_key["authorization"] = "Bearer expired"
    refreshed: list[bool] = []

    def refresh(c: Any) -> None:  # what a kubeconfig's credential plugin does before each request
        refreshed.append(True)
        c.api_key["authorization"] = good

    configuration.refresh_api_key_hook = refresh
    with pytest.raises(NotFound):  # past authentication: the token was the refreshed one
        await api.astream(_log_path("nobody-0"), Call("get", "pods/log", "default", name="nobody-0"))
    assert refreshed


async def test_a_server_that_is_not_there_is_unavailable_not_a_traceback(api):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free, and nothing listens on it once closed
    api.cluster.configuration.refresh_api_key_hook = None  # the kubeconfig's hook would restore the host
    api.cluster.configuration.host = f"https://127.0.0.1:{port}"
    with pytest.raises(BackendUnavailable, match="refused the connection"):
        await api.astream(_log_path("p-0"), Call("get", "pods/log", "default", name="p-0"))


async def test_a_certificate_the_clusters_ca_did_not_sign_is_refused(api):
    api._ssl_context = ssl.create_default_context()  # the system's CAs, which never signed the double's
    with pytest.raises(BackendUnavailable, match="a certificate we cannot verify"):
        await api.astream(_log_path("p-0"), Call("get", "pods/log", "default", name="p-0"))


async def test_a_plain_http_server_is_read_without_tls():
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD_CHUNKED + b"%x\r\n%s\r\n0\r\n\r\n" % (len(request), request))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        configuration = k8s_client.Configuration(host=f"http://127.0.0.1:{port}")
        resp = await loop_stream.open_stream(configuration, None, "/healthz", {"verbose": True}, None, 5.0)
        echoed = await resp.read_all()
    assert resp.status == 200 and echoed.startswith(b"GET /healthz?verbose=true HTTP/1.1\r\n")
    assert b"Authorization" not in echoed
