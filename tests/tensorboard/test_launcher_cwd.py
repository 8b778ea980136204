"""Where the TensorBoard process starts: in its log file's folder, not the server's working
directory, where a notebook's module could replace one of the standard library's."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from dtrain_jupyter.errors import BackendUnavailable
from dtrain_jupyter.tensorboard.launcher import TensorBoardLauncher

# Stands in for TensorBoard: imports a standard module as it would, says where it runs and with
# which logdirs, and exits.
FAKE = ("import os, select, sys; print('ran in', os.getcwd(), flush=True); "
        "print('logdirs', sys.argv[sys.argv.index('--logdir_spec') + 1], flush=True); raise SystemExit(3)")


def test_it_runs_in_its_log_folder_not_the_notebooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "select.py").write_text("raise SystemExit('the notebook select.py was imported')\n")
    monkeypatch.chdir(notebooks)
    log_file = tmp_path / "state" / "tensorboard" / "tensorboard.log"
    launcher = TensorBoardLauncher(path_prefix="/dtrain/tensorboard", log_file=log_file, idle_seconds=60,
                                   command=(sys.executable, "-c", FAKE))
    with pytest.raises(BackendUnavailable) as raised:
        asyncio.run(launcher.open({"run": Path("runs/one")}))
    words = raised.value.message
    assert "notebook select.py" not in words
    assert f"ran in {log_file.parent}" in words
    # A relative logdir means the server's working directory, not the process's.
    assert f"logdirs run:{notebooks / 'runs' / 'one'}" in words
