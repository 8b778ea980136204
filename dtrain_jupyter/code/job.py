"""Notebook code as a JobSpec: `FunctionJob(train, kind="PyTorchJob", workers=2, args=...)`, a cell
(`cell_job`) or a script folder (`FolderJob("train.py", workdir=".", args=["--lr", "0.1"])`).

Every replica runs the same command, `python -u -c <runner> SOURCE CALL` (an MPIJob's Launcher
starts it on every slot with `mpirun`): the runner is `runner.py`, standard library only, the
source is what `capture.py` carried, and CALL is the function's name and arguments as JSON. So
the manifest is an ordinary one: it can be read, saved and submitted again in any image that has
Python, without this library. The code travels inside the manifest, as container arguments;
so do the packages to install first (`packages=`), in CALL. A script folder is too large for
that: its files travel as a CodeArchive beside the manifest (a `CodeJobSpec` holds both), which
every replica mounts from the ConfigMap `<name>-code` and the runner unpacks.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..errors import InvalidRequest
from ..model.builders import MPIJob, PyTorchJob, TFJob
from ..model.code_archive import CODE_MOUNT, CODE_VOLUME, CONFIGMAP_KEY, CodeArchive, configmap_name
from ..model.kinds import preferred_version, versions_of
from ..model.spec import JobSpec
from . import args as job_args
from .capture import Carried, capture_cell, capture_function
from .folder import pack_folder
from .origin import ANNOTATION as CODE_ANNOTATION
from .packages import check_packages

__all__ = ["FunctionJob", "FolderJob", "CodeJobSpec", "cell_job", "job_from_carried", "notebook_path",
           "served_mpi_version", "MAX_ARGUMENT_BYTES", "KINDS", "CODE_ANNOTATION"]

KINDS = ("PyTorchJob", "TFJob", "MPIJob")
# The carried source and the call's JSON each travel as one command-line argument of the
# replica, and Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN); this leaves room.
MAX_ARGUMENT_BYTES = 96 * 1024
# Where a job made from notebook code says where that code came from (compact JSON): the panel's
# job detail and a later re-run read it; the replicas never do.
# A job name is the function's name plus a random suffix; pod names append "-worker-N" to it
# and must stay DNS labels (63 characters).
_NAME_PREFIX_CHARS = 40


@lru_cache(maxsize=1)
def runner_program() -> str:
    """The text of `runner.py`: what `python -c` runs on every replica."""
    return Path(__file__).with_name("runner.py").read_text(encoding="utf-8")


def FunctionJob(function: Callable[..., Any], *, args: Mapping[str, Any] | None = None, kind: str = "PyTorchJob",
                workers: int | None = None, name: str | None = None, image: str | None = None,
                cpu: str | int | float | None = None, memory: str | int | None = None, gpu: int | None = None,
                env: Mapping[str, Any] | None = None, every_rank: bool = False,
                packages: Iterable[str] | None = None, namespace: str | None = None,
                mpi_version: str | None = None) -> JobSpec:
    """A job whose every replica calls `function(**args)`, the builder form of `Client.run`.

    Args:
        function: a function defined in the notebook; the helpers, classes, imports and constants
            it reads are carried with it (see `capture.py`).
        args: its keyword arguments, JSON values (they arrive as the same Python values).
        kind: "PyTorchJob" (DDP: one Master and `workers` Workers), "TFJob" (`workers` Workers,
            each with TF_CONFIG) or "MPIJob" (mpirun starts the function on `workers` slots).
        workers: Worker replicas, as in the kind's builder (default: PyTorchJob 1, TFJob 2, MPIJob 2).
        name: the job's name (default: the function's name and a random suffix).
        image: the image on Kubernetes (default: the kind's framework image); it needs Python.
        cpu, memory, gpu: per replica ("2", "4Gi", 1).
        env: extra environment variables of every replica.
        every_rank: report every rank's return value, not only rank 0's.
        packages: PEP 508 requirements (`["einops", "numpy>=1.26"]`) each replica installs with
            pip before the code starts, into a cache folder that goes first on its path (never
            into the image's or the server's own environment); a re-run with the same ones
            installs nothing. PIP_* variables in `env` reach pip (PIP_INDEX_URL, ...).
        namespace: the job's namespace (default: the backend's).
        mpi_version: for an MPIJob, "v2beta1" (MPI Operator) or "v1" (Training Operator); default
            the kind's preferred version (`served_mpi_version` picks the one a backend serves).
    Returns:
        The JobSpec; `.to_yaml()` shows the manifest, `Client.create` submits it.
    Raises:
        InvalidRequest: the function, a name it reads, an argument or a requirement cannot be
            sent to a job (`fields["names"]` lists them: `args['lr']`, `packages[1]`), or the
            code is larger than MAX_ARGUMENT_BYTES.
        InvalidJob: the job itself is one the operator would refuse (a bad name, count, quantity).
    """
    wanted = check_packages(packages)
    carried = capture_function(function)
    checked = job_args.check_args(args, function)
    call = {"function": carried.function, "args": checked, "every_rank": bool(every_rank)}
    if wanted:
        call["packages"] = wanted
    origin = {"from": "function", "function": carried.function, "notebook": notebook_path()}
    return job_from_carried(carried, call, origin=origin, kind=kind, workers=workers,
                            name=name or _name_for(carried.function or "job"), image=image, cpu=cpu,
                            memory=memory, gpu=gpu, env=env, namespace=namespace, mpi_version=mpi_version)


@dataclass
class CodeJobSpec(JobSpec):
    """A JobSpec whose replicas run a script folder: `code` is the archive its manifest's
    CODE_VOLUME mounts; `Client.create` sends the two together."""

    code: CodeArchive | None = field(default=None, repr=False, compare=False)


def FolderJob(script: str, workdir: str | os.PathLike[str] = ".", *, args: Iterable[str] | None = None,
              kind: str = "PyTorchJob", workers: int | None = None, name: str | None = None,
              image: str | None = None, cpu: str | int | float | None = None, memory: str | int | None = None,
              gpu: int | None = None, env: Mapping[str, Any] | None = None, every_rank: bool = False,
              packages: Iterable[str] | None = None, namespace: str | None = None,
              mpi_version: str | None = None) -> CodeJobSpec:
    """A job whose every replica runs `python SCRIPT ARGS` in a snapshot of the folder `workdir`.

    The folder is packed now (`folder.pack_folder`: .gitignore and .dtrainignore honoured, at
    most MAX_ARCHIVE_BYTES packed); later edits to it do not reach the job.

    Args:
        script: the script's path relative to `workdir` ("train.py", "src/train.py").
        workdir: the folder to ship; the script runs there, with it first on sys.path.
        args: the script's command-line arguments (its sys.argv[1:]), strings.
        The rest: as `FunctionJob`. The script's result is None; `Client.result` raises
        RemoteError when it raised or exited with a status other than 0.
    Returns:
        The CodeJobSpec: `.to_yaml()` shows the manifest, `.code` the archive; `Client.create` submits both.
    Raises:
        InvalidRequest: a script, argument or requirement that cannot be sent (`fields["names"]`),
            a link out of the folder, or a folder too big (with its five largest files).
        InvalidJob: as `FunctionJob`.
    """
    argv = _script_args(args)
    wanted = check_packages(packages)
    archive = pack_folder(workdir, script)
    call: dict[str, Any] = {"script": archive.entry, "argv": argv, "archive": f"{CODE_MOUNT}/{CONFIGMAP_KEY}",
                            "sha256": archive.sha256, "every_rank": bool(every_rank)}
    if wanted:
        call["packages"] = wanted
    origin = {"from": "folder", "folder": str(Path(workdir).resolve()), "entry": archive.entry,
              "files": archive.files, "bytes": len(archive.data), "sha256": archive.sha256}
    job_name = name or _name_for(Path(archive.entry).stem or "script")
    job = job_from_carried(Carried(source="", function=None, names=()), call, origin=origin, kind=kind,
                           workers=workers, name=job_name, image=image, cpu=cpu, memory=memory, gpu=gpu, env=env,
                           namespace=namespace, mpi_version=mpi_version)
    return with_code_volume(job, archive)


def with_code_volume(job: JobSpec, archive: CodeArchive) -> CodeJobSpec:
    """`job` whose every replica mounts ConfigMap `<name>-code` (key CONFIGMAP_KEY) read-only at
    CODE_MOUNT, with `archive` as its `code`."""
    manifest = job.to_manifest()
    volume = {"name": CODE_VOLUME, "configMap": {"name": configmap_name(job.name)}}
    mount = {"name": CODE_VOLUME, "mountPath": CODE_MOUNT, "readOnly": True}
    replica_specs = manifest["spec"][job.framework.replica_key]
    for rspec in replica_specs.values():
        pod = rspec["template"]["spec"]
        pod["volumes"] = [v for v in pod.get("volumes") or [] if v.get("name") != CODE_VOLUME] + [volume]
        for container in pod["containers"]:
            container["volumeMounts"] = [m for m in container.get("volumeMounts") or []
                                         if m.get("name") != CODE_VOLUME] + [mount]
    spec = CodeJobSpec.from_manifest(manifest)
    spec.code = archive
    return spec


def _script_args(args: Any) -> list[str]:
    if args is None:
        return []
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise InvalidRequest(f"args of a script are its command-line arguments, a list of strings such as "
                             f"['--lr', '0.1'], not {type(args).__name__}", names=["args"])
    for index, value in enumerate(args):
        if not isinstance(value, str):
            raise InvalidRequest(f"args[{index}] is {value!r} ({type(value).__name__}): a script's arguments are "
                                 f"strings (write {str(value)!r})", names=[f"args[{index}]"])
    return list(args)


def cell_job(cell: str, notebook: Mapping[str, Any], *, kind: str = "PyTorchJob", workers: int | None = None,
             name: str | None = None, image: str | None = None, cpu: str | int | float | None = None,
             memory: str | int | None = None, gpu: int | None = None, every_rank: bool = False,
             packages: Iterable[str] | None = None, namespace: str | None = None,
             mpi_version: str | None = None) -> JobSpec:
    """A job whose every replica runs a cell's text as a script (what `%%dtrain run` submits).

    The cell's last line, when it is an expression not ending in ";", is the result, as a
    notebook would show it. Names it reads from `notebook` are carried as for a function.

    Raises:
        InvalidRequest, InvalidJob: as `FunctionJob`.
    """
    wanted = check_packages(packages)
    carried = capture_cell(cell, notebook)
    call = {"cell": True, "cell_line": carried.cell_line, "last_expression": not cell.rstrip().endswith(";"),
            "every_rank": bool(every_rank)}
    if wanted:
        call["packages"] = wanted
    return job_from_carried(carried, call, origin={"from": "cell", "notebook": notebook_path()}, kind=kind,
                            workers=workers, name=name or _name_for("cell"), image=image, cpu=cpu,
                            memory=memory, gpu=gpu, env=None, namespace=namespace, mpi_version=mpi_version)


def notebook_path(environ: Mapping[str, str] | None = None) -> str:
    """The path of the notebook whose kernel runs this code, "" outside one: jupyter_server sets
    JPY_SESSION_NAME in the environment of a kernel it starts for a notebook session."""
    env = os.environ if environ is None else environ
    return env.get("JPY_SESSION_NAME", "")


def job_from_carried(carried: Carried, call: dict[str, Any], *, origin: dict[str, Any], kind: str,
                     workers: int | None, name: str, image: str | None, cpu: Any, memory: Any, gpu: int | None,
                     env: Mapping[str, Any] | None, namespace: str | None, mpi_version: str | None) -> JobSpec:
    """The job whose every replica runs `runner.py` with `carried.source` and `call` (the CALL JSON
    the runner's docstring describes); `origin` becomes the CODE_ANNOTATION, e.g.
    `{"from": "function", "function": "train", "notebook": "work/fit.ipynb"}`.

    Raises:
        InvalidRequest, InvalidJob: as `FunctionJob`.
    """
    if kind not in KINDS:
        raise InvalidRequest(f"kind {kind!r} cannot run a notebook function: use one of {', '.join(KINDS)}",
                             names=["kind"])
    call_text = json.dumps(call, separators=(",", ":"))
    for what, text in (("the carried code", carried.source), ("the arguments' JSON", call_text)):
        size = len(text.encode("utf-8"))
        if size > MAX_ARGUMENT_BYTES:
            raise InvalidRequest(
                f"{what} is {size} bytes; a job's code travels inside its manifest, at most "
                f"{MAX_ARGUMENT_BYTES} bytes ({MAX_ARGUMENT_BYTES // 1024} KiB) each for the code and the "
                "arguments: keep large data out of notebook constants and arguments (read it in the function)",
                names=["source" if what == "the carried code" else "args"], size=size, limit=MAX_ARGUMENT_BYTES)
    python = ["python", "-u", "-c", runner_program()]
    code = [carried.source, call_text]
    # cleanPodPolicy None: when rank 0 ends the job, the other replicas still run to their own end,
    # so with every_rank their reports reach their logs (Client.result waits for them).
    common: dict[str, Any] = dict(name=name, image=image, env=env, cpu=cpu, memory=memory, gpu=gpu,
                                  namespace=namespace, args=code, clean_pod_policy="None")
    if workers is not None:
        common["workers"] = workers
    if kind == "MPIJob":
        # The Launcher only runs mpirun, which starts the runner once per slot of the Workers.
        slots = workers if workers is not None else 2
        launcher = ["mpirun", "-np", str(slots), "--allow-run-as-root", *python]
        job = MPIJob(command=launcher, version=mpi_version, **common)
    else:
        # An exception in the code is a failure to report, not a reason to run the replica again.
        builder = PyTorchJob if kind == "PyTorchJob" else TFJob
        job = builder(command=python, restart_policy="Never", **common)
    return annotated(job, {CODE_ANNOTATION: json.dumps(origin, separators=(",", ":"))})


def annotated(job: JobSpec, annotations: Mapping[str, str]) -> JobSpec:
    """`job` with `annotations` added to its metadata. JobSpec does not model annotations, so they
    are written into its manifest, which is read back: they then stay through later edits."""
    manifest = job.to_manifest()
    manifest.setdefault("metadata", {}).setdefault("annotations", {}).update(annotations)
    return JobSpec.from_manifest(manifest)


def served_mpi_version(backends: list[dict[str, Any]], backend: str | None) -> str:
    """The MPIJob version to write for a backend, from `Client.backends()`: the preferred one
    (`model.kinds.preferred_version`, v2beta1) unless the backend's cluster serves MPIJob only at
    another (the Training Operator's v1; a cluster has one of the two CRDs)."""
    preferred = preferred_version("MPIJob")
    assert preferred is not None, "model/kinds.py knows MPIJob"
    for described in backends:
        if described.get("backend") == backend or (backend is None and described.get("default")):
            kinds = described.get("kinds")
            served = kinds.get("MPIJob", []) if isinstance(kinds, dict) else []
            if served and preferred.api_version not in served:
                other = next((fw.version for fw in versions_of("MPIJob") if fw.api_version in served), None)
                if other is not None:
                    return other
    return preferred.version


def _name_for(base: str) -> str:
    """A DNS-1035 job name from a Python name: `fit_model` -> `fit-model-3f9a1`."""
    words = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-")
    if not words or not words[0].isalpha():
        words = "job-" + words if words else "job"
    return f"{words[:_NAME_PREFIX_CHARS].rstrip('-')}-{secrets.token_hex(3)[:5]}"
