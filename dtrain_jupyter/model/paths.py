"""Field paths: the tuple form code walks with and the dotted form people read.

`("spec", "pytorchReplicaSpecs", "Master", "template", "spec", "containers", 0, "image")` reads
`spec.pytorchReplicaSpecs.Master.template.spec.containers[0].image`. A key that would be
ambiguous in the dotted form (it holds a dot or a bracket, is empty, or is all digits) is written
as a JSON string in brackets: `resources.limits["nvidia.com/gpu"]`. `parse_path` undoes
`format_path` exactly, so a ValidationIssue's path can be mapped back to a place in YAML text.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["Path", "format_path", "parse_path"]

Path = tuple[Any, ...]

_PLAIN = re.compile(r"[A-Za-z_$@\-/][A-Za-z0-9_$@\-/]*")
_TOKEN = re.compile(r'\.?([^.\[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def format_path(path: Path) -> str:
    """The dotted form of a tuple path; ints are list indices, everything else a key."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(f"[{part}]")
        elif isinstance(part, str) and _PLAIN.fullmatch(part):
            out.append(f".{part}" if out else part)
        else:
            out.append("[" + json.dumps(str(part)) + "]")
    return "".join(out)


def parse_path(text: str) -> Path:
    """The tuple form of a dotted path written by `format_path` (unknown syntax: best effort)."""
    parts: list[Any] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            # Not something format_path writes: keep the rest as one key rather than fail.
            parts.append(text[pos:].lstrip("."))
            break
        plain, index, quoted = match.groups()
        if plain is not None:
            parts.append(plain)
        elif index is not None:
            parts.append(int(index))
        else:
            parts.append(json.loads(quoted))
        pos = match.end()
    return tuple(parts)
