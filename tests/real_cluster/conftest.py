"""Fixtures for the tests on the real control plane (tests/cluster): the cluster and backends on it."""

from __future__ import annotations

from typing import Any

import pytest

from dtrain_jupyter.backends.kubernetes import KubernetesBackend
from tests.backends.kubernetes.conftest import FAST, FAST_WATCH, eventually  # noqa: F401 - shared helpers
from tests.cluster.fixtures import cluster, cluster_v2  # noqa: F401 - fixtures re-exported


@pytest.fixture
def make_backend() -> Any:
    """make_backend(plane, **kwargs) -> an unstarted KubernetesBackend on a control plane; closed after the test."""
    made: list[KubernetesBackend] = []

    def make(plane, **kwargs: Any) -> KubernetesBackend:
        kwargs.setdefault("kubeconfig", plane.kubeconfig_path)
        kwargs.setdefault("tuning", FAST)
        kwargs.setdefault("watch_tuning", FAST_WATCH)
        backend = KubernetesBackend(**kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(cluster, make_backend, jp_asyncio_loop):  # noqa: F811 - the fixture imported above
    """A started backend on the session's MPIJob v1 control plane."""
    b = make_backend(cluster)
    jp_asyncio_loop.run_until_complete(b.start())
    return b
