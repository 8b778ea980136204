"""The files a job wrote under DTRAIN_OUTPUT_DIR: listed and read, never outside that folder.

A requested path must be relative and free of `..`; it is then resolved (symlinks followed)
and must still lie inside the output folder, so a symlink a job planted pointing at
/etc/passwd reads as NotFound. Listing skips such links for the same reason.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from ...errors import InvalidRequest, NotFound
from ...model.job import OutputFile
from .lifecycle import now_iso


def list_outputs(root: Path) -> list[OutputFile]:
    """Every regular file under `root` (recursively) that resolves inside it, sorted by path."""
    if not root.is_dir():
        raise NotFound(f"the job has no output folder ({root} does not exist)")
    real_root = root.resolve()
    files: list[OutputFile] = []
    for folder, dirs, names in os.walk(real_root):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        for name in names:
            full = Path(folder, name)
            try:
                target = full.resolve()
                if not target.is_relative_to(real_root) or not target.is_file():
                    continue
                st = target.stat()
            except OSError:
                continue
            files.append(OutputFile(path=full.relative_to(real_root).as_posix(), size=st.st_size,
                                    mtime=now_iso(st.st_mtime)))
    return sorted(files, key=lambda f: f.path)


def safe_path(root: Path, path: str) -> Path:
    """The real path of `path` inside `root`.

    Raises:
        InvalidRequest: the path is empty, absolute or contains `..`.
        NotFound: it does not exist, is not a file, or resolves outside the output folder.
    """
    if not isinstance(path, str) or not path or "\0" in path:
        raise InvalidRequest("an output path is required", path=str(path))
    pure = PurePosixPath(path)
    if pure.is_absolute() or path.startswith("\\") or ".." in pure.parts:
        raise InvalidRequest(f"output path {path!r} must be relative to the output folder, without '..'", path=path)
    real_root = root.resolve()
    target = (real_root / pure).resolve()
    if not target.is_relative_to(real_root):
        raise NotFound(f"output file {path!r} not found (it points outside the job's output folder)", path=path)
    if not target.is_file():
        raise NotFound(f"output file {path!r} not found", path=path)
    return target


def read_output(root: Path, path: str, limit: int) -> bytes:
    """At most `limit` bytes from the start of one output file. Raises InvalidRequest, NotFound."""
    if not isinstance(limit, int) or limit < 0:
        raise InvalidRequest(f"limit must be a whole number >= 0, not {limit!r}")
    target = safe_path(root, path)
    # O_NOFOLLOW: the resolved path must not have been swapped for a link since the check.
    fd = os.open(target, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read(limit)
