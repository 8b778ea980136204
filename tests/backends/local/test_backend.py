"""LocalBackend running real distributed programs: PyTorch (gloo, torchrun), TF_CONFIG, MPI.

Nothing on the training side is mocked: torch.distributed all_reduce over gloo, mpi4py allreduce
under the environment's Open MPI, and TFJob replicas that connect to each other's ports.
"""

from __future__ import annotations

import json

import pytest

from dtrain_jupyter.model.status import Phase

from .helpers import behave, mpi_job, program, pytorch_job, tf_job, wait_phase, wait_until

FINISHED = {Phase.SUCCEEDED, Phase.FAILED}


async def _logs(backend, kind, name):
    return [f"{ln.pod}: {ln.line}" async for ln in backend.logs(kind, name, "default")]


@pytest.mark.slow
async def test_pytorch_master_and_two_workers_all_reduce_over_gloo(make_backend):
    backend = make_backend()
    await backend.start()
    cmd = program("torch_allreduce.py")
    await backend.create(pytorch_job("pt-gloo", cmd, cmd, workers=2))
    job = await wait_phase(backend, "PyTorchJob", "pt-gloo", FINISHED, timeout=120)
    lines = await _logs(backend, "PyTorchJob", "pt-gloo")
    assert job.phase == Phase.SUCCEEDED, lines
    for pod, rank in (("pt-gloo-master-0", 0), ("pt-gloo-worker-0", 1), ("pt-gloo-worker-1", 2)):
        assert f"{pod}: rank={rank} world=3 sum=6.0 expected=6.0" in lines
    assert await backend.read_output("PyTorchJob", "pt-gloo", "default", "sum.txt", limit=100) == b"6.0\n"
    assert job.status.replicas["Master"].succeeded == 1 and job.status.replicas["Worker"].succeeded == 2


@pytest.mark.slow
async def test_pytorch_nproc_per_node_through_torchrun_and_pet_env(make_backend):
    backend = make_backend()
    await backend.start()
    cmd = ["torchrun", str(program("torch_allreduce.py")[1])]
    await backend.create(pytorch_job("pt-torchrun", cmd, cmd, workers=1, nprocPerNode="2"))
    job = await wait_phase(backend, "PyTorchJob", "pt-torchrun", FINISHED, timeout=180)
    assert job.phase == Phase.SUCCEEDED, await _logs(backend, "PyTorchJob", "pt-torchrun")

    async def four_sums():
        # The job succeeds when its Master does (the operators' rule), so the Worker node's
        # ranks may print their line a moment after the phase turned.
        found = [ln for ln in await _logs(backend, "PyTorchJob", "pt-torchrun") if "sum=10.0 expected=10.0" in ln]
        return found if len(found) >= 4 else None

    try:
        sums = await wait_until(four_sums, timeout=60, what="every rank's sum line")
    except AssertionError:
        # Seen once under a full CI run and not since: say what the logs held, so a next time says why.
        lines = await _logs(backend, "PyTorchJob", "pt-torchrun")
        raise AssertionError("not every rank's sum line within 60 s; the job's logs:\n" + "\n".join(lines)) from None
    # Two nodes of two processes each: ranks 0..3, every one saw the full sum.
    assert sorted(int(ln.split("rank=")[1].split()[0]) for ln in sums) == [0, 1, 2, 3]
    assert all("world=4" in ln for ln in sums)


async def test_tfjob_chief_workers_ps_reach_each_other_through_tf_config(make_backend):
    backend = make_backend()
    await backend.start()
    cmd = program("tf_config_check.py")
    await backend.create(tf_job("tf-cluster", {"Chief": (1, cmd), "Worker": (2, cmd), "PS": (1, cmd)}))
    job = await wait_phase(backend, "TFJob", "tf-cluster", FINISHED)
    lines = await _logs(backend, "TFJob", "tf-cluster")
    assert job.phase == Phase.SUCCEEDED, lines
    for task in ("chief:0", "worker:0", "worker:1", "ps:0"):
        assert any(f"task={task} reached=3 served=3 peers=4" in ln for ln in lines), lines


async def test_single_replica_tfjob_gets_no_tf_config(make_backend):
    backend = make_backend()
    await backend.start()
    await backend.create(tf_job("tf-one", {"Worker": (1, behave("env:TF_CONFIG"))}))
    job = await wait_phase(backend, "TFJob", "tf-one", FINISHED)
    assert job.phase == Phase.SUCCEEDED
    assert await _logs(backend, "TFJob", "tf-one") == ["tf-one-worker-0: TF_CONFIG=<unset>"]


