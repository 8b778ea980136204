"""Fixtures of the local backend tests: backends over a temporary state dir, cleaned up after."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.backends.local import process


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def make_backend(state_dir, jp_asyncio_loop):
    """Build LocalBackends (not started) over one state dir; every job and process is gone afterwards."""
    made: list[LocalBackend] = []

    def make(**kw) -> LocalBackend:
        kw.setdefault("grace_seconds", 2.0)
        kw.setdefault("restart_backoff", 0.05)
        kw.setdefault("gpus", [])
        backend = LocalBackend(kw.pop("state", state_dir), **kw)
        made.append(backend)
        return backend

    yield make

    async def cleanup() -> None:
        uids = set()
        for backend in made:
            for job in await backend.list():
                uids.add(job.uid)
                try:
                    await backend.delete(job.kind, job.name, job.namespace)
                except Exception:
                    pass
            await backend.stop()
        for uid in uids:
            process.stop_job(uid, [], 1.0)

    jp_asyncio_loop.run_until_complete(cleanup())
