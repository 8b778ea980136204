"""A script folder packed for a job: `pack_folder("work/", "train.py")` -> CodeArchive.

The archive is a tar.gz of the folder's files, built so the same files give the same bytes
(and so the same sha256): names sorted, every mtime DATE, owner 0/0 without names, modes 0644 or
0755, and a gzip header without name or time. What git would not commit stays out: the patterns
of `.gitignore` and `.dtrainignore` files (the latter only for jobs; both may sit in any
subfolder and apply below it), and always `.git/`, `__pycache__/` and `.ipynb_checkpoints/`.
A symbolic link is packed as a link when it points inside the folder and refused when it does
not. The archive must fit a Kubernetes ConfigMap (`MAX_ARCHIVE_BYTES`), on every backend, so a
job that runs locally also runs on a cluster.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import InvalidRequest
from ..model.code_archive import MAX_ARCHIVE_BYTES, CodeArchive

__all__ = ["pack_folder", "folder_files", "FolderFile", "IGNORE_FILES", "ALWAYS_LEFT_OUT", "DATE"]

IGNORE_FILES = (".gitignore", ".dtrainignore")  # in this order: .dtrainignore has the last word
ALWAYS_LEFT_OUT = frozenset({".git", "__pycache__", ".ipynb_checkpoints"})
# 2000-01-01T00:00:00Z: the mtime of every packed file (a fixed date keeps the bytes stable;
# zero would read as "no date" to some tools).
DATE = 946684800
# A folder whose files come to more than this before packing is refused without packing it:
# no compression brings that under the limit, and gzip over gigabytes would take minutes.
_UNPACKED_LIMIT = 50 * MAX_ARCHIVE_BYTES


@dataclass(frozen=True)
class FolderFile:
    """One file that goes into the archive: its path in the folder (posix), size, and link target."""

    path: str
    size: int
    executable: bool = False
    link: str | None = None  # a symbolic link's target, relative, inside the folder


@dataclass(frozen=True)
class _Rule:
    base: str          # the folder of the ignore file, relative to the root ("" for the root)
    regex: re.Pattern[str]
    negated: bool
    folders_only: bool
    source: str        # "sub/.gitignore:3", for a reader of the code


def _pattern_regex(pattern: str, anchored: bool) -> re.Pattern[str]:
    """gitignore glob -> regex over a posix path relative to the ignore file's folder."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")  # "**/" matches no folder or any number of them
            i += 3
            continue
        if pattern.startswith("**", i) and i + 2 == len(pattern):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "^", "]") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1:end]
                if body[:1] in ("!", "^"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(c))
        i += 1
    # Unanchored patterns (no slash but a trailing one) match a name at any depth.
    prefix = "" if anchored else "(?:.*/)?"
    return re.compile(prefix + "".join(out) + r"\Z", re.DOTALL)


def _read_rules(folder: Path, base: str) -> list[_Rule]:
    rules = []
    for name in IGNORE_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.rstrip("\n\r")
            # Trailing spaces are dropped unless escaped with a backslash (gitignore(5)).
            while line.endswith(" ") and not line.endswith("\\ "):
                line = line[:-1]
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            elif line.startswith("\\#") or line.startswith("\\!"):
                line = line[1:]
            folders_only = line.endswith("/")
            line = line.rstrip("/")
            if not line:
                continue
            anchored = "/" in line
            line = line.lstrip("/")
            rules.append(_Rule(base, _pattern_regex(line, anchored), negated, folders_only,
                               f"{base + '/' if base else ''}{name}:{number}"))
    return rules


def _ignored(rules: list[_Rule], relative: str, is_folder: bool) -> bool:
    """The last rule that matches decides (as in git); rules of deeper files come later."""
    verdict = False
    for rule in rules:
        if rule.folders_only and not is_folder:
            continue
        if rule.base:
            if not relative.startswith(rule.base + "/"):
                continue
            inside = relative[len(rule.base) + 1:]
        else:
            inside = relative
        if rule.regex.match(inside):
            verdict = not rule.negated
    return verdict