@pytest.mark.slow
@pytest.mark.parametrize("version", ["v1", "v2beta1"])
async def test_mpijob_launcher_runs_mpirun_allreduce_over_the_workers(make_backend, version):
    backend = make_backend()
    await backend.start()
    name = f"mpi-{version}"
    if version == "v1":
        # The official example's mpirun line (Open MPI 4 single-dash options), unchanged.
        launcher = ["mpirun", "-np", "2", "--allow-run-as-root", "-bind-to", "none", "-map-by", "slot",
                    "-x", "LD_LIBRARY_PATH", "-x", "PATH", "-mca", "pml", "ob1", "-mca", "btl", "^openib",
                    "python", str(program("mpi_allreduce.py")[1])]
        worker = None
    else:
        launcher = ["mpirun", "-n", "2", "python", str(program("mpi_allreduce.py")[1])]
        worker = ["/usr/sbin/sshd", "-De", "-f", "/home/mpiuser/.sshd_config"]
    await backend.create(mpi_job(name, launcher, workers=2, version=version, worker_cmd=worker))
    job = await wait_phase(backend, "MPIJob", name, FINISHED, timeout=120)
    lines = await _logs(backend, "MPIJob", name)
    assert job.phase == Phase.SUCCEEDED, lines
    assert f"{name}-launcher: rank=0 size=2 sum=3 expected=3" in lines
    assert f"{name}-launcher: rank=1 size=2 sum=3 expected=3" in lines
    pods = {p.name: p for p in await backend.pods("MPIJob", name, "default")}
    assert set(pods) == {f"{name}-launcher", f"{name}-worker-0", f"{name}-worker-1"}
    # Workers stood for the hosts while the launcher ran; they are stopped once it succeeded.
    assert all(p.phase == "Succeeded" for p in pods.values())
    assert job.status.replicas["Launcher"].succeeded == 1
    if version == "v2beta1":
        assert any("sshd" in n for n in job.notes)


async def test_mpi_worker_env_and_hostfile(make_backend):
    backend = make_backend()
    await backend.start()
    launcher = behave("env:OMPI_MCA_orte_default_hostfile", "env:K_MPI_JOB_ROLE", "env:OMPI_ALLOW_RUN_AS_ROOT")
    await backend.create(mpi_job("mpi-env", launcher, workers=3, version="v2beta1"))
    job = await wait_phase(backend, "MPIJob", "mpi-env", FINISHED)
    assert job.phase == Phase.SUCCEEDED
    lines = await _logs(backend, "MPIJob", "mpi-env")
    hostfile = lines[0].split("=", 1)[1]
    assert open(hostfile).read() == "localhost slots=3\n"
    assert "mpi-env-launcher: K_MPI_JOB_ROLE=launcher" in lines
    import os
    assert lines[2].endswith("=1") if os.geteuid() == 0 else lines[2].endswith("<unset>")


async def test_gpus_split_among_replicas_by_their_requests(make_backend):
    backend = make_backend(gpus=["0", "1", "2"])
    await backend.start()
    # Workers only: the job succeeds when all of them did, so every replica has printed.
    manifest = pytorch_job("pt-gpu", behave("env:CUDA_VISIBLE_DEVICES"), workers=3)
    specs = manifest["spec"]["pytorchReplicaSpecs"]
    del specs["Master"]
    specs["Worker"]["template"]["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": 1}}
    await backend.create(manifest)
    await wait_phase(backend, "PyTorchJob", "pt-gpu", Phase.SUCCEEDED)
    seen = {ln.split(": ")[0]: ln.split("=")[1] for ln in await _logs(backend, "PyTorchJob", "pt-gpu")}
    assert sorted(seen.values()) == ["0", "1", "2"]


async def test_too_many_gpus_leaves_the_job_pending_with_a_reason(make_backend):
    backend = make_backend(gpus=["0"])
    await backend.start()
    manifest = pytorch_job("pt-greedy", behave("exit:0"), workers=1)
    c = manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    c["resources"] = {"limits": {"nvidia.com/gpu": "4"}}
    job = await backend.create(manifest)
    assert job.phase == Phase.PENDING
    assert job.status.reason == "Unschedulable" and "requests 4" in job.status.message
    pods = await backend.pods("PyTorchJob", "pt-greedy", "default")
    assert all(p.phase == "Pending" and p.reason.startswith("Pending: 0/1 nodes") for p in pods)
    events = await backend.events("PyTorchJob", "pt-greedy", "default")
    assert any(e.reason == "FailedScheduling" for e in events)


async def test_job_record_is_plain_json_on_disk(make_backend, state_dir):
    backend = make_backend()
    await backend.start()
    await backend.create(pytorch_job("pt-disk", behave("exit:0"), workers=1))
    await wait_phase(backend, "PyTorchJob", "pt-disk", Phase.SUCCEEDED)
    record = json.loads((state_dir / "default" / "pytorchjobs" / "pt-disk" / "job.json").read_text())
    assert record["conditions"][-1]["type"] == "Succeeded"
    assert record["conditions"][-1]["reason"] == "PyTorchJobSucceeded"


@pytest.mark.slow
async def test_elastic_pytorchjob_rendezvous_over_c10d_with_pet_env(make_backend):
    backend = make_backend()
    await backend.start()
    cmd = ["torchrun", str(program("torch_allreduce.py")[1])]
    manifest = pytorch_job("pt-elastic", cmd, workers=0, restart="OnFailure", nprocPerNode="1",
                           elasticPolicy={"rdzvBackend": "c10d", "minReplicas": 2, "maxReplicas": 2, "maxRestarts": 1})
    specs = manifest["spec"]["pytorchReplicaSpecs"]
    specs["Worker"] = specs.pop("Master")
    specs["Worker"]["replicas"] = 2
    await backend.create(manifest)
    job = await wait_phase(backend, "PyTorchJob", "pt-elastic", FINISHED, timeout=180)
    lines = await _logs(backend, "PyTorchJob", "pt-elastic")
    assert job.phase == Phase.SUCCEEDED, lines
    sums = [ln for ln in lines if "world=2 sum=3.0 expected=3.0" in ln]
    assert sorted(ln.split(": ")[0] for ln in sums) == ["pt-elastic-worker-0", "pt-elastic-worker-1"]
