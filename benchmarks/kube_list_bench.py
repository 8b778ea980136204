"""Listing many cluster jobs: our cached list vs kubectl vs the kubeflow-training SDK.

Seeds the Kubernetes API test double with N jobs of mixed kinds (PyTorchJob, TFJob, MPIJob,
4 pods each), then times, against the same double:

  * ours     KubernetesBackend.list() after the watch cache has synced (no API call per list)
  * kubectl  `kubectl get pytorchjobs,tfjobs,mpijobs -A -o json`
  * sdk      kubeflow-training TrainingClient.list_jobs(job_kind=...) for the three kinds

and the memory the backend's cache holds per 1,000 jobs (the informers' stores: jobs, their
pods and events, summed object by object). Prints a table; medians over a few runs. Goals: ours >= 5x kubectl
and >= 20x the SDK.

    .venv/bin/python benchmarks/kube_list_bench.py [--jobs 5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dtrain_jupyter.backends.kubernetes import KubernetesBackend  # noqa: E402
from tests.kube_double import KubeDouble  # noqa: E402

KINDS = ("PyTorchJob", "TFJob", "MPIJob")


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def median_seconds(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def deep_size(root: object) -> int:
    """Bytes held by an object graph (dicts, lists, dataclasses with __dict__ or __slots__, strings)."""
    seen: set[int] = set()
    total = 0
    stack = [root]
    while stack:
        obj = stack.pop()
        if obj is None or isinstance(obj, bool) or id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack.append(vars(obj))
        elif hasattr(type(obj), "__slots__"):
            stack.extend(getattr(obj, name) for name in type(obj).__slots__ if hasattr(obj, name))
    return total


async def time_ours(kd: KubeDouble, runs: int) -> tuple[float, float, int, int]:
    """(median list seconds, initial sync seconds, jobs listed, bytes held by the cache)."""
    backend = KubernetesBackend(kubeconfig=kd.kubeconfig_path, start_wait=1200)
    t = time.perf_counter()
    await backend.start()
    sync = time.perf_counter() - t
    try:
        assert backend.describe()["ready"], backend.describe()["message"]
        times = []
        count = 0
        for _ in range(max(runs, 20)):
            t = time.perf_counter()
            jobs = await backend.list()
            times.append(time.perf_counter() - t)
            count = len(jobs)
        # The informers' stores are the cache (jobs, their pods, events); measured from the inside.
        stores = [inf.values() for inf in backend._watches.all()]
        return statistics.median(times), sync, count, deep_size(stores)
    finally:
        await backend.stop()


def time_kubectl(kd: KubeDouble, runs: int) -> tuple[float, int]:
    env = {**os.environ, "KUBECONFIG": kd.kubeconfig_path}
    argv = ["kubectl", "get", "pytorchjobs,tfjobs,mpijobs", "-A", "-o", "json"]
    found = {}

    def run() -> None:
        proc = subprocess.run(argv, env=env, check=True, capture_output=True)
        found["n"] = len(json.loads(proc.stdout)["items"])

    return median_seconds(run, runs), found.get("n", 0)


def time_sdk(kd: KubeDouble, runs: int) -> tuple[float, int]:
    from kubeflow.training import TrainingClient

    client = TrainingClient(config_file=kd.kubeconfig_path)
    found = {}

    def run() -> None:
        found["n"] = sum(len(client.list_jobs(namespace="default", job_kind=kind)) for kind in KINDS)

    return median_seconds(run, runs), found.get("n", 0)


def add_run_policy(kd: KubeDouble, names: list[str]) -> None:
    """Give each seeded job the `runPolicy` the operator's defaulting webhook adds on a real cluster.

    The SDK's generated models refuse a job without it (`run_policy must not be None`), so
    without this the SDK could not list the seeded jobs at all.
    """
    plurals = {"PyTorchJob": "pytorchjobs", "TFJob": "tfjobs", "MPIJob": "mpijobs"}
    for name in names:
        kind = next(k for k in KINDS if name.startswith(f"bulk-{k.lower()}-"))
        kd.store.mutate(("kubeflow.org", plurals[kind]), "default", name,
                        lambda job: job["spec"].setdefault("runPolicy", {"cleanPodPolicy": "None"}))


def main() -> None:
    # Closing watch streams at stop cuts TLS sessions; the double's server would log each one.
    logging.getLogger("tornado").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with KubeDouble(simulate=False) as kd:
        t = time.perf_counter()
        progress(f"seeding {args.jobs} jobs")
        names = kd.bulk_load(args.jobs, kinds=KINDS, pods_per_job=4)
        add_run_policy(kd, names)
        seed = time.perf_counter() - t
        progress("ours: sync the cache, then list")
        ours, sync, n_ours, mem = asyncio.run(time_ours(kd, args.runs))
        progress("kubectl")
        kubectl, n_kubectl = time_kubectl(kd, max(1, args.runs // 2))
        progress("sdk")
        sdk, n_sdk = time_sdk(kd, max(1, args.runs // 2))

    per_1000 = mem / (args.jobs / 1000) / 2**20
    print(f"kube_list_bench: {args.jobs} jobs ({', '.join(KINDS)}), 4 pods each, in the API test double "
          f"(seeded in {seed:.1f}s)")
    print()
    print(f"{'method':<44} {'jobs':>6} {'median':>10} {'ours is':>10}")
    print(f"{'-' * 44} {'-' * 6} {'-' * 10} {'-' * 10}")
    print(f"{'KubernetesBackend.list() (watch cache)':<44} {n_ours:>6} {ours * 1000:>8.1f}ms {'':>10}")
    print(f"{'kubectl get pytorchjobs,tfjobs,mpijobs -A':<44} {n_kubectl:>6} {kubectl * 1000:>8.1f}ms "
          f"{kubectl / ours:>9.0f}x")
    print(f"{'TrainingClient.list_jobs x3 kinds (SDK 1.9.4)':<44} {n_sdk:>6} {sdk * 1000:>8.1f}ms "
          f"{sdk / ours:>9.0f}x")
    print()
    print(f"initial list+watch sync of the cache: {sync:.2f}s (once, at server start)")
    print(f"cache memory: {mem / 2**20:.1f} MiB in all, {per_1000:.1f} MiB per 1,000 jobs (with their pods)")
    print(f"goals: >= 5x kubectl: {'met' if kubectl / ours >= 5 else 'NOT met'}; "
          f">= 20x SDK: {'met' if sdk / ours >= 20 else 'NOT met'}")


if __name__ == "__main__":
    main()
