"""Every official Kubeflow example, unchanged but for its name and namespace, through our backend
on the real control plane: created, listed, shown with the pods the operator made, deleted.

The kube double's counterpart is tests/fidelity/test_kubectl.py (apply every example, read it
back); here the API server, the training-operator and the MPI Operator are the real ones, so
what the server stores and which pods appear are facts, not a model of them. MPIJob v1 and
v2beta1 share one CRD name, so the v1 examples run on `cluster` and the v2beta1 ones on
`cluster_v2`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from dtrain_jupyter.errors import JobNotFound, NotFound
from dtrain_jupyter.model.kinds import lookup
from dtrain_jupyter.model.schema import load_crd_schemas
from dtrain_jupyter.model.status import Phase
from tests.cluster.fixtures import unique
from tests.conftest import CONFORMANCE

from .conftest import eventually

# Collected at import so each example is its own test id ("training-operator-v1.9/pytorch_simple").
EXAMPLES = sorted(p for p in CONFORMANCE.glob("*/*.yaml") if p.parent.name != "crds")
V2BETA1_FOLDER = "mpi-operator-v2beta1"
NODE = "dtrain-node"  # the node agent's one Node (tests/cluster/node_agent.py)
# Two slow shared cores run the apiserver, etcd, both operators and the node agent: be patient.
PATIENCE = 120.0


def example_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def example_manifest(path: Path) -> dict[str, Any]:
    """The example as published, with a fresh name in namespace default (the corpus uses `kubeflow`)."""
    manifest = yaml.safe_load(path.read_text())
    manifest["metadata"]["name"] = unique("conf")
    manifest["metadata"]["namespace"] = "default"
    return manifest


@pytest.fixture(scope="module")
def crd_schemas(conformance_dir) -> dict:
    """(apiVersion, kind) -> openAPIV3Schema: which fields the server itself defaults or prunes."""
    return load_crd_schemas(conformance_dir / "crds")


@pytest.fixture(params=EXAMPLES, ids=[example_id(p) for p in EXAMPLES])
def example(request, make_backend, jp_asyncio_loop):
    """(example file, control plane serving its MPIJob version, started backend on that plane)."""
    path: Path = request.param
    plane = request.getfixturevalue("cluster_v2" if path.parent.name == V2BETA1_FOLDER else "cluster")
    backend = make_backend(plane)
    jp_asyncio_loop.run_until_complete(backend.start())
    return path, plane, backend


def _schema_child(schema: dict, key: Any) -> dict:
    """The schema of one field or item; {} where the schema preserves unknown fields (no rule)."""
    if isinstance(key, int):
        return schema.get("items") or {}
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else {}


def unexplained_changes(sent: Any, stored: Any, schema: dict, path: str = "spec") -> list[str]:
    """How `stored` differs from `sent` beyond what a structural schema does on write.

    A real API server changes a custom object in exactly two ways (the training-operator's
    webhooks only validate; no mutating webhook ships with either operator):
    it fills a field absent from the request with the schema's `default`, and it drops a null
    sent for a field that is not `nullable`. Every other difference is listed by path.
    """
    if isinstance(sent, dict) and isinstance(stored, dict):
        out: list[str] = []
        for key in sorted(set(sent) | set(stored), key=str):
            child, where = _schema_child(schema, key), f"{path}.{key}"
            if key not in stored:
                if not (sent[key] is None and not child.get("nullable")):
                    out.append(f"{where}: sent {sent[key]!r:.80}, not stored")
            elif key not in sent:
                if "default" not in child or child["default"] != stored[key]:
                    out.append(f"{where}: stored {stored[key]!r:.80}, neither sent nor a schema default")
            else:
                out.extend(unexplained_changes(sent[key], stored[key], child, where))
        return out
    if isinstance(sent, list) and isinstance(stored, list) and len(sent) == len(stored):
        item = _schema_child(schema, 0)
        return [d for i, (a, b) in enumerate(zip(sent, stored)) for d in unexplained_changes(a, b, item, f"{path}[{i}]")]
    return [] if sent == stored else [f"{path}: sent {sent!r:.80}, stored {stored!r:.80}"]


def expected_replicas(manifest: dict[str, Any]) -> list[tuple[str, int]]:
    """(replica type, index) of every pod the operator should make, in the order our pods() sorts them."""
    fw = lookup(manifest["apiVersion"], manifest["kind"])
    assert fw is not None, f"{manifest['apiVersion']} {manifest['kind']} is not a kind the model knows"
    counts: dict[str, int] = {}
    for key, spec in manifest["spec"][fw.replica_key].items():
        rtype = fw.canonical_replica_type(key) or key
        counts[rtype] = fw.default_replicas(rtype) if spec.get("replicas") is None else spec["replicas"]
    return [(rtype, i) for rtype in fw.replica_types for i in range(counts.get(rtype, 0))]


def _pods_of(plane, name: str) -> list[str]:
    """Pod names carrying the job's name label, read by the admin straight from the API server."""
    found = plane.api("GET", f"/api/v1/namespaces/default/pods?labelSelector=training.kubeflow.org/job-name%3D{name}")
    return [p["metadata"]["name"] for p in found["items"]]


