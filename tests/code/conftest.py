"""Helpers of the code-to-job tests: code defined the way a notebook defines it, and wheels pip installs offline."""

from __future__ import annotations

import base64
import hashlib
import itertools
import linecache
import textwrap
import zipfile
from pathlib import Path
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


def write_wheel(folder: Path, distribution: str, version: str, source: str) -> Path:
    """A pure-Python wheel of one module (named like the distribution, `-` as `_`) in `folder`,
    written as the wheel format (PEP 427) lays it out, so pip installs it with no network."""
    module = distribution.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = {f"{module}/__init__.py": source,
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: dtrain-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    path = Path(folder) / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            data = text.encode("utf-8")
            wheel.writestr(name, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
            record.append(f"{name},sha256={digest},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


def offline_pip_env(wheelhouse: Path, cache: Path) -> dict[str, str]:
    """The job env that keeps pip off the network (only `wheelhouse`'s wheels) and the package
    cache in `cache`."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheelhouse), "DTRAIN_PACKAGE_CACHE": str(cache)}
