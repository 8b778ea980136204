"""Starter YAML per job kind: what the panel's YAML editor opens with.

Each template is a complete, valid manifest whose program is a `python -c` one-pager, so it runs
as is on the local backend (no image needed there) and, with its image, on a cluster:
PyTorch does a DDP all_reduce over gloo, TensorFlow prints the TF_CONFIG each replica gets, and
MPI runs `mpirun -np 2` over an mpi4py allreduce. Rank 0 writes its result to the job's output
folder when `DTRAIN_OUTPUT_DIR` is set.
"""

from __future__ import annotations

from ..errors import InvalidRequest
from .kinds import GROUP, lookup, preferred_version, versions_of

__all__ = ["TEMPLATES", "starter_yaml", "available"]

_PYTORCH_PROGRAM = """\
import os
import torch
import torch.distributed as dist

dist.init_process_group("gloo")  # MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK come from the operator
rank, world = dist.get_rank(), dist.get_world_size()
total = torch.tensor([float(rank + 1)])
dist.all_reduce(total)
expected = world * (world + 1) / 2
print(f"rank {rank} of {world}: all_reduce sum {total.item():g} (expected {expected:g})", flush=True)
if rank == 0 and os.environ.get("DTRAIN_OUTPUT_DIR"):
    with open(os.path.join(os.environ["DTRAIN_OUTPUT_DIR"], "allreduce.txt"), "w") as f:
        f.write(f"{total.item():g}\\n")
dist.destroy_process_group()
assert total.item() == expected
"""

_TF_PROGRAM = """\
import json
import os

config = json.loads(os.environ.get("TF_CONFIG") or "{}")  # set by the operator on every replica
task = config.get("task", {})
print("cluster:", json.dumps(config.get("cluster", {}), sort_keys=True), flush=True)
print(f"this replica is {task.get('type')} {task.get('index')}", flush=True)
if task.get("type") == "worker" and task.get("index") == 0 and os.environ.get("DTRAIN_OUTPUT_DIR"):
    with open(os.path.join(os.environ["DTRAIN_OUTPUT_DIR"], "tf_config.json"), "w") as f:
        json.dump(config, f, indent=2)
"""

_MPI_PROGRAM = """\
import os
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
total = comm.allreduce(rank + 1, op=MPI.SUM)
print(f"rank {rank} of {size} on {MPI.Get_processor_name()}: allreduce sum {total}", flush=True)
if rank == 0 and os.environ.get("DTRAIN_OUTPUT_DIR"):
    with open(os.path.join(os.environ["DTRAIN_OUTPUT_DIR"], "allreduce.txt"), "w") as f:
        f.write(f"{total}\\n")
assert total == size * (size + 1) // 2
"""


def _block(program: str, indent: int) -> str:
    pad = " " * indent
    return "\n".join(pad + line if line else "" for line in program.rstrip("\n").split("\n"))


def _python_container(name: str, image: str, program: str) -> str:
    return f"""\
            - name: {name}
              # The image is used on Kubernetes; the local backend runs the command on this machine.
              image: {image}
              command:
                - python
                - -c
                - |
{_block(program, 18)}"""


_PYTORCH = f"""\
# PyTorchJob: one Master and one Worker join a gloo process group and all_reduce a tensor.
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata:
  name: pytorch-allreduce
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      restartPolicy: Never
      template:
        spec:
          containers:
{_python_container("pytorch", "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime", _PYTORCH_PROGRAM)}
    Worker:
      replicas: 1
      restartPolicy: Never
      template:
        spec:
          containers:
{_python_container("pytorch", "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime", _PYTORCH_PROGRAM)}
"""

_TF = f"""\
# TFJob: two Workers print the TF_CONFIG the operator gives them.
apiVersion: kubeflow.org/v1
kind: TFJob
metadata:
  name: tf-config-demo
spec:
  tfReplicaSpecs:
    Worker:
      replicas: 2
      restartPolicy: Never
      template:
        spec:
          containers:
{_python_container("tensorflow", "docker.io/tensorflow/tensorflow:2.16.1", _TF_PROGRAM)}
"""


def _mpi(version: str, image: str, container: str, worker_note: str) -> str:
    return f"""\
# MPIJob ({version}): the Launcher runs mpirun over two Worker slots; each rank allreduces with mpi4py.
apiVersion: kubeflow.org/{version}
kind: MPIJob
metadata:
  name: mpi-allreduce
spec:
  slotsPerWorker: 1
  runPolicy:
    cleanPodPolicy: Running
  mpiReplicaSpecs:
    Launcher:
      replicas: 1
      template:
        spec:
          containers:
            - name: {container}
              # The image is used on Kubernetes; the local backend runs mpirun on this machine.
              image: {image}
              command:
                - mpirun
              args:
                - -np
                - "2"
                - --allow-run-as-root
                - --oversubscribe
                - python
                - -c
                - |
{_block(_MPI_PROGRAM, 18)}
    Worker:
      replicas: 2
      template:
        spec:
          containers:
            # {worker_note}
            - name: {container}
              image: {image}
"""


TEMPLATES: dict[tuple[str, str], str] = {
    ("kubeflow.org/v1", "PyTorchJob"): _PYTORCH,
    ("kubeflow.org/v1", "TFJob"): _TF,
    ("kubeflow.org/v2beta1", "MPIJob"): _mpi(
        "v2beta1", "docker.io/kubeflow/mpi-horovod-mnist", "mpi",
        "No command: the MPI Operator starts sshd, which the Launcher's mpirun connects to."),
    ("kubeflow.org/v1", "MPIJob"): _mpi(
        "v1", "docker.io/horovod/horovod:0.28.1", "mpi",
        "No command: the Training Operator keeps Workers alive for mpirun to exec into."),
}


def starter_yaml(kind: str = "PyTorchJob", version: str | None = None) -> str:
    """The starter YAML for a kind, at the kind's preferred version unless `version` names another
    (MPIJob: v2beta1, or "v1").

    Raises:
        InvalidRequest: no template for that kind and version; the message lists those there are.
    """
    fw = preferred_version(kind) if version is None else lookup(f"{GROUP}/{version}", kind)
    text = TEMPLATES.get((fw.api_version, fw.kind)) if fw is not None else None
    if text is None:
        have = ", ".join(f"{k} {a.split('/')[1]}" for a, k in TEMPLATES)
        known = " or ".join(f.version for f in versions_of(kind))
        hint = f" ({kind} is served as {known})" if known else ""
        asked = f"{kind} {version or fw.version}" if version or fw else kind
        raise InvalidRequest(f"no starter template for {asked}{hint}; templates exist for {have}")
    return text


def available() -> list[tuple[str, str, str]]:
    """(apiVersion, kind, title) of every template, for a picker."""
    out = []
    for api_version, kind in TEMPLATES:
        fw = lookup(api_version, kind)
        out.append((api_version, kind, f"{fw.title} ({fw.version})" if fw else kind))
    return out
