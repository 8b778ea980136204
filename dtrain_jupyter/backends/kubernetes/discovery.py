"""Which job kinds this cluster serves, read from the standard discovery endpoints.

Per the operator notes (operator-contract §7): one CRD object serves `mpijobs.kubeflow.org`,
so in practice exactly one of MPIJob v1 (training-operator) and v2beta1 (MPI Operator) is
served. We ask `/apis/kubeflow.org/<version>` for each version we know and look for the
plural in its resource list; the group's preferred version says nothing about MPIJob.
Discovery shows what the API serves, not that a controller runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import NotFound
from ...model.kinds import FRAMEWORKS, GROUP, Framework, lookup, versions_of
from .api import Api, Call


@dataclass(frozen=True)
class Served:
    """The job kinds a cluster serves: kind -> frameworks (one per served version)."""

    kinds: dict[str, tuple[Framework, ...]] = field(default_factory=dict)

    @property
    def frameworks(self) -> tuple[Framework, ...]:
        return tuple(f for fs in self.kinds.values() for f in fs)

    def describe(self) -> dict[str, list[str]]:
        """{"PyTorchJob": ["kubeflow.org/v1"], ...} for describe()."""
        return {kind: [f.api_version for f in fs] for kind, fs in self.kinds.items()}

    def for_manifest(self, api_version: str, kind: str) -> Framework:
        """The served framework for a manifest's apiVersion and kind.

        Raises:
            NotFound: the kind (or that version of it) is not served, worded for a person.
        """
        fw = lookup(api_version, kind)
        if fw is not None and fw in self.kinds.get(kind, ()):
            return fw
        raise not_installed(kind, api_version, self, fw)

    def for_kind(self, kind: str) -> tuple[Framework, ...]:
        """Every served version of a kind (usually one).

        Raises:
            NotFound: the kind is not served.
        """
        fws = self.kinds.get(kind)
        if fws:
            return fws
        known = versions_of(kind)
        raise not_installed(kind, known[0].api_version if known else f"{GROUP}/v1", self, known[0] if known else None)


def not_installed(kind: str, api_version: str, served: Served, fw: Framework | None) -> NotFound:
    """"PyTorchJob is not installed on this cluster (no kubeflow.org/v1 pytorchjobs)", never a bare 404."""
    if fw is None and not versions_of(kind):
        known = ", ".join(sorted({f.kind for f in FRAMEWORKS}))
        return NotFound(f"{kind} is not a job kind this tool knows (known: {known})")
    plural = fw.plural if fw else f"{kind.lower()}s"
    other = served.kinds.get(kind)
    if other:
        versions = ", ".join(f.api_version for f in other)
        return NotFound(
            f"{kind} {api_version} is not served by this cluster (no {api_version} {plural}); "
            f"it serves {kind} as {versions}: change the manifest's apiVersion"
        )
    return NotFound(f"{kind} is not installed on this cluster (no {api_version} {plural})")


def discover(api: Api) -> Served:
    """Ask the API server which kubeflow.org job kinds it serves (blocking; run it in a thread).

    Raises:
        BackendUnavailable, Forbidden, ClusterError: discovery itself failed.
    """
    kinds: dict[str, list[Framework]] = {}
    for version in sorted({f.version for f in FRAMEWORKS if f.group == GROUP}):
        path = f"/apis/{GROUP}/{version}"
        try:
            body = api.request("GET", path, Call("get", f"{GROUP}/{version} (discovery)"))
        except NotFound:
            continue  # the group version is not served at all
        names = {str(r.get("name")) for r in body.get("resources") or [] if isinstance(r, dict)}
        for fw in FRAMEWORKS:
            if fw.group == GROUP and fw.version == version and fw.plural in names:
                kinds.setdefault(fw.kind, []).append(fw)
    return Served({k: tuple(v) for k, v in kinds.items()})
