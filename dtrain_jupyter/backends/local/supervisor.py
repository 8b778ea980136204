"""The running side of local jobs: start replicas, watch them, apply the operator's rules.

The supervisor never relies on being the replicas' parent: every tick it checks each running
replica by pid and start time, reads the exit status the wrapper left in the job's run folder,
and then restarts, fails or finishes as `lifecycle.py` decides. The same tick therefore serves a
job this server started and a job re-attached after a server restart; a replica that vanished
without an exit file is reported as lost. All record changes happen on the event loop; blocking
work (fork/exec, waiting for processes to stop) goes to threads.

When a job finishes, its replicas still running are stopped or left to run on as the job's
cleanPodPolicy says (operator-contract §1.6); the tick keeps watching the ones left running, so
their logs are complete and their exit codes recorded, without changing the finished job.

A suspended job (runPolicy.suspend) is left alone by the tick: its replicas were stopped by the
backend and wait, Pending, for `resume`, which starts them again as `start` does on create.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Sequence

from . import lifecycle, process
from .environment import PLACEHOLDER_CODE
from .lifecycle import now_iso, set_condition
from .logs import log_path, trim_head


def detect_gpus() -> list[str]:
    """Device ids to hand out: the NVIDIA GPUs `nvidia-smi` reports, or [] when there are none.

    When the server itself runs with CUDA_VISIBLE_DEVICES set, only those devices are handed
    out: whoever started the server chose them.
    """
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = [line.strip() for line in out.splitlines() if line.strip().isdigit()]
    chosen = os.environ.get("CUDA_VISIBLE_DEVICES")
    if found and chosen is not None:
        return [d.strip() for d in chosen.split(",") if d.strip()]
    return found


def run_dir(record: dict[str, Any]) -> Path:
    return Path(record["dir"]) / "run"


def log_dir(record: dict[str, Any]) -> Path:
    return Path(record["dir"]) / "logs"


def add_event(record: dict[str, Any], etype: str, reason: str, message: str, obj_kind: str = "", obj: str = "") -> None:
    """Append a Kubernetes-style event; a repeat of the last one only bumps its count."""
    events = record.setdefault("events", [])
    when = now_iso()
    obj_kind, obj = obj_kind or record["kind"], obj or record["name"]
    if events and (events[-1]["reason"], events[-1]["message"], events[-1]["object_name"]) == (reason, message, obj):
        events[-1]["count"] += 1
        events[-1]["last_time"] = when
        return
    events.append({"type": etype, "reason": reason, "message": message, "object_kind": obj_kind,
                   "object_name": obj, "count": 1, "first_time": when, "last_time": when})


class Supervisor:
    """Starts and watches the replicas of every local job; owns GPU assignment."""

    def __init__(self, *, grace: float, restart_backoff: float, gpus: Sequence[str],
                 log_limit_bytes: int | None = None) -> None:
        self.grace = grace
        self.log_limit_bytes = log_limit_bytes
        self._trimmed: dict[str, int] = {}  # log path -> bytes already freed at its head
        self.restart_backoff = restart_backoff
        self.gpus = list(gpus)
        self._stopping: set[asyncio.Task] = set()

    # ---- GPUs -----------------------------------------------------------------------------
    def _held(self, records: list[dict[str, Any]]) -> set[str]:
        # A finished job still holds the GPUs of the replicas that run on after its end.
        return {g for r in records for rep in r["replicas"]
                if rep["state"] == "Running" or not lifecycle.is_finished(r["conditions"])
                for g in rep.get("gpus", [])}

    def assign_gpus(self, record: dict[str, Any], records: list[dict[str, Any]]) -> str:
        """Give each replica its `nvidia.com/gpu` count of devices; '' when done, else why it waits."""
        need = sum(rep["gpu_count"] for rep in record["replicas"])
        if need == 0:
            return ""
        if need > len(self.gpus):
            return (f"0/1 nodes are available: {len(self.gpus)} nvidia.com/gpu on this machine, "
                    f"the job requests {need}")
        free = [g for g in self.gpus if g not in self._held([r for r in records if r is not record])]
        if need > len(free):
            return f"0/1 nodes are available: {len(free)} of {len(self.gpus)} nvidia.com/gpu free, the job requests {need}"
        for rep in record["replicas"]:
            rep["gpus"], free = free[:rep["gpu_count"]], free[rep["gpu_count"]:]
        return ""

    # ---- starting -------------------------------------------------------------------------
    def _spawn_one(self, record: dict[str, Any], rep: dict[str, Any]) -> None:
        launch = rep["launch"]
        env = {**os.environ, **launch["env"]}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(rep.get("gpus", []))
        pod = rep["pod"]
        started = process.spawn(launch["argv"], env, launch["cwd"], log_path(log_dir(record), pod),
                                run_dir(record) / f"{pod}.exit", run_dir(record) / f"{pod}.pid")
        rep.update(pid=started.pid, create_time=started.create_time, state="Running", reason="", oom_kills=process.oom_kills(),
                   started=now_iso(), finished=None, finished_ts=None, exit_code=None, signal=None,
                   restart_at=None)

    def _spawn_safely(self, record: dict[str, Any], rep: dict[str, Any]) -> None:
        """Spawn, or mark the replica Failed with the reason (a vanished cwd, no fork possible)."""
        try:
            self._spawn_one(record, rep)
        except OSError as e:
            rep.update(state="Failed", exit_code=lifecycle.START_FAILED_EXIT_CODE, signal=None, finished=now_iso(),
                       finished_ts=time.time(), restart_at=None, reason=f"could not be started: {e}")
            add_event(record, "Warning", "FailedCreate", f"{rep['pod']} could not be started: {e}", "Pod", rep["pod"])

    async def start(self, record: dict[str, Any], records: list[dict[str, Any]]) -> bool:
        """Start every replica, or leave the job Pending with the scheduling reason. Returns changed."""
        waiting = self.assign_gpus(record, records)
        if waiting:
            changed = record.get("pending_reason") != waiting
            if changed:
                record["pending_reason"] = waiting
                add_event(record, "Warning", "FailedScheduling", waiting)
            return changed
        record["pending_reason"] = ""
        run_dir(record).mkdir(parents=True, exist_ok=True)

        def spawn_all() -> None:
            for rep in record["replicas"]:
                self._spawn_safely(record, rep)
        await asyncio.to_thread(spawn_all)
        for rep in record["replicas"]:
            if rep["state"] == "Running":
                add_event(record, "Normal", "Started", f"started process {rep['pid']} for {rep['pod']}", "Pod", rep["pod"])
        record["start_time"], record["start_ts"] = now_iso(), time.time()
        set_condition(record["conditions"], "Running", "True", f"{record['kind']}Running",
                      f"{record['kind']} {record['name']} is running.")
        return True

    # ---- suspend and resume ---------------------------------------------------------------
    def suspend(self, record: dict[str, Any], stopped: dict[str, int | None]) -> None:
        """Record a job whose processes the backend has just stopped for runPolicy.suspend.

        The operator deletes every pod of a suspended job, whatever cleanPodPolicy says, and makes
        them all again on resume: so every replica goes back to Pending with nothing of its last
        attempt left but its log, and gives its GPUs back. Its stop is no failure: no exit is
        recorded, nothing is restarted and no backoffLimit is spent.

        Args:
            record: the job (not finished).
            stopped: pod -> pid of each replica that was running when the job was suspended.
        """
        kind, name = record["kind"], record["name"]
        for pod, pid in stopped.items():
            add_event(record, "Normal", "Killing", f"stopped process {pid} for {pod}: the job is suspended", "Pod", pod)
        for rep in record["replicas"]:
            rep.update(state="Pending", reason="", pid=None, create_time=None, child_pid=None, started=None,
                       finished=None, finished_ts=None, exit_code=None, signal=None, oom_killed=False,
                       restart_at=None, gpus=[])
        record["start_ts"] = None
        record["pending_reason"] = ""
        lifecycle.set_suspend(record["manifest"], True)
        message = lifecycle.suspend_conditions(record["conditions"], kind, name)
        add_event(record, "Normal", f"{kind}Suspended", message)

    async def resume(self, record: dict[str, Any], records: list[dict[str, Any]]) -> None:
        """Resume a suspended job: conditions and event as the operator sets them, then every
        replica starts as on create (or the job waits, Pending, for its GPUs; the tick retries)."""
        kind, name = record["kind"], record["name"]
        lifecycle.set_suspend(record["manifest"], False)
        message = lifecycle.resume_conditions(record["conditions"], kind, name)
        add_event(record, "Normal", f"{kind}Resumed", message)
        await self.start(record, records)

    # ---- watching -------------------------------------------------------------------------
    async def tick(self, record: dict[str, Any], records: list[dict[str, Any]]) -> bool:
        """One look at a job: record exits, restart, decide success or failure. Returns changed."""
        if record.get("deleting") or lifecycle.is_suspended(record["manifest"]):
            return False
        if lifecycle.is_finished(record["conditions"]):
            return await self._watch_after_end(record)
        if record.get("start_ts") is None:
            return await self.start(record, records)
        changed = False
        now = time.time()
        for rep in record["replicas"]:
            if rep["state"] == "Running" and not process.alive(rep["pid"], rep["create_time"]):
                await self._record_exit(record, rep)
                changed = True
        for rep in record["replicas"]:
            if rep["state"] == "Pending" and rep.get("restart_at") and now >= rep["restart_at"]:
                await self._restart(record, rep)
                changed = True
        changed |= self._decide(record, now)
        if self.log_limit_bytes is not None:
            self._trim_logs(record)
        return changed

    async def _watch_after_end(self, record: dict[str, Any]) -> bool:
        """Record the exits of replicas left running by a finished job (cleanPodPolicy None)."""
        changed = False
        for rep in record["replicas"]:
            if rep["state"] == "Running" and not process.alive(rep["pid"], rep["create_time"]):
                await self._record_exit(record, rep)
                changed = True
        if self.log_limit_bytes is not None and (changed or any(r["state"] == "Running" for r in record["replicas"])):
            self._trim_logs(record)
        return changed

    def _trim_logs(self, record: dict[str, Any]) -> None:
        """Keep each log within log_limit_bytes; a quarter of slack keeps punches infrequent."""
        limit = self.log_limit_bytes or 0
        for rep in record["replicas"]:
            for previous in (False, True):
                path = log_path(log_dir(record), rep["pod"], previous)
                key = str(path)
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                if size - self._trimmed.get(key, 0) > limit + limit // 4 + 4096:
                    self._trimmed[key] = trim_head(path, limit, self._trimmed.get(key, 0))

    async def _record_exit(self, record: dict[str, Any], rep: dict[str, Any]) -> None:
        pod = rep["pod"]
        status = process.read_exit(run_dir(record) / f"{pod}.exit")
        code = status.exit_code if status else lifecycle.LOST_EXIT_CODE
        sig = status.signal if status else None
        child = process.read_pid(run_dir(record) / f"{pod}.pid")
        oom_now = process.oom_kills()
        oom = sig == signal.SIGKILL and oom_now is not None and rep.get("oom_kills") is not None and oom_now > rep["oom_kills"]
        rep.update(exit_code=code, signal=sig, child_pid=child, finished=now_iso(), oom_killed=oom,
                   finished_ts=status.finished if status else time.time())
        # When a container's main process ends, the rest of the container is killed at once;
        # so are whatever children a local replica left behind (grace 0: straight to SIGKILL).
        await asyncio.to_thread(process.stop_job, record["uid"], [], 0.0, [pod])
        how = lifecycle.describe_exit(code, sig, oom)
        job_ended = lifecycle.is_finished(record["conditions"])
        if job_ended:
            rep["gpus"] = []
        if code == 0:
            rep.update(state="Succeeded", reason="")
            add_event(record, "Normal", "Completed", f"{pod} {how}", "Pod", pod)
            return
        # Once the job is finished nothing is restarted: the operator no longer reconciles its
        # pods. (A kubelet would still restart an OnFailure/Always container in place; locally
        # that would keep work running for a job already decided.)
        if job_ended or not lifecycle.should_restart(rep["restart_policy"], code):
            rep.update(state="Failed", reason=how)
            add_event(record, "Warning", "Failed", f"{pod} {how}", "Pod", pod)
            return
        limit = (record["manifest"].get("spec", {}).get("runPolicy") or {}).get("backoffLimit")
        if limit is None and record["apiVersion"].endswith("/v2beta1"):
            limit = 6  # the MPI Operator's launcher is a batch Job: Kubernetes defaults its backoffLimit to 6
        total = sum(r["restarts"] for r in record["replicas"])
        if limit is not None and total >= int(limit):
            rep.update(state="Failed", reason=how, backoff_exceeded=True)
            add_event(record, "Warning", "BackoffLimitExceeded",
                      f"{pod} {how}; the job reached its backoffLimit of {limit} restarts", "Pod", pod)
            return
        delay = lifecycle.backoff_delay(rep["restarts"], self.restart_backoff)
        rep.update(state="Pending", reason=how, restart_at=time.time() + delay)
        add_event(record, "Warning", "BackOff", f"{pod} {how}; restarting in {delay:.1f}s "
                  f"({rep['restart_policy']})", "Pod", pod)
        set_condition(record["conditions"], "Restarting", "True", f"{record['kind']}Restarting",
                      f"{record['kind']} {record['name']} is restarting because {pod} {how}.")

    async def _restart(self, record: dict[str, Any], rep: dict[str, Any]) -> None:
        pod = rep["pod"]
        current = log_path(log_dir(record), pod)
        if current.exists():
            previous = log_path(log_dir(record), pod, previous=True)
            os.replace(current, previous)
            self._trimmed.pop(str(current), None)
            self._trimmed.pop(str(previous), None)
        rep["restarts"] += 1
        await asyncio.to_thread(self._spawn_safely, record, rep)
        if rep["state"] != "Running":
            return
        add_event(record, "Normal", "Restarted", f"restarted {pod} (restart {rep['restarts']}) as process {rep['pid']}",
                  "Pod", pod)
        if all(r["state"] in ("Running", "Succeeded") for r in record["replicas"]):
            set_condition(record["conditions"], "Running", "True", f"{record['kind']}Running",
                          f"{record['kind']} {record['name']} is running.")

    def _decide(self, record: dict[str, Any], now: float) -> bool:
        kind, name = record["kind"], record["name"]
        spec = record["manifest"].get("spec") or {}
        if lifecycle.succeeded(kind, spec, record["replicas"]):
            self.finish(record, True, f"{kind} {name} is successfully completed.")
            return True
        failed = lifecycle.first_failure(record["replicas"])
        if failed is not None:
            how = failed["reason"] if failed.get("reason", "").startswith("could not") else \
                lifecycle.describe_exit(failed["exit_code"], failed["signal"], failed.get("oom_killed", False))
            if failed.get("backoff_exceeded"):
                msg = f"{kind} {name} has failed because it has reached the specified backoff limit: {failed['pod']} {how}."
            else:
                msg = f"{kind} {name} has failed because replica {failed['pod']} {how}."
            self.finish(record, False, msg, stop_all="backoffLimit reached" if failed.get("backoff_exceeded") else "")
            return True
        deadline = (spec.get("runPolicy") or {}).get("activeDeadlineSeconds")
        if deadline is not None and record.get("start_ts") and now - record["start_ts"] > float(deadline):
            add_event(record, "Warning", "DeadlineExceeded", f"the job ran longer than activeDeadlineSeconds={deadline}")
            self.finish(record, False,
                        f"{kind} {name} has failed because it was active longer than specified deadline.",
                        stop_all="activeDeadlineSeconds passed")
            return True
        return False

    def finish(self, record: dict[str, Any], ok: bool, message: str, *, stop_all: str = "") -> None:
        """Mark the job Succeeded or Failed and apply its cleanPodPolicy to the replicas still running.

        Args:
            record: the job.
            ok: True for Succeeded, False for Failed.
            message: the condition's message.
            stop_all: why every replica is stopped whatever the policy says ('' to follow it).
        """
        kind = record["kind"]
        ctype = "Succeeded" if ok else "Failed"
        set_condition(record["conditions"], ctype, "True", f"{kind}{ctype}", message)
        record["completion_time"] = now_iso()
        # The operators name the event as the condition: PyTorchJobSucceeded, TFJobFailed (contract §3).
        add_event(record, "Normal" if ok else "Warning", f"{kind}{ctype}", message)
        record["final_counts"] = lifecycle.finished_counts(record["replicas"], ok)
        outcome = "succeeded" if ok else "failed"
        policy = lifecycle.clean_pod_policy(kind, record["apiVersion"], record["manifest"].get("spec") or {})
        roots, pods = [], []
        for rep in record["replicas"]:
            if rep["state"] == "Pending":
                # Waiting out a restart backoff: its last attempt failed, and nothing is restarted
                # once the job is finished.
                rep.update(state="Failed", restart_at=None, reason=f"not restarted: the job {outcome}",
                           finished=now_iso(), finished_ts=time.time())
            elif rep["state"] == "Running":
                why = self._stop_reason(rep, policy, stop_all)
                if why:
                    roots.append((rep.get("pid"), rep.get("create_time")))
                    pods.append(rep["pod"])
                    rep.update(state="Succeeded" if ok else "Failed", reason=f"stopped: {why}, the job {outcome}",
                               finished=now_iso(), finished_ts=time.time())
            if rep["state"] != "Running":
                rep["gpus"] = []
        if self.log_limit_bytes is not None:
            self._trim_logs(record)
        if not pods:
            return
        # Only the stopped replicas' processes: the others run on to their own end.
        task = asyncio.get_running_loop().create_task(
            asyncio.to_thread(process.stop_job, record["uid"], roots, self.grace, pods))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    @staticmethod
    def _stop_reason(rep: dict[str, Any], policy: str, stop_all: str) -> str:
        """Why a replica still running at the job's end is stopped; '' when it runs on (policy None)."""
        if stop_all:
            # A deadline or backoffLimit failure stops everything, as the operator does up to
            # v1.9.3 whatever the policy (v1.9.4 honours it); it is what such a limit is set for.
            return stop_all
        if policy in ("Running", "All"):
            # The operator deletes Running and Pending pods under Running, every pod under All.
            # A local replica that has ended has nothing left to delete, so for processes the two
            # act alike: both stop exactly the replicas still running.
            return f"cleanPodPolicy {policy}"
        if _is_placeholder(rep):
            # An MPI worker that only stands for a host (no command, or sshd) runs nothing: mpirun
            # started the ranks under the launcher on this machine. On a cluster its `sleep 365d`
            # or sshd never ends by itself, so under None the pod would stay Running until the
            # job is deleted; locally that would keep a finished job Running (and any GPUs it
            # was given held) with nothing to wait for, so it is stopped at the job's end.
            return "MPI worker that only stands for a host"
        return ""

    async def drain(self) -> None:
        """Wait for background stops to end (used when the backend stops)."""
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)


def _is_placeholder(rep: dict[str, Any]) -> bool:
    if "placeholder" in rep:
        return bool(rep["placeholder"])
    # A record written before the flag existed: the placeholder's command tells (no other
    # replica runs that program).
    argv = (rep.get("launch") or {}).get("argv") or []
    return argv[-1:] == [PLACEHOLDER_CODE]
