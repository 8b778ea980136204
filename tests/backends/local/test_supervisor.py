"""The operator's lifecycle rules on real processes: failure, restarts, backoff, deadline, kill,
delete leaving nothing behind, and a server restart that re-attaches to running replicas."""

from __future__ import annotations

import asyncio
import os
import signal

import psutil
import pytest

from dtrain_jupyter.model.status import Phase

from .helpers import behave, log_text, mpi_job, processes_with_uid, pytorch_job, tf_job, wait_phase, wait_until

FINISHED = {Phase.SUCCEEDED, Phase.FAILED}


async def _pods(backend, kind, name):
    return {p.name: p for p in await backend.pods(kind, name, "default")}


async def _none_left(uid):
    return not processes_with_uid(uid)


async def test_failure_names_the_replica_and_its_exit_code(make_backend, tmp_path):
    backend = make_backend()
    await backend.start()
    job = await backend.create(pytorch_job("pt-fail", behave(f"wait-file:{tmp_path / 'never'}"), behave("exit:3"),
                                           workers=1))
    job = await wait_phase(backend, "PyTorchJob", "pt-fail", FINISHED)
    assert job.phase == Phase.FAILED
    assert job.status.reason == "PyTorchJobFailed"
    assert "pt-fail-worker-0 exited with code 3" in job.status.message
    pods = await _pods(backend, "PyTorchJob", "pt-fail")
    assert pods["pt-fail-worker-0"].exit_code == 3 and pods["pt-fail-worker-0"].reason == "exit code 3"
    # cleanPodPolicy None: the master runs on after the job failed, and is counted as the
    # operator last saw it.
    assert pods["pt-fail-master-0"].phase == "Running"
    assert job.manifest["status"]["replicaStatuses"] == {"Master": {"active": 1}, "Worker": {"failed": 1}}
    # Delete still leaves no process behind.
    await backend.delete("PyTorchJob", "pt-fail", "default")
    assert processes_with_uid(job.uid) == []


@pytest.mark.parametrize("ending, phase, exit_code, reason", [
    (["exit:0"], "Succeeded", 0, "completed"),
    (["exit:3"], "Failed", 3, "exit code 3"),
], ids=["worker-exits-0", "worker-exits-3"])
async def test_workers_run_to_their_own_end_after_the_master_succeeds(make_backend, tmp_path, ending, phase,
                                                                     exit_code, reason):
    # cleanPodPolicy None, every operator's default since v1.6: the job is Succeeded as soon as
    # the master is, and the other pods run on to their own end, logs and exit codes kept.
    backend = make_backend()
    await backend.start()
    gate = tmp_path / "gate"
    await backend.create(pytorch_job("pt-linger", behave("print:master done"),
                                     behave("print:working", f"wait-file:{gate}", "print:done", *ending), workers=1))
    job = await wait_phase(backend, "PyTorchJob", "pt-linger", FINISHED)
    assert job.phase == Phase.SUCCEEDED
    # As the operator reports it: the active worker is counted as succeeded, and the counts stay.
    statuses = {"Master": {"succeeded": 1}, "Worker": {"succeeded": 1}}
    assert job.manifest["status"]["replicaStatuses"] == statuses
    assert (await _pods(backend, "PyTorchJob", "pt-linger"))["pt-linger-worker-0"].phase == "Running"
    follow = asyncio.ensure_future(log_text(backend, "PyTorchJob", "pt-linger", follow=True))
    gate.touch()

    async def worker_ended():
        pod = (await _pods(backend, "PyTorchJob", "pt-linger"))["pt-linger-worker-0"]
        return pod if pod.phase != "Running" else None
    worker = await wait_until(worker_ended, what="the worker to end by itself")
    assert (worker.phase, worker.exit_code, worker.reason) == (phase, exit_code, reason)
    assert "pt-linger-worker-0: done" in await asyncio.wait_for(follow, 60)
    assert await log_text(backend, "PyTorchJob", "pt-linger", pod="pt-linger-worker-0") == \
        ["pt-linger-worker-0: working", "pt-linger-worker-0: done"]
    job = await backend.get("PyTorchJob", "pt-linger", "default")
    assert job.phase == Phase.SUCCEEDED and job.manifest["status"]["replicaStatuses"] == statuses


