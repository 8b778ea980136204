"""Load soak: 50 (and 200) concurrent clients listing 1,000 jobs and following logs against one server.

The scenario is `tests/reliability/load.py` (the CI test `tests/reliability/test_load.py` runs it
for 10 s): a real `jupyter server` on the Kubernetes backend, pointed at the API test double
seeded with `bulk_load` (1,000 jobs of three kinds, 4 pods each); every client (its own httpx
connections, as each user's browser or `Client` has) lists all jobs, then follows one running
job's log for a second, and again, until the time is up. The clients run in driver processes of
50 (`load.CLIENTS_PER_PROCESS`), never in the process holding the double: one process of 200 was
busy a whole core and measured its own queue, and clients beside the double waited on its turn
(the double stands for a kube-apiserver, a process of its own); the busiest driver's CPU share is
reported beside the figures. Reported:
requests made, errors (goal: none), list and first-log-line latency p50/p99, and the server's
resident memory at start, peak and end (growth). The list goal is over each client's lists after
its first: the first ones are sent by every client at the same instant, one burst of whole
lists, and are reported apart as context; so are each client's first follows, which start
together as that burst ends, when the server opens every followed pod's stream. `make bench` runs
it twice, each on a fresh server: 50 clients (goals: list p99 <= 250 ms, first log line p50 <= 100
ms and p99 <= 500 ms) and 200 clients (goals: no error, list p99 <= 1 s, RSS growth <= 100 MiB);
run alone, the goals are the 50-client ones up to 50 clients and the 200-client ones above.

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
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Result, Row, machine, progress  # noqa: E402
from tests.reliability.load import Cluster, LocalJobs, run_load, start_server  # noqa: E402

CRDS = REPO.parent / "shared" / "conformance" / "crds"


@dataclass(frozen=True)
class Goals:
    """What one soak must show; None: no goal for that figure (it is reported all the same)."""

    list_p99_ms: float
    first_line_p50_ms: float | None = None
    first_line_p99_ms: float | None = None
    rss_growth_mib: float | None = None


# Issue 18's goals: 50 clients stay quick; 200 clients stay correct and bounded.
STEADY = Goals(list_p99_ms=250, first_line_p50_ms=100, first_line_p99_ms=500)
CROWD = Goals(list_p99_ms=1000, rss_growth_mib=100)
CROWD_CLIENTS = 200


def goals_for(clients: int) -> Goals:
    """The 50-client goals up to 50 clients, the 200-client ones above."""
    return STEADY if clients <= 50 else CROWD


def _at_most(value: float | None, limit: float | None) -> bool | None:
    """Whether a measured figure met its limit; None where there is no goal, False where nothing was measured."""
    if limit is None:
        return None
    return value is not None and value <= limit


def rows_for(s: dict, goals: Goals, clients: int, seconds: float, jobs: int, backend: str) -> list[Row]:
    """The report rows of one soak's summary, each goal with its met? (a missed one shows as missed)."""
    first_goal = " and ".join(f"{q} <= {v:g} ms" for q, v in (("p50", goals.first_line_p50_ms),
                                                               ("p99", goals.first_line_p99_ms)) if v is not None)
    first_met = [m for m in (_at_most(s["log_first_line_p50_ms"], goals.first_line_p50_ms),
                             _at_most(s["log_first_line_p99_ms"], goals.first_line_p99_ms)) if m is not None]
    return [
        Row(f"load: {clients} clients listing {jobs:,} jobs and following logs for {seconds:g} s ({backend})",
            f"{s['lists']} lists + {s['follows']} log follows ({s['log_lines']} lines)"),
        Row("  errors", str(s["errors"]), goal="0", met=s["errors"] == 0),
        Row("  list all jobs, p50 / p99 (each client's lists after its first)",
            f"{s['list_p50_ms']} / {s['list_p99_ms']} ms",
            goal=f"p99 <= {goals.list_p99_ms:g} ms", met=_at_most(s["list_p99_ms"], goals.list_p99_ms)),
        Row(f"  each client's first list, all {clients} sent at once, p50 / p99",
            f"{s['first_list_p50_ms']} / {s['first_list_p99_ms']} ms", goal="context: one burst of whole lists"),
        Row("  first log line, p50 / p99 (each client's follows after its first)",
            f"{s['log_first_line_p50_ms']} / {s['log_first_line_p99_ms']} ms",
            goal=first_goal or "-", met=all(first_met) if first_met else None),
        Row(f"  each client's first follow, all {clients} as the burst of lists ends, p50 / p99 (every follow: p99)",
            f"{s['first_follow_p50_ms']} / {s['first_follow_p99_ms']} ms ({s['all_follows_p99_ms']} ms)",
            goal="context: every followed pod's stream is opened then"),
        Row("  driver processes, CPU of the busiest", f"{s['driver_processes']}, {s['driver_busiest_pct']}% of a core",
            goal="context: near 100% the clients measure their own queue"),
        Row("  server RSS start / peak / end", f"{s['rss_start_mib']} / {s['rss_peak_mib']} / {s['rss_end_mib']} MiB"),
        Row("  server RSS growth", f"{s['rss_growth_mib']} MiB",
            goal="-" if goals.rss_growth_mib is None else f"<= {goals.rss_growth_mib:g} MiB",
            met=_at_most(s["rss_growth_mib"], goals.rss_growth_mib)),
        Row("  tracebacks in the server log", str(s["server_log_tracebacks"]), goal="0",
            met=s["server_log_tracebacks"] == 0),
    ]


def measure(clients: int, seconds: float, jobs: int, backend: str, goals: Goals) -> tuple[Result, dict]:
    """Run the soak once on a fresh double and server; (report, summary)."""
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
    report = Result("load", rows=rows_for(s, goals, clients, seconds, jobs, backend), notes=[
        f"load: {clients} clients, {seconds:g} s, {jobs} jobs on the {backend} backend"
        + (" (API test double)" if backend == "kubernetes" else " (real processes)")
        + "; every client lists all jobs, then follows one running job's log for a second, in a loop"])
    return report, s


def run(size: str = "full") -> Result:
    """The soak as part of `make bench`: 50 clients for 30 s, then 200 on a fresh server (quick: 20, then 200, for 10 s each)."""
    clients, seconds = (50, 30.0) if size == "full" else (20, 10.0)
    report = measure(clients, seconds, 1000, "kubernetes", STEADY)[0]
    crowd = measure(CROWD_CLIENTS, seconds, 1000, "kubernetes", CROWD)[0]
    report.rows += crowd.rows
    report.notes += crowd.notes
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, help="jobs to seed (default: 1000 on kubernetes, 200 locally)")
    parser.add_argument("--backend", choices=("kubernetes", "local"), default="kubernetes",
                        help="kubernetes: the API test double seeded by bulk_load; local: real processes")
    args = parser.parse_args()
    args.jobs = args.jobs or (1000 if args.backend == "kubernetes" else 200)
    report, s = measure(args.clients, args.seconds, args.jobs, args.backend, goals_for(args.clients))
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
