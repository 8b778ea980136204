"""The jobs list written in chunks (job_json.ListBody): the same bytes, length, ETag and 304 as one write."""

from __future__ import annotations

import hashlib
import json

import pytest

from dtrain_jupyter.server import job_json

from .conftest import job_path, pytorch_manifest, unique, wait_finished


async def test_a_list_in_many_chunks_is_the_json_of_its_jobs(api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given three finished jobs, when the list is written whole (one chunk) and then in chunks
    # of 64 bytes (each job its own write), then both answers are the same bytes: the plain
    # json.dumps of the jobs, with a Content-Length and the ETag of those bytes.
    names = [unique("chunk") for _ in range(3)]
    for name in names:
        code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(name)})
        assert code == 201, job
        await wait_finished(api, job_path(job))
    code, whole, headers = await api("jobs", raw=True)
    assert code == 200
    monkeypatch.setattr(job_json, "CHUNK_BYTES", 64)
    written: list[bytes] = []
    chunks = job_json.ListBody.chunks

    def recorded(body: job_json.ListBody, size: int | None = None):
        for chunk in chunks(body, size):
            written.append(chunk)
            yield chunk

    monkeypatch.setattr(job_json.ListBody, "chunks", recorded)
    # The same list object (from the list cache) written again, now in many chunks.
    code, chunked, chunked_headers = await api("jobs", raw=True)
    assert code == 200 and chunked == whole
    assert len(written) > 3 and b"".join(written) == whole
    listed = json.loads(chunked)
    assert sorted(j["name"] for j in listed["items"] if j["name"] in names) == sorted(names)
    assert json.dumps(listed).encode() == chunked
    for h in (headers, chunked_headers):
        assert int(h["Content-Length"]) == len(whole)
        assert h["Etag"] == f'"{hashlib.sha1(whole).hexdigest()}"'
        assert h["Content-Type"] == "application/json"
    # The ETag still answers If-None-Match with 304 and no body, chunked or not.
    code, body, _ = await api("jobs", raw=True, headers={"If-None-Match": headers["Etag"]})
    assert (code, body) == (304, b"")
