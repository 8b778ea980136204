"""namespaces.NamespacePolicy: one allow-list rule, one refusal, one defaulting rule for the service and backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.backends.namespaces import NamespacePolicy
from dtrain_jupyter.errors import Forbidden
from dtrain_jupyter.service import JobService

from ..server.conftest import pytorch_manifest, unique


def test_without_an_allow_list_every_namespace_is_allowed():
    policy = NamespacePolicy()
    assert policy.permits("anything") and policy.check("kube-system") == "kube-system"


def test_a_namespace_outside_the_list_is_forbidden_with_the_configuration_named():
    policy = NamespacePolicy(["team-a", "team-b", "team-a"])
    assert policy.allowed == ("team-a", "team-b")  # the configured order, each once
    assert policy.check("team-b") == "team-b"
    with pytest.raises(Forbidden) as err:
        policy.check("prod")
    assert err.value.fields == {"verb": "access", "resource": "namespaces", "namespace": "prod"}
    assert "c.DTrain.allowed_namespaces = ['team-a', 'team-b']" in err.value.message


@pytest.mark.parametrize("allowed, configured, own, expected", [
    ((), "", "ctx-ns", "ctx-ns"),
    ((), "", "", "default"),
    ((), "cfg", "ctx-ns", "cfg"),
    (("team-a", "team-b"), "", "team-b", "team-b"),
    (("team-a", "team-b"), "", "ctx-ns", "team-a"),
    (("team-a",), "", None, "team-a"),
    (("team-a",), "prod", "team-a", "prod"),
], ids=["backend-own", "fallback", "configured-wins", "own-when-allowed", "first-allowed-instead-of-own",
        "first-allowed-without-own", "configured-kept-even-if-refused-later"])
def test_the_default_namespace(allowed, configured, own, expected):
    assert NamespacePolicy(allowed).default(configured, own) == expected


def test_the_service_and_the_local_backend_default_alike(tmp_path: Path):
    # The local backend's own namespace is "default"; with an allow-list that leaves it out, a
    # request without a namespace goes to the first allowed one (as on Kubernetes), not to a 403.
    service = JobService({"local": lambda: LocalBackend(tmp_path / "s", grace_seconds=1.0)},
                         allowed_namespaces=["team-a", "team-b"])

    async def scenario() -> str:
        job = await service.create(pytorch_manifest(unique()), dry_run=True)
        assert [j.name for j in await service.list()] == []
        with pytest.raises(Forbidden) as err:
            await service.list(namespace="default")
        assert err.value.message == _refusal(NamespacePolicy(["team-a", "team-b"]), "default")
        await service.stop()
        return job.namespace

    assert asyncio.run(scenario()) == "team-a"


def _refusal(policy: NamespacePolicy, namespace: str) -> str:
    with pytest.raises(Forbidden) as err:
        policy.check(namespace)
    return err.value.message