def _listed(jobs, name: str):
    return next((j for j in jobs if j.name == name and j.namespace == "default"), None)


async def _listed_in(backend, namespace: str, name: str):
    return _listed(await backend.list(namespace), name)


async def _pods_running(backend, kind: str, name: str, n: int):
    pods = await backend.pods(kind, name, "default")
    return pods if len(pods) == n and all(p.phase == "Running" and p.node for p in pods) else None


async def _phase(backend, kind: str, name: str, phase: Phase):
    job = await backend.get(kind, name, "default")
    return job if job.status.phase is phase else None


async def _gone(backend, kind: str, name: str) -> bool:
    try:
        await backend.get(kind, name, "default")
    except JobNotFound:
        return True
    return False


def test_corpus_has_every_kind_at_both_mpijob_versions():
    # The parametrisation below is only as good as the corpus it found.
    pairs = {(m["apiVersion"], m["kind"]) for m in (yaml.safe_load(p.read_text()) for p in EXAMPLES)}
    v1_kinds = ("PyTorchJob", "TFJob", "MPIJob", "XGBoostJob", "JAXJob", "PaddleJob")
    assert pairs == {("kubeflow.org/v1", k) for k in v1_kinds} | {("kubeflow.org/v2beta1", "MPIJob")}


async def test_example_is_created_listed_shown_and_deleted(example, crd_schemas):
    path, plane, backend = example
    sent = example_manifest(path)
    kind, api_version, name = sent["kind"], sent["apiVersion"], sent["metadata"]["name"]

    created = await backend.create(sent)
    assert (created.kind, created.api_version, created.name) == (kind, api_version, name)
    assert created.namespace == "default"
    assert created.uid and not created.error

    # Listed from the watch cache, in its namespace and across all of them.
    in_default = await eventually(lambda: _listed_in(backend, "default", name), timeout=PATIENCE)
    everywhere = _listed(await backend.list(), name)
    for job in (in_default, everywhere):
        assert (job.kind, job.api_version, job.uid) == (kind, api_version, created.uid)

    # Shown: what the server stored is what we sent, give or take the schema's own defaults.
    shown = await backend.get(kind, name, "default")
    assert (shown.kind, shown.api_version, shown.uid) == (kind, api_version, created.uid)
    stored = plane.api("GET", f"/apis/{api_version}/namespaces/default/{lookup(api_version, kind).plural}/{name}")
    assert shown.manifest["spec"] == stored["spec"]  # our reading hides nothing the server keeps
    spec_schema = crd_schemas[(api_version, kind)]["properties"]["spec"]
    assert unexplained_changes(sent["spec"], stored["spec"], spec_schema) == []
    for field in ("labels", "annotations"):
        assert shown.manifest["metadata"].get(field) == sent["metadata"].get(field)

    # The operator makes the pods, the node agent binds and runs them, the job turns Running.
    want = expected_replicas(sent)
    pods = await eventually(lambda: _pods_running(backend, kind, name, len(want)), timeout=PATIENCE)
    assert [(p.replica_type, p.replica_index) for p in pods] == want
    assert {p.node for p in pods} == {NODE} and all(p.job_name == name for p in pods)
    running = await eventually(lambda: _phase(backend, kind, name, Phase.RUNNING), timeout=PATIENCE)
    assert set(running.status.replicas) == {rtype for rtype, _ in want}

    deleting = await backend.delete(kind, name, "default")
    assert (deleting.kind, deleting.name, deleting.status.phase) == (kind, name, Phase.DELETING)
    await eventually(lambda: _gone(backend, kind, name), timeout=PATIENCE)
    await eventually(lambda: not _pods_of(plane, name), timeout=PATIENCE)
    assert _listed(await backend.list("default"), name) is None


@pytest.mark.parametrize(("served", "file", "other"), [
    pytest.param("cluster", "mpi-operator-v2beta1/pi_pi.yaml", "kubeflow.org/v1",
                 id="v2beta1-example-on-a-v1-cluster"),
    pytest.param("cluster_v2", "training-operator-v1.9/mpi_tensorflow-mnist.yaml", "kubeflow.org/v2beta1",
                 id="v1-example-on-a-v2beta1-cluster"),
])
async def test_mpijob_version_not_served_is_not_found_naming_both(served, file, other, request, make_backend,
                                                                  conformance_dir):
    # Mirrors the double's test_mpijob_version_not_served_is_explained: the refusal is ours (from
    # discovery), before any request could reach the API server and come back a bare 404.
    backend = make_backend(request.getfixturevalue(served))
    await backend.start()
    assert backend.describe()["kinds"]["MPIJob"] == [other]
    sent = example_manifest(conformance_dir / file)
    with pytest.raises(NotFound) as err:
        await backend.create(sent, dry_run=True)
    assert sent["apiVersion"] in err.value.message and other in err.value.message
