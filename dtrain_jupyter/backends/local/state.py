"""On-disk state of local jobs: one folder per job, a JSON record written atomically.

Layout under the state dir (namespaces are plain folders, so the same manifest means the same
thing as on a cluster):

    <namespace>/<plural>/<name>/job.json      the record (manifest, conditions, replicas, events)
    <namespace>/<plural>/<name>/logs/         <pod>.log and <pod>.previous.log
    <namespace>/<plural>/<name>/run/          exit and pid files of the wrappers, MPI hostfile
    <namespace>/<plural>/<name>/output/       DTRAIN_OUTPUT_DIR unless an output root is given
    <namespace>/<plural>/<name>/code.tar.gz   a script folder's archive, as it was sent
    <namespace>/<plural>/<name>/code/         that archive unpacked once: the replicas' DTRAIN_CODE_DIR

A record is a plain dict so it survives a server restart unchanged; `backend.py` owns its keys.
"""

from __future__ import annotations

import fcntl
import contextlib
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from ...code.runner import CodeArchiveError, unpack_code
from ...errors import BackendUnavailable, InvalidRequest
from ...model.code_archive import CodeArchive

# DNS-1123 label, as Kubernetes requires for namespaces; also keeps paths inside the state dir.
_DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
RECORD = "job.json"
LOCK = ".lock"
# How long `acquire` looks again for a lock another backend holds before refusing.
LOCK_WAIT_S = 2.0
CODE_ARCHIVE = "code.tar.gz"
CODE_DIR = "code"


def check_namespace(namespace: str) -> str:
    """Return the namespace if it is a valid name. Raises InvalidRequest otherwise."""
    if not isinstance(namespace, str) or not _DNS1123.match(namespace):
        raise InvalidRequest(f"{namespace!r} is not a valid namespace name (lowercase letters, digits and '-')",
                             namespace=str(namespace))
    return namespace


def check_name(name: str) -> str:
    """Return the job name if it could be one (so it is safe as a folder name). Raises InvalidRequest."""
    if not isinstance(name, str) or not _DNS1123.match(name):
        raise InvalidRequest(f"{name!r} is not a valid job name", name=str(name))
    return name


class StateStore:
    """The folder tree of local jobs; every write is atomic (temp file + rename)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def acquire(self):
        """Lock the state dir for one backend; two monitors on one folder would restart replicas twice.

        Returns the open lock file (closing it releases the lock). Raises BackendUnavailable.
        """
        f = open(self.root / LOCK, "a+")
        # A backend stopped a moment ago may still hold it for an instant (a replica's start forked
        # with the lock's descriptor before closing it for exec): look again for a short while.
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                return f
            except OSError:
                if time.monotonic() >= deadline:
                    f.close()
                    raise BackendUnavailable(f"another server already runs the local jobs in {self.root}; "
                                             "stop it or give this one its own state dir") from None
                time.sleep(0.05)

    def job_dir(self, namespace: str, plural: str, name: str) -> Path:
        return self.root / check_namespace(namespace) / plural / check_name(name)

    def exists(self, namespace: str, plural: str, name: str) -> bool:
        return (self.job_dir(namespace, plural, name) / RECORD).exists()

    def save(self, record: dict[str, Any]) -> None:
        """Write the job's record atomically.

        Raises:
            BackendUnavailable: the state folder cannot be written (disk full, read-only, gone).
        """
        folder = self.job_dir(record["namespace"], record["plural"], record["name"])
        tmp = folder / (RECORD + ".tmp")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as f:
                json.dump(record, f)
            os.replace(tmp, folder / RECORD)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise BackendUnavailable(
                f"cannot write the state of {record['kind']} {record['name']!r} in {folder}: "
                f"{e.strerror or e} (is the disk of c.DTrain.state_dir full?)"
            ) from e

    def save_code(self, folder: Path, code: CodeArchive) -> Path:
        """Keep a script folder's archive in the job's folder and unpack it there once (as the
        runner would: the same checks); returns the unpacked folder.

        Raises:
            InvalidRequest: the archive is not a tar.gz, or holds a path out of its folder.
            OSError: the state folder cannot be written.
        """
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CODE_ARCHIVE).write_bytes(code.data)
        target = folder / CODE_DIR
        try:
            unpack_code(code.data, code.sha256, str(target))
        except CodeArchiveError as e:
            raise InvalidRequest(f"code: {e}", field="code.archive") from None
        return target

    def load_all(self) -> Iterator[tuple[Path, dict[str, Any] | None]]:
        """Every job folder with its record, or None when the record cannot be read."""
        for record_file in sorted(self.root.glob(f"*/*/*/{RECORD}")):
            try:
                data = json.loads(record_file.read_text())
                yield record_file.parent, data if isinstance(data, dict) else None
            except (OSError, ValueError):
                yield record_file.parent, None

    def remove(self, namespace: str, plural: str, name: str) -> None:
        folder = self.job_dir(namespace, plural, name)
        shutil.rmtree(folder, ignore_errors=True)
        # Leave no empty plural/namespace folders behind.
        for parent in (folder.parent, folder.parent.parent):
            try:
                parent.rmdir()
            except OSError:
                break
