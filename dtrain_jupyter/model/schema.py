"""CRD schemas: load each kind's openAPIV3Schema and check a manifest against it.

The checks are those the API server makes for a structural schema (apiextensions-apiserver):
`type`, `nullable`, `required`, `properties`, `additionalProperties`, `enum`, `pattern`,
`format` (int32, int64), `x-kubernetes-int-or-string`, `x-kubernetes-preserve-unknown-fields`,
`x-kubernetes-list-type` (set, map with `x-kubernetes-list-map-keys`), `anyOf`/`allOf`/`oneOf`,
and the numeric, length and size bounds. Fields the schema does not know are reported, as
kubectl's default strict field validation reports them (the API server would otherwise drop them
silently). `metadata` at the root is ObjectMeta, which the server checks itself, so it is not
walked here; the CRDs' CEL rules (`x-kubernetes-validations`) only guard updates and are skipped.
A null value is fine anywhere: the server prunes nulls of non-nullable fields before validating.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from pathlib import Path as FsPath
from typing import Any

import yaml

from ..errors import InvalidRequest, ValidationIssue
from .paths import Path, format_path
from .pod_rules import describe_type

__all__ = ["load_crd_schemas", "validate_against_schema", "schema_errors"]

_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_INT_RANGE = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_TYPE_WORDS = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "a whole number",
               "number": "a number", "boolean": "true or false"}


def load_crd_schemas(paths_or_dicts: Any) -> dict[tuple[str, str], dict]:
    """The openAPIV3Schema of every served version in some CustomResourceDefinitions.

    Args:
        paths_or_dicts: a CRD (dict), a YAML file or a folder of them (str or path), or an
            iterable of any of these. Documents that are not CRDs are skipped.

    Returns:
        {(apiVersion, kind): openAPIV3Schema}, e.g. {("kubeflow.org/v1", "PyTorchJob"): {...}}.

    Raises:
        InvalidRequest: a path cannot be read or holds invalid YAML.
    """
    out: dict[tuple[str, str], dict] = {}
    for crd in _crds(paths_or_dicts):
        spec = crd.get("spec") if isinstance(crd, dict) else None
        if not isinstance(spec, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        versions = spec.get("versions") or []
        # apiextensions.k8s.io/v1beta1 CRDs keep one schema for all versions under spec.validation.
        shared = (spec.get("validation") or {}).get("openAPIV3Schema")
        if not versions and spec.get("version"):
            versions = [{"name": spec["version"]}]
        for version in versions:
            if not isinstance(version, dict) or version.get("served") is False:
                continue
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or shared
            if isinstance(schema, dict) and group and kind and version.get("name"):
                out[(f"{group}/{version['name']}", kind)] = schema
    return out


def _crds(source: Any) -> Iterable[Any]:
    if isinstance(source, dict):
        yield source
    elif isinstance(source, (str, os.PathLike)):
        path = FsPath(source)
        files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json")) if path.is_dir() else [path]
        for file in files:
            try:
                yield from yaml.load_all(file.read_text(encoding="utf-8"), Loader=_SafeLoader)
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
                raise InvalidRequest(f"cannot read CRD file {file}: {e}") from e
    elif isinstance(source, Iterable):
        for item in source:
            yield from _crds(item)
    else:
        raise InvalidRequest(f"expected a CRD mapping, a path or a list of them, got {type(source).__name__}")


def validate_against_schema(obj: Any, schema: dict) -> list[ValidationIssue]:
    """Every way `obj` breaks a structural openAPIV3Schema, by field path (empty: it conforms)."""
    return [ValidationIssue(format_path(path), message) for path, message in schema_errors(obj, schema)]


def schema_errors(obj: Any, schema: dict) -> list[tuple[Path, str]]:
    """`validate_against_schema` with tuple paths, for callers that map paths back to text."""
    out: list[tuple[Path, str]] = []
    _walk(obj, schema, (), out, root=True)
    return out


def _walk(value: Any, schema: Any, path: Path, out: list, root: bool = False) -> None:
    if not isinstance(schema, dict) or value is None:
        return
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            out.append((path, f"must be a whole number or a string, got {describe_type(value)}"))
            return
        _check_scalar(value, schema, path, out)
        return
    for key in ("allOf", "anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            _combinator(key, value, schema[key], path, out)
    kind = schema.get("type")
    if kind and not _is_type(value, kind):
        out.append((path, f"must be {_TYPE_WORDS.get(kind, kind)}, got {describe_type(value)}"))
        return
    if isinstance(value, dict):
        _walk_object(value, schema, path, out, root)
    elif isinstance(value, list):
        _walk_array(value, schema, path, out)
    else:
        _check_scalar(value, schema, path, out)


def _is_type(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, {"object": dict, "array": list, "string": str, "boolean": bool}.get(kind, object))


def _combinator(key: str, value: Any, options: list, path: Path, out: list) -> None:
    matches = [not schema_errors(value, s) for s in options if isinstance(s, dict)]
    if key == "allOf":
        for option in options:
            _walk(value, option, path, out)
    elif key == "anyOf" and not any(matches):
        out.append((path, f"does not match any of the {len(matches)} allowed shapes"))
    elif key == "oneOf" and sum(matches) != 1:
        out.append((path, f"must match exactly one of the {len(matches)} allowed shapes, matches {sum(matches)}"))


def _walk_object(value: dict, schema: dict, path: Path, out: list, root: bool) -> None:
    props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    extra = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for name in schema.get("required") or []:
        if name not in value:
            out.append((path + (name,), f"{name} is required"))
    _bounds(len(value), schema, "minProperties", "maxProperties", "fields", path, out)
    for key, item in value.items():
        if not isinstance(key, str):
            out.append((path + (str(key),), f"field names must be strings, got {describe_type(key)}"))
            continue
        if key in props:
            if root and key == "metadata":
                continue
            _walk(item, props[key], path + (key,), out)
        elif isinstance(extra, dict):
            _walk(item, extra, path + (key,), out)
        elif extra is False or (props and not preserve and extra is not True):
            close = difflib.get_close_matches(key, list(props), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            out.append((path + (key,), f"unknown field {key!r}{hint}"))


def _walk_array(value: list, schema: dict, path: Path, out: list) -> None:
    _bounds(len(value), schema, "minItems", "maxItems", "items", path, out)
    items = schema.get("items")
    for i, item in enumerate(value):
        _walk(item, items, path + (i,), out)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                out.append((path + (i,), f"duplicate entry {item!r} in a set"))
            seen.append(item)
    elif list_type == "map" and isinstance(items, dict):
        keys = schema.get("x-kubernetes-list-map-keys") or []
        props = items.get("properties") or {}
        seen_keys: dict[tuple, int] = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            ident = tuple(repr(item.get(k, (props.get(k) or {}).get("default"))) for k in keys)
            if ident in seen_keys:
                shown = ", ".join(f"{k}={item.get(k, (props.get(k) or {}).get('default'))!r}" for k in keys)
                out.append((path + (i,), f"duplicate entry ({shown}); also at index {seen_keys[ident]}"))
            seen_keys.setdefault(ident, i)


def _check_scalar(value: Any, schema: dict, path: Path, out: list) -> None:
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        out.append((path, f"unknown value {value!r}: use one of {', '.join(str(e) for e in enum)}"))
    if isinstance(value, str):
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                ok = re.search(pattern, value) is not None
            except re.error:
                ok = True  # A pattern Python cannot read is the server's to judge, not ours.
            if not ok:
                out.append((path, f"{value!r} does not have the expected form ({pattern})"))
        _bounds(len(value), schema, "minLength", "maxLength", "characters", path, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        fmt = schema.get("format")
        if isinstance(value, int) and fmt in _INT_RANGE:
            low, high = _INT_RANGE[fmt]
            if not low <= value <= high:
                out.append((path, f"{value} is out of range for {fmt} ({low} to {high})"))
        _bounds(value, schema, "minimum", "maximum", "", path, out)


def _bounds(size: Any, schema: dict, low_key: str, high_key: str, unit: str, path: Path, out: list) -> None:
    low, high = schema.get(low_key), schema.get(high_key)
    unit = f" {unit}" if unit else ""
    if isinstance(low, (int, float)) and size < low:
        out.append((path, f"must have at least {low}{unit}, got {size}"))
    if isinstance(high, (int, float)) and size > high:
        out.append((path, f"must have at most {high}{unit}, got {size}"))
