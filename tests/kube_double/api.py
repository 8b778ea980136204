"""The REST semantics of the API server, free of HTTP plumbing: routing, RBAC, CRUD, validation.

`Api` turns a parsed request (method, path, query, headers, body) into a status code, a
body and headers, or raises `ApiError`, which the server renders as a `Status` object the
way the API server does (`pytorchjobs.kubeflow.org "x" not found`, 404 NotFound). Watches
and log streams are the server's job; this module only resolves and authorizes them.
"""

from __future__ import annotations

import base64
import copy
import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from .discovery import Registry, ResourceType
from .patch import PatchError, json_patch, merge_patch
from .schema import FieldError, Validator, invalid_message, validate_metadata
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .store import Store, StoreError

USER = "double-user"
TABLE_MEDIA = "as=Table"


class ApiError(Exception):
    """An error answered as a Kubernetes Status object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None,
                 headers: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


@dataclass
class Target:
    """What a resource URL names: a type, maybe a namespace, maybe an object and a subresource."""

    rt: ResourceType
    namespace: str | None
    name: str | None = None
    sub: str | None = None

    @property
    def resource(self) -> str:
        return f"{self.rt.plural}/{self.sub}" if self.sub else self.rt.plural

    @property
    def qualified(self) -> str:
        """`pytorchjobs.kubeflow.org` or `pods`, as NotFound and AlreadyExists messages say."""
        return f"{self.rt.plural}.{self.rt.group}" if self.rt.group else self.rt.plural

    def details(self, name: str | None = None) -> dict:
        d = {"name": name or self.name or "", "kind": self.rt.plural}
        if self.rt.group:
            d["group"] = self.rt.group
        return d


@dataclass
class Rule:
    verb: str
    resource: str
    namespace: str | None


@dataclass
class Answer:
    code: int
    body: Any
    headers: dict = field(default_factory=dict)


def q1(query: dict, name: str, default: str | None = None) -> str | None:
    """First value of a query parameter."""
    values = query.get(name)
    return values[0] if values else default


def truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


class Api:
    """Request semantics over one registry and store."""

    def __init__(self, registry: Registry, store: Store) -> None:
        self.registry = registry
        self.store = store
        self.forbidden: list[Rule] = []

    # ---- routing and authorization -----------------------------------------------------
    def route(self, path: str) -> Target:
        parts = [p for p in path.split("/") if p]
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise self.not_found_path()
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise self.not_found_path()
        rt = self.registry.find(group, version, rest[0])
        if rt is None or (namespace is not None and not rt.namespaced):
            raise self.not_found_path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub and sub not in rt.subresources:
            raise self.not_found_path()
        if rt.namespaced and name and namespace is None:
            raise self.not_found_path()
        return Target(rt, namespace, name, sub)

    @staticmethod
    def not_found_path() -> ApiError:
        return ApiError(404, "NotFound", "the server could not find the requested resource",
                        {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]})

    def authorize(self, verb: str, target: Target) -> None:
        """Raise 403 Forbidden when a `forbid` rule covers this verb/resource/namespace."""
        if self.denied(verb, target.resource, target.namespace):
            rt = target.rt
            name = f' "{target.name}"' if target.name else ""
            scope = f'in the namespace "{target.namespace}"' if target.namespace else "at the cluster scope"
            raise ApiError(403, "Forbidden",
                           f'{target.qualified}{name} is forbidden: User "{USER}" cannot {verb} resource '
                           f'"{target.resource}" in API group "{rt.group}" {scope}',
                           target.details())

    def denied(self, verb: str, resource: str, namespace: str | None) -> bool:
        for rule in self.forbidden:
            if rule.verb in (verb, "*") and rule.resource in (resource, "*") and (
                    rule.namespace is None or rule.namespace == namespace):
                return True
        return False

    # ---- bodies ------------------------------------------------------------------------
    @staticmethod
    def parse_body(body: bytes, content_type: str = "application/json") -> Any:
        try:
            text = body.decode("utf-8")
            if "yaml" in content_type:
                return yaml.safe_load(text)
            return json.loads(text) if text.strip() else None
        except (UnicodeDecodeError, ValueError, yaml.YAMLError) as e:
            raise ApiError(400, "BadRequest", f"the body of the request was in an unknown format: {e}") from e

    def _check_identity(self, target: Target, obj: Any) -> dict:
        rt = target.rt
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body of the request must be a JSON or YAML object")
        if not obj.get("kind"):
            raise ApiError(400, "BadRequest", f"Object 'Kind' is missing in '{json.dumps(obj)[:200]}'")
        if obj.get("apiVersion") != rt.group_version or obj.get("kind") != rt.kind:
            raise ApiError(400, "BadRequest",
                           f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                           f"API version ({rt.group_version})" if obj.get("apiVersion") != rt.group_version else
                           f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({rt.kind})")
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise ApiError(400, "BadRequest", "metadata must be an object")
        body_ns = meta.get("namespace")
        if target.namespace and body_ns and body_ns != target.namespace:
            raise ApiError(400, "BadRequest",
                           "the namespace of the provided object does not match the namespace sent on the request")
        return obj

    def validate(self, target: Target, obj: dict, query: dict) -> tuple[dict, list[str]]:
        """Schema-validate, prune and default a custom object; returns (object, warnings).

        Raises:
            ApiError: 422 Invalid with every cause, or 400 for unknown fields under Strict.
        """
        rt = target.rt
        errors: list[FieldError] = validate_metadata(obj)
        warnings: list[str] = []
        if rt.schema is not None:
            v = Validator(rt.schema, defaults=True)
            obj = v.run(obj)
            errors += v.errors
            mode = (q1(query, "fieldValidation") or "Warn").lower()
            if v.unknown and mode == "strict":
                raise ApiError(400, "BadRequest", f'{rt.kind} in version "{rt.version}" cannot be handled as a '
                               f"{rt.kind}: strict decoding error: " + ", ".join(
                    f'unknown field "{u}"' for u in v.unknown))
            if mode == "warn":
                warnings = [f'unknown field "{u}"' for u in v.unknown]
        if errors:
            name = (obj.get("metadata") or {}).get("name") or ""
            raise ApiError(422, "Invalid", invalid_message(rt.kind_group, name, errors),
                           {**target.details(name), "kind": rt.kind, "causes": [e.cause() for e in errors]})
        # No operator defaulting is stored: the training-operator (v1.9) and the MPI Operator have
        # no mutating webhook; they default a copy in memory when they reconcile (the simulator
        # does the same), so a job reads back as it was sent plus the schema's own defaults.
        return obj, warnings

    def _store_error(self, target: Target, e: StoreError, name: str) -> ApiError:
        message = e.message.replace("{kind}", target.qualified)
        return ApiError(e.code, e.reason, message, target.details(name))

    def _require_namespace(self, namespace: str | None) -> None:
        if namespace and self.store.get(("", "namespaces"), "", namespace) is None:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                           {"name": namespace, "kind": "namespaces"})

    # ---- verbs -------------------------------------------------------------------------
    def get(self, target: Target) -> dict:
        obj = self.store.get(target.rt.key, target.namespace or "", target.name)
        if obj is None:
            raise ApiError(404, "NotFound", f'{target.qualified} "{target.name}" not found', target.details())
        return obj

    def list(self, target: Target, query: dict) -> tuple[list[dict], dict]:
        """Matching objects of one page and the list metadata (resourceVersion, continue)."""
        try:
            label = parse_label_selector(q1(query, "labelSelector"))
            fields = parse_field_selector(q1(query, "fieldSelector"))
        except SelectorError as e:
            raise ApiError(400, "BadRequest", str(e)) from e
        token = q1(query, "continue")
        start = None
        if token:
            try:
                state = json.loads(base64.urlsafe_b64decode(token.encode()))
                start = tuple(state["start"])
            except (ValueError, KeyError, TypeError) as e:
                raise ApiError(400, "BadRequest", f"continue key is not valid: {e}") from e
            if state.get("rv", 0) < self.store.compacted_rv:
                raise ApiError(410, "Expired", "The provided continue parameter is too old to display a "
                               "consistent list result. You can start a new list without the continue parameter.")
        try:
            limit = int(q1(query, "limit") or 0)
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"limit: invalid value: {e}") from e
        items, rv, more = self.store.page(target.rt.key, target.namespace, lambda o: label(o) and fields(o),
                                          start, max(limit, 0))
        if token:
            rv = state.get("rv", rv)  # every page reports the first page's resourceVersion
        meta: dict = {"resourceVersion": str(rv)}
        if more and items:
            last = items[-1]["metadata"]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"rv": rv, "start": [last.get("namespace", ""), last["name"]]}).encode()).decode()
            meta["remainingItemCount"] = more
        return items, meta

    def create(self, target: Target, body: Any, query: dict) -> Answer:
        rt = target.rt
        if rt.kind == "SelfSubjectAccessReview":
            return Answer(201, self._access_review(body))
        obj = self._check_identity(target, body)
        self._require_namespace(target.namespace)
        warnings: list[str] = []
        if rt.schema is not None:
            obj, warnings = self.validate(target, obj, query)
        elif not obj["metadata"].get("name") and not obj["metadata"].get("generateName"):
            raise ApiError(422, "Invalid", f'{rt.kind} "" is invalid: metadata.name: Required value: name or '
                           "generateName is required", {"kind": rt.kind, "causes": [
                               {"reason": "FieldValueRequired", "message": "Required value", "field": "metadata.name"}]})
        if rt.kind == "Namespace":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = {"phase": "Active"}
        if rt.schema is not None and "status" in rt.subresources:
            obj.pop("status", None)  # status is written only through the status subresource
        try:
            created = self.store.create(rt.key, target.namespace or "", obj, dry_run=self.dry_run(query))
        except StoreError as e:
            raise self._store_error(target, e, obj["metadata"].get("name", "")) from e
        return Answer(201, created, self._warning_headers(warnings))

    def update(self, target: Target, body: Any, query: dict) -> Answer:
        obj = self._check_identity(target, body)
        if obj["metadata"].get("name") != target.name:
            raise ApiError(400, "BadRequest", "the name of the object "
                           f"({obj['metadata'].get('name')}) does not match the name on the URL ({target.name})")
        warnings: list[str] = []
        if target.rt.schema is not None:
            obj, warnings = self.validate(target, obj, query)
        try:
            updated = self.store.update(target.rt.key, target.namespace or "", obj,
                                        subresource=target.sub, dry_run=self.dry_run(query))
        except StoreError as e:
            raise self._store_error(target, e, target.name) from e
        return Answer(200, updated, self._warning_headers(warnings))

    def patch(self, target: Target, body: bytes, content_type: str, query: dict) -> Answer:
        ctype = content_type.split(";")[0].strip()
        current = self.store.get(target.rt.key, target.namespace or "", target.name)
        if ctype == "application/apply-patch+yaml":
            if not q1(query, "fieldManager"):
                raise ApiError(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: "
                               "Required value: is required for apply patch")
            applied = self.parse_body(body, "yaml")
            if current is None:
                return self.create(Target(target.rt, target.namespace), applied, query)
            new = merge_patch(current, applied)
        else:
            if current is None:
                raise ApiError(404, "NotFound", f'{target.qualified} "{target.name}" not found', target.details())
            patch_doc = self.parse_body(body)
            try:
                if ctype == "application/merge-patch+json":
                    new = merge_patch(current, patch_doc)
                elif ctype == "application/json-patch+json":
                    new = json_patch(current, patch_doc)
                elif ctype == "application/strategic-merge-patch+json":
                    if target.rt.schema is not None:
                        raise ApiError(415, "UnsupportedMediaType",
                                       "the body of the request was in an unknown format - accepted media types "
                                       "include: application/json-patch+json, application/merge-patch+json, "
                                       "application/apply-patch+yaml")
                    new = merge_patch(current, patch_doc)
                else:
                    raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown "
                                   f"format - accepted media types include: application/json-patch+json, "
                                   f"application/merge-patch+json, application/apply-patch+yaml ({ctype})")
            except PatchError as e:
                raise ApiError(422, "Invalid", str(e)) from e
        if not isinstance(new, dict) or new.get("metadata", {}).get("name") != target.name:
            raise ApiError(400, "BadRequest", "a patch may not change the object's name")
        if target.sub != "status":
            new.setdefault("metadata", {})
            if new["metadata"].get("resourceVersion") == current["metadata"].get("resourceVersion"):
                new["metadata"].pop("resourceVersion", None)
        return self.update(target, new, query)

    def delete(self, target: Target, body: bytes, query: dict) -> Answer:
        options = self.parse_body(body) if body else {}
        options = options if isinstance(options, dict) else {}
        propagation = q1(query, "propagationPolicy") or options.get("propagationPolicy") or "Background"
        if propagation not in ("Background", "Foreground", "Orphan"):
            raise ApiError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: '
                           f'Unsupported value: "{propagation}": supported values: "Foreground", "Background", '
                           '"Orphan", "nil"')
        dry = self.dry_run(query) or "All" in (options.get("dryRun") or [])
        if target.rt.kind == "Namespace" and not dry:
            self._delete_namespace_contents(target.name)
        try:
            obj, gone = self.store.delete(target.rt.key, target.namespace or "", target.name, propagation, dry)
        except StoreError as e:
            raise self._store_error(target, e, target.name) from e
        if not gone:
            return Answer(202, obj)
        if target.rt.group in ("", "batch") and target.rt.kind not in ("Pod", "Namespace"):
            return Answer(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                "details": {**target.details(), "uid": obj["metadata"]["uid"]}})
        return Answer(200, obj)

    def delete_collection(self, target: Target, query: dict) -> Answer:
        items, meta = self.list(target, {k: v for k, v in query.items() if k not in ("limit", "continue")})
        for obj in items:
            m = obj["metadata"]
            try:
                self.store.delete(target.rt.key, m.get("namespace", ""), m["name"],
                                  q1(query, "propagationPolicy") or "Background", self.dry_run(query))
            except StoreError:
                pass  # deleted concurrently, as the API server tolerates
        return Answer(200, self.list_body(target, items, meta))

    def _delete_namespace_contents(self, namespace: str) -> None:
        for rt in self.registry.types:
            if rt.namespaced:
                items, _ = self.store.list(rt.key, namespace)
                for obj in items:
                    try:
                        self.store.delete(rt.key, namespace, obj["metadata"]["name"])
                    except StoreError:
                        pass

    def _access_review(self, body: Any) -> dict:
        review = copy.deepcopy(body) if isinstance(body, dict) else {}
        attrs = (review.get("spec") or {}).get("resourceAttributes") or {}
        resource = attrs.get("resource", "")
        if attrs.get("subresource"):
            resource = f"{resource}/{attrs['subresource']}"
        denied = self.denied(attrs.get("verb", ""), resource, attrs.get("namespace") or None)
        review["status"] = {"allowed": not denied}
        if denied:
            review["status"]["denied"] = True
            review["status"]["reason"] = "forbidden by the test double's rules"
        review.setdefault("metadata", {})["creationTimestamp"] = None
        return review

    # ---- helpers -----------------------------------------------------------------------
    @staticmethod
    def dry_run(query: dict) -> bool:
        values = query.get("dryRun") or []
        for v in values:
            if v != "All":
                raise ApiError(400, "BadRequest", f'dryRun: Unsupported value: "{v}": supported values: "All"')
        return bool(values)

    @staticmethod
    def _warning_headers(warnings: list[str]) -> dict:
        # RFC 7234 warn-text is a quoted string, so the field path's own quotes are escaped.
        return {"Warning": ["299 - " + json.dumps(w) for w in warnings]} if warnings else {}

    @staticmethod
    def list_body(target: Target, items: list[dict], meta: dict) -> dict:
        return {"apiVersion": target.rt.group_version, "kind": f"{target.rt.kind}List",
                "metadata": meta, "items": items}
