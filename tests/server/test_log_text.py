"""The log endpoint's plain-text form (`format=text`): raw bytes for one pod, joined lines otherwise."""

from __future__ import annotations

import asyncio
import json
import os

from .conftest import job_path, pytorch_manifest, unique, wait_finished

# 3,000 numbered lines, some non-ASCII, so a full read spans chunks and a tail has a known answer.
SCRIPT = "import sys\nfor i in range(3000):\n    print(f'line {i} é', flush=False)\n"


async def _finished_job(api) -> tuple[tuple[str, ...], str]:
    manifest = pytorch_manifest(unique("text"), script=SCRIPT)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]  # one replica: one known log
    code, job, _ = await api("jobs", method="POST", body={"manifest": manifest})
    assert code == 201, job
    path = job_path(job)
    done = await wait_finished(api, path)
    assert done["status"]["phase"] == "Succeeded", done["status"]
    return path, f"{job['name']}-master-0"


async def test_text_full_read_and_tail_of_one_pod_are_the_file_bytes(api) -> None:
    path, pod = await _finished_job(api)
    want = "".join(f"line {i} é\n" for i in range(3000)).encode()

    code, body, headers = await api(*path, "log", params={"pod": pod, "format": "text"}, raw=True)
    assert code == 200 and headers["Content-Type"].startswith("text/plain")
    assert body == want
    # The file's length is known when it is opened: sent as Content-Length, not chunked.
    assert headers["Content-Length"] == str(len(want)) and "Transfer-Encoding" not in headers

    code, body, _ = await api(*path, "log", params={"pod": pod, "format": "text", "tail": "2"}, raw=True)
    assert code == 200 and body == "line 2998 é\nline 2999 é\n".encode()

    code, body, _ = await api(*path, "log", params={"pod": pod, "format": "text", "tail": "0"}, raw=True)
    assert code == 200 and body == b""


async def test_a_full_read_is_the_log_as_it_was_when_opened(api, tmp_path, monkeypatch) -> None:
    """A replica still writing: the read stops at the size the file had when opened, and says that size."""
    from dtrain_jupyter.service import JobService

    path, pod = await _finished_job(api)
    [log_file] = (tmp_path / "dtrain-state").rglob(f"{pod}.log")
    at_open = log_file.read_bytes()
    opened = JobService.log_text

    async def grows_after_open(self, *args, **kwargs):
        chunks = await opened(self, *args, **kwargs)
        with open(log_file, "ab") as f:  # more than a chunk, written after the open, before the read
            f.write(b"written later\n" * 200_000)
        return chunks

    monkeypatch.setattr(JobService, "log_text", grows_after_open)
    code, body, headers = await api(*path, "log", params={"pod": pod, "format": "text"}, raw=True)
    assert code == 200 and body == at_open and headers["Content-Length"] == str(len(at_open))
    # A tail is the last lines of the file as opened too (the lines the first read's open let in, not
    # those written after this one's).
    code, body, _ = await api(*path, "log", params={"pod": pod, "format": "text", "tail": "1"}, raw=True)
    assert code == 200 and body == b"written later\n"


async def test_a_full_read_is_sent_from_the_file_by_the_kernel(api, jp_http_port, jp_base_url, jp_auth_header,
                                                              monkeypatch) -> None:
    """sendfile(2) sends the body; tornado's own accounting holds, so the connection serves the next request."""
    import httpx

    path, pod = await _finished_job(api)
    want = "".join(f"line {i} é\n" for i in range(3000)).encode()
    sent_by_kernel: list[int] = []
    sendfile = asyncio.base_events.BaseEventLoop.sock_sendfile

    async def counted(self, sock, file, offset=0, count=None, *, fallback=True):
        sent = await sendfile(self, sock, file, offset, count, fallback=fallback)
        sent_by_kernel.append(sent)
        return sent

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "sock_sendfile", counted)
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}dtrain/api/{'/'.join(path)}/log"
    connections = set()
    async with httpx.AsyncClient(headers=jp_auth_header) as http:
        for params in ({"pod": pod, "format": "text"}, {"pod": pod, "format": "text"}, {"pod": pod, "tail": "1"}):
            async with http.stream("GET", url, params=params) as r:
                body = await r.aread()
                connections.add(id(r.extensions["network_stream"]))
            assert r.status_code == 200
            if params.get("format") == "text":
                assert body == want and r.headers["Content-Length"] == str(len(want))
            else:
                assert [json.loads(ln)["line"] for ln in body.splitlines()] == ["line 2999 é"]
    assert sent_by_kernel == [len(want), len(want)]
    assert len(connections) == 1  # kept alive after each sendfile body: tornado counted its bytes


