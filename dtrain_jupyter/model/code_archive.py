"""CodeArchive: a folder of code packed to travel with a job (`code/folder.py` packs it).

The manifest stays ordinary: every replica mounts the volume CODE_VOLUME, a ConfigMap named
`<job name>-code` whose binaryData key CONFIGMAP_KEY holds the archive, at CODE_MOUNT, and its
runner unpacks it. The archive itself travels beside the manifest in a create request
(`{"manifest": ..., "code": CodeArchive.to_body()}`); the Kubernetes backend stores it in that
ConfigMap, owned by the job, the local backend in the job's own folder.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Iterator

from ..errors import InvalidRequest

__all__ = ["CodeArchive", "CONFIGMAP_KEY", "CODE_VOLUME", "CODE_MOUNT", "CODE_JOB_LABEL",
           "CODE_SHA256_ANNOTATION", "MAX_ARCHIVE_BYTES", "MAX_BODY_BYTES",
           "configmap_name", "code_configmap_of", "code_volumes", "pod_specs"]

CONFIGMAP_KEY = "code.tar.gz"
CODE_VOLUME = "dtrain-code"
CODE_MOUNT = "/dtrain/code-archive"
# On a cluster the code's ConfigMap carries its job's name (a label, to find it) and its hash.
CODE_JOB_LABEL = "dtrain-jupyter.io/job-name"
CODE_SHA256_ANNOTATION = "dtrain-jupyter.io/code-sha256"
# A ConfigMap holds at most 1 MiB (1,048,576 bytes) in etcd, metadata included; the packed
# archive stays under this on every backend, so a job that runs locally also fits a cluster.
MAX_ARCHIVE_BYTES = 1_000_000
# The archive's share of a create request: base64 makes 4 bytes of 3, plus the field's JSON.
MAX_BODY_BYTES = 4 * -(-MAX_ARCHIVE_BYTES // 3) + 1024


def configmap_name(job_name: str) -> str:
    """The ConfigMap that holds the code of job `job_name`."""
    return f"{job_name}-code"


@dataclass(frozen=True)
class CodeArchive:
    """A packed folder: tar.gz bytes, their sha256 (hex), how many files, and the script to run."""

    data: bytes
    sha256: str
    files: int
    entry: str

    @classmethod
    def of(cls, data: bytes, *, files: int, entry: str) -> "CodeArchive":
        """The archive of `data`, its hash computed here."""
        return cls(data=data, sha256=hashlib.sha256(data).hexdigest(), files=files, entry=entry)

    def to_body(self) -> dict[str, Any]:
        """The `code` field of a create request."""
        return {"archive": base64.b64encode(self.data).decode("ascii"), "sha256": self.sha256,
                "files": self.files, "entry": self.entry}

    @classmethod
    def from_body(cls, body: Any, field: str = "code") -> "CodeArchive":
        """Read and check a request's `code` field.

        Raises:
            InvalidRequest: not a mapping, an archive that is not base64, too big, or whose
                sha256 is not the one sent (`fields["field"]` names the part).
        """
        if not isinstance(body, dict):
            raise InvalidRequest(f"{field} must be an object {{archive, sha256, files, entry}}", field=field)
        archive, digest = body.get("archive"), body.get("sha256")
        if not isinstance(archive, str) or not archive:
            raise InvalidRequest(f"{field}.archive must be the archive as base64 text", field=f"{field}.archive")
        if not isinstance(digest, str) or not digest:
            raise InvalidRequest(f"{field}.sha256 must be the archive's sha256 in hex", field=f"{field}.sha256")
        if len(archive) > MAX_BODY_BYTES:
            raise InvalidRequest(f"{field}.archive is {len(archive)} base64 characters; a job's code archive is "
                                 f"at most {MAX_ARCHIVE_BYTES} bytes packed", field=f"{field}.archive",
                                 limit=MAX_ARCHIVE_BYTES)
        try:
            data = base64.b64decode(archive, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"{field}.archive is not base64", field=f"{field}.archive") from None
        if len(data) > MAX_ARCHIVE_BYTES:
            raise InvalidRequest(f"{field}.archive is {len(data)} bytes; a job's code archive is at most "
                                 f"{MAX_ARCHIVE_BYTES} bytes (a ConfigMap holds 1 MiB)", field=f"{field}.archive",
                                 size=len(data), limit=MAX_ARCHIVE_BYTES)
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest.lower():
            raise InvalidRequest(f"{field}.sha256 is {digest}, the archive's is {actual}: it changed on the way",
                                 field=f"{field}.sha256")
        files, entry = body.get("files", 0), body.get("entry", "")
        if isinstance(files, bool) or not isinstance(files, int) or files < 0:
            raise InvalidRequest(f"{field}.files must be a whole number", field=f"{field}.files")
        if not isinstance(entry, str):
            raise InvalidRequest(f"{field}.entry must be the script's path in the archive", field=f"{field}.entry")
        return cls(data=data, sha256=actual, files=files, entry=entry)


def pod_specs(manifest: Any) -> Iterator[dict[str, Any]]:
    """Every replica's pod spec (`spec.<kind>ReplicaSpecs.*.template.spec`) that is a mapping, in
    order; read defensively, as the manifest may not be validated. Changing a yielded spec
    changes the manifest."""
    spec = manifest.get("spec") if isinstance(manifest, dict) else None
    for key, replica_specs in spec.items() if isinstance(spec, dict) else ():
        if not (isinstance(key, str) and key.endswith("ReplicaSpecs") and isinstance(replica_specs, dict)):
            continue
        for rspec in replica_specs.values():
            template = rspec.get("template") if isinstance(rspec, dict) else None
            pod = template.get("spec") if isinstance(template, dict) else None
            if isinstance(pod, dict):
                yield pod


def code_volumes(manifest: Any) -> Iterator[dict[str, Any]]:
    """Every replica's CODE_VOLUME entry that reads a ConfigMap (a mapping under `configMap`)."""
    for pod in pod_specs(manifest):
        volumes = pod.get("volumes")
        for volume in volumes if isinstance(volumes, list) else []:
            if isinstance(volume, dict) and volume.get("name") == CODE_VOLUME \
                    and isinstance(volume.get("configMap"), dict):
                yield volume


def code_configmap_of(manifest: Any) -> str | None:
    """The ConfigMap the manifest's CODE_VOLUME reads, in the first replica spec that has one;
    None when no replica mounts code."""
    for volume in code_volumes(manifest):
        name = volume["configMap"].get("name")
        if isinstance(name, str) and name:
            return name
    return None
