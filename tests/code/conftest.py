"""Helpers of the code-to-job tests: code defined the way a notebook defines it."""

from __future__ import annotations

import itertools
import linecache
import textwrap
from typing import Any

_CELLS = itertools.count(1)


def notebook(*cells: str) -> dict[str, Any]:
    """Run cells as IPython does and return the namespace: each cell is compiled under its own
    file name, registered with linecache (so `inspect.getsource` finds functions, never classes),
    and executed in one `__main__` namespace."""
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    for cell in cells:
        cell_source(cell, namespace)
    return namespace


def cell_source(text: str, namespace: dict[str, Any]) -> str:
    """Execute one more cell in `namespace` as `notebook` does; returns the cell's file name."""
    source = textwrap.dedent(text)
    filename = f"<ipython-input-{next(_CELLS)}-test>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return filename
