"""A cluster job's output files, read where the Jupyter server sees the same volume claim.

The wizard's output location on a cluster is a PersistentVolumeClaim mounted into every
replica, with `DTRAIN_OUTPUT_DIR` pointing into that mount. The Jupyter server reads it where
the same claim is mounted in its own pod (`output_mounts`: claim name -> local path). When it
is not, there is nothing to read: we say so, with the job's status, so the panel can show the
last log lines of the deciding replica instead. What may be listed and read there, and how, is
`backends.output_files`, the same for every backend.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import AsyncGenerator

from ...errors import NotFound
from ...model.job import Job, OutputFile
from ...model.kinds import Framework
from ..output_files import list_files, read_file, stream_file

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


def output_location(job: Job, fw: Framework) -> dict[str, str]:
    """`{"claim", "path"}`: the claim the job writes its outputs to and the folder inside it ("/" its root).

    Raises:
        NotFound: no replica sets DTRAIN_OUTPUT_DIR on a volume claim mount.
    """
    return _location(*_claim_and_relpath(job, fw))


def _location(claim: str, rel: PurePosixPath) -> dict[str, str]:
    return {"claim": claim, "path": str(PurePosixPath("/", *rel.parts))}


def output_root(job: Job, fw: Framework, output_mounts: dict[str, str]) -> Path:
    """The local folder holding the job's outputs.

    Raises:
        NotFound: no output location, its claim is not mounted in the Jupyter server, or the
            folder does not exist yet; the message names the job's status, and the last two
            carry the job's `location`.
    """
    claim, rel = _claim_and_relpath(job, fw)
    location = _location(claim, rel)
    local = output_mounts.get(claim)
    if not local:
        raise NotFound(
            f"the output volume claim {claim!r} of {job.kind} {job.name!r} is not mounted in the Jupyter "
            f"server (output_mounts); {_status_words(job)}", location=location,
        )
    root = (Path(local) / Path(*rel.parts)) if rel.parts else Path(local)
    if not root.is_dir():
        raise NotFound(f"the output folder {location['path']} on claim {claim!r} does not exist yet; "
                       f"{_status_words(job)}", location=location)
    return root


def list_outputs(root: Path) -> list[OutputFile]:
    """Every file under the job's output folder that may be read, sorted by path (`output_files`)."""
    return list_files(root)


def read_output(root: Path, path: str, limit: int) -> bytes:
    """At most `limit` bytes of one output file (`output_files`). Raises InvalidRequest, NotFound."""
    return read_file(root, path, limit)


async def stream_output(root: Path, path: str) -> AsyncGenerator[bytes, None]:
    """One whole output file as chunks, opened now (`output_files`). Raises InvalidRequest, NotFound."""
    return await stream_file(root, path)
