"""A notebook function or cell as a JobSpec: `FunctionJob(train, kind="PyTorchJob", workers=2, args=...)`.

Every replica runs the same command, `python -u -c <runner> SOURCE CALL` (an MPIJob's Launcher
starts it on every slot with `mpirun`): the runner is `runner.py`, standard library only, the
source is what `capture.py` carried, and CALL is the function's name and arguments as JSON. So
the manifest is an ordinary one: it can be read, saved and submitted again in any image that has
Python, without this library. The code travels inside the manifest, as container arguments;
so do the packages to install first (`packages=`), in CALL.
"""

from __future__ import annotations

import json
import re
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from ..errors import InvalidRequest
from ..model.builders import MPIJob, PyTorchJob, TFJob
from ..model.kinds import preferred_version, versions_of
from ..model.spec import JobSpec
from . import args as job_args
from .capture import Carried, capture_cell, capture_function
from .packages import check_packages

__all__ = ["FunctionJob", "cell_job", "served_mpi_version", "MAX_ARGUMENT_BYTES", "KINDS"]

KINDS = ("PyTorchJob", "TFJob", "MPIJob")
# The carried source and the call's JSON each travel as one command-line argument of the
# replica, and Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN); this leaves room.
MAX_ARGUMENT_BYTES = 96 * 1024
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
    return _job(carried, call, kind=kind, workers=workers, name=name or _name_for(carried.function or "job"),
                image=image, cpu=cpu, memory=memory, gpu=gpu, env=env, namespace=namespace, mpi_version=mpi_version)


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
    return _job(carried, call, kind=kind, workers=workers, name=name or _name_for("cell"), image=image,
                cpu=cpu, memory=memory, gpu=gpu, env=None, namespace=namespace, mpi_version=mpi_version)


def _job(carried: Carried, call: dict[str, Any], *, kind: str, workers: int | None, name: str, image: str | None,
         cpu: Any, memory: Any, gpu: int | None, env: Mapping[str, Any] | None, namespace: str | None,
         mpi_version: str | None) -> JobSpec:
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
        return MPIJob(command=launcher, version=mpi_version, **common)
    # An exception in the code is a failure to report, not a reason to run the replica again.
    builder = PyTorchJob if kind == "PyTorchJob" else TFJob
    return builder(command=python, restart_policy="Never", **common)


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
