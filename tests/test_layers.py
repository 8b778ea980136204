"""Arrows point one way: ui/magic -> client -> HTTP -> server -> service -> backends -> model.

Every import in the package (module level or inside a function, absolute or relative) is read
from the source with `ast` and checked against the rules below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dtrain_jupyter"

# (modules the rule applies to, imported names it forbids, why)
RULES = [
    (("dtrain_jupyter.service", "dtrain_jupyter.backends", "dtrain_jupyter.model"),
     ("tornado", "jupyter_server"), "the logic layers know no HTTP"),
    (("dtrain_jupyter.server",), ("kubernetes",), "the server reaches Kubernetes only through a backend"),
    (("dtrain_jupyter.model",), ("dtrain_jupyter.backends", "dtrain_jupyter.service", "dtrain_jupyter.server",
                                 "dtrain_jupyter.client", "dtrain_jupyter.ui"), "the model imports no layer above it"),
    (("dtrain_jupyter.backends",), ("dtrain_jupyter.ui", "dtrain_jupyter.server", "dtrain_jupyter.service",
                                    "dtrain_jupyter.client", "dtrain_jupyter.magic", "dtrain_jupyter.cli"),
     "backends serve the service only"),
    (("dtrain_jupyter.service",), ("dtrain_jupyter.server", "dtrain_jupyter.client", "dtrain_jupyter.ui"),
     "the service is below the server"),
    (("dtrain_jupyter.client", "dtrain_jupyter.cli", "dtrain_jupyter.magic", "dtrain_jupyter.render", "dtrain_jupyter.ui"),
     ("dtrain_jupyter.server", "dtrain_jupyter.service", "dtrain_jupyter.backends", "tornado", "jupyter_server",
      "kubernetes"), "faces reach jobs through the client and HTTP only"),
    (("dtrain_jupyter.code",), ("dtrain_jupyter.server", "dtrain_jupyter.service", "dtrain_jupyter.backends",
                                "dtrain_jupyter.client", "dtrain_jupyter.magic", "dtrain_jupyter.ui", "tornado",
                                "jupyter_server", "kubernetes"),
     "code capture is pure: a function or cell in, manifest parts out (the client submits them)"),
    (("dtrain_jupyter.history",), ("dtrain_jupyter.server", "dtrain_jupyter.service", "dtrain_jupyter.backends",
                                   "dtrain_jupyter.client", "dtrain_jupyter.magic", "dtrain_jupyter.ui", "tornado",
                                   "jupyter_server", "kubernetes"),
     "the history store keeps model objects; the service feeds it, the backends never see it"),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of everything `source` imports, relative imports resolved."""
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def violations(module: str, imported: set[str]) -> list[str]:
    out = []
    for owners, forbidden, why in RULES:
        if not any(module == o or module.startswith(o + ".") for o in owners):
            continue
        for name in sorted(imported):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{module} imports {name}: {why}")
    return out


def all_modules() -> list[tuple[str, Path]]:
    return [(module_name(p), p) for p in sorted(PACKAGE.rglob("*.py")) if "labextension" not in p.parts]


def test_the_walk_sees_the_whole_package() -> None:
    names = {m for m, _ in all_modules()}
    assert {"dtrain_jupyter.service", "dtrain_jupyter.server.handlers", "dtrain_jupyter.client",
            "dtrain_jupyter.model.job", "dtrain_jupyter.backends.base", "dtrain_jupyter.code.capture"} <= names


@pytest.mark.parametrize(("module", "path"), all_modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_no_wrong_arrow(module: str, path: Path) -> None:
    imported = imports_of(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    assert violations(module, imported) == []


@pytest.mark.parametrize(("module", "source"), [
    ("dtrain_jupyter.service", "from tornado import web"),
    ("dtrain_jupyter.backends.local.backend", "def f():\n    from jupyter_server.utils import url_path_join"),
    ("dtrain_jupyter.server.handlers", "import kubernetes.client"),
    ("dtrain_jupyter.model.spec", "from ..backends import base"),
    ("dtrain_jupyter.magic", "from .service import JobService"),
    ("dtrain_jupyter.ui.app", "from ..backends.local import LocalBackend"),
])
def test_the_checker_catches_a_wrong_arrow(module: str, source: str) -> None:
    is_package = False
    assert violations(module, imports_of(source, module, is_package))