def folder_files(root: str | os.PathLike[str]) -> list[FolderFile]:
    """The files of `root` that a job gets, sorted by path (see the module docstring).

    A folder that is left out is not entered: as in git, a file under it cannot be brought back
    with a `!` pattern.

    Raises:
        InvalidRequest: `root` is not a folder, or a symbolic link in it points outside it.
    """
    top = Path(root)
    if not top.is_dir():
        raise InvalidRequest(f"workdir {str(root)!r} is not a folder", names=["workdir"])
    real_top = top.resolve()
    found: list[FolderFile] = []

    def walk(folder: Path, relative: str, rules: list[_Rule]) -> None:
        rules = rules + _read_rules(folder, relative)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as e:
            raise InvalidRequest(f"cannot read folder {str(folder)!r}: {e.strerror or e}", names=["workdir"]) from None
        for entry in entries:
            path = f"{relative}/{entry.name}" if relative else entry.name
            if entry.is_symlink():
                target = Path(entry.path).resolve()
                if target != real_top and real_top not in target.parents:
                    raise InvalidRequest(
                        f"{path} is a symbolic link to {os.readlink(entry.path)!r}, outside the folder "
                        f"{str(real_top)!r}: a job gets only the folder's own files (copy the file in, or "
                        "leave the link out in .dtrainignore)", names=["workdir"], path=path)
                if _ignored(rules, path, target.is_dir()):
                    continue
                link = os.path.relpath(target, Path(entry.path).parent.resolve())
                found.append(FolderFile(path, 0, link=Path(link).as_posix()))
                continue
            is_folder = entry.is_dir(follow_symlinks=False)
            if is_folder and entry.name in ALWAYS_LEFT_OUT:
                continue
            if _ignored(rules, path, is_folder):
                continue
            if is_folder:
                walk(Path(entry.path), path, rules)
            elif entry.is_file(follow_symlinks=False):
                info = entry.stat(follow_symlinks=False)
                found.append(FolderFile(path, info.st_size, bool(info.st_mode & stat.S_IXUSR)))

    walk(top, "", [])
    return sorted(found, key=lambda f: f.path)


def pack_folder(root: str | os.PathLike[str], entry: str, *, limit: int = MAX_ARCHIVE_BYTES) -> CodeArchive:
    """The archive of `root`'s files (`folder_files`), whose script to run is `entry`.

    Args:
        root: the folder (the job's working dir).
        entry: the script, a path relative to `root` (an absolute path inside it is accepted).
        limit: the most bytes the packed archive may have.
    Raises:
        InvalidRequest: the folder cannot be packed (see `folder_files`), `entry` is not one of
            its packed files, or the archive is over `limit`: the message gives its size, the
            limit and the five largest files (`fields`: size, limit, largest).
    """
    top = Path(root)
    files = folder_files(top)
    script = _entry_path(top, entry)
    by_path = {f.path: f for f in files}
    if script not in by_path or by_path[script].link is not None:
        if (top / script).is_file():
            raise InvalidRequest(f"script {script!r} is left out by an ignore rule ({', '.join(IGNORE_FILES)} or "
                                 f"{', '.join(sorted(ALWAYS_LEFT_OUT))}) of {str(top.resolve())!r}: the job would "
                                 "not have it", names=["script"])
        raise InvalidRequest(f"script {script!r} is not a file in {str(top.resolve())!r}", names=["script"])
    unpacked = sum(f.size for f in files)
    if unpacked > _UNPACKED_LIMIT:
        raise _too_big(top, files, f"its files come to {unpacked:,} bytes before packing", unpacked, limit)
    data = _tar_gz(top, files)
    if len(data) > limit:
        raise _too_big(top, files, f"it packs to {len(data):,} bytes", len(data), limit)
    return CodeArchive.of(data, files=len(files), entry=script)


def _entry_path(top: Path, entry: str) -> str:
    if not isinstance(entry, str) or not entry.strip():
        raise InvalidRequest("the script must be a file's path relative to workdir, such as 'train.py'",
                             names=["script"])
    given = Path(entry)
    if given.is_absolute():
        try:
            given = given.resolve().relative_to(top.resolve())
        except ValueError:
            raise InvalidRequest(f"script {entry!r} is not inside workdir {str(top.resolve())!r}",
                                 names=["script"]) from None
    parts = PurePosixPath(given.as_posix()).parts
    if ".." in parts:
        raise InvalidRequest(f"script {entry!r} must be inside workdir, without '..'", names=["script"])
    return "/".join(p for p in parts if p != ".")


def _too_big(top: Path, files: list[FolderFile], how: str, size: int, limit: int) -> InvalidRequest:
    largest = sorted(files, key=lambda f: (-f.size, f.path))[:5]
    listed = ", ".join(f"{f.path} ({f.size:,} bytes)" for f in largest)
    return InvalidRequest(
        f"folder {str(top.resolve())!r} is too big for a job: {how}, and a job's code is at most {limit:,} "
        f"bytes packed (a Kubernetes ConfigMap holds 1 MiB). Largest files: {listed}. Leave data and outputs "
        "out with a .dtrainignore file in the folder (gitignore patterns; .gitignore is honoured too) and "
        "read them from a volume or the job's output folder instead",
        names=["workdir"], size=size, limit=limit, largest=[[f.path, f.size] for f in largest])


def _tar_gz(top: Path, files: list[FolderFile]) -> bytes:
    buffer = io.BytesIO()
    # filename "" and mtime DATE: gzip's header would otherwise carry the name and the time of packing.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=DATE, compresslevel=9) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for f in files:
                info = tarfile.TarInfo(f.path)
                info.mtime, info.uid, info.gid, info.uname, info.gname = DATE, 0, 0, "", ""
                if f.link is not None:
                    info.type, info.linkname, info.mode = tarfile.SYMTYPE, f.link, 0o777
                    tar.addfile(info)
                    continue
                info.mode = 0o755 if f.executable else 0o644
                with open(top / f.path, "rb") as source:
                    content = source.read()
                info.size = len(content)  # the file's size now, should it have changed since the walk
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