@pytest.mark.parametrize("policy, ok", [("Running", True), ("All", True), ("Running", False)],
                         ids=["running-after-success", "all-after-success", "running-after-failure"])
async def test_clean_pod_policy_running_or_all_stops_the_replicas_left_at_the_end(make_backend, tmp_path, policy, ok):
    backend = make_backend()
    await backend.start()
    wait = behave(f"wait-file:{tmp_path / 'never'}")
    master, worker = (behave("exit:0"), wait) if ok else (wait, behave("exit:3"))
    job = await backend.create(pytorch_job("pt-clean", master, worker, workers=1,
                                           run_policy={"cleanPodPolicy": policy}))
    job = await wait_phase(backend, "PyTorchJob", "pt-clean", FINISHED)
    assert job.phase == (Phase.SUCCEEDED if ok else Phase.FAILED)
    await wait_until(lambda: _none_left(job.uid), what="the replica left at the end to be stopped")
    pods = await _pods(backend, "PyTorchJob", "pt-clean")
    left = pods["pt-clean-worker-0" if ok else "pt-clean-master-0"]
    outcome = "succeeded" if ok else "failed"
    assert left.phase == ("Succeeded" if ok else "Failed")
    assert left.reason == f"stopped: cleanPodPolicy {policy}, the job {outcome}"
    assert job.notes == [n for n in job.notes if "cleanPodPolicy" not in n]  # honoured, so no note


async def test_replicas_left_running_at_the_end_are_watched_across_a_server_restart(make_backend, tmp_path):
    first = make_backend()
    await first.start()
    gate = tmp_path / "gate"
    await first.create(pytorch_job("pt-after", behave("exit:0"), behave(f"wait-file:{gate}", "exit:4"), workers=1,
                                   restart="OnFailure"))
    await wait_phase(first, "PyTorchJob", "pt-after", Phase.SUCCEEDED)
    await first.stop()

    second = make_backend()
    await second.start()
    assert (await _pods(second, "PyTorchJob", "pt-after"))["pt-after-worker-0"].phase == "Running"
    gate.touch()

    async def worker_failed():
        return (await _pods(second, "PyTorchJob", "pt-after"))["pt-after-worker-0"].phase == "Failed"
    await wait_until(worker_failed, what="the worker's exit to be recorded")
    worker = (await _pods(second, "PyTorchJob", "pt-after"))["pt-after-worker-0"]
    assert (worker.exit_code, worker.restarts) == (4, 0)  # recorded, never restarted after the end
    job = await second.get("PyTorchJob", "pt-after", "default")
    assert job.phase == Phase.SUCCEEDED and job.status.replicas["Worker"].succeeded == 1


@pytest.mark.parametrize("version, worker_cmd", [("v1", None), ("v2beta1", ["/usr/sbin/sshd", "-De"])],
                         ids=["v1-sleep-worker", "v2beta1-sshd-worker"])
async def test_mpi_workers_that_only_stand_for_hosts_are_stopped_when_the_launcher_succeeds(make_backend, version,
                                                                                          worker_cmd):
    # On a cluster their `sleep 365d` or sshd never ends; locally they run nothing (mpirun's ranks
    # run under the launcher), so the default None does not keep them.
    backend = make_backend()
    await backend.start()
    name = f"mpi-hosts-{version}"
    job = await backend.create(mpi_job(name, behave("print:ranks done"), workers=2, version=version,
                                       worker_cmd=worker_cmd))
    job = await wait_phase(backend, "MPIJob", name, FINISHED)
    assert job.phase == Phase.SUCCEEDED
    await wait_until(lambda: _none_left(job.uid), what="the host workers to be stopped")
    workers = [p for p in (await _pods(backend, "MPIJob", name)).values() if p.replica_type == "Worker"]
    assert {(p.phase, p.reason) for p in workers} == {
        ("Succeeded", "stopped: MPI worker that only stands for a host, the job succeeded")}
    assert job.status.replicas["Worker"].succeeded == 2
    assert any("stand for hosts are stopped when the job finishes" in n for n in job.notes)


