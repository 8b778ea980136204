"""Fixtures for the Kubernetes backend tests: the API test double and backends pointed at it."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import pytest

from dtrain_jupyter.backends.kubernetes import KubernetesBackend
from dtrain_jupyter.backends.kubernetes.api import Tuning
from dtrain_jupyter.backends.kubernetes.cache import WatchTuning
from tests.kube_double.fixtures import kube_double, kube_double_v2  # noqa: F401 - fixtures re-exported

# Short timeouts and backoff so failure paths take a second, not minutes.
FAST = Tuning(connect_timeout=2.0, read_timeout=5.0, retries=3, backoff_base=0.05, backoff_max=0.3)
FAST_WATCH = WatchTuning(page_size=200, watch_timeout=20, backoff_base=0.05, backoff_max=0.4)


@pytest.fixture
def make_backend(jp_asyncio_loop) -> Any:
    """make_backend(server, **kwargs) -> an unstarted KubernetesBackend on an API server (the double or
    a real control plane: anything with a `kubeconfig_path`); stopped after the test, on the test's loop
    (its followed logs are read there)."""
    made: list[KubernetesBackend] = []

    def make(server, **kwargs: Any) -> KubernetesBackend:
        kwargs.setdefault("kubeconfig", server.kubeconfig_path)
        kwargs.setdefault("tuning", FAST)
        kwargs.setdefault("watch_tuning", FAST_WATCH)
        backend = KubernetesBackend(**kwargs)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        if jp_asyncio_loop.is_closed():
            backend.close()
        else:
            jp_asyncio_loop.run_until_complete(backend.stop())


@pytest.fixture
def backend(kube_double, make_backend, jp_asyncio_loop):  # noqa: F811 - the fixture above
    """A started backend on the MPIJob v1 double (started on the loop the test runs on)."""
    b = make_backend(kube_double)
    jp_asyncio_loop.run_until_complete(b.start())
    return b


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Await until predicate() (sync or async) is truthy; return its value or fail naming it."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {getattr(predicate, '__name__', predicate)}")
        await asyncio.sleep(interval)
