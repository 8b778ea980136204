"""Just enough OpenAPI v3 for kubectl, and the protobuf envelope kubectl uses for built-in writes.

kubectl 1.32 validates with `--validate=strict` by default. It first asks `/openapi/v3`
whether the PATCH operation of the object's group/version/kind takes the `fieldValidation`
query parameter; when it does, kubectl leaves validation to the server (sending
`fieldValidation=Strict`) and the user sees the API server's own 422 message. So each
group/version document lists, per resource, the paths and operations with their
`x-kubernetes-group-version-kind` and that parameter, and no schemas: kubectl then treats
custom resources as unstructured and patches them with JSON merge patch, as it does against
a real cluster whose CRD schemas it cannot map to strategic merge keys.

`kubectl create namespace` (a typed client) sends protobuf. `decode_protobuf` reads the
`k8s\\0` envelope and the ObjectMeta fields a create needs (name, generateName, namespace,
labels, annotations); the rest of a built-in object's spec is not needed by the double.
"""

from __future__ import annotations

import hashlib
import json

from .discovery import Registry, ResourceType

_PARAMS = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
           for n in ("dryRun", "fieldManager", "fieldValidation", "force")]


def _op(rt: ResourceType, action: str) -> dict:
    return {"x-kubernetes-group-version-kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
            "x-kubernetes-action": action, "parameters": _PARAMS,
            "responses": {"200": {"description": "OK"}}}


def gv_document(registry: Registry, group: str, version: str) -> dict | None:
    """The OpenAPI v3 document of one group/version (paths and operations only)."""
    paths: dict = {}
    prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
    for rt in registry.types:
        if rt.group != group or rt.version != version:
            continue
        base = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
        paths[base] = {"get": _op(rt, "list"), "post": _op(rt, "post")}
        paths[f"{base}/{{name}}"] = {"get": _op(rt, "get"), "put": _op(rt, "put"), "patch": _op(rt, "patch"),
                                     "delete": _op(rt, "delete")}
    if not paths:
        return None
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
            "components": {"schemas": {}}}


def root_document(registry: Registry) -> dict:
    """`/openapi/v3`: one entry per served group/version, with a content hash like the server's."""
    paths = {}
    gvs = {("", "v1")} | {(rt.group, rt.version) for rt in registry.types}
    for group, version in sorted(gvs):
        doc = gv_document(registry, group, version)
        if doc is None:
            continue
        rel = f"apis/{group}/{version}" if group else f"api/{version}"
        digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()
        paths[rel] = {"serverRelativeURL": f"/openapi/v3/{rel}?hash={digest}"}
    return {"paths": paths}


class ProtobufError(ValueError):
    """A body that is not a Kubernetes protobuf envelope."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) for every field of one message."""
    out, pos = [], 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


def _string_map(entries: list[bytes]) -> dict:
    result = {}
    for entry in entries:
        kv = {n: v for n, _, v in _fields(entry)}
        result[kv.get(1, b"").decode()] = kv.get(2, b"").decode()
    return result


def decode_protobuf(body: bytes) -> dict:
    """apiVersion, kind and metadata of a `k8s\\0`-enveloped protobuf object.

    Raises:
        ProtobufError: not a Kubernetes protobuf envelope.
    """
    if not body.startswith(b"k8s\x00"):
        raise ProtobufError("missing the k8s protobuf magic prefix")
    unknown = _fields(body[4:])
    type_meta = next((v for n, _, v in unknown if n == 1), b"")
    raw = next((v for n, _, v in unknown if n == 2), b"")
    tm = {n: v.decode() for n, _, v in _fields(type_meta)}
    meta_bytes = next((v for n, _, v in _fields(raw) if n == 1), b"")
    meta_fields = _fields(meta_bytes)
    metadata: dict = {}
    for number, key in ((1, "name"), (2, "generateName"), (3, "namespace")):
        value = next((v for n, _, v in meta_fields if n == number), None)
        if value:
            metadata[key] = value.decode()
    for number, key in ((11, "labels"), (12, "annotations")):
        entries = [v for n, _, v in meta_fields if n == number]
        if entries:
            metadata[key] = _string_map(entries)
    return {"apiVersion": tm.get(1, ""), "kind": tm.get(2, ""), "metadata": metadata}
