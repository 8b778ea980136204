"""Listing many cluster jobs: our cached list vs kubectl vs the kubeflow-training SDK.

Seeds the Kubernetes API test double with N jobs of mixed kinds (PyTorchJob, TFJob, MPIJob,
4 pods each), then times, against the same double:

  * ours     KubernetesBackend.list() after the watch cache has synced (no API call per list)
  * kubectl  `kubectl get pytorchjobs,tfjobs,mpijobs -A -o json`
  * sdk      kubeflow-training TrainingClient.list_jobs(job_kind=...) for the three kinds

and the memory the backend's cache holds per 1,000 jobs (jobs, their pods and events, as
measured by tracemalloc). Prints a table; medians over a few runs. Goals: ours >= 5x kubectl
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
import tracemalloc
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


async def time_ours(kd: KubeDouble, n_jobs: int, runs: int) -> tuple[float, float, int]:
    backend = KubernetesBackend(kubeconfig=kd.kubeconfig_path, start_wait=600)
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
        return statistics.median(times), sync, count
    finally:
        await backend.stop()


async def cache_bytes(kd: KubeDouble) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    backend = KubernetesBackend(kubeconfig=kd.kubeconfig_path, start_wait=600)
    await backend.start()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    await backend.stop()
    return after - before


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
        ours, sync, n_ours = asyncio.run(time_ours(kd, args.jobs, args.runs))
        progress("kubectl")
        kubectl, n_kubectl = time_kubectl(kd, max(1, args.runs // 2))
        progress("sdk")
        sdk, n_sdk = time_sdk(kd, max(1, args.runs // 2))
        progress("cache memory")
        mem = asyncio.run(cache_bytes(kd))

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
