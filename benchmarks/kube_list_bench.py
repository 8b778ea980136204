"""Listing many cluster jobs: ours (through the Jupyter server, and the backend's cache in-process)
vs kubectl vs the kubeflow-training SDK.

Seeds the Kubernetes API test double with N jobs of mixed kinds (PyTorchJob, TFJob, MPIJob,
4 pods each), then times, against the same double, alternating, several rounds:

  * ours, via the server   GET <server>/dtrain/api/jobs?all_namespaces=true (+ JSON decode), a
                           real `jupyter server` whose Kubernetes backend points at the double;
                           also through our Python client (Client.list, into Job objects)
  * kubectl                `kubectl get pytorchjobs,tfjobs,mpijobs -A -o json` (+ JSON decode)
  * sdk                    kubeflow-training TrainingClient.list_jobs(job_kind=...) for the three kinds

and, in-process, KubernetesBackend.list() after its watch cache has synced (no API call per
list) with the memory the cache holds per 1,000 jobs (its stores and its compactors' tables of
shared parts). Goals: ours >= 5x kubectl and >= 20x the SDK, via the server; the cache <= 6 MiB
per 1,000 jobs.

    .venv/bin/python benchmarks/kube_list_bench.py [--jobs 5000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, JupyterServer, Result, Row, Stat, alternate, progress  # noqa: E402
from dtrain_jupyter.backends.kubernetes import KubernetesBackend  # noqa: E402
from dtrain_jupyter.client import Client, cycle_collector_paused  # noqa: E402
from tests.kube_double import KubeDouble  # noqa: E402

KINDS = ("PyTorchJob", "TFJob", "MPIJob")
# What the watch cache may hold per 1,000 jobs with 4 pods each (issue 18; it held 16.8 MiB).
CACHE_GOAL_MIB = 6


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


async def time_in_process(kd: KubeDouble, runs: int) -> tuple[list[float], float, int, int]:
    """(list seconds per call, initial sync seconds, jobs listed, bytes held by the cache)."""
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
        # The informers' stores are the cache (jobs, their pods, events), with the tables of parts
        # their compactors share among stored values; measured from the inside.
        stores = [(inf.values(), inf.shared) for inf in backend._watches.all()]
        return times, sync, count, deep_size(stores)
    finally:
        await backend.stop()


def decoded(raw: bytes) -> dict:
    """JSON decoded the way dtrain_jupyter.Client decodes a large list (the cyclic garbage
    collector paused), used for every side that gets JSON, so their decoding costs alike."""
    with cycle_collector_paused():
        return json.loads(raw)


def listers(kubeconfig: str, server: JupyterServer, found: dict[str, int], namespace: str = "default",
            client_timeout: float | None = None) -> dict[str, callable]:
    """name -> a zero-argument call that lists every job once (and records how many it saw).

    The same four for any API server (this double, or the real one of real_cluster_bench.py):
    `kubeconfig` points kubectl and the SDK at it, `server` runs our extension against it.
    """
    from kubeflow.training import TrainingClient

    env = {**os.environ, "KUBECONFIG": kubeconfig}
    argv = ["kubectl", "get", "pytorchjobs,tfjobs,mpijobs", "-A", "-o", "json"]
    sdk = TrainingClient(config_file=kubeconfig)
    client = Client(url=server.url, token=server.token, **({"timeout": client_timeout} if client_timeout else {}))

    def ours() -> None:
        r = server.get("dtrain/api/jobs", params={"all_namespaces": "true", "backend": "kubernetes"})
        r.raise_for_status()
        found["ours"] = len(decoded(r.content)["items"])

    def ours_client() -> None:
        # What a Python user runs: our client, into Job objects (as the SDK builds its models).
        found["ours_client"] = len(client.list(all_namespaces=True, backend="kubernetes"))

    def kubectl() -> None:
        proc = subprocess.run(argv, env=env, check=True, capture_output=True)
        found["kubectl"] = len(decoded(proc.stdout)["items"])

    def sdk_list() -> None:
        found["sdk"] = sum(len(sdk.list_jobs(namespace=namespace, job_kind=kind)) for kind in KINDS)

    return {"ours": ours, "ours_client": ours_client, "kubectl": kubectl, "sdk": sdk_list}


class Toucher:
    """Changes one job (`change(i)`, the i-th change, however the API server at hand is written
    to) and waits until the server's change feed carries it."""

    def __init__(self, server: JupyterServer, change: Callable[[int], None]) -> None:
        self.server, self.change, self.i = server, change, 0
        self.cursor = server.get("dtrain/api/changes", params={"timeout": "0"}).json()["cursor"]

    def touch(self) -> None:
        self.i += 1
        self.change(self.i)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = self.server.get("dtrain/api/changes", params={"cursor": str(self.cursor), "timeout": "5"}).json()
            if got["cursor"] != self.cursor:
                self.cursor = got["cursor"]
                return
        raise RuntimeError("the server's change feed never showed the touched job")


