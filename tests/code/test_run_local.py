"""`Client.run` and `Client.result` against a real Jupyter server on the local backend: real
replicas, real PyTorch DDP (gloo), real MPI (mpi4py under mpirun), the TFJob's TF_CONFIG, and
`packages` installed by pip from a folder of wheels the test writes (no network)."""

from __future__ import annotations

import importlib.util
import os
import json
import shutil
import sys
from pathlib import Path

import pytest

from dtrain_jupyter import Client, InvalidRequest, JobNotFound, RemoteError

from ..server.live import module_client, module_server
from .conftest import notebook, offline_pip_env, write_wheel

NB = notebook(
    """
    import os
    import json
    SCALE = 10.0
    def contribution(rank):
        return (rank + 1) * SCALE
    def allreduce_sum():
        import torch
        import torch.distributed as dist
        dist.init_process_group("gloo")
        t = torch.tensor([contribution(dist.get_rank())])
        dist.all_reduce(t)
        dist.destroy_process_group()
        return t.item()
    def mpi_sum():
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        return {"sum": comm.allreduce(contribution(comm.Get_rank())), "size": comm.Get_size()}
    def tf_task(tag):
        task = json.loads(os.environ["TF_CONFIG"])["task"]
        return [tag, task["type"], task["index"]]
    def fails_on_the_worker():
        import time
        if os.environ["RANK"] == "1":
            raise KeyError("missing shard")
        time.sleep(60)  # the Master outlives the Worker, so the job fails with the Worker
    def demo_value():
        import dtrain_demo_pkg
        return dtrain_demo_pkg.VALUE * int(os.environ["WORLD_SIZE"])
    """)


server = module_server("run-server")
client = module_client()



def has_mpi() -> bool:
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    return shutil.which("mpirun", path=path) is not None and importlib.util.find_spec("mpi4py") is not None


def test_ddp_allreduce_on_a_master_and_a_worker_returns_every_ranks_sum(client: Client) -> None:
    job = client.run(NB["allreduce_sum"], kind="PyTorchJob", workers=1, every_rank=True)
    try:
        # Ranks 0 and 1 contribute 10 and 20: each rank's all-reduced tensor holds 30.
        assert client.result(job.name, timeout=240, progress=False) == [30.0, 30.0]
        assert client.get(job.name).phase.value == "Succeeded"
    finally:
        client.delete(job.name)


@pytest.mark.skipif(not has_mpi(), reason="no MPI runtime (mpirun and mpi4py) on this machine")
def test_mpi_allreduce_runs_on_every_slot(client: Client) -> None:
    job = client.run(NB["mpi_sum"], kind="MPIJob", workers=2)
    try:
        assert client.result(job.name, timeout=240, progress=False) == {"sum": 30.0, "size": 2}
    finally:
        client.delete(job.name)


def test_tfjob_workers_read_their_tf_config(client: Client) -> None:
    job = client.run(NB["tf_task"], kind="TFJob", workers=2, args={"tag": "t"}, every_rank=True)
    try:
        assert client.result(job.name, timeout=120, progress=False) == [["t", "worker", 0], ["t", "worker", 1]]
    finally:
        client.delete(job.name)


def test_an_exception_in_a_worker_comes_back_with_its_traceback_and_pod(client: Client) -> None:
    job = client.run(NB["fails_on_the_worker"], workers=1)
    try:
        with pytest.raises(RemoteError) as info:
            client.result(job.name, timeout=120, progress=False)
    finally:
        client.delete(job.name)
    err = info.value
    assert err.pod == f"{job.name}-worker-0" and err.fields["rank"] == 1 and err.fields["type"] == "KeyError"
    assert 'raise KeyError("missing shard")' in err.traceback and "fails_on_the_worker" in err.traceback
    assert err.message.startswith(f"fails_on_the_worker() raised KeyError on rank 1 in pod {job.name}-worker-0")


