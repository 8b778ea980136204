"""Pytest fixtures for the double: `kube_double` (MPIJob v1) and `kube_double_v2` (MPIJob v2beta1).

Load with `pytest_plugins = ("tests.kube_double.fixtures",)` in a conftest.py. Each fixture
starts a fresh double per test with a fast simulator tick and stops it afterwards.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from .double import KubeDouble


@pytest.fixture
def kube_double(conformance_dir) -> Iterator[KubeDouble]:
    """A started double serving MPIJob kubeflow.org/v1 (training-operator CRDs)."""
    with KubeDouble(mpi_version="v1", crd_dir=conformance_dir / "crds", tick=0.05) as kd:
        yield kd


@pytest.fixture
def kube_double_v2(conformance_dir) -> Iterator[KubeDouble]:
    """A started double serving MPIJob kubeflow.org/v2beta1 (the MPI Operator's CRD)."""
    with KubeDouble(mpi_version="v2beta1", crd_dir=conformance_dir / "crds", tick=0.05) as kd:
        yield kd
