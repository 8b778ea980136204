"""`PyTorchJob(...)`, `TFJob(...)`, `MPIJob(...)`: a JobSpec from keyword arguments a person can guess.

    >>> job = PyTorchJob("mnist", command=["python", "train.py"], workers=2, cpu="2", memory="4Gi")
    >>> sorted(job.roles), job.roles["Worker"].replicas
    (['Master', 'Worker'], 2)

Counts use the manifest's words: `workers` is the number of Worker replicas (a PyTorchJob also
has its one Master; an MPIJob its one Launcher). `cpu`, `memory` and `gpu` are per replica and
become container limits. `image` matters on Kubernetes only (the local backend runs the command
on this machine); each kind has a default so a local job needs none. Every builder validates
the job it makes, so a mistake is an InvalidJob naming the field, not a failure at submit time.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidJob, ValidationIssue
from .kinds import preferred_version, versions_of
from .spec import JobSpec, OutputVolume, RoleSpec

__all__ = ["PyTorchJob", "TFJob", "MPIJob", "DEFAULT_IMAGES"]

# Images with the framework installed, for jobs that do not name one (used on Kubernetes only).
DEFAULT_IMAGES = {
    "PyTorchJob": "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
    "TFJob": "docker.io/tensorflow/tensorflow:2.16.1",
    "MPIJob": "docker.io/horovod/horovod:0.28.1",
}


def PyTorchJob(name: str, image: str | None = None, command: Sequence[str] | str | None = None,
               args: Sequence[str] | str | None = None, env: Mapping[str, Any] | None = None, *,
               workers: int = 1, cpu: str | int | float | None = None, memory: str | int | None = None,
               gpu: int | None = None, nproc_per_node: int | str | None = None, namespace: str | None = None,
               working_dir: str | None = None, restart_policy: str | None = "OnFailure",
               backoff_limit: int | None = None, clean_pod_policy: str | None = None,
               ttl_seconds_after_finished: int | None = None, active_deadline_seconds: int | None = None,
               output_volume: OutputVolume | str | None = None) -> JobSpec:
    """A PyTorchJob: one Master and `workers` Workers, each running `command` (DDP, torchrun).

    Args:
        name: job name (a DNS-1035 label: lower-case letters, digits, '-').
        command, args: what each replica runs; a string is split like a shell would.
        workers: Worker replicas besides the Master (0: the Master alone).
        cpu, memory, gpu: per replica ("2", "4Gi", 1).
        nproc_per_node: processes per replica for torchrun ("auto", "cpu", "gpu" or a number).
        output_volume: an OutputVolume, or a PersistentVolumeClaim name mounted at /output.

    Raises:
        InvalidJob: an argument makes a job the operator would refuse.
    """
    roles = {"Master": _role(1, cpu, memory, gpu)}
    if workers:
        roles["Worker"] = _role(workers, cpu, memory, gpu)
    npn = None if nproc_per_node is None else str(nproc_per_node)
    return _finish(JobSpec(kind="PyTorchJob", nproc_per_node=npn, roles=roles, **_common(locals())))


def TFJob(name: str, image: str | None = None, command: Sequence[str] | str | None = None,
          args: Sequence[str] | str | None = None, env: Mapping[str, Any] | None = None, *,
          workers: int = 2, ps: int = 0, chief: bool | int = False, evaluator: bool | int = False,
          cpu: str | int | float | None = None, memory: str | int | None = None, gpu: int | None = None,
          namespace: str | None = None, working_dir: str | None = None, restart_policy: str | None = "OnFailure",
          backoff_limit: int | None = None, clean_pod_policy: str | None = None,
          ttl_seconds_after_finished: int | None = None, active_deadline_seconds: int | None = None,
          output_volume: OutputVolume | str | None = None) -> JobSpec:
    """A TFJob: `workers` Workers, optionally a Chief, `ps` parameter servers and an Evaluator.

    Every replica gets TF_CONFIG (when there is more than one). GPUs go to Chief, Workers and
    Evaluator, not to parameter servers. Other arguments as for `PyTorchJob`.

    Raises:
        InvalidJob: an argument makes a job the operator would refuse.
    """
    roles: dict[str, RoleSpec] = {}
    if chief:
        roles["Chief"] = _role(int(chief), cpu, memory, gpu)
    if ps:
        roles["PS"] = _role(ps, cpu, memory, None)
    if workers:
        roles["Worker"] = _role(workers, cpu, memory, gpu)
    if evaluator:
        roles["Evaluator"] = _role(int(evaluator), cpu, memory, gpu)
    return _finish(JobSpec(kind="TFJob", roles=roles, **_common(locals())))


def MPIJob(name: str, image: str | None = None, command: Sequence[str] | str | None = None,
           args: Sequence[str] | str | None = None, env: Mapping[str, Any] | None = None, *,
           workers: int = 2, slots_per_worker: int | None = 1, version: str | None = None,
           worker_command: Sequence[str] | str | None = None, worker_args: Sequence[str] | str | None = None,
           cpu: str | int | float | None = None, memory: str | int | None = None, gpu: int | None = None,
           namespace: str | None = None, working_dir: str | None = None, restart_policy: str | None = None,
           backoff_limit: int | None = None, clean_pod_policy: str | None = None,
           ttl_seconds_after_finished: int | None = None, active_deadline_seconds: int | None = None,
           output_volume: OutputVolume | str | None = None) -> JobSpec:
    """An MPIJob (Horovod or plain MPI): a Launcher runs `command` (mpirun ...) over `workers` Workers.

    Args:
        command, args: the Launcher's command, e.g. ["mpirun", "-np", "2", "python", "train.py"].
        worker_command, worker_args: what Workers run; by default the operator's (sshd in
            v2beta1, sleep in v1), which is what mpirun needs.
        slots_per_worker: MPI slots (processes) per Worker.
        version: "v2beta1" (MPI Operator) or "v1" (Training Operator); a cluster serves one.
            Default: the kind's preferred version (`model.kinds.preferred_version`: v2beta1).
        gpu: per Worker; the Launcher only coordinates. Other arguments as for `PyTorchJob`.

    Raises:
        InvalidJob: an argument makes a job the operator would refuse.
    """
    preferred = preferred_version("MPIJob")
    assert preferred is not None, "model/kinds.py knows MPIJob"
    version = version or preferred.version
    known = [preferred.version, *(fw.version for fw in versions_of("MPIJob") if fw is not preferred)]
    if version not in known:
        raise InvalidJob([ValidationIssue("apiVersion",
                                          f"MPIJob version {version!r} is not served: use {' or '.join(known)}")])
    worker = _role(workers, cpu, memory, gpu)
    worker.command = _strings(worker_command, "worker_command")
    worker.args = _strings(worker_args, "worker_args")
    roles = {"Launcher": _role(1, cpu, memory, None), "Worker": worker}
    job = JobSpec(kind="MPIJob", api_version=f"kubeflow.org/{version}", slots_per_worker=slots_per_worker,
                  roles=roles, **_common(locals()))
    return _finish(job)


def _common(given: dict[str, Any]) -> dict[str, Any]:
    if isinstance(given.get("output_volume"), str):
        output: OutputVolume | None = OutputVolume(claim_name=given["output_volume"])
    else:
        output = given.get("output_volume")
        if output is not None and not isinstance(output, OutputVolume):
            raise InvalidJob([ValidationIssue("output_volume", "output_volume must be an OutputVolume or a claim name")])
    return {
        "name": given["name"], "namespace": given["namespace"], "image": given["image"],
        "command": _strings(given["command"], "command"), "args": _strings(given["args"], "args"),
        "env": _env(given["env"]), "working_dir": given["working_dir"], "restart_policy": given["restart_policy"],
        "backoff_limit": given["backoff_limit"], "clean_pod_policy": given["clean_pod_policy"],
        "ttl_seconds_after_finished": given["ttl_seconds_after_finished"],
        "active_deadline_seconds": given["active_deadline_seconds"], "output_volume": output,
    }


def _finish(job: JobSpec) -> JobSpec:
    if job.image is None:
        job.image = DEFAULT_IMAGES[job.kind]
    from .validation import ensure_valid

    ensure_valid(job.to_manifest())
    return job


def _role(replicas: Any, cpu: Any, memory: Any, gpu: Any) -> RoleSpec:
    return RoleSpec(replicas=replicas, cpu=_quantity(cpu), memory=_quantity(memory), gpu=gpu)


def _quantity(value: Any) -> Any:
    # Numbers are fine quantities; keep them as the strings a manifest would hold.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _strings(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as e:
            raise InvalidJob([ValidationIssue(what, f"{what} {value!r} cannot be split into words: {e}")]) from None
    if isinstance(value, (list, tuple)):
        return [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v for v in value]
    raise InvalidJob([ValidationIssue(what, f"{what} must be a list of strings, got {type(value).__name__}")])


def _env(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidJob([ValidationIssue("env", f"env must be a mapping of name to value, got {type(value).__name__}")])
    out: dict[str, str] = {}
    for k, v in value.items():
        if isinstance(v, bool):
            v = str(v).lower()
        elif isinstance(v, (int, float)):
            v = str(v)
        out[k] = v
    return out or None