def double_change(kd: KubeDouble, names: list[str]) -> Callable[[int], None]:
    """The i-th change: a new message on a condition of one bulk job, written into the double's store."""
    def change(i: int) -> None:
        name = names[(i - 1) % len(names)]
        kind = next(k for k in KINDS if name.startswith(f"bulk-{k.lower()}-"))
        plural = {"PyTorchJob": "pytorchjobs", "TFJob": "tfjobs", "MPIJob": "mpijobs"}[kind]
        kd.store.mutate(("kubeflow.org", plural), "default", name,
                        lambda job: job["status"]["conditions"][-1].__setitem__("message", f"benchmark touch {i}"))
    return change


class fresh:
    """Wraps a lister: before each timed call one job changes and the server has seen it
    (untimed, `Toucher`), so the server cannot answer from its list cache."""

    def __init__(self, toucher: Toucher, lister) -> None:
        self.toucher, self.lister = toucher, lister

    def prepare(self) -> None:
        self.toucher.touch()

    def __call__(self) -> None:
        self.lister()


def kube_server(kd: KubeDouble, root: Path) -> JupyterServer:
    """A `jupyter server` whose only backend is Kubernetes, pointed at the double."""
    return JupyterServer(root, "--DTrain.backend=kubernetes", f"--DTrain.kubeconfig={kd.kubeconfig_path}")


def measure(n_jobs: int, runs: int, in_process: bool = True) -> dict:
    """Every figure for one size: {"ours" (after a change), "ours_repeat", "kubectl", "sdk", "in_process": Stat (s), ...}."""
    # Closing watch streams at stop cuts TLS sessions; the double's server would log each one.
    logging.getLogger("tornado").setLevel(logging.CRITICAL)
    out: dict = {"jobs": n_jobs}
    with KubeDouble(simulate=False) as kd, tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        progress(f"seeding {n_jobs} jobs")
        names = kd.bulk_load(n_jobs, kinds=KINDS, pods_per_job=4)
        add_run_policy(kd, names)
        out["seed_s"] = time.perf_counter() - t
        # The double's objects live in this process: move them out of the garbage collector's
        # sight, or a decode here (ours or the SDK's) pays for full collections over the double.
        gc.collect()
        gc.freeze()
        if in_process:
            progress("in-process backend: sync the cache, then list")
            times, sync, n, mem = asyncio.run(time_in_process(kd, runs))
            out.update(in_process=Stat(times, "s"), sync_s=sync, in_process_found=n, cache_bytes=mem)
        progress("server with the kubernetes backend: start, wait for its cache")
        with kube_server(kd, Path(tmp) / "server") as server:
            t = time.perf_counter()
            server.wait_backend_ready("kubernetes")
            out["server_sync_s"] = time.perf_counter() - t
            found: dict[str, int] = {}
            progress(f"alternating ours / kubectl / sdk, {runs} rounds")
            fns = listers(kd.kubeconfig_path, server, found)
            # The server keeps an encoded list while no job changes (1 s at most): "ours" is
            # timed right after a job changed, so every sample is a full build and encode.
            toucher = Toucher(server, double_change(kd, names))
            fns["ours"] = fresh(toucher, fns["ours"])
            fns["ours_client"] = fresh(toucher, fns["ours_client"])
            samples = alternate(fns, runs)
            # Back to back, nothing changed: what the server's list cache gives a repeat.
            samples["ours_repeat"] = alternate({"ours": listers(kd.kubeconfig_path, server, found)["ours"]}, max(runs, 5))["ours"]
        out.update({name: Stat(v, "s") for name, v in samples.items()})
        out["found"] = found
    gc.unfreeze()
    return out


