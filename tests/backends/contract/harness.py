"""One face over every backend the contract suite runs against: make jobs behave, then look.

A `Harness` builds a backend on the running test's loop and knows how to make a PyTorchJob
(one Master, one Worker) do each thing the suite needs on that backend: run until told, run to
its end, restart its worker once, wait for a GPU that never comes, or be suspended and resumed
(where the backend can suspend). Every replica's log holds
the line `RANK=<rank>` (the operator's variable, printed by the program, echoed by the node
agent, or written by the double's kubelet), so the suite can check logs without knowing who
wrote them. Output files are planted by the test in `output_dir(name)`, the folder the backend
reads that job's outputs from.

- local: real processes (tests/backends/local/programs/behave.py), a gate file ends them.
- double: the API test double; its operator simulator runs pods until told (`finish`), its
  faults restart a pod (CrashLoopBackOff) or keep it unscheduled.
- cluster: the real control plane; the node agent runs pods by their `dtrain.test/*`
  annotations, and `kubectl annotate ... dtrain.test/exit=0` ends them.
"""

from __future__ import annotations

import abc
import asyncio
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable

from dtrain_jupyter.backends.base import Backend
from dtrain_jupyter.backends.kubernetes import KubernetesBackend
from dtrain_jupyter.backends.local import LocalBackend
from dtrain_jupyter.errors import JobNotFound
from dtrain_jupyter.model.job import Job, Pod
from dtrain_jupyter.model.status import Phase
from tests.backends.kubernetes.conftest import FAST, FAST_WATCH
from tests.backends.local.helpers import behave, pytorch_job, wait_until

KIND = "PyTorchJob"
NAMESPACE = "default"
# The claim every Kubernetes job of the suite writes its outputs to, mounted in the "server" at
# a test folder (KubernetesBackend's output_mounts).
CLAIM = "contract-out"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
FINISHED = ("Succeeded", "Failed")


def rank_of(pod: str) -> int:
    """PyTorch ranks: the Master is 0, worker i is i + 1."""
    role, index = pod.rsplit("-", 2)[-2:]
    return 0 if role == "master" else int(index) + 1


def rank_line(pod: str) -> str:
    return f"RANK={rank_of(pod)}"


