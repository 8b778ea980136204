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
