"""A cluster job's output files, read where the Jupyter server sees the same volume claim.

The wizard's output location on a cluster is a PersistentVolumeClaim mounted into every
replica, with `DTRAIN_OUTPUT_DIR` pointing into that mount. The Jupyter server reads it where
the same claim is mounted in its own pod (`output_mounts`: claim name -> local path). When it
is not, there is nothing to read: we say so, with the job's status, so the panel can show the
last log lines of the deciding replica instead.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ...errors import InvalidRequest, NotFound
from ...model.job import Job, OutputFile
from ...model.kinds import Framework

OUTPUT_ENV = "DTRAIN_OUTPUT_DIR"


def _status_words(job: Job) -> str:
    words = f"the job is {job.status.phase}"
    if job.status.reason:
        words += f" ({job.status.reason}"
        words += f": {job.status.message})" if job.status.message else ")"
    return words


def _claim_and_relpath(job: Job, fw: Framework) -> tuple[str, PurePosixPath]:
    """(claim name, path inside the claim) of the job's DTRAIN_OUTPUT_DIR; NotFound when there is none."""
    specs = ((job.manifest.get("spec") or {}).get(fw.replica_key) or {})
    saw_env = ""
    for rspec in specs.values():
        pod_spec = ((rspec or {}).get("template") or {}).get("spec") or {}
        claims = {v.get("name"): (v.get("persistentVolumeClaim") or {}).get("claimName")
                  for v in pod_spec.get("volumes") or [] if isinstance(v, dict)}
        for c in pod_spec.get("containers") or []:
            env = {e.get("name"): e.get("value") for e in c.get("env") or [] if isinstance(e, dict)}
            target = env.get(OUTPUT_ENV)
            if not target:
                continue
            saw_env = str(target)
            out = PurePosixPath(saw_env)
            best = None
            for m in c.get("volumeMounts") or []:
                mount = PurePosixPath(str(m.get("mountPath") or "/nonexistent"))
                if (out == mount or mount in out.parents) and claims.get(m.get("name")):
                    if best is None or len(mount.parts) > len(PurePosixPath(best["mountPath"]).parts):
                        best = m
            if best is not None:
                rel = PurePosixPath(str(best.get("subPath") or "")) / out.relative_to(PurePosixPath(best["mountPath"]))
                return str(claims[best["name"]]), rel
    if saw_env:
        raise NotFound(
            f"{job.kind} {job.name!r} writes its outputs to {OUTPUT_ENV}={saw_env}, which is not on a "
            f"PersistentVolumeClaim mount, so they cannot be read from here; {_status_words(job)}"
        )
    raise NotFound(
        f"{job.kind} {job.name!r} has no output location (no replica sets {OUTPUT_ENV} on a volume claim); "
        f"{_status_words(job)}"
    )


def output_root(job: Job, fw: Framework, output_mounts: dict[str, str]) -> Path:
    """The local folder holding the job's outputs.

    Raises:
        NotFound: no output location, its claim is not mounted in the Jupyter server, or the
            folder does not exist yet; the message names the job's status.
    """
    claim, rel = _claim_and_relpath(job, fw)
    local = output_mounts.get(claim)
    if not local:
        raise NotFound(
            f"the output volume claim {claim!r} of {job.kind} {job.name!r} is not mounted in the Jupyter "
            f"server (output_mounts); {_status_words(job)}"
        )
    root = (Path(local) / Path(*rel.parts)) if rel.parts else Path(local)
    if not root.is_dir():
        raise NotFound(f"the output folder {rel or '/'} on claim {claim!r} does not exist yet; {_status_words(job)}")
    return root


def list_outputs(root: Path) -> list[OutputFile]:
    """Every regular file under root (symlinks not followed), as paths relative to it, sorted."""
    files = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        for fname in sorted(filenames):
            full = Path(dirpath) / fname
            try:
                st = full.lstat()
            except OSError:
                continue
            if not full.is_file() or full.is_symlink():
                continue
            mtime = datetime.fromtimestamp(st.st_mtime, tz=timezone.utc).isoformat().replace("+00:00", "Z")
            files.append(OutputFile(path=full.relative_to(root).as_posix(), size=st.st_size, mtime=mtime))
    files.sort(key=lambda f: f.path)
    return files


def read_output(root: Path, path: str, limit: int) -> bytes:
    """At most `limit` bytes of one file; a path that would leave `root` is refused.

    Raises:
        InvalidRequest: the path is absolute, leaves the output folder, or limit is negative.
        NotFound: no such file.
    """
    if limit < 0:
        raise InvalidRequest(f"limit must be zero or more, not {limit}")
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not path.strip():
        raise InvalidRequest(f"output path {path!r} must be relative and stay inside the job's output folder")
    full = (root / Path(*rel.parts)).resolve()
    if not full.is_relative_to(root.resolve()):
        raise InvalidRequest(f"output path {path!r} leaves the job's output folder")
    if not full.is_file():
        raise NotFound(f"no output file {path!r}")
    with open(full, "rb") as fh:
        return fh.read(limit)


def describe_mounts(output_mounts: dict[str, Any]) -> str:
    return ", ".join(f"{k} -> {v}" for k, v in sorted(output_mounts.items())) or "none"
