"""Label and field selectors, parsed and matched the way the Kubernetes API server does.

Label selectors support `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` and
`!k`, joined by commas (k8s.io/apimachinery/pkg/labels). Field selectors support `=`, `==`
and `!=` on dotted paths (`metadata.name`, `status.phase`, `involvedObject.uid`).
A malformed selector raises `SelectorError`, which the server answers with 400 BadRequest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

Matcher = Callable[[dict], bool]


class SelectorError(ValueError):
    """A selector string that the API server would refuse to parse."""


@dataclass(frozen=True)
class _Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict) -> bool:
        has = self.key in labels
        value = labels.get(self.key)
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        if self.op in ("=", "in"):
            return has and value in self.values
        # "!=" and "notin" match objects without the label, as the API server does.
        return not has or value not in self.values


# A label key: optional DNS-subdomain prefix and a name of up to 63 characters.
_KEY = r"(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_KEY_RE = re.compile(f"^{_KEY}$")
_VALUE_RE = re.compile(f"^{_VALUE}$")
_SET_RE = re.compile(r"^\s*(!?)\s*(\S+?)\s+(in|notin)\s*\(([^)]*)\)\s*$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `( )`, so `k in (a,b),x=y` gives two terms."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _check_key(key: str, selector: str) -> str:
    if not _KEY_RE.match(key) or len(key.split("/")[-1]) > 63:
        raise SelectorError(f'unable to parse requirement: invalid label key "{key}"')
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(f'unable to parse requirement: invalid label value: "{value}"')
    return value


def parse_label_selector(selector: str | None) -> Matcher:
    """Return a predicate over an object dict for a label selector string.

    Raises:
        SelectorError: the string is not a valid label selector.
    """
    if not selector or not selector.strip():
        return lambda obj: True
    requirements: list[_Requirement] = []
    for term in _split_top_level(selector):
        set_match = _SET_RE.match(term)
        if set_match:
            if set_match.group(1):
                raise SelectorError(f"found '!', expected: identifier in {selector!r}")
            values = tuple(_check_value(v.strip()) for v in set_match.group(4).split(",") if v.strip())
            key = _check_key(set_match.group(2), selector)
            requirements.append(_Requirement(key, set_match.group(3), values))
            continue
        for op in ("!=", "==", "="):
            if op in term:
                key, value = (s.strip() for s in term.split(op, 1))
                norm = "=" if op == "==" else op
                requirements.append(_Requirement(_check_key(key, selector), norm, (_check_value(value),)))
                break
        else:
            if term.startswith("!"):
                requirements.append(_Requirement(_check_key(term[1:].strip(), selector), "!exists"))
            else:
                requirements.append(_Requirement(_check_key(term, selector), "exists"))

    def match(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in requirements)

    return match


def _field_value(obj: dict, path: str) -> Any:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    return "" if current is None else str(current)


def parse_field_selector(selector: str | None, allowed: frozenset[str] | None = None) -> Matcher:
    """Return a predicate for a field selector (`metadata.name=x,status.phase!=Running`).

    Args:
        selector: the `fieldSelector` query value.
        allowed: field paths the resource supports; None allows any dotted path.

    Raises:
        SelectorError: malformed, or a field the resource does not support (the API server
            answers `field label not supported: <field>`).
    """
    if not selector or not selector.strip():
        return lambda obj: True
    terms: list[tuple[str, str, str]] = []
    for term in _split_top_level(selector):
        for op in ("!=", "==", "="):
            if op in term:
                field, value = (s.strip() for s in term.split(op, 1))
                break
        else:
            raise SelectorError(f"invalid selector: '{selector}'; can't understand '{term}'")
        if allowed is not None and field not in allowed:
            raise SelectorError(f'field label not supported: {field}')
        terms.append((field, "!=" if op == "!=" else "=", value))

    def match(obj: dict) -> bool:
        for field, op, value in terms:
            actual = _field_value(obj, field)
            if (actual == value) != (op == "="):
                return False
        return True

    return match
