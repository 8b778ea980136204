"""The log endpoint's plain-text form (`format=text`): raw bytes for one pod, joined lines otherwise."""

from __future__ import annotations

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