def test_refusals_happen_before_anything_is_created(client: Client, tmp_path) -> None:
    with open(tmp_path / "f.txt", "w") as handle:
        nb = notebook("def write():\n    return handle.write('x')\n")
        nb["handle"] = handle
        with pytest.raises(InvalidRequest) as info:
            client.run(nb["write"], name="never-made")
    assert info.value.fields["names"] == ["handle"]
    with pytest.raises(InvalidRequest) as info:
        client.run(NB["tf_task"], args={"tag": ("a",)}, name="never-made")
    assert info.value.fields["names"] == ["args['tag']"]
    with pytest.raises(JobNotFound):
        client.get("never-made")


def test_dry_run_creates_nothing(client: Client) -> None:
    job = client.run(NB["tf_task"], kind="TFJob", args={"tag": "x"}, dry_run=True)
    assert job.kind == "TFJob" and job.name.startswith("tf-task-")
    with pytest.raises(JobNotFound):
        client.get(job.name)


@pytest.fixture(scope="module")
def pip_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A job env whose pip installs from a folder holding one wheel, into a cache of this module's own."""
    wheels = tmp_path_factory.mktemp("wheels")
    write_wheel(wheels, "dtrain-demo-pkg", "1.0", "VALUE = 7\n")
    return offline_pip_env(wheels, tmp_path_factory.mktemp("package-cache"))


def log_text(client: Client, name: str) -> str:
    return "\n".join(f"[{line.pod}] {line.line}" for line in client.logs(name))


def test_packages_are_installed_for_every_replica_once_and_a_rerun_installs_nothing(
        client: Client, pip_env: dict[str, str]) -> None:
    first = client.run(NB["demo_value"], kind="PyTorchJob", workers=2, packages=["dtrain-demo-pkg==1.0"],
                       env=pip_env, every_rank=True)
    try:
        # Three replicas (WORLD_SIZE 3) imported the package pip installed for them.
        assert client.result(first.name, timeout=240, progress=False) == [21, 21, 21]
        log = log_text(client, first.name)
    finally:
        client.delete(first.name)
    [folder] = [p for p in Path(pip_env["DTRAIN_PACKAGE_CACHE"]).iterdir() if p.is_dir()]
    # One replica ran pip; the others waited for it or found the folder made.
    assert log.count("Successfully installed dtrain-demo-pkg-1.0") == 1, log
    assert log.count(f"dtrain: installing dtrain-demo-pkg==1.0 into {folder}") == 1, log
    record = (folder / ".dtrain-packages.json").read_text()
    assert json.loads(record)["requirements"] == ["dtrain-demo-pkg==1.0"]

    # every_rank: the result waits for both replicas, so both have printed what they found.
    again = client.run(NB["demo_value"], kind="PyTorchJob", workers=1, packages=["dtrain-demo-pkg==1.0"],
                       env=pip_env, every_rank=True)
    try:
        assert client.result(again.name, timeout=240, progress=False) == [14, 14]
        log = log_text(client, again.name)
    finally:
        client.delete(again.name)
    assert "dtrain: installing" not in log and "Successfully installed" not in log, log
    assert log.count(f"dtrain: packages dtrain-demo-pkg==1.0 already installed in {folder}") == 2, log
    assert (folder / ".dtrain-packages.json").read_text() == record


def test_a_package_pip_cannot_install_comes_back_as_a_remote_error(client: Client, pip_env: dict[str, str]) -> None:
    job = client.run(NB["demo_value"], workers=1, packages=["dtrain-absent==9"], env=pip_env)
    try:
        with pytest.raises(RemoteError) as info:
            client.result(job.name, timeout=240, progress=False)
    finally:
        client.delete(job.name)
    err = info.value
    assert err.fields["type"] == "PackageInstallError" and err.pod.startswith(job.name + "-")
    assert err.message.startswith("pip could not install 'dtrain-absent==9': ERROR: ")
    assert "No matching distribution found for dtrain-absent==9" in err.message


def test_a_bad_requirement_is_refused_before_anything_is_created(client: Client) -> None:
    with pytest.raises(InvalidRequest) as info:
        client.run(NB["demo_value"], packages=["dtrain-demo-pkg", "numpy>=1,,2"], name="never-made-packages")
    assert info.value.fields["names"] == ["packages[1]"] and "'numpy>=1,,2'" in info.value.message
    with pytest.raises(JobNotFound):
        client.get("never-made-packages")
