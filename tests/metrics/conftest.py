"""Shared pieces of the metrics tests: manifests of real local jobs and a follower of /metrics."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from dtrain_jupyter import Client
from dtrain_jupyter.model.metric_series import MetricsPage

PROGRAMS = Path(__file__).with_name("programs")


def job(name: str, command: list[str], workers: int = 0) -> dict[str, Any]:
    def spec(replicas: int) -> dict[str, Any]:
        return {"replicas": replicas, "restartPolicy": "Never",
                "template": {"spec": {"containers": [{"name": "pytorch", "image": "python:3.11", "command": command}]}}}

    specs = {"Master": spec(1), **({"Worker": spec(workers)} if workers else {})}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": specs}}


def script(*lines: str) -> list[str]:
    return [sys.executable, "-c", "\n".join(lines)]


def follow(client: Client, name: str, timeout: float = 120, **where: Any) -> tuple[MetricsPage, list[MetricsPage]]:
    """Follow a job's metrics with long polls until it is finished; (merged page, every answer)."""
    path = client.job_path(name, **where)
    held = MetricsPage(0, False, [], None, False)
    answers = []
    deadline = time.monotonic() + timeout
    while not held.finished:
        assert time.monotonic() < deadline, f"{name}'s metrics never finished: {held}"
        page = client.metrics_at(path, since=held.cursor, wait=5)
        answers.append(page)
        held = held.merge(page)
    return held, answers
