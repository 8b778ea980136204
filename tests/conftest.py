"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ("pytest_jupyter.jupyter_server",)

REPO = Path(__file__).resolve().parent.parent
# The conformance corpus lives in shared/ beside the checkout (or DTRAIN_SHARED_DIR).
SHARED = Path(os.environ.get("DTRAIN_SHARED_DIR", REPO.parent / "shared"))
CONFORMANCE = SHARED / "conformance"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.fail(f"conformance corpus not found at {CONFORMANCE} (set DTRAIN_SHARED_DIR)")
    return CONFORMANCE