async def test_where_the_kernel_cannot_send_the_file_the_chunks_go_as_before(api, monkeypatch) -> None:
    path, pod = await _finished_job(api)
    want = "".join(f"line {i} é\n" for i in range(3000)).encode()

    async def unavailable(self, *args, **kwargs):
        raise asyncio.SendfileNotAvailableError("not on this socket")

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "sock_sendfile", unavailable)
    code, body, headers = await api(*path, "log", params={"pod": pod, "format": "text"}, raw=True)
    assert code == 200 and body == want and headers["Content-Length"] == str(len(want))


async def test_a_file_shorter_than_its_size_when_sent_by_the_kernel_cuts_the_transfer(api, tmp_path,
                                                                                       monkeypatch) -> None:
    """The file truncated between its open and the kernel's send: fewer bytes than said, not a whole log."""
    from tornado.httpclient import HTTPClientError

    path, pod = await _finished_job(api)
    [log_file] = (tmp_path / "dtrain-state").rglob(f"{pod}.log")
    sendfile = asyncio.base_events.BaseEventLoop.sock_sendfile

    async def truncated_first(self, sock, file, offset=0, count=None, *, fallback=True):
        os.truncate(log_file, 10)
        return await sendfile(self, sock, file, offset, count, fallback=fallback)

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "sock_sendfile", truncated_first)
    try:
        code, body, _ = await api(*path, "log", params={"pod": pod, "format": "text"}, raw=True)
    except (HTTPClientError, OSError) as e:
        assert "closed" in str(e).lower() or isinstance(e, OSError)
    else:
        raise AssertionError(f"a log cut to 10 bytes was answered as whole: {code} {body[:40]!r}")


async def test_an_empty_log_is_an_empty_body_of_length_0(api, tmp_path) -> None:
    path, pod = await _finished_job(api)
    [log_file] = (tmp_path / "dtrain-state").rglob(f"{pod}.log")
    log_file.write_bytes(b"")
    code, body, headers = await api(*path, "log", params={"pod": pod, "format": "text"}, raw=True)
    assert code == 200 and body == b"" and headers["Content-Length"] == "0"


async def test_a_sized_log_cut_short_while_read_cuts_the_transfer(api, tmp_path, monkeypatch) -> None:
    """A file truncated after the open (copytruncate) has fewer bytes than it said: not a whole log."""
    from tornado.httpclient import HTTPClientError

    from dtrain_jupyter.service import JobService

    path, pod = await _finished_job(api)
    [log_file] = (tmp_path / "dtrain-state").rglob(f"{pod}.log")
    opened = JobService.log_text

    async def truncated_after_open(self, *args, **kwargs):
        chunks = await opened(self, *args, **kwargs)
        with open(log_file, "r+b") as f:
            f.truncate(10)
        return chunks

    monkeypatch.setattr(JobService, "log_text", truncated_after_open)
    try:
        code, body, _ = await api(*path, "log", params={"pod": pod, "format": "text"}, raw=True)
    except (HTTPClientError, OSError) as e:
        assert "closed" in str(e).lower() or isinstance(e, OSError)
    else:
        raise AssertionError(f"a log cut to 10 bytes was answered as whole: {code} {body[:40]!r}")