async def test_mpi_workers_with_a_command_of_their_own_run_to_their_end(make_backend, tmp_path):
    backend = make_backend()
    await backend.start()
    gate = tmp_path / "gate"
    await backend.create(mpi_job("mpi-own", behave("exit:0"), workers=1,
                                 worker_cmd=behave(f"wait-file:{gate}", "print:done")))
    await wait_phase(backend, "MPIJob", "mpi-own", Phase.SUCCEEDED)
    assert (await _pods(backend, "MPIJob", "mpi-own"))["mpi-own-worker-0"].phase == "Running"
    gate.touch()

    async def worker_done():
        pod = (await _pods(backend, "MPIJob", "mpi-own"))["mpi-own-worker-0"]
        return pod.phase == "Succeeded" and pod.reason == "completed"
    await wait_until(worker_done, what="the worker to complete")
    assert await log_text(backend, "MPIJob", "mpi-own", pod="mpi-own-worker-0") == ["mpi-own-worker-0: done"]


async def test_onfailure_restarts_until_success_and_keeps_the_previous_log(make_backend):
    backend = make_backend()
    await backend.start()
    cmd = behave("fail-until:2:1", "print:done")
    await backend.create(pytorch_job("pt-retry", cmd, workers=0, restart="OnFailure",
                                     run_policy={"backoffLimit": 5}))
    job = await wait_phase(backend, "PyTorchJob", "pt-retry", FINISHED)
    assert job.phase == Phase.SUCCEEDED
    [pod] = await backend.pods("PyTorchJob", "pt-retry", "default")
    assert pod.restarts == 2
    current = [ln.line async for ln in backend.logs("PyTorchJob", "pt-retry", "default", pod=pod.name)]
    previous = [ln.line async for ln in backend.logs("PyTorchJob", "pt-retry", "default", pod=pod.name, previous=True)]
    assert current == ["attempt 2", "done"] and previous == ["attempt 1"]
    reasons = [e.reason for e in await backend.events("PyTorchJob", "pt-retry", "default")]
    assert reasons.count("BackOff") == 2 and reasons.count("Restarted") == 2
    # Restarting was written when the replica failed, then replaced by Running, then Succeeded.
    types = [c["type"] for c in job.status.conditions]
    assert "Restarting" not in types and types[-1] == "Succeeded"


async def test_backoff_limit_fails_the_job(make_backend):
    backend = make_backend()
    await backend.start()
    await backend.create(pytorch_job("pt-backoff", behave("exit:1"), workers=0, restart="OnFailure",
                                     run_policy={"backoffLimit": 2}))
    job = await wait_phase(backend, "PyTorchJob", "pt-backoff", FINISHED)
    assert job.phase == Phase.FAILED
    assert "backoff limit" in job.status.message
    [pod] = await backend.pods("PyTorchJob", "pt-backoff", "default")
    assert pod.restarts == 2


@pytest.mark.parametrize("code, restarts, phase", [(1, 0, Phase.FAILED), (130, 1, Phase.SUCCEEDED)],
                         ids=["code-1-is-permanent", "code-130-is-retryable"])
async def test_exitcode_policy_restarts_only_codes_from_128(make_backend, code, restarts, phase):
    backend = make_backend()
    await backend.start()
    name = f"tf-exitcode-{code}"
    await backend.create(tf_job(name, {"Worker": (1, behave(f"fail-until:1:{code}"))}, restart="ExitCode"))
    job = await wait_phase(backend, "TFJob", name, FINISHED)
    assert job.phase == phase
    [pod] = await backend.pods("TFJob", name, "default")
    assert pod.restarts == restarts


