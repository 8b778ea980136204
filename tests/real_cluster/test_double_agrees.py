"""The API double against the real server: the same request gets the same stored object and the
same refusal. Each case here is a divergence once found (tests/kube_double/README.md lists them).
"""

from __future__ import annotations

import json
import ssl
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import CONFORMANCE
from tests.kube_double import KubeDouble

EXAMPLES = {
    "v1": sorted((CONFORMANCE / "training-operator-v1.9").glob("*.yaml")),
    "v2beta1": sorted((CONFORMANCE / "mpi-operator-v2beta1").glob("*.yaml")),
}
PLURALS = {"PyTorchJob": "pytorchjobs", "TFJob": "tfjobs", "MPIJob": "mpijobs", "XGBoostJob": "xgboostjobs",
           "PaddleJob": "paddlejobs", "JAXJob": "jaxjobs"}


def _client(url: str, ca: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=ca),
                        headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.fixture(scope="module")
def double_v1(conformance_dir):
    with KubeDouble(mpi_version="v1", crd_dir=conformance_dir / "crds", simulate=False) as kd:
        yield kd


@pytest.fixture(scope="module")
def double_v2(conformance_dir):
    with KubeDouble(mpi_version="v2beta1", crd_dir=conformance_dir / "crds", simulate=False) as kd:
        yield kd


def _create(client: httpx.Client, manifest: dict) -> httpx.Response:
    path = f"/apis/{manifest['apiVersion']}/namespaces/default/{PLURALS[manifest['kind']]}"
    return client.post(path, params={"dryRun": "All"}, content=json.dumps(manifest),
                       headers={"Content-Type": "application/json"})


def _documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _pairs(version: str):
    for path in EXAMPLES[version]:
        for i, doc in enumerate(_documents(path)):
            if doc["kind"] == "MPIJob" and not doc["apiVersion"].endswith(version):
                continue
            yield pytest.param(version, doc, id=f"{version}-{path.stem}-{i}")


def _stored_spec(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()["spec"]


def _named(doc: dict) -> dict:
    doc = json.loads(json.dumps(doc))
    doc["metadata"] = {"name": f"same-{uuid.uuid4().hex[:6]}", "namespace": "default"}
    return doc


@pytest.mark.parametrize("version, manifest", [case for v in ("v1", "v2beta1") for case in _pairs(v)])
def test_an_example_is_stored_alike(request, version, manifest):
    # MPIJob v1 and v2beta1 share one CRD name: each version has its own pair of servers.
    plane = request.getfixturevalue("cluster" if version == "v1" else "cluster_v2")
    kd = request.getfixturevalue("double_v1" if version == "v1" else "double_v2")
    doc = _named(manifest)
    with _client(plane.url, plane.ca_path, plane.token) as real, _client(kd.url, kd.ca_path, kd.token) as double:
        assert _stored_spec(_create(double, doc)) == _stored_spec(_create(real, doc))


def test_no_token_is_anonymous_on_both(cluster, double_v1):
    for url, ca in ((cluster.url, cluster.ca_path), (double_v1.url, double_v1.ca_path)):
        answer = httpx.get(f"{url}/api/v1/namespaces", verify=ssl.create_default_context(cafile=ca))
        assert (answer.status_code, answer.json()["reason"]) == (403, "Forbidden")