async def test_text_of_every_pod_and_with_timestamps_joins_the_lines(api) -> None:
    path, pod = await _finished_job(api)
    code, body, _ = await api(*path, "log", params={"format": "text", "tail": "1"}, raw=True)
    assert code == 200 and body == "line 2999 é\n".encode()
    code, body, _ = await api(*path, "log", params={"pod": pod, "format": "text", "tail": "1", "timestamps": "true"},
                              raw=True)
    assert code == 200 and body == "line 2999 é\n".encode()
    # The NDJSON form still answers the same lines.
    code, lines, _ = await api(*path, "log", params={"pod": pod, "tail": "1"})
    assert code == 200 and [ln["line"] for ln in lines] == ["line 2999 é"] and lines[0]["pod"] == pod


async def test_text_format_errors_are_json(api) -> None:
    path, pod = await _finished_job(api)
    code, err, _ = await api(*path, "log", params={"format": "xml"})
    assert code == 400 and err["error"] == "InvalidRequest" and "format" in err["message"]
    code, err, _ = await api(*path, "log", params={"pod": "nope-master-0", "format": "text"})
    assert code == 404 and err["error"] == "NotFound"
    code, err, _ = await api("local", "namespaces", "default", "pytorchjobs", "missing", "log", params={"format": "text"})
    assert code == 404 and err["error"] == "JobNotFound"


async def test_an_error_after_the_first_bytes_cuts_the_transfer_instead_of_ending_it(api, jp_serverapp,
                                                                                     monkeypatch) -> None:
    from tornado.httpclient import HTTPClientError

    from dtrain_jupyter.errors import BackendUnavailable
    from dtrain_jupyter.service import JobService

    path, pod = await _finished_job(api)

    async def broken(self, *args, **kwargs):
        async def chunks():
            yield b"line 0\n"
            raise BackendUnavailable("the node went away")
        return chunks()

    monkeypatch.setattr(JobService, "log_text", broken)
    # A short log must not pass for a whole one: the body is left unterminated, and the
    # client's read fails rather than returning "line 0\n" as the log.
    try:
        code, body, _ = await api(*path, "log", params={"pod": pod, "format": "text"}, raw=True)
    except (HTTPClientError, OSError) as e:
        assert "closed" in str(e).lower() or isinstance(e, OSError)
    else:
        raise AssertionError(f"the cut log arrived as a complete response: {code} {body!r}")


async def test_a_text_follow_stops_reading_when_its_client_leaves_a_quiet_log(api, jp_http_port, jp_base_url,
                                                                              jp_auth_header, monkeypatch) -> None:
    """The replica writes once and sleeps: the client leaving ends the server's follow, not the next byte."""
    import httpx

    from dtrain_jupyter.backends.local import backend as local_backend

    followed, closed = [], asyncio.Event()
    follow = local_backend.follow

    async def watched(*args, **kwargs):
        followed.append(kwargs.get("raw"))
        try:
            async for item in follow(*args, **kwargs):
                yield item
        finally:
            closed.set()

    monkeypatch.setattr(local_backend, "follow", watched)
    manifest = pytorch_manifest(unique("quiet"), script="import time\nprint('one line', flush=True)\ntime.sleep(60)\n")
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]
    code, job, _ = await api("jobs", method="POST", body={"manifest": manifest})
    assert code == 201, job
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}dtrain/api/{'/'.join(job_path(job))}/log"
    params = {"pod": f"{job['name']}-master-0", "format": "text", "follow": "true"}
    async with httpx.AsyncClient(headers=jp_auth_header, timeout=30) as http:
        async with http.stream("GET", url, params=params) as r:
            got = b""
            async for chunk in r.aiter_raw():
                got += chunk
                if b"one line\n" in got:
                    break
    assert followed and all(followed)  # one pod's plain-text follow reads bytes, not lines
    await asyncio.wait_for(closed.wait(), 10)
    code, _, _ = await api(*job_path(job), method="DELETE")
    assert code in (200, 202, 204)