async def test_active_deadline_fails_a_job_that_runs_too_long(make_backend):
    backend = make_backend()
    await backend.start()
    job = await backend.create(pytorch_job("pt-deadline", behave("sleep:60"), workers=1,
                                           run_policy={"activeDeadlineSeconds": 1}))
    job = await wait_phase(backend, "PyTorchJob", "pt-deadline", FINISHED)
    assert job.phase == Phase.FAILED and "deadline" in job.status.message
    assert any(e.reason == "DeadlineExceeded" for e in await backend.events("PyTorchJob", "pt-deadline", "default"))
    await wait_until(lambda: _none_left(job.uid), what="replicas to be stopped")
    # A deadline stops every replica whatever cleanPodPolicy says (the operator up to v1.9.3).
    pods = await _pods(backend, "PyTorchJob", "pt-deadline")
    assert {p.reason for p in pods.values()} == {"stopped: activeDeadlineSeconds passed, the job failed"}


async def test_sigkill_of_one_replica_is_reported_with_the_signal(make_backend):
    backend = make_backend()
    await backend.start()
    await backend.create(pytorch_job("pt-kill", behave("sleep:60"), workers=1))
    await wait_phase(backend, "PyTorchJob", "pt-kill", Phase.RUNNING)

    async def worker_pid():
        pods = {p.name: p for p in await backend.pods("PyTorchJob", "pt-kill", "default")}
        pod = pods["pt-kill-worker-0"]
        # The pid is the command's own (the wrapper's child) once it has been recorded.
        return pod.pid if pod.pid and "wrapper.py" not in " ".join(psutil.Process(pod.pid).cmdline()) else None
    os.kill(await wait_until(worker_pid, what="worker pid"), signal.SIGKILL)
    job = await wait_phase(backend, "PyTorchJob", "pt-kill", FINISHED)
    assert job.phase == Phase.FAILED
    assert "pt-kill-worker-0 was killed by signal 9 (SIGKILL" in job.status.message
    pods = {p.name: p for p in await backend.pods("PyTorchJob", "pt-kill", "default")}
    assert pods["pt-kill-worker-0"].exit_code == 137
    assert pods["pt-kill-worker-0"].reason == "killed by signal 9"


async def test_delete_leaves_no_process_not_even_grandchildren_in_other_sessions(make_backend, state_dir):
    backend = make_backend()
    await backend.start()
    job = await backend.create(pytorch_job("pt-delete", behave("grandchild", "sleep:60"), workers=2))
    await wait_phase(backend, "PyTorchJob", "pt-delete", Phase.RUNNING)

    async def grandchildren():
        lines = [ln.line async for ln in backend.logs("PyTorchJob", "pt-delete", "default")]
        pids = [int(ln.split()[1]) for ln in lines if ln.startswith("grandchild")]
        return pids if len(pids) == 3 else None
    pids = await wait_until(grandchildren, what="grandchildren")
    assert len(processes_with_uid(job.uid)) >= 9  # 3 wrappers, 3 replicas, 3 grandchildren
    deleted = await backend.delete("PyTorchJob", "pt-delete", "default")
    assert deleted.phase == Phase.DELETING
    assert processes_with_uid(job.uid) == []
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids)
    assert not (state_dir / "default" / "pytorchjobs" / "pt-delete").exists()
    assert await backend.list() == []


async def test_a_new_backend_over_the_same_state_reattaches_to_running_replicas(make_backend):
    first = make_backend()
    await first.start()
    job = await first.create(pytorch_job("pt-reattach", behave("sleep:2", "print:finished"), workers=1))
    await wait_phase(first, "PyTorchJob", "pt-reattach", Phase.RUNNING)
    pids_before = {p.name: p.pid for p in await first.pods("PyTorchJob", "pt-reattach", "default")}
    await first.stop()  # the server goes away; its replicas keep running

    second = make_backend()
    await second.start()
    again = await second.get("PyTorchJob", "pt-reattach", "default")
    assert again.uid == job.uid and again.phase == Phase.RUNNING
    assert {p.name: p.pid for p in await second.pods("PyTorchJob", "pt-reattach", "default")} == pids_before
    done = await wait_phase(second, "PyTorchJob", "pt-reattach", FINISHED)
    assert done.phase == Phase.SUCCEEDED
    lines = [ln.line async for ln in second.logs("PyTorchJob", "pt-reattach", "default", pod="pt-reattach-master-0")]
    assert lines == ["finished"]


