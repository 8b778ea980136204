"""The Kubernetes backend refuses and defaults namespaces by the service's own NamespacePolicy."""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.namespaces import NamespacePolicy
from dtrain_jupyter.errors import Forbidden


async def test_refusal_and_default_are_the_policys(kube_double, make_backend):
    backend = make_backend(kube_double, allowed_namespaces=["team-a", "team-b"])
    await backend.start()
    assert backend.namespace == "team-a"  # the context's "default" is not allowed: the first allowed one
    with pytest.raises(Forbidden) as ours:
        await backend.list("prod")
    with pytest.raises(Forbidden) as policy:
        NamespacePolicy(["team-a", "team-b"]).check("prod")
    assert (ours.value.message, ours.value.fields) == (policy.value.message, policy.value.fields)