class Harness(abc.ABC):
    """The backend of one test, and how to make its jobs behave on it."""

    label = ""  # "local", "double", "cluster": the test id
    previous_marker = ""  # a line of a restarted worker's previous log that its current log lacks

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.backend: Backend = None  # type: ignore[assignment] - set by start()
        self.shared: dict[str, str] = {}  # role -> job name, kept for the module (see `shared_job`)
        self.created: list[str] = []

    # ---- the backend of one test ----------------------------------------------------------
    @abc.abstractmethod
    def build(self) -> Backend:
        """A new, unstarted backend over this world's state."""

    async def start(self) -> Backend:
        self.backend = self.build()
        await self.backend.start()
        return self.backend

    async def stop(self) -> None:
        await self.backend.stop()

    # ---- jobs -----------------------------------------------------------------------------
    def unique(self, prefix: str) -> str:
        return f"{prefix}-{uuid.uuid4().hex[:6]}"

    @abc.abstractmethod
    def manifest(self, name: str, *, ends: bool = False, restarts: bool = False,
                 unschedulable: bool = False) -> dict[str, Any]:
        """A PyTorchJob (Master + one Worker) that runs until told, or to its end (`ends`), whose worker
        fails once and restarts (`restarts`), or whose pods wait for a GPU that never comes."""

    async def after_create(self, name: str, *, ends: bool, restarts: bool, unschedulable: bool) -> None:
        """What the backend needs from the test once the job exists (the double's simulator does nothing alone)."""

    async def after_resume(self, name: str) -> None:
        """What the backend needs from the test once a suspended job is resumed (its replicas are new)."""

    @abc.abstractmethod
    async def end(self, name: str) -> None:
        """Make every replica of a running job exit with 0."""

    @abc.abstractmethod
    def output_dir(self, name: str) -> Path:
        """The folder this backend reads the job's outputs from (created)."""

    @abc.abstractmethod
    def output_location(self, name: str) -> dict[str, str]:
        """What `Backend.output_location` must answer for the job: where its manifest puts its outputs."""

    async def create(self, name: str, *, ends: bool = False, restarts: bool = False,
                     unschedulable: bool = False) -> Job:
        job = await self.backend.create(self.manifest(name, ends=ends, restarts=restarts, unschedulable=unschedulable))
        self.created.append(name)
        await self.after_create(name, ends=ends, restarts=restarts, unschedulable=unschedulable)
        return job

    async def cleanup(self) -> None:
        """Delete every job the module made that is still there (and its processes or pods)."""
        backend = await self.start()
        try:
            for name in self.created:
                try:
                    await backend.delete(KIND, name, NAMESPACE)
                except JobNotFound:
                    pass  # a test deleted it
        finally:
            await self.stop()

    async def pods(self, name: str) -> list[Pod]:
        return await self.backend.pods(KIND, name, NAMESPACE)

    async def running(self, name: str) -> list[Pod]:
        """Wait until both pods of the job run and each log holds its RANK line."""
        async def ready() -> list[Pod] | None:
            pods = await self.pods(name)
            if len(pods) != 2 or any(p.phase != "Running" for p in pods):
                return None
            for p in pods:
                text = [ln.line async for ln in self.backend.logs(KIND, name, NAMESPACE, pod=p.name)]
                if rank_line(p.name) not in text:
                    return None
            return pods
        return await wait_until(ready, what=f"{name}: both pods Running with their RANK line")

    async def finished(self, name: str) -> Job:
        """Wait until the job succeeded and every pod has ended (its log is then complete)."""
        async def done() -> Job | None:
            job = await self.backend.get(KIND, name, NAMESPACE)
            pods = await self.pods(name)
            ended = pods and all(p.phase in FINISHED for p in pods)
            return job if job.status.phase is Phase.SUCCEEDED and ended else None
        return await wait_until(done, what=f"{name}: Succeeded with every pod ended")

    async def restarted(self, name: str) -> Pod:
        """Wait until the worker has restarted once (its previous log exists)."""
        async def again() -> Pod | None:
            worker = next((p for p in await self.pods(name) if p.replica_type == "Worker"), None)
            return worker if worker is not None and worker.restarts >= 1 else None
        return await wait_until(again, what=f"{name}: the worker restarted")

    async def suspended(self, name: str) -> Job:
        """Wait until the job is Suspended and no replica runs: a cluster's pods are gone (the operator
        deletes them), local replicas stay listed as Pending."""
        async def stopped() -> Job | None:
            job = await self.backend.get(KIND, name, NAMESPACE)
            pods = await self.pods(name)
            return job if job.status.phase is Phase.SUSPENDED and all(p.phase == "Pending" for p in pods) else None
        return await wait_until(stopped, what=f"{name}: Suspended with no replica running")

    async def resume(self, name: str) -> Job:
        """Resume a suspended job and wait until both replicas run again with their RANK line."""
        job = await self.backend.resume(KIND, name, NAMESPACE)
        await self.after_resume(name)
        await self.running(name)
        return job

    async def waiting(self, name: str) -> list[Pod]:
        """Wait until both pods are Pending for want of a node (or a GPU)."""
        async def pending() -> list[Pod] | None:
            pods = await self.pods(name)
            return pods if len(pods) == 2 and all(p.phase == "Pending" and p.reason.startswith("Pending: ")
                                                  for p in pods) else None
        return await wait_until(pending, what=f"{name}: both pods Pending, unschedulable")

    async def shared_job(self, role: str) -> str:
        """A job shared by the tests of one module that only read it: "running", "finished",
        "restarted" or "waiting"; made (and brought to that state) by the first test asking."""
        name = self.shared.get(role)
        if name is None:
            name = self.shared[role] = self.unique(role[:4])
            await self.create(name, ends=role == "finished", restarts=role == "restarted",
                              unschedulable=role == "waiting")
        if role == "finished":
            await self.finished(name)
        elif role == "restarted":
            await self.restarted(name)
        elif role == "waiting":
            await self.waiting(name)
        else:
            await self.running(name)
        return name