async def test_a_replica_gone_while_the_server_was_down_is_marked_lost(make_backend):
    first = make_backend()
    await first.start()
    await first.create(pytorch_job("pt-lost", behave("sleep:60"), workers=1, restart="Never"))
    await wait_phase(first, "PyTorchJob", "pt-lost", Phase.RUNNING)
    await first.stop()
    # Kill a wrapper and its child with SIGKILL: no exit status gets written.
    async def worker_pid():
        return next(p for p in (await first.pods("PyTorchJob", "pt-lost", "default")) if p.replica_type == "Worker").pid
    wrapper = psutil.Process(await wait_until(worker_pid, what="worker pid")).parent()
    assert "wrapper.py" in " ".join(wrapper.cmdline()) and wrapper.pid == os.getpgid(wrapper.pid)
    os.killpg(wrapper.pid, signal.SIGKILL)
    psutil.wait_procs([wrapper], timeout=5)

    second = make_backend()
    await second.start()
    job = await wait_phase(second, "PyTorchJob", "pt-lost", FINISHED)
    assert job.phase == Phase.FAILED
    assert "pt-lost-worker-0 was lost" in job.status.message


async def test_finished_jobs_keep_status_logs_and_outputs_across_restarts(make_backend):
    first = make_backend()
    await first.start()
    await first.create(pytorch_job("pt-keep", behave("print:hello", "write:model/w.txt:42"), workers=0))
    await wait_phase(first, "PyTorchJob", "pt-keep", Phase.SUCCEEDED)
    await first.stop()
    second = make_backend()
    await second.start()
    job = await second.get("PyTorchJob", "pt-keep", "default")
    assert job.phase == Phase.SUCCEEDED
    assert [ln.line async for ln in second.logs("PyTorchJob", "pt-keep", "default")] == ["hello"]
    assert [f.path for f in await second.outputs("PyTorchJob", "pt-keep", "default")] == ["model/w.txt"]


async def test_a_replica_that_cannot_be_started_again_fails_the_job_with_the_reason(make_backend, tmp_path):
    backend = make_backend()
    await backend.start()
    workdir = tmp_path / "work"
    workdir.mkdir()
    manifest = pytorch_job("pt-nocwd", [*behave("print:bye")[:1], "-c", "import os, shutil, sys; "
                                        "shutil.rmtree(os.getcwd()); sys.exit(1)"], workers=0, restart="OnFailure")
    manifest["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["workingDir"] = str(workdir)
    await backend.create(manifest)
    job = await wait_phase(backend, "PyTorchJob", "pt-nocwd", FINISHED)
    assert job.phase == Phase.FAILED
    assert "pt-nocwd-master-0 could not be started" in job.status.message
    assert any(e.reason == "FailedCreate" for e in await backend.events("PyTorchJob", "pt-nocwd", "default"))


async def test_v2beta1_launcher_restarts_on_failure_up_to_the_job_default_of_six(make_backend):
    from .helpers import mpi_job
    backend = make_backend()
    await backend.start()
    await backend.create(mpi_job("mpi-retry", behave("exit:2"), workers=1, version="v2beta1"))
    job = await wait_phase(backend, "MPIJob", "mpi-retry", FINISHED)
    assert job.phase == Phase.FAILED and "backoff limit" in job.status.message
    pods = {p.name: p for p in await backend.pods("MPIJob", "mpi-retry", "default")}
    assert pods["mpi-retry-launcher"].restarts == 6


def test_gpu_discovery_reads_nvidia_smi_and_honours_the_servers_choice(tmp_path, monkeypatch):
    # No GPU on this machine: a stand-in `nvidia-smi` prints what the real one prints for two.
    from dtrain_jupyter.backends.local.supervisor import detect_gpus
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\n[ \"$1 $2\" = \"--query-gpu=index --format=csv,noheader\" ] && printf '0\\n1\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert detect_gpus() == ["0", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert detect_gpus() == ["1"]
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert detect_gpus() == []
