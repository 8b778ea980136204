"""Fixtures for the double's own tests: a started double without a ticking simulator, and an HTTP client."""

from __future__ import annotations

import ssl
from typing import Iterator

import httpx
import pytest

from tests.kube_double import KubeDouble
from tests.kube_double.fixtures import kube_double, kube_double_v2  # noqa: F401 - fixtures re-exported


@pytest.fixture
def kd(conformance_dir) -> Iterator[KubeDouble]:
    """A double whose simulator moves only when the test calls `kd.simulator.step()`."""
    with KubeDouble(crd_dir=conformance_dir / "crds", tick=None) as double:
        yield double


@pytest.fixture
def http(kd) -> Iterator[httpx.Client]:
    """An authenticated client for the double's HTTPS endpoint."""
    with httpx.Client(base_url=kd.url, verify=ssl.create_default_context(cafile=kd.ca_path), headers={"Authorization": f"Bearer {kd.token}"},
                      timeout=10) as client:
        yield client


def pytorch_job(name: str, namespace: str = "default", workers: int = 1) -> dict:
    """A small valid PyTorchJob manifest."""
    def template() -> dict:
        return {"spec": {"containers": [{"name": "pytorch", "image": "example/train:1"}]}}

    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": namespace, "labels": {"team": "vision"}},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": template()},
                                             "Worker": {"replicas": workers, "template": template()}}}}


PT = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"
