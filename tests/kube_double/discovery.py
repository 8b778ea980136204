"""The resource registry and the discovery documents (/api, /apis, /apis/<g>/<v>) built from it.

Built-in resources are the few core, batch, events, authorization and apiextensions types
the project and kubectl touch; custom resources come from the CRD files of the conformance
corpus. Exactly one `mpijobs.kubeflow.org` CRD is installed (v1 or v2beta1), as on a real
cluster. Discovery answers the legacy (unaggregated) format only: kubectl 1.32 asks for
`apidiscovery.k8s.io/v2` first and falls back when the answer's Content-Type is plain JSON.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .store import clone

ALL_VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]


@dataclass
class ResourceType:
    """One served resource: where it lives in the URL space and what it looks like."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    verbs: list[str] = field(default_factory=lambda: list(ALL_VERBS))
    subresources: list[str] = field(default_factory=list)
    schema: dict | None = None  # openAPIV3Schema for custom resources
    printer_columns: list[dict] = field(default_factory=list)
    crd: dict | None = None
    scale: dict | None = None  # the CRD's scale subresource paths

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def kind_group(self) -> str:
        """`PyTorchJob.kubeflow.org` (or `Pod` for core), as Status messages name it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def key(self) -> tuple[str, str]:
        return (self.group, self.plural)

    def api_resources(self) -> list[dict]:
        """The APIResource entries for this type and its subresources."""
        digest = hashlib.sha256(f"{self.group_version}/{self.kind}".encode()).digest()
        main = {
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": self.verbs,
            "storageVersionHash": base64.b64encode(digest[:8]).decode(),
        }
        if self.short_names:
            main["shortNames"] = self.short_names
        if self.categories:
            main["categories"] = self.categories
        out = [main]
        for sub in self.subresources:
            if sub == "scale":
                out.append({"name": f"{self.plural}/scale", "singularName": "", "namespaced": self.namespaced,
                            "group": "autoscaling", "version": "v1", "kind": "Scale",
                            "verbs": ["get", "patch", "update"]})
            elif sub == "log":
                out.append({"name": f"{self.plural}/log", "singularName": "", "namespaced": True,
                            "kind": self.kind, "verbs": ["get"]})
            else:
                out.append({"name": f"{self.plural}/{sub}", "singularName": "", "namespaced": self.namespaced,
                            "kind": self.kind, "verbs": ["get", "patch", "update"]})
        return out


def _builtins() -> list[ResourceType]:
    return [
        ResourceType("", "v1", "namespaces", "namespace", "Namespace", namespaced=False,
                     short_names=["ns"], verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
                     subresources=["status"]),
        ResourceType("", "v1", "pods", "pod", "Pod", short_names=["po"], categories=["all"],
                     subresources=["log", "status"]),
        ResourceType("", "v1", "events", "event", "Event", short_names=["ev"]),
        ResourceType("", "v1", "services", "service", "Service", short_names=["svc"], categories=["all"],
                     subresources=["status"]),
        ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", short_names=["cm"]),
        ResourceType("", "v1", "secrets", "secret", "Secret"),
        ResourceType("batch", "v1", "jobs", "job", "Job", categories=["all"], subresources=["status"]),
        ResourceType("events.k8s.io", "v1", "events", "event", "Event", short_names=["ev"]),
        ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition",
                     "CustomResourceDefinition", namespaced=False, short_names=["crd", "crds"],
                     categories=["api-extensions"], subresources=["status"]),
        ResourceType("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
                     "SelfSubjectAccessReview", namespaced=False, verbs=["create"]),
    ]


# Parsed CRD files by path: the corpus is 4 MB of YAML and every test starts a fresh double.
_PARSED: dict[Path, list[dict]] = {}
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_crds(crd_dir: Path, mpi_version: str) -> list[dict]:
    """Read every CRD file (once per process); of the two mpijobs CRDs keep the `mpi_version` one."""
    crds = []
    for path in sorted(Path(crd_dir).resolve().glob("*.yaml")):
        if "mpijobs" in path.name and not path.name.endswith(f"_{mpi_version}.yaml"):
            continue
        if path not in _PARSED:
            _PARSED[path] = [d for d in yaml.load_all(path.read_text(), Loader=_LOADER)
                             if d and d.get("kind") == "CustomResourceDefinition"]
        crds.extend(clone(_PARSED[path]))
    return crds


def crd_resources(crd: dict) -> list[ResourceType]:
    """The served versions of one CRD as ResourceTypes."""
    spec = crd["spec"]
    names = spec["names"]
    out = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subs = version.get("subresources") or {}
        out.append(ResourceType(
            group=spec["group"], version=version["name"], plural=names["plural"],
            singular=names.get("singular", names["kind"].lower()), kind=names["kind"],
            namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=list(names.get("shortNames", [])), categories=list(names.get("categories", [])),
            subresources=[s for s in ("status", "scale") if s in subs],
            schema=(version.get("schema") or {}).get("openAPIV3Schema"),
            # With no columns of its own a CRD prints Age, as the apiextensions server defaults.
            printer_columns=list(version.get("additionalPrinterColumns") or [
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]),
            crd=crd, scale=subs.get("scale"),
        ))
    return out


class Registry:
    """Every served resource, looked up by (group, version, plural)."""

    def __init__(self, crds: list[dict]) -> None:
        self.types: list[ResourceType] = _builtins()
        self.crds = crds
        for crd in self.crds:
            self.types.extend(crd_resources(crd))

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        for rt in self.types:
            if rt.group == group and rt.version == version and rt.plural == plural:
                return rt
        return None

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        for rt in self.types:
            if rt.group == group and rt.kind == kind:
                return rt
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, highest priority first (v1 before v2beta1)."""
        out: dict[str, list[str]] = {}
        for rt in self.types:
            if rt.group and rt.version not in out.setdefault(rt.group, []):
                out[rt.group].append(rt.version)
        for versions in out.values():
            versions.sort(key=_version_priority)
        return out

    def api_versions(self, server_address: str) -> dict:
        return {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}

    def group_doc(self, group: str) -> dict | None:
        versions = self.groups().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries,
                "preferredVersion": entries[0]}

    def group_list(self) -> dict:
        groups = [self.group_doc(g) for g in self.groups()]
        for g in groups:
            g.pop("kind")
            g.pop("apiVersion")
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group: str, version: str) -> dict | None:
        resources = [r for rt in self.types if rt.group == group and rt.version == version
                     for r in rt.api_resources()]
        if not resources:
            return None
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


def _version_priority(version: str) -> tuple:
    """Kubernetes version ordering: GA > beta > alpha, higher numbers first."""
    m = re.match(r"^v(\d+)(?:(alpha|beta)(\d+))?$", version)
    if not m:
        return (3, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -major, -minor)