def rows_for(m: dict) -> list[Row]:
    """Report rows of one `measure()` result: via the server vs each peer, and the in-process list."""
    n = m["jobs"]
    ours, kubectl, sdk = m["ours"], m["kubectl"], m["sdk"]
    ms = lambda st: Stat([x * 1000 for x in st.samples], "ms")  # noqa: E731
    rows = [
        Row(f"list {n:,} jobs via the server vs kubectl -A -o json", ms(ours).text(), ms(kubectl).text(),
            f"{kubectl.median / ours.median:.1f}x faster", ">= 5x kubectl", kubectl.median / ours.median >= 5),
        Row(f"list {n:,} jobs via the server vs TrainingClient.list_jobs x3", ms(ours).text(), ms(sdk).text(),
            f"{sdk.median / ours.median:.1f}x faster", ">= 20x SDK", sdk.median / ours.median >= 20),
    ]
    if "ours_client" in m:
        oc = m["ours_client"]
        rows.append(Row(f"  the same through our Python client (Client.list, into Job objects) vs the SDK",
                        ms(oc).text(), ms(sdk).text(), f"{sdk.median / oc.median:.1f}x faster than the SDK"))
    if "ours_repeat" in m:
        rows.append(Row(f"list {n:,} jobs via the server, repeated at once (server's list cache)",
                        ms(m["ours_repeat"]).text(), ms(kubectl).text(),
                        f"{kubectl.median / m['ours_repeat'].median:.1f}x / {sdk.median / m['ours_repeat'].median:.1f}x "
                        "faster than kubectl / SDK"))
    if "in_process" in m:
        ip = m["in_process"]
        rows.append(Row(f"list {n:,} jobs, backend in-process (watch cache)", ms(ip).text(), ms(kubectl).text(),
                        f"{kubectl.median / ip.median:.0f}x faster than kubectl"))
        per_1000 = m["cache_bytes"] / 2**20 / (n / 1000)
        rows.append(Row(f"cache memory for {n:,} jobs (with 4 pods each)", f"{per_1000:.1f} MiB per 1,000 jobs",
                        goal=f"<= {CACHE_GOAL_MIB} MiB per 1,000 jobs", met=per_1000 <= CACHE_GOAL_MIB))
    counts = m["found"]
    if len(set(counts.values())) != 1 or counts.get("ours") != n:
        rows.append(Row(f"jobs seen at {n:,}: {counts}", "MISMATCH", goal="all see every job", met=False))
    return rows


def run(size: str = "full") -> Result:
    """The 5,000-job comparison (quick: 1,000 jobs, fewer rounds)."""
    n, runs = (5000, 5) if size == "full" else (1000, 3)
    m = measure(n, runs)
    res = Result("kube_list", rows_for(m))
    res.notes.append(f"list of {n:,} jobs: double seeded in {m['seed_s']:.1f} s; the server's cache synced "
                     f"{m['server_sync_s']:.1f} s after start-up (once); the in-process cache in {m['sync_s']:.1f} s. "
                     "JSON (ours, kubectl's output) is decoded the way our client decodes a large list (json.loads, "
                     "cyclic GC paused); the SDK builds its models, our client its Job objects; kubectl is a fresh "
                     "process each call as a user runs it (the SDK client object and ours are reused).")
    return res


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    m = measure(args.jobs, args.runs)
    print(f"kube_list_bench: {args.jobs} jobs ({', '.join(KINDS)}), 4 pods each, in the API test double")
    Result("kube_list", rows_for(m)).print()


if __name__ == "__main__":
    main()
