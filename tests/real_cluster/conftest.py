"""Fixtures for the tests on the real control plane (tests/cluster): the cluster and backends on it."""

from __future__ import annotations

import pytest

from tests.backends.kubernetes.conftest import eventually, make_backend  # noqa: F401 - shared helper and fixture
from tests.cluster.fixtures import cluster, cluster_v2  # noqa: F401 - fixtures re-exported


@pytest.fixture
def backend(cluster, make_backend, jp_asyncio_loop):  # noqa: F811 - the fixtures imported above
    """A started backend on the session's MPIJob v1 control plane."""
    b = make_backend(cluster)
    jp_asyncio_loop.run_until_complete(b.start())
    return b
