"""The jobs list's ETag: computed once per encoded list, still a true validator of its bytes."""

from __future__ import annotations

import hashlib

from .conftest import job_path, pytorch_manifest, unique, wait_finished


async def test_the_etag_follows_the_list_body_and_answers_if_none_match(api) -> None:
    # Given one job, when the list is asked for twice, then both answers carry the same ETag,
    # the SHA-1 of the body (tornado's own rule), and asking with it gives 304 and no body.
    code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(unique())})
    assert code == 201, job
    await wait_finished(api, job_path(job))
    code, first, headers = await api("jobs", raw=True)
    assert code == 200
    etag = headers["Etag"]
    assert etag == f'"{hashlib.sha1(first).hexdigest()}"'
    code, again, headers = await api("jobs", raw=True)
    assert (code, again, headers["Etag"]) == (200, first, etag)
    code, body, _ = await api("jobs", raw=True, headers={"If-None-Match": etag})
    assert (code, body) == (304, b"")

    # When a job is added, then the list's bytes change and so does its ETag: the remembered
    # one is never handed out for other bytes.
    code, second, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(unique())})
    assert code == 201, second
    await wait_finished(api, job_path(second))
    code, changed, headers = await api("jobs", raw=True)
    assert code == 200 and changed != first
    assert headers["Etag"] == f'"{hashlib.sha1(changed).hexdigest()}"' != etag
    # Another filter set is another list, with the ETag of its own bytes.
    code, one, headers = await api("jobs", raw=True, params={"name": second["name"]})
    assert code == 200 and headers["Etag"] == f'"{hashlib.sha1(one).hexdigest()}"'
