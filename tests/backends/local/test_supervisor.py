"""The operator's lifecycle rules on real processes: failure, restarts, backoff, deadline, kill,
delete leaving nothing behind, and a server restart that re-attaches to running replicas."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from dtrain_jupyter.model.status import Phase

from .helpers import behave, processes_with_uid, pytorch_job, tf_job, wait_phase, wait_until

FINISHED = {Phase.SUCCEEDED, Phase.FAILED}


async def test_failure_names_the_replica_and_its_exit_code(make_backend):
    backend = make_backend()
    await backend.start()
    await backend.create(pytorch_job("pt-fail", behave("sleep:30"), behave("exit:3"), workers=1))
    job = await wait_phase(backend, "PyTorchJob", "pt-fail", FINISHED)
    assert job.phase == Phase.FAILED
    assert job.status.reason == "PyTorchJobFailed"
    assert "pt-fail-worker-0 exited with code 3" in job.status.message
    pods = {p.name: p for p in await backend.pods("PyTorchJob", "pt-fail", "default")}
    assert pods["pt-fail-worker-0"].exit_code == 3 and pods["pt-fail-worker-0"].reason == "exit code 3"
    # The master was still running: the job's end stopped it.
    assert pods["pt-fail-master-0"].phase == "Failed"
    assert "stopped" in pods["pt-fail-master-0"].reason
    assert job.manifest["status"]["replicaStatuses"]["Worker"] == {"failed": 1}


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


async def _none_left(uid):
    return not processes_with_uid(uid)


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
