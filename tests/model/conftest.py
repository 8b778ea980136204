"""Fixtures for the job model tests: the conformance corpus and the CRD schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtrain_jupyter.model.schema import load_crd_schemas


@pytest.fixture(scope="session")
def crd_schemas(conformance_dir: Path) -> dict:
    """(apiVersion, kind) -> openAPIV3Schema from conformance/crds (read once: 4 MB of YAML)."""
    return load_crd_schemas(conformance_dir / "crds")


@pytest.fixture(scope="session")
def example_files(conformance_dir: Path) -> list[Path]:
    """Every official example manifest in the corpus (not the CRDs)."""
    files = sorted(p for p in conformance_dir.glob("*/*.yaml") if p.parent.name != "crds")
    assert files, f"no examples under {conformance_dir}"
    return files
