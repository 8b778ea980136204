"""Browser-test fixtures: the shared JupyterLab server and Debian Chromium (tests/browser_fixtures.py),
and the local jobs the panel's views are shown with."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.browser_fixtures import *  # noqa: F401,F403  (fixtures are registered by name)
from tests.browser_fixtures import LabServer
from tests.e2e.panel_helpers import DONE_PROGRAM, RUN_PROGRAM, local_jobs, local_manifest, wait_phase


@pytest.fixture(scope="module")
def jobs(lab_server: LabServer) -> Iterator[dict[str, str]]:
    """Real local jobs on the module's server, by role: "done" a finished PyTorchJob (2 pods) with
    output files, "run" a TFJob running for ten minutes, "mpi" an MPIJob; deleted afterwards."""
    tag = uuid.uuid4().hex[:6]
    names = {"done": f"fr-done-{tag}", "run": f"fr-run-{tag}", "mpi": f"fr-mpi-{tag}"}
    with local_jobs(lab_server, [
            local_manifest("PyTorchJob", names["done"], {"Master": (1, DONE_PROGRAM), "Worker": (1, DONE_PROGRAM)}),
            local_manifest("TFJob", names["run"], {"Worker": (1, RUN_PROGRAM)}),
            local_manifest("MPIJob", names["mpi"], {"Launcher": (1, "print('launched')"), "Worker": (1, None)})]):
        wait_phase(lab_server, "pytorchjobs", names["done"], {"Succeeded"})
        wait_phase(lab_server, "tfjobs", names["run"], {"Running"})
        yield names
