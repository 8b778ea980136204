"""Hypothesis strategies and hand-made hostile inputs shared by the fuzzing tests.

Three families: random JSON structures (wrong types, huge numbers, unicode, NaN, deep nesting),
one field of a valid manifest replaced by such a value (so validation runs deep, not only at the
first missing key), and YAML texts, random and hostile (alias bombs, duplicate keys, deep nesting,
tags that would run code in an unsafe loader, invalid UTF-8). `COUNTS` tallies every input sent,
per face, for the closing summary.
"""

from __future__ import annotations

import collections
import copy
import json
from typing import Any

import yaml
from hypothesis import strategies as st

# inputs tried, by face ("rest", "client", "cli", "schemathesis"); printed at the end of the run.
COUNTS: collections.Counter[str] = collections.Counter()

BIG = 2**80

_leaf = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-BIG, max_value=BIG),
    st.sampled_from([0, -1, 2**31, 2**63, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", " ", "\x00", "<script>alert(1)</script>", "../../etc/passwd", "日本語", "🙂" * 8,
                     "a" * 300, "$(id)", "; rm -rf /", "%s%n", "\ud7ff", "null", "1e999"]),
)

json_values = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)


def base_manifest(name: str = "fuzz") -> dict[str, Any]:
    """A valid two-replica PyTorchJob; its replicas never run (the fuzz tests only dry-run)."""
    replica = {"replicas": 1, "restartPolicy": "OnFailure", "template": {"spec": {"containers": [
        {"name": "pytorch", "image": "python:3.11", "command": ["python", "-c", "print(1)"],
         "args": ["--epochs", "1"], "env": [{"name": "A", "value": "1"}],
         "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "labels": {"app": "fuzz"}},
            "spec": {"runPolicy": {"backoffLimit": 2, "cleanPodPolicy": "None"},
                     "pytorchReplicaSpecs": {"Master": replica, "Worker": copy.deepcopy(replica)}}}


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            out.extend(_paths(inner, prefix + (key,)))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            out.extend(_paths(inner, prefix + (index,)))
    return out


MANIFEST_PATHS = _paths(base_manifest())


def _replace(manifest: dict[str, Any], path: tuple, value: Any, delete: bool) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    node = out
    for part in path[:-1]:
        node = node[part]
    if delete and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


@st.composite
def mutated_manifests(draw: Any) -> dict[str, Any]:
    """A valid manifest with one to three fields replaced by random values (or deleted)."""
    manifest = base_manifest(draw(st.sampled_from(["fuzz", "Fuzz_Bad", "a" * 70, "ok-name"])))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(MANIFEST_PATHS))
        try:
            manifest = _replace(manifest, path, draw(json_values), draw(st.booleans()))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed the path's parent
    return manifest


def _yaml_dump(value: Any) -> str:
    try:
        return yaml.safe_dump(value, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError, UnicodeEncodeError):
        return json.dumps(value, default=str)


yaml_texts = st.one_of(
    st.text(max_size=200),
    mutated_manifests().map(_yaml_dump),
    json_values.map(_yaml_dump),
    st.lists(st.sampled_from(["a:", "  - b", "&x c", "*x", "<<: *x", "!!python/object:os.system", "---",
                              "\t", "key: value", "{", "]", "? ", "'", '"', "%YAML 1.1", "!<tag:x>", "|"]),
             max_size=12).map("\n".join),
)


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": each level refers nine times to the one before."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def hostile_texts() -> dict[str, str | bytes]:
    """Hand-made texts each aimed at one known weakness of YAML/JSON readers."""
    valid = yaml.safe_dump(base_manifest("hostile"), sort_keys=False)
    return {
        "alias bomb": alias_bomb(),
        "alias bomb in a manifest": valid + "metadata2: &a [*a]\n",
        "self-referencing alias": "a: &a [*a]\n",
        "duplicate keys": valid.replace("name: hostile", "name: hostile\n  name: other"),
        "deep flow nesting": "a: " + "[" * 20000 + "]" * 20000 + "\n",
        "deep block nesting": "".join("  " * i + f"k{i}:\n" for i in range(3000)) + "  " * 3000 + "v: 1\n",
        "huge integer": valid.replace("replicas: 1", "replicas: " + "9" * 5000, 1),
        "huge float": valid.replace("replicas: 1", "replicas: 1e999999", 1),
        "negative replicas": valid.replace("replicas: 1", "replicas: -3", 1),
        "python tag": "!!python/object/apply:os.system ['touch /tmp/dtrain-pwned']\n",
        "python name tag": valid.replace("kind: PyTorchJob", "kind: !!python/name:os.system"),
        "binary tag": "a: !!binary aGVsbG8=\n",
        "invalid utf-8": b"apiVersion: kubeflow.org/v1\nkind: \xff\xfe\x00PyTorchJob\n",
        "nul bytes": valid.replace("hostile", "host\x00ile"),
        "bom and crlf": "\ufeff" + valid.replace("\n", "\r\n"),
        "tabs": valid.replace("  ", "\t"),
        "many documents": "---\n".join([valid] * 200),
        "empty": "",
        "only comments": "# nothing\n",
        "scalar document": "42\n",
        "list document": "- 1\n- 2\n",
        "html in names": valid.replace("name: hostile", "name: \"<img src=x onerror=alert(1)>\""),
        "unicode name": valid.replace("name: hostile", "name: \"ジョブ🙂\""),
        "merge key loop": "a: &a {b: 1}\nc:\n  <<: [*a, *a, *a]\n",
        "huge string": valid.replace("python:3.11", "x" * 900_000),
    }


def deep_json(depth: int = 100_000) -> str:
    """A JSON array nested `depth` deep (small in bytes; a recursive reader overflows on it)."""
    return '{"manifest": ' + "[" * depth + "]" * depth + "}"
