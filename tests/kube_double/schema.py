"""Structural openAPIV3Schema validation and pruning, as the API server applies a CRD schema.

The API server (k8s.io/apiextensions-apiserver) does three things to a custom object on
write, and this module does the same, with the same messages:
  1. prunes fields the structural schema does not know (unless
     `x-kubernetes-preserve-unknown-fields`), and drops `null` values of non-nullable
     fields; with `fieldValidation=Strict` unknown fields are an error instead, with `Warn`
     (the default) each becomes a warning;
  2. validates types, `required`, `enum`, bounds, lengths, patterns and
     `x-kubernetes-int-or-string` (kube-openapi's validator);
  3. validates `metadata.name` as an RFC 1123 subdomain.
Errors come back as `FieldError`s that the server joins into one 422 Invalid Status.
CEL rules (`x-kubernetes-validations`) are not evaluated (the conformance CRDs have one, a transition
rule that keeps `runPolicy.schedulingPolicy.queue` immutable); like the API server, a schema that
has any adds a cause with field `<nil>` when the object fails its structural validation, saying
those rules were not checked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_DNS1123_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_DNS1123_RE = re.compile(f"^{_DNS1123_SUBDOMAIN}$")


# The API server's cause (field "<nil>") when CEL rules were skipped because the object was invalid.
RULES_NOT_CHECKED = ("Invalid value: null: some validation rules were not checked because the object was invalid; "
                     "correct the existing errors to complete validation")


@dataclass(frozen=True)
class FieldError:
    """One validation failure, shaped like k8s.io/apimachinery's field.Error.

    `reason` is the Status cause reason (`FieldValueRequired`, `FieldValueInvalid`,
    `FieldValueNotSupported`), `field` the dotted path, `detail` the text after the path.
    """

    reason: str
    field: str
    detail: str

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"

    def cause(self) -> dict:
        return {"reason": self.reason, "message": self.detail, "field": self.field}


def _go_type(value: Any) -> str:
    """The type name kube-openapi reports for a JSON value in 'must be of type' errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _quote(value: Any) -> str:
    """Render a value as Go's %q / %v would inside a field error."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, dict, list)) or value is None:
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _type_ok(value: Any, type_name: str) -> bool:
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "array":
        return isinstance(value, list)
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "integer":
        return isinstance(value, int) and not isinstance(value, bool) or (
            isinstance(value, float) and value.is_integer()
        )
    if type_name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return True


class Validator:
    """Validates and prunes one object against one openAPIV3Schema.

    Args:
        schema: the CRD version's `schema.openAPIV3Schema`.

    Unknown fields are pruned and listed in `unknown`; the server turns that list into a
    400 (fieldValidation=Strict) or warnings (Warn, the default).
    """

    def __init__(self, schema: dict, defaults: bool = False) -> None:
        self.schema = schema
        self.has_rules = "x-kubernetes-validations" in json.dumps(schema)
        # On a write the API server also fills each absent field whose schema has a `default`
        # (structural defaulting), before it checks `required`.
        self.defaults = defaults
        self.errors: list[FieldError] = []
        self.unknown: list[str] = []

    def run(self, obj: dict) -> dict:
        """Return the pruned copy of `obj`; errors land in `self.errors`, unknown fields in `self.unknown`."""
        out = self._walk(obj, self.schema, "", top=True)
        if self.errors and self.has_rules:
            self.errors.append(FieldError("FieldValueInvalid", "<nil>", RULES_NOT_CHECKED))
        return out

    def _walk(self, value: Any, schema: dict, path: str, top: bool = False) -> Any:
        if schema.get("x-kubernetes-int-or-string"):
            if not (isinstance(value, (int, str)) and not isinstance(value, bool)):
                self._invalid_type(value, "string", path, ["integer", "string"])
            return value
        type_name = schema.get("type")
        if type_name and not _type_ok(value, type_name):
            self._invalid_type(value, type_name, path)
            return value
        if "enum" in schema and value not in schema["enum"]:
            supported = ", ".join(_quote(v) for v in schema["enum"])
            self.errors.append(FieldError("FieldValueNotSupported", path,
                                          f"Unsupported value: {_quote(value)}: supported values: {supported}"))
        self._bounds(value, schema, path)
        if isinstance(value, dict):
            return self._walk_object(value, schema, path, top)
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [self._walk(item, schema["items"], f"{path}[{i}]") for i, item in enumerate(value)]
        return value

    def _walk_object(self, value: dict, schema: dict, path: str, top: bool) -> dict:
        props = schema.get("properties")
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        out: dict = {}
        for key, item in value.items():
            child_path = f"{path}.{key}" if path else key
            if top and key in ("apiVersion", "kind", "metadata"):
                out[key] = item
                continue
            sub = None
            if props is not None and key in props:
                sub = props[key]
            elif isinstance(additional, dict):
                sub = additional
            if item is None and not (sub or {}).get("nullable", False):
                continue  # the API server drops nulls of non-nullable fields
            if sub is None:
                if preserve or additional is True or (props is None and not additional and not schema.get("type")):
                    out[key] = item
                    continue
                self.unknown.append(child_path)  # pruned; Strict turns this into an error
                continue
            out[key] = self._walk(item, sub, child_path)
        if self.defaults and props:
            for key, sub in props.items():
                if key not in out and isinstance(sub, dict) and "default" in sub:
                    out[key] = json.loads(json.dumps(sub["default"]))
        for req in schema.get("required", []) or []:
            if req not in out or out[req] is None:
                child_path = f"{path}.{req}" if path else req
                self.errors.append(FieldError("FieldValueRequired", child_path, "Required value"))
        return out

    def _invalid_type(self, value: Any, type_name: str, path: str, options: list[str] | None = None) -> None:
        got = _go_type(value)
        wanted = ",".join(options) if options else type_name
        where = path or "body"
        self.errors.append(FieldError("FieldValueTypeInvalid", path,
                                      f'Invalid value: "{got}": {where} in body must be of type {wanted}: "{got}"'))

    def _bounds(self, value: Any, schema: dict, path: str) -> None:
        num = isinstance(value, (int, float)) and not isinstance(value, bool)
        if num and "minimum" in schema and value < schema["minimum"]:
            self.errors.append(FieldError("FieldValueInvalid", path,
                                          f"Invalid value: {value}: {path} in body should be greater than or equal to {schema['minimum']}"))
        if num and "maximum" in schema and value > schema["maximum"]:
            self.errors.append(FieldError("FieldValueInvalid", path,
                                          f"Invalid value: {value}: {path} in body should be less than or equal to {schema['maximum']}"))
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                self.errors.append(FieldError("FieldValueTooLong", path,
                                              f"Too long: may not be more than {schema['maxLength']} bytes"))
            if "minLength" in schema and len(value) < schema["minLength"]:
                self.errors.append(FieldError("FieldValueInvalid", path,
                                              f"Invalid value: {_quote(value)}: {path} in body should be at least {schema['minLength']} chars long"))
            if "pattern" in schema and not re.search(schema["pattern"], value):
                self.errors.append(FieldError("FieldValueInvalid", path,
                                              f"Invalid value: {_quote(value)}: {path} in body should match '{schema['pattern']}'"))
        if isinstance(value, list):
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                self.errors.append(FieldError("FieldValueTooMany", path,
                                              f"Too many: {len(value)}: must have at most {schema['maxItems']} items"))
            if "minItems" in schema and len(value) < schema["minItems"]:
                self.errors.append(FieldError("FieldValueInvalid", path,
                                              f"Invalid value: {len(value)}: {path} in body should have at least {schema['minItems']} items"))


def validate_metadata(obj: dict) -> list[FieldError]:
    """Check what the API server checks in ObjectMeta for a namespaced custom object."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return [FieldError("FieldValueRequired", "metadata", "Required value")]
    errors: list[FieldError] = []
    name = meta.get("name")
    if not name and not meta.get("generateName"):
        errors.append(FieldError("FieldValueRequired", "metadata.name",
                                 "Required value: name or generateName is required"))
    elif name and (not isinstance(name, str) or len(name) > 253 or not _DNS1123_RE.match(name)):
        errors.append(FieldError(
            "FieldValueInvalid", "metadata.name",
            f"Invalid value: {_quote(name)}: a lowercase RFC 1123 subdomain must consist of lower case "
            "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
            f"(e.g. 'example.com', regex used for validation is '{_DNS1123_SUBDOMAIN}')"))
    for key in ("labels", "annotations"):
        if key in meta and meta[key] is not None and not isinstance(meta[key], dict):
            errors.append(FieldError("FieldValueInvalid", f"metadata.{key}",
                                     f'Invalid value: "{_go_type(meta[key])}": metadata.{key} in body must be of type object'))
    return errors


def invalid_message(kind_group: str, name: str, errors: list[FieldError]) -> str:
    """The Status message of a 422: `Kind.group "name" is invalid: <one>` or `[<a>, <b>]`."""
    joined = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    return f'{kind_group} "{name}" is invalid: {joined}'