class LocalHarness(Harness):
    """The local backend over one state folder for the module; each test starts its own backend on it
    (a backend re-attaches the replicas of an earlier one, as after a server restart)."""

    label = "local"
    previous_marker = "attempt 0"  # behave.py's fail-until prints the attempt it is in

    def build(self) -> Backend:
        return LocalBackend(self.tmp / "state", output_root=self.tmp / "outputs", grace_seconds=1.0,
                            restart_backoff=0.05, gpus=[])

    def _gate(self, name: str) -> Path:
        return self.tmp / "gates" / name

    def manifest(self, name: str, *, ends: bool = False, restarts: bool = False,
                 unschedulable: bool = False) -> dict[str, Any]:
        self._gate(name).parent.mkdir(parents=True, exist_ok=True)
        steps = ["env:RANK", "print:contract end"] if ends else ["env:RANK", f"wait-file:{self._gate(name)}"]
        worker = ["env:RANK", "fail-until:1:1", f"wait-file:{self._gate(name)}"] if restarts else steps
        manifest = pytorch_job(name, behave(*steps), behave(*worker), restart="OnFailure" if restarts else "Never")
        if unschedulable:
            for spec in manifest["spec"]["pytorchReplicaSpecs"].values():
                spec["template"]["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
        return manifest

    async def end(self, name: str) -> None:
        self._gate(name).touch()

    def output_dir(self, name: str) -> Path:
        folder = self.tmp / "outputs" / NAMESPACE / "pytorchjobs" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def output_location(self, name: str) -> dict[str, str]:
        return {"folder": str(self.tmp / "outputs" / NAMESPACE / "pytorchjobs" / name)}


def _annotations(**rules: str) -> dict[str, str]:
    return {f"dtrain.test/{k.replace('_', '-')}": v for k, v in rules.items()}


class KubernetesHarness(Harness):
    """The Kubernetes backend on an API server (the double or the real control plane); outputs are
    read from a test folder standing for the claim mounted in the Jupyter server."""

    def __init__(self, tmp: Path, server: Any) -> None:
        super().__init__(tmp)
        self.server = server

    def build(self) -> Backend:
        return KubernetesBackend(kubeconfig=self.server.kubeconfig_path, tuning=FAST, watch_tuning=FAST_WATCH,
                                 output_mounts={CLAIM: str(self.tmp / "claim")})

    def _template(self, name: str, rules: dict[str, str]) -> dict[str, Any]:
        container = {"name": "pytorch", "image": "example/train:1", "command": ["python", "train.py"],
                     "env": [{"name": "DTRAIN_OUTPUT_DIR", "value": f"/mnt/out/{name}"}],
                     "volumeMounts": [{"name": "out", "mountPath": "/mnt/out"}]}
        return {"metadata": {"annotations": _annotations(**rules)},
                "spec": {"containers": [container],
                         "volumes": [{"name": "out", "persistentVolumeClaim": {"claimName": CLAIM}}]}}

    def manifest(self, name: str, *, ends: bool = False, restarts: bool = False,
                 unschedulable: bool = False) -> dict[str, Any]:
        rules = {"log_interval": "0"}  # no "step N" lines: a log is what the test knows of it
        if ends:
            rules["run_seconds"] = "0.5"
        if unschedulable:
            rules["unschedulable"] = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
        worker = {**rules, "run_seconds": "0.5", "exit_code": "1"} if restarts else rules
        policy = "OnFailure" if restarts else "Never"
        return {"apiVersion": "kubeflow.org/v1", "kind": KIND,
                "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"dtrain-test": "contract"}},
                "spec": {"pytorchReplicaSpecs": {
                    "Master": {"replicas": 1, "restartPolicy": policy, "template": self._template(name, rules)},
                    "Worker": {"replicas": 1, "restartPolicy": policy, "template": self._template(name, worker)}}}}

    def output_dir(self, name: str) -> Path:
        folder = self.tmp / "claim" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def output_location(self, name: str) -> dict[str, str]:
        return {"claim": CLAIM, "path": f"/{name}"}  # DTRAIN_OUTPUT_DIR=/mnt/out/<name>, the claim at /mnt/out


class DoubleHarness(KubernetesHarness):
    """The API test double: its simulator runs pods until told; the harness writes their RANK lines."""

    label = "double"
    previous_marker = "container exited with code 1 (Error)"  # the double's kubelet, at a crash

    def __init__(self, tmp: Path, server: Any) -> None:
        super().__init__(tmp, server)
        server.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)

    async def create(self, name: str, *, ends: bool = False, restarts: bool = False,
                     unschedulable: bool = False) -> Job:
        if unschedulable:
            self.server.simulator.fault(name, "Unschedulable")  # before its pods are made
        return await super().create(name, ends=ends, restarts=restarts, unschedulable=unschedulable)

    async def after_create(self, name: str, *, ends: bool, restarts: bool, unschedulable: bool) -> None:
        if unschedulable:
            return
        await self._say_ranks(name)
        if restarts:
            self.server.simulator.fault(f"{name}-worker-0", "CrashLoopBackOff")
        if ends:
            await self.end(name)

    async def after_resume(self, name: str) -> None:
        await self._say_ranks(name)  # the resumed job's pods are new, their logs empty

    async def _say_ranks(self, name: str) -> None:
        """Once both pods run, write each one's RANK line, as its program would print it."""
        async def both_running() -> bool:
            pods = await self.pods(name)
            return len(pods) == 2 and all(p.phase == "Running" for p in pods)
        await wait_until(both_running, what=f"{name}: the double runs both pods")
        for pod in (f"{name}-master-0", f"{name}-worker-0"):
            self.server.simulator.write_log(pod, rank_line(pod), namespace=NAMESPACE)

    async def end(self, name: str) -> None:
        self.server.simulator.finish(name)


class ClusterHarness(KubernetesHarness):
    """The real control plane: the training-operator makes the pods, the node agent runs them."""

    label = "cluster"
    previous_marker = "[dtrain-node] container pytorch exited with code 1"

    async def end(self, name: str) -> None:
        pods = [p.name for p in await self.pods(name)]
        env = {**os.environ, "KUBECONFIG": self.server.kubeconfig_path}
        proc = await asyncio.to_thread(
            subprocess.run, [KUBECTL, "annotate", "--overwrite", "-n", NAMESPACE, "pod", *pods, "dtrain.test/exit=0"],
            env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
