"""Where a job's code came from, read back from its manifest and said in plain words.

A job made from notebook code carries the annotation `dtrain-jupyter.io/code`, compact JSON
written when the job is built (`job.job_from_carried`, `folder.FolderJob`):

    {"from": "function", "function": "train", "notebook": "analysis.ipynb"}
    {"from": "cell", "notebook": "analysis.ipynb"}
    {"from": "folder", "folder": "/home/u/proj", "entry": "train.py", "files": 12, "bytes": 3456,
     "sha256": "..."}

Every view of a job (the panel's detail, `dtrain get`, the notebook repr) shows it as one line:
"function train() from analysis.ipynb", "train.py from /home/u/proj (12 files, 3.4 KiB)".
The annotation is ordinary metadata anyone can edit, so reading it never raises: a value that
does not read as one of the shapes above is no origin at all.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["ANNOTATION", "CodeOrigin", "code_origin", "describe", "size_words"]

ANNOTATION = "dtrain-jupyter.io/code"
_KINDS = ("function", "cell", "folder")
# An annotation is at most 256 KiB in Kubernetes; ours is a few hundred bytes. Anything far
# larger is not ours, and is not worth parsing on every list refresh.
_MAX_TEXT = 16 * 1024


@dataclass(frozen=True)
class CodeOrigin:
    """The code of a job: a notebook function, a notebook cell, or a script folder.

    Attributes:
        kind: "function", "cell" or "folder".
        notebook: the notebook's path for a function or cell ("" when it was not known).
        function: the function's name (kind "function").
        folder, entry: the folder shipped and the script run in it (kind "folder").
        files, size: how many files and bytes the folder's snapshot holds (None when not said).
        sha256: the snapshot's digest ("" when not said).
    """

    kind: str
    notebook: str = ""
    function: str = ""
    folder: str = ""
    entry: str = ""
    files: int | None = None
    size: int | None = None
    sha256: str = ""


def code_origin(job: Any) -> CodeOrigin | None:
    """The origin recorded on a manifest (a dict), a `model.job.Job` or a `model.spec.JobSpec`.

    Returns None when there is no annotation or it does not read as an origin.
    """
    text = _annotation(job)
    if not isinstance(text, str) or not text or len(text) > _MAX_TEXT:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("from") not in _KINDS:
        return None
    kind = data["from"]
    notebook = _text(data.get("notebook"))
    if kind == "function":
        function = _text(data.get("function"))
        return CodeOrigin(kind, notebook=notebook, function=function) if function else None
    if kind == "cell":
        return CodeOrigin(kind, notebook=notebook)
    folder, entry = _text(data.get("folder")), _text(data.get("entry"))
    if not folder or not entry:
        return None
    return CodeOrigin(kind, folder=folder, entry=entry, files=_count(data.get("files")),
                      size=_count(data.get("bytes")), sha256=_text(data.get("sha256")))


def describe(origin: CodeOrigin) -> str:
    """The origin in plain words, one line: "function train() from analysis.ipynb"."""
    where = f" from {posixpath.basename(origin.notebook) or origin.notebook}" if origin.notebook else ""
    if origin.kind == "function":
        return f"function {origin.function}(){where}"
    if origin.kind == "cell":
        return f"a notebook cell{where}"
    counts = []
    if origin.files is not None:
        counts.append(f"{origin.files} file{'' if origin.files == 1 else 's'}")
    if origin.size is not None:
        counts.append(size_words(origin.size))
    return f"{origin.entry} from {origin.folder}" + (f" ({', '.join(counts)})" if counts else "")


def size_words(size: int) -> str:
    """Bytes as a person reads them, in the binary units Kubernetes limits use (a ConfigMap holds
    at most 1 MiB): 950 -> "950 B", 3456 -> "3.4 KiB", 1048576 -> "1.0 MiB"."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def _annotation(job: Any) -> Any:
    if isinstance(job, Mapping):
        manifest: Any = job
    elif isinstance(getattr(job, "manifest", None), Mapping):  # model.job.Job
        manifest = job.manifest
    elif callable(getattr(job, "to_manifest", None)):  # model.spec.JobSpec
        try:
            manifest = job.to_manifest()
        except Exception:  # a spec that cannot be written has no origin to show
            return None
    else:
        return None
    metadata = manifest.get("metadata") if isinstance(manifest, Mapping) else None
    annotations = metadata.get("annotations") if isinstance(metadata, Mapping) else None
    return annotations.get(ANNOTATION) if isinstance(annotations, Mapping) else None


def _text(value: Any) -> str:
    # One line, always: a newline in an edited annotation must not break the views' one line.
    return " ".join(value.split()) if isinstance(value, str) else ""


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
