"""`c.DTrain.freeze_gc`: the collector is frozen once the backends have started, and thawed when the extension stops."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def dtrain_config(tmp_path: Path) -> dict[str, Any]:
    return {"backend": "local", "state_dir": str(tmp_path / "dtrain-state"), "freeze_gc": True}


def _extension(serverapp: Any) -> Any:
    [app] = serverapp.extension_manager.extension_apps["dtrain_jupyter"]
    return app


async def test_the_collector_is_frozen_after_the_backends_start_and_thawed_at_stop(jp_serverapp: Any) -> None:
    ext = _extension(jp_serverapp)
    assert gc.get_freeze_count() == 0
    await ext._start_jupyter_server_extension(jp_serverapp)  # what `jupyter server` runs once its loop is up
    for _ in range(600):  # the backends start a second after the server, in the background
        if ext._start_task is not None and ext._start_task.done():
            break
        await asyncio.sleep(0.05)
    assert ext._start_task.result() is None
    assert ext.service.describe()[0]["ready"]
    assert gc.get_freeze_count() > 10_000  # the modules and objects alive then
    await ext.stop_extension()
    assert gc.get_freeze_count() == 0
