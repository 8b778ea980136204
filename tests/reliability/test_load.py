"""Load, shortened for CI: 50 clients listing 1,000 jobs and following logs for 10 s, no errors.

The 60 s version with its figures is `benchmarks/load_bench.py` (the soak); both run
`load.run_load`. Latencies and memory are printed, not asserted (they depend on the machine).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from .load import Cluster, run_load, start_server

CLIENTS = 50
SECONDS = float(os.environ.get("DTRAIN_LOAD_SECONDS", "10"))
JOBS = 1000


@pytest.fixture(scope="module")
def loaded(conformance_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    cluster = Cluster(conformance_dir / "crds", JOBS)
    server = start_server(tmp_path_factory.mktemp("load"), cluster)
    try:
        yield server, cluster
    finally:
        server.stop()
        cluster.stop()


def test_fifty_clients_list_and_follow_logs_without_errors(loaded) -> None:
    server, cluster = loaded
    result = asyncio.run(run_load(server, cluster, CLIENTS, SECONDS))
    summary = result.summary()
    print("\nload:", json.dumps(summary))
    assert summary["errors"] == 0, summary["error_samples"]
    # Every client lists at least once; a client whose list ends past the deadline follows nothing.
    assert summary["lists"] >= CLIENTS and summary["follows"] > 0 and summary["log_lines"] > 0, summary
    assert "Traceback" not in server.read_log()


def test_clients_spread_over_driver_processes_are_all_counted(loaded) -> None:
    # 200 clients run in four processes of 50 (one process of 200 measured its own queue): the
    # processes start together and every client's requests come back into one result.
    server, cluster = loaded
    result = asyncio.run(run_load(server, cluster, 6, 3.0, processes=2))
    summary = result.summary()
    assert summary["errors"] == 0, summary["error_samples"]
    assert summary["driver_processes"] == 2 and 0 < summary["driver_busiest_pct"]
    assert len(result.first_list_ms) == 6 and summary["follows"] > 0, summary
    # Each client's first follow is kept apart from the rest, and both are counted.
    assert len(result.first_follow_ms) <= 6
    assert summary["follows"] == len(result.first_follow_ms) + len(result.log_first_line_ms)
