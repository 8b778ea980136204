"""How the cost of listing jobs grows with their number: 100 -> 1,000 -> 10,000 jobs.

For each size the Kubernetes API double is seeded afresh (3 kinds, 4 pods each) and
kube_list_bench.measure() times, alternating: ours through a real Jupyter server (its watch
cache), kubectl, and the kubeflow-training SDK; also the backend's in-process cached list.
Writes benchmarks/list_scaling.png (time per list, log-log) and
benchmarks/list_scaling_per_job.png (time per listed job).

The goal "flat for the cached list": once the cache holds the jobs, a list makes no API call,
so its cost per listed job must not grow with the number of jobs (measured: per-job cost at the
largest size within 1.5x of the 1,000-job one, for the in-process list, through the server, and
through our Python client, which also builds a Job object per job).

    .venv/bin/python benchmarks/list_scaling_bench.py [--sizes 100 1000 10000] [--runs 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, Result, Row, Stat, plot_lines, progress  # noqa: E402
from kube_list_bench import measure  # noqa: E402

SERIES = (("ours via the server", "ours"), ("ours via our Python client", "ours_client"),
          ("ours in-process (cache)", "in_process"),
          ("kubectl get -A -o json", "kubectl"), ("TrainingClient.list_jobs x3", "sdk"))


def scaling(sizes: list[int], runs: int) -> list[dict]:
    results = []
    for n in sizes:
        progress(f"list scaling: {n} jobs")
        results.append(measure(n, runs))
    return results


def result_for(results: list[dict], out_dir: Path = HERE) -> Result:
    res = Result("list_scaling")
    sizes = [m["jobs"] for m in results]
    ms = {label: [m[key].median * 1000 for m in results] for label, key in SERIES}
    per_job = {label: [v * 1000 / n for v, n in zip(values, sizes)] for label, values in ms.items()}  # µs per job
    for m in results:
        n = m["jobs"]
        res.rows.append(Row(
            f"list {n:,} jobs: via the server / in-process / kubectl / SDK",
            f"{m['ours'].median * 1000:.1f} ms / {m['in_process'].median * 1000:.2f} ms",
            f"{m['kubectl'].median * 1000:.0f} ms / {m['sdk'].median * 1000:.0f} ms",
            f"{m['kubectl'].median / m['ours'].median:.1f}x / {m['sdk'].median / m['ours'].median:.1f}x faster"))
    ref = sizes.index(1000) if 1000 in sizes else 0
    keys = dict(SERIES)
    for label in ("ours in-process (cache)", "ours via the server", "ours via our Python client"):
        growth = per_job[label][-1] / per_job[label][ref]
        # Each end with its spread: a median of a few lists moves with the machine.
        ends = [Stat([v * 1e6 / results[i]["jobs"] for v in results[i][keys[label]].samples], "µs/job").text(2)
                for i in (ref, -1)]
        res.rows.append(Row(
            f"cost per listed job, {label}: {sizes[ref]:,} -> {sizes[-1]:,} jobs",
            f"{ends[0]} -> {ends[1]}", "-", f"{growth:.2f}x", "flat (<= 1.5x)", growth <= 1.5))
    for path in (plot_lines(out_dir / "list_scaling.png", "Listing N jobs (3 kinds, 4 pods each)", "jobs",
                            "median time per list (ms)", {k: (sizes, v) for k, v in ms.items()}, logx=True, logy=True),
                 plot_lines(out_dir / "list_scaling_per_job.png", "Cost per listed job", "jobs",
                            "median µs per job", {k: (sizes, v) for k, v in per_job.items()}, logx=True, logy=True)):
        if path:
            res.plots.append(path)
    res.notes.append("list scaling: sync of the server's cache after start-up, once per size: " + ", ".join(
        f"{m['jobs']:,} jobs {m['server_sync_s']:.1f} s" for m in results))
    return res


def run(size: str = "full") -> Result:
    sizes, runs = ([100, 1000, 10000], 5) if size == "full" else ([100, 1000, 3000], 2)
    return result_for(scaling(sizes, runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    result_for(scaling(sorted(args.sizes), args.runs)).print()


if __name__ == "__main__":
    main()
