"""Pytest fixtures for the real control plane: `cluster` (MPIJob v1, one per test session) and
`cluster_v2` (MPIJob v2beta1 with the MPI Operator, one per test module that asks for it).

Import them in a folder's conftest.py:
`from tests.cluster.fixtures import cluster, cluster_v2  # noqa: F401`.

Without the built binaries the fixtures fail (not skip) and name the command that builds them:
`make test` builds them first, so a missing binary is a broken setup, not an optional test.
"""

from __future__ import annotations

import uuid
from typing import Iterator

import pytest

from .control_plane import ClusterError, ControlPlane


def _start(mpi_version: str, crd_dir) -> ControlPlane:
    try:
        return ControlPlane(mpi_version=mpi_version, crd_dir=crd_dir).start()
    except ClusterError as e:
        pytest.fail(f"the real control plane did not start: {e}", pytrace=False)


@pytest.fixture(scope="session")
def cluster(conformance_dir) -> Iterator[ControlPlane]:
    """A running control plane serving MPIJob kubeflow.org/v1 (the training-operator runs every kind)."""
    plane = _start("v1", conformance_dir / "crds")
    yield plane
    plane.stop()


@pytest.fixture(scope="module")
def cluster_v2(conformance_dir) -> Iterator[ControlPlane]:
    """A running control plane serving MPIJob kubeflow.org/v2beta1 (the MPI Operator runs it)."""
    plane = _start("v2beta1", conformance_dir / "crds")
    yield plane
    plane.stop()


def unique(prefix: str = "t") -> str:
    """A fresh DNS-1035 job name, so tests sharing one cluster never collide."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
