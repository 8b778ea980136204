"""Manifest builders and waiting helpers for the local backend tests."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from dtrain_jupyter.model.status import Phase

PROGRAMS = Path(__file__).with_name("programs")
PY = sys.executable


def program(name: str, *args: str) -> list[str]:
    return [PY, str(PROGRAMS / name), *args]


def behave(*actions: str) -> list[str]:
    return program("behave.py", *actions)


def container(command: list[str], name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "example.org/train:1", "command": command, **extra}


def replica_spec(command: list[str] | None, name: str, replicas: int = 1, restart: str | None = None,
                 **container_extra: Any) -> dict[str, Any]:
    c = container(command, name, **container_extra) if command is not None else {"name": name, "image": "x:1"}
    spec: dict[str, Any] = {"replicas": replicas, "template": {"spec": {"containers": [c]}}}
    if restart:
        spec["restartPolicy"] = restart
    return spec


def pytorch_job(name: str, master: list[str], worker: list[str] | None = None, workers: int = 1,
                restart: str = "Never", run_policy: dict | None = None, **spec_extra: Any) -> dict[str, Any]:
    specs = {"Master": replica_spec(master, "pytorch", 1, restart)}
    if workers:
        specs["Worker"] = replica_spec(worker or master, "pytorch", workers, restart)
    spec: dict[str, Any] = {"pytorchReplicaSpecs": specs, **spec_extra}
    if run_policy:
        spec["runPolicy"] = run_policy
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name}, "spec": spec}


def tf_job(name: str, types: dict[str, tuple[int, list[str]]], restart: str = "Never") -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "TFJob", "metadata": {"name": name},
            "spec": {"tfReplicaSpecs": {t: replica_spec(cmd, "tensorflow", n, restart) for t, (n, cmd) in types.items()}}}


def mpi_job(name: str, launcher: list[str], workers: int = 2, version: str = "v1",
            worker_cmd: list[str] | None = None) -> dict[str, Any]:
    return {"apiVersion": f"kubeflow.org/{version}", "kind": "MPIJob", "metadata": {"name": name},
            "spec": {"slotsPerWorker": 1, "mpiReplicaSpecs": {
                "Launcher": replica_spec(launcher, "mpi-launcher" if version != "v1" else "mpi", 1),
                "Worker": replica_spec(worker_cmd, "mpi-worker" if version != "v1" else "mpi", workers)}}}


async def wait_phase(backend, kind: str, name: str, phases: set[Phase] | Phase, timeout: float = 90,
                     namespace: str = "default"):
    """Poll `get` until the job reaches one of `phases`; fail with the job's story otherwise."""
    phases = {phases} if isinstance(phases, Phase) else phases
    deadline = time.monotonic() + timeout
    while True:
        job = await backend.get(kind, name, namespace)
        if job.phase in phases:
            return job
        if time.monotonic() > deadline:
            events = [f"{e.reason}: {e.message}" for e in await backend.events(kind, name, namespace)]
            raise AssertionError(f"{kind} {name} stayed {job.phase} ({job.status.message}); events: {events}")
        await asyncio.sleep(0.05)


async def wait_until(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def processes_with_uid(uid: str) -> list[int]:
    """Live processes carrying the job's DTRAIN_JOB_UID marker, read straight from /proc."""
    found = []
    marker = f"DTRAIN_JOB_UID={uid}".encode()
    for p in psutil.process_iter():
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            with open(f"/proc/{p.pid}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    found.append(p.pid)
        except (OSError, psutil.Error):
            continue
    return found


async def log_text(backend, kind: str, name: str, namespace: str = "default", **kw) -> list[str]:
    return [f"{line.pod}: {line.line}" async for line in backend.logs(kind, name, namespace, **kw)]
