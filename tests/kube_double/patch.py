"""PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902).

The API server refuses strategic merge patch on custom resources (415) and applies it to
built-in types with per-field merge keys; the double treats it as a merge patch for
built-in types, which is what the project's writes to pods need. Server-side apply
(`application/apply-patch+yaml`) is approximated in the server as create-or-merge.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(ValueError):
    """A patch that cannot be applied (the API server answers 422 or 400)."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, `null` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    tokens = [_unescape(t) for t in path[1:].split("/")]
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, list):
            try:
                node = node[int(token)]
            except (ValueError, IndexError) as e:
                raise PatchError(f"doc is missing path: {path!r}") from e
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise PatchError(f"doc is missing path: {path!r}")
    return node, tokens[-1]


def _get(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, path)
    try:
        return parent[int(last)] if isinstance(parent, list) else parent[last]
    except (KeyError, IndexError, ValueError) as e:
        raise PatchError(f"doc is missing path: {path!r}") from e


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, path)
    try:
        return parent.pop(int(last)) if isinstance(parent, list) else parent.pop(last)
    except (KeyError, IndexError, ValueError) as e:
        raise PatchError(f"unable to remove nonexistent key: {last}: missing value") from e


def _add(doc: Any, path: str, value: Any, replace: bool = False) -> None:
    parent, last = _parent(doc, path)
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if replace:
            parent[index] = value
        else:
            parent.insert(index, value)
    elif isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: {path}: missing value")
        parent[last] = value
    else:
        raise PatchError(f"doc is missing path: {path!r}")


def json_patch(target: Any, ops: Any) -> Any:
    """RFC 6902 add/remove/replace/move/copy/test over a deep copy of `target`."""
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "add":
            _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            _add(doc, path, _remove(doc, op["from"]))
        elif kind == "copy":
            _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"testing value {path} failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc
