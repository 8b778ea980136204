"""log_stream.py: a followed log relayed to a client that leaves, and lines that end in an error."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from dtrain_jupyter.errors import BackendUnavailable
from dtrain_jupyter.service import JobService

from .conftest import API, job_path, pytorch_manifest, unique


def watch_streams(monkeypatch: Any) -> asyncio.Event:
    """Make every stream JobService.logs hands out set the returned event once it is closed."""
    closed = asyncio.Event()
    opened = JobService.logs

    async def logs(self: JobService, *args: Any, **options: Any) -> Any:
        lines = await opened(self, *args, **options)

        async def watched() -> Any:
            try:
                async for line in lines:
                    yield line
            finally:
                await lines.aclose()
                closed.set()
        return watched()

    monkeypatch.setattr(JobService, "logs", logs)
    return closed


async def test_a_follower_that_leaves_closes_the_backends_stream(api, jp_fetch, monkeypatch, tmp_path: Path) -> None:
    closed = watch_streams(monkeypatch)
    gate = tmp_path / "gate"
    script = (f"import pathlib, time; print('ready', flush=True)\n"
              f"while not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.05)\n")
    manifest = pytorch_manifest(unique(), script=script)
    del manifest["spec"]["pytorchReplicaSpecs"]["Worker"]  # the Master alone: one log
    code, job, _ = await api("jobs", method="POST", body={"manifest": manifest})
    assert code == 201, job

    class Gone(Exception):
        """The client hangs up."""

    def hang_up(chunk: bytes) -> None:
        assert json.loads(chunk.splitlines()[0])["line"] == "ready"
        raise Gone

    try:
        # Given a follower of a job that runs on, when it leaves after the first line, then the
        # server closes the backend's stream at once (not when the job ends: it never does here).
        with pytest.raises((Gone, HTTPClientError)):
            await jp_fetch(*API, *job_path(job), "log", params={"follow": "true"}, streaming_callback=hang_up,
                           request_timeout=60)
        await asyncio.wait_for(closed.wait(), timeout=30)
        code, still, _ = await api(*job_path(job))
        assert still["status"]["phase"] == "Running"
    finally:
        gate.touch()
        await api(*job_path(job), method="DELETE")


async def test_an_error_after_the_first_line_is_the_last_line(api, monkeypatch) -> None:
    async def failing(self: JobService, *args: Any, **options: Any) -> Any:
        async def lines() -> Any:
            from dtrain_jupyter.model.job import LogLine
            yield LogLine(pod="p-master-0", line="step 1")
            raise BackendUnavailable("the node went away")
        return lines()

    monkeypatch.setattr(JobService, "logs", failing)
    code, lines, headers = await api("local", "namespaces", "default", "pytorchjobs", "any", "log")
    assert code == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    assert lines == [{"pod": "p-master-0", "line": "step 1", "timestamp": None},
                     {"error": "BackendUnavailable", "message": "the node went away"}]
