"""The backend under contract: one fixture, `harness`, parametrized over every backend.

A new backend gets the whole suite from one more entry in `WORLDS` (and its Harness subclass).
Module-scoped worlds (a state folder, a double, the session's control plane) let the tests of
one module share jobs; each test builds and starts its own backend on its own event loop.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.cluster.control_plane import binary_dir, missing_binaries
from tests.cluster.fixtures import cluster  # noqa: F401 - the session's control plane, asked for by name
from tests.kube_double import KubeDouble

from .harness import ClusterHarness, DoubleHarness, Harness, LocalHarness


def _cleaned(harness: Harness) -> Iterator[Harness]:
    """Yield the harness; then delete the jobs it made (on a loop of its own: the tests' are closed)."""
    yield harness
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(harness.cleanup())
    finally:
        loop.close()


def local_world(request: Any, tmp: Path) -> Iterator[Harness]:
    yield from _cleaned(LocalHarness(tmp))


def double_world(request: Any, tmp: Path) -> Iterator[Harness]:
    crds = request.getfixturevalue("conformance_dir") / "crds"
    with KubeDouble(mpi_version="v1", crd_dir=crds, tick=0.05) as kd:
        yield DoubleHarness(tmp, kd)  # the double goes, and its jobs with it


def cluster_world(request: Any, tmp: Path) -> Iterator[Harness]:
    missing = missing_binaries()
    if missing:
        pytest.skip(f"the real control plane is not built ({', '.join(missing)} missing in {binary_dir()}); "
                    "`scripts/cluster.sh build` or `make test` builds it")
    yield from _cleaned(ClusterHarness(tmp, request.getfixturevalue("cluster")))


# Every backend the suite runs against: id -> what the module's tests on it share.
WORLDS: dict[str, Callable[[Any, Path], Iterator[Harness]]] = {
    "local": local_world, "double": double_world, "cluster": cluster_world,
}


@pytest.fixture(scope="module", params=list(WORLDS))
def world(request: Any, tmp_path_factory: Any) -> Iterator[Harness]:
    """What one module's tests on one backend share: where its state lives, and its shared jobs."""
    yield from WORLDS[request.param](request, tmp_path_factory.mktemp(f"contract-{request.param}"))


@pytest.fixture
def harness(world: Harness, jp_asyncio_loop: Any) -> Iterator[Harness]:
    """The world's harness with a backend started on this test's loop (stopped after it)."""
    jp_asyncio_loop.run_until_complete(world.start())
    yield world
    jp_asyncio_loop.run_until_complete(world.stop())
