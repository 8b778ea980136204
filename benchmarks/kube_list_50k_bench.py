"""List 50,000 jobs via the server vs kubectl -A -o json, and the server's memory while it does.

Seeds the Kubernetes API test double with N jobs of mixed kinds (PyTorchJob, TFJob, MPIJob,
4 pods each: 50,000 jobs and 200,000 pods at full size), starts a real `jupyter server` whose
Kubernetes backend watches the double, and once its cache has synced times, alternating:

  * ours      GET <server>/dtrain/api/jobs?all_namespaces=true (+ JSON decode), each sample
              right after one job changed (so the server cannot answer from its list cache)
  * kubectl   `kubectl get pytorchjobs,tfjobs,mpijobs -A -o json` (+ JSON decode)

while the server's resident memory is sampled; the lifetime peak (VmHWM, which covers the
cache's first sync too) is read at the end, and once when synced (the sync's own peak).
Goal: ours >= 10x kubectl, server RSS <= 400 MiB.

The server runs without its job history (`--DTrain.history=False`) unless `--history` is given:
the history records every job it sees, pods and events included, which is its own cost and has
its own measure; this one is the list and the watch cache.

    .venv/bin/python benchmarks/kube_list_50k_bench.py [--jobs 50000] [--runs 3] [--history]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import JupyterServer, Result, Row, Stat, alternate, peak_rss, progress  # noqa: E402
from kube_list_bench import KINDS, Toucher, decoded, double_change, fresh  # noqa: E402
from tests.kube_double import KubeDouble  # noqa: E402

RSS_GOAL_MIB = 400
RATIO_GOAL = 10


def lifetime_peak_mib(pid: int) -> float:
    """The process's peak resident memory since it started (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return psutil.Process(pid).memory_info().rss / 2**20


def measure(n_jobs: int, runs: int, history: bool = False) -> dict:
    """{"ours", "kubectl": Stat (s), "rss_listing_mib", "rss_hwm_mib", "rss_ready_mib", "found", ...}."""
    logging.getLogger("tornado").setLevel(logging.CRITICAL)
    out: dict = {"jobs": n_jobs}
    with KubeDouble(simulate=False) as kd, tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        progress(f"seeding {n_jobs} jobs, 4 pods each")
        names = kd.bulk_load(n_jobs, kinds=KINDS, pods_per_job=4)
        out["seed_s"] = time.perf_counter() - t
        # The double's objects live in this process: keep the collector off them (see kube_list_bench).
        gc.collect()
        gc.freeze()
        progress("server with the kubernetes backend: start, wait for its cache")
        with JupyterServer(Path(tmp) / "server", "--DTrain.backend=kubernetes",
                           f"--DTrain.kubeconfig={kd.kubeconfig_path}", f"--DTrain.history={history}") as server:
            t = time.perf_counter()
            server.wait_backend_ready("kubernetes", timeout=1800)
            out["server_sync_s"] = time.perf_counter() - t
            out["rss_ready_mib"] = psutil.Process(server.pid).memory_info().rss / 2**20
            # The peak so far is the cache's first sync (its pages decoded, transformed, dropped).
            out["rss_sync_peak_mib"] = lifetime_peak_mib(server.pid)
            found: dict[str, int] = {}
            env = {**os.environ, "KUBECONFIG": kd.kubeconfig_path}
            argv = ["kubectl", "get", ",".join(f"{k.lower()}s" for k in KINDS), "-A", "-o", "json"]

            def ours() -> None:
                r = server.get("dtrain/api/jobs", params={"all_namespaces": "true", "backend": "kubernetes"})
                r.raise_for_status()
                found["ours"] = len(decoded(r.content)["items"])

            def kubectl() -> None:
                proc = subprocess.run(argv, env=env, check=True, capture_output=True)
                found["kubectl"] = len(decoded(proc.stdout)["items"])

            toucher = Toucher(server, double_change(kd, names))
            progress(f"alternating ours / kubectl, {runs} rounds, sampling the server's RSS")
            with peak_rss(server.pid, every=0.02) as mem:
                samples = alternate({"ours": fresh(toucher, ours), "kubectl": kubectl}, runs)
            out["rss_listing_mib"] = mem["peak"] / 2**20
            out["rss_hwm_mib"] = lifetime_peak_mib(server.pid)
        out.update({name: Stat(v, "s") for name, v in samples.items()})
        out["found"] = found
    gc.unfreeze()
    return out


def rows_for(m: dict) -> list[Row]:
    n, ours, kubectl = m["jobs"], m["ours"], m["kubectl"]
    ms = lambda st: Stat([x * 1000 for x in st.samples], "ms")  # noqa: E731
    ratio = kubectl.median / ours.median
    rss = max(m["rss_listing_mib"], m["rss_hwm_mib"])
    rows = [
        Row(f"list {n:,} jobs via the server vs kubectl -A -o json", ms(ours).text(), ms(kubectl).text(),
            f"{ratio:.1f}x faster", f">= {RATIO_GOAL}x kubectl; server RSS <= {RSS_GOAL_MIB} MiB",
            ratio >= RATIO_GOAL and rss <= RSS_GOAL_MIB),
        Row(f"  server RSS with {n:,} jobs ({4 * n:,} pods) cached: synced / peak while listing / lifetime peak",
            f"{m['rss_ready_mib']:.0f} / {m['rss_listing_mib']:.0f} / {m['rss_hwm_mib']:.0f} MiB", "-", "-",
            f"<= {RSS_GOAL_MIB} MiB", rss <= RSS_GOAL_MIB),
        Row("  server RSS peak until synced (the cache's first sync)", f"{m['rss_sync_peak_mib']:.0f} MiB",
            "-", "-", "context"),
    ]
    counts = m["found"]
    if len(set(counts.values())) != 1 or counts.get("ours") != n:
        rows.append(Row(f"jobs seen at {n:,}: {counts}", "MISMATCH", goal="all see every job", met=False))
    return rows


def run(size: str = "full") -> Result:
    """50,000 jobs (quick: 5,000, fewer rounds)."""
    n, runs = (50000, 3) if size == "full" else (5000, 2)
    m = measure(n, runs)
    res = Result("kube_list_50k", rows_for(m))
    res.notes.append(f"list of {n:,} jobs: double seeded in {m['seed_s']:.0f} s; the server's cache synced "
                     f"{m['server_sync_s']:.0f} s after start-up. JSON (ours, kubectl's) is decoded as our client "
                     "decodes a large list; kubectl is a fresh process each call. The server's RSS is sampled every "
                     "20 ms while both list; the lifetime peak (VmHWM) includes the first sync of its cache. The "
                     "server's job history is off here (its own cost, measured apart).")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--history", action="store_true", help="run the server with its job history on")
    args = parser.parse_args()
    m = measure(args.jobs, args.runs, args.history)
    print(f"kube_list_50k_bench: {args.jobs} jobs ({', '.join(KINDS)}), 4 pods each, in the API test double; "
          f"seeded in {m['seed_s']:.0f} s, server synced in {m['server_sync_s']:.0f} s")
    Result("kube_list_50k", rows_for(m)).print()


if __name__ == "__main__":
    main()
