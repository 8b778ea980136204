"""mpi.py: Open MPI 4 options rewritten for Open MPI 5, hostfile formats."""

from __future__ import annotations

import runpy
import subprocess

from dtrain_jupyter.backends.local import mpi
from dtrain_jupyter.model.mpi_command import ONE_VALUE_OPTIONS, TWO_VALUE_OPTIONS
from dtrain_jupyter.backends.local.replicas import plan_job

from .helpers import behave, mpi_job


def test_legacy_options_get_two_dashes_only_before_the_program():
    args = ["-np", "2", "-bind-to", "none", "-map-by", "slot", "-x", "PATH", "-mca", "pml", "ob1",
            "python", "train.py", "-map-by", "keep"]
    assert mpi.rewrite_legacy_options(args) == [
        "-np", "2", "--bind-to", "none", "--map-by", "slot", "-x", "PATH", "-mca", "pml", "ob1",
        "python", "train.py", "-map-by", "keep"]
    assert mpi.rewrite_legacy_options(["--oversubscribe", "-n", "1", "a"]) == ["--oversubscribe", "-n", "1", "a"]
    # Open MPI 4's `-wd DIR` takes a value, as model/mpi_command.py's tables say: DIR is not the program.
    assert mpi.rewrite_legacy_options(["-wd", "/tmp", "-bind-to", "none", "a"]) == ["-wd", "/tmp", "--bind-to", "none", "a"]


def test_hostfile_formats_per_implementation():
    plan = plan_job(mpi_job("m", behave("exit:0"), workers=3))
    plan.spec["slotsPerWorker"] = 2
    assert mpi.hostfile_text(plan, "OpenMPI") == "localhost slots=6\n"
    assert mpi.hostfile_text(plan, "MPICH") == "localhost:6\n"


def test_the_shim_runs_the_real_mpirun_with_rewritten_options(tmp_path):
    import os
    import sys
    plan = plan_job(mpi_job("m", behave("exit:0"), workers=1))
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    hostfile, shim = mpi.write_launcher_files(plan, tmp_path, path)
    assert hostfile.read_text() == "localhost slots=1\n"
    assert shim is not None
    # The shim runs outside this package; it carries the option tables of model/mpi_command.py.
    shim_tables = runpy.run_path(str(shim / "mpi_args.py"))
    assert (shim_tables["ONE_VALUE_OPTIONS"], shim_tables["TWO_VALUE_OPTIONS"]) == (ONE_VALUE_OPTIONS, TWO_VALUE_OPTIONS)
    # `-bind-to none` is refused by Open MPI 5's own mpirun; through the shim it runs.
    env = dict(os.environ, PATH=f"{shim}{os.pathsep}{path}",
               **dict(mpi.launcher_env(plan, hostfile, gpu_launcher=False)))
    done = subprocess.run(["mpirun", "-np", "1", "-bind-to", "none", sys.executable, "-c", "print('ran')"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ran")
