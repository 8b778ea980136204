"""Load soak: 50 concurrent clients listing 1,000 jobs and following logs for 60 s against one server.

The scenario is `tests/reliability/load.py` (the CI test `tests/reliability/test_load.py` runs it
for 10 s): a real `jupyter server` on the Kubernetes backend, pointed at the API test double
seeded with `bulk_load` (1,000 jobs of three kinds, 4 pods each); every client lists all jobs,
then follows one running job's log for a second, and again, until the time is up. Reported:
requests made, errors (goal: none), list and first-log-line latency p50/p99, and the server's
resident memory at start, peak and end (growth).

    .venv/bin/python benchmarks/load_bench.py [--clients 50] [--seconds 60] [--jobs 1000]
    .venv/bin/python benchmarks/load_bench.py --backend local [--jobs 200]

`--backend local` runs the same clients against the local backend holding 200 real jobs (30 of
them running and printing, the rest finished): every job there is a process tree, so seeding
1,000 would take minutes. Writes benchmarks/results/load-<backend>.json beside the printed table. Exit status 1 when any request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Result, Row, machine, progress  # noqa: E402
from tests.reliability.load import Cluster, LocalJobs, run_load, start_server  # noqa: E402

CRDS = REPO.parent / "shared" / "conformance" / "crds"


def measure(clients: int, seconds: float, jobs: int, backend: str) -> tuple[Result, dict]:
    """Run the soak once; (report, summary)."""
    # The double's TLS streams log a warning each time the backend hangs up a followed log on
    # purpose (a client went away); thousands of those would bury the report.
    logging.getLogger("tornado.general").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="dtrain-load-") as root:
        if backend == "kubernetes":
            progress(f"seeding the Kubernetes API test double with {jobs} jobs")
            cluster: Cluster | LocalJobs = Cluster(CRDS, jobs)
            server = start_server(Path(root), cluster)
        else:
            progress(f"creating {jobs} local jobs (real processes)")
            cluster = LocalJobs(Path(root), jobs)
            server = cluster.server
        try:
            progress(f"{clients} clients for {seconds:g} s")
            result = asyncio.run(run_load(server, cluster, clients, seconds))
            tracebacks = server.read_log().count("Traceback")
        finally:
            cluster.stop()
            if backend == "kubernetes":
                server.stop()
    s = result.summary()
    s["server_log_tracebacks"] = tracebacks
    report = Result("load", rows=[
        Row(f"load: {clients} clients listing {jobs:,} jobs and following logs for {seconds:g} s ({backend})",
            f"{s['lists']} lists + {s['follows']} log follows ({s['log_lines']} lines)"),
        Row("  errors", str(s["errors"]), goal="0", met=s["errors"] == 0),
        Row("  list all jobs, p50 / p99", f"{s['list_p50_ms']} / {s['list_p99_ms']} ms"),
        Row("  first log line, p50 / p99", f"{s['log_first_line_p50_ms']} / {s['log_first_line_p99_ms']} ms"),
        Row("  server RSS start / peak / end", f"{s['rss_start_mib']} / {s['rss_peak_mib']} / {s['rss_end_mib']} MiB"),
        Row("  server RSS growth", f"{s['rss_growth_mib']} MiB"),
        Row("  tracebacks in the server log", str(tracebacks), goal="0", met=tracebacks == 0),
    ], notes=[f"load: {clients} clients, {seconds:g} s, {jobs} jobs on the {backend} backend"
              + (" (API test double)" if backend == "kubernetes" else " (real processes)")
              + "; every client lists all jobs, then follows one running job's log for a second, in a loop"])
    return report, s


def run(size: str = "full") -> Result:
    """The soak as part of `make bench`: 50 clients for 30 s (quick: 20 clients for 10 s); 60 s alone."""
    clients, seconds = (50, 30.0) if size == "full" else (20, 10.0)
    return measure(clients, seconds, 1000, "kubernetes")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, help="jobs to seed (default: 1000 on kubernetes, 200 locally)")
    parser.add_argument("--backend", choices=("kubernetes", "local"), default="kubernetes",
                        help="kubernetes: the API test double seeded by bulk_load; local: real processes")
    args = parser.parse_args()
    args.jobs = args.jobs or (1000 if args.backend == "kubernetes" else 200)
    report, s = measure(args.clients, args.seconds, args.jobs, args.backend)
    report.notes.append(f"machine: {json.dumps(machine())}")
    report.print()
    out = REPO / "benchmarks" / "results" / f"load-{args.backend}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": s, "machine": machine()}, indent=2))
    if s["errors"]:
        print("error samples:", *s["error_samples"], sep="\n  ")
    return 0 if s["errors"] == 0 and s["server_log_tracebacks"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
