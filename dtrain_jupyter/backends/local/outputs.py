"""The files a local job wrote under DTRAIN_OUTPUT_DIR, listed and read by the shared rule.

The folder is the job's own (`LocalBackend(output_root=...)` or the job's state folder); what
may be listed and read from it, and how, is `backends.output_files`, the same for every backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import AsyncGenerator

from ...errors import NotFound
from ...model.job import OutputFile
from ..output_files import list_files, read_file, stream_file


def location(root: Path) -> dict[str, str]:
    """The job's output location as `Backend.output_location` names it: its folder."""
    return {"folder": str(root)}


def list_outputs(root: Path) -> list[OutputFile]:
    """Every file of the job's output folder that may be read, sorted by path.

    Raises:
        NotFound: the folder does not exist (yet); it carries the job's `location`.
    """
    if not root.is_dir():
        raise NotFound(f"the job has no output folder ({root} does not exist)", location=location(root))
    return list_files(root)


def read_output(root: Path, path: str, limit: int) -> bytes:
    """At most `limit` bytes of one output file. Raises InvalidRequest, NotFound."""
    return read_file(root, path, limit)


async def stream_output(root: Path, path: str) -> AsyncGenerator[bytes, None]:
    """One whole output file as chunks, opened now. Raises InvalidRequest, NotFound."""
    return await stream_file(root, path)
