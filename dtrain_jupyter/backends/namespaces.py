"""Which namespaces this server may touch, and which one a request that names none means.

`c.DTrain.allowed_namespaces` limits every request (the service) and every watch (the Kubernetes
backend). Both ask one `NamespacePolicy`, so a namespace is allowed, refused and defaulted by the
same rule, and refused in the same words, wherever it is checked.
"""

from __future__ import annotations

from typing import Sequence

from ..errors import Forbidden

# Kubernetes' own default namespace: used when neither the configuration nor a backend names one.
FALLBACK_NAMESPACE = "default"


class NamespacePolicy:
    """The allowed namespaces (none given: every namespace) and the defaulting rule.

    Args:
        allowed: when non-empty, the only namespaces any request may touch, in the configured order.
    """

    def __init__(self, allowed: Sequence[str] = ()) -> None:
        self.allowed = tuple(dict.fromkeys(allowed))

    def permits(self, namespace: str) -> bool:
        """Whether the configuration lets requests touch `namespace`."""
        return not self.allowed or namespace in self.allowed

    def check(self, namespace: str) -> str:
        """Return `namespace` when it is allowed.

        Raises:
            Forbidden: outside `c.DTrain.allowed_namespaces` (verb "access", resource "namespaces").
        """
        if not self.permits(namespace):
            raise Forbidden(
                f"namespace {namespace!r} is not allowed by this server's configuration "
                f"(c.DTrain.allowed_namespaces = {list(self.allowed)})",
                verb="access", resource="namespaces", namespace=namespace,
            )
        return namespace

    def default(self, configured: str | None, own: str | None) -> str:
        """The namespace a request without one goes to.

        Args:
            configured: `c.DTrain.namespace` (or a backend's `namespace` argument). Kept as given:
                one outside the allowed namespaces is a configuration mistake that `check`
                reports on the first request, not something to route around.
            own: the backend's own default (its kube context's or service account's namespace,
                "default" locally). When the allowed namespaces leave it out, the first allowed
                one is meant instead.

        Returns:
            `configured`, else `own` when allowed, else the first allowed namespace, else "default".
        """
        if configured:
            return configured
        if own and self.permits(own):
            return own
        return self.allowed[0] if self.allowed else FALLBACK_NAMESPACE
