"""LocalBackend: the Backend protocol over real processes on this machine (the default backend).

Jobs are records in a state folder (`state.py`); replicas are processes started and watched by
the `Supervisor`; one monitor task on the server's loop ticks every job. Everything a verb
returns is built from the record, so a job reads the same before and after a server restart.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import shutil
import tempfile
import time
import uuid
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, AsyncGenerator, Callable, Sequence

from ...errors import BackendUnavailable, DTrainError, InvalidRequest, JobExists, JobNotFound, NotFound
from ...model.code_archive import CODE_VOLUME, CodeArchive, code_configmap_of, pod_specs
from ...model.job import Event, Job, JobStatus, LogLine, OutputFile, Pod
from ...model.kinds import known_kinds, versions_of
from ...model.status import Phase, derive_phase, describe_pod
from ..base import (
    CAP_EVENTS, CAP_FOLLOW_BYTES, CAP_OUTPUTS, CAP_PREVIOUS_LOGS, CAP_SUSPEND, ChangeListener, Stream, check_log_request,
    check_suspend_request, waiting_bytes, waiting_line,
)
from ..listeners import Listeners
from ..namespaces import FALLBACK_NAMESPACE
from . import lifecycle, outputs, process
from .environment import build_launches
from .lifecycle import now_iso, set_condition
from .logs import follow, limit_offset, log_path, read_blocks, sized_chunks, tail_offset
from .replicas import plan_job
from .state import CODE_ARCHIVE, CODE_DIR, StateStore, check_name, check_namespace
from .supervisor import Supervisor, add_event, detect_gpus, log_dir

log = logging.getLogger(__name__)


class LocalBackend:
    """Runs Kubeflow job manifests as processes on this machine; state survives server restarts.

    Args:
        state_dir: folder of job records, logs and run files (created if missing).
        output_root: where DTRAIN_OUTPUT_DIR folders go (`<root>/<namespace>/<plural>/<name>`); by default
            inside each job's state folder.
        log_limit_bytes: the most bytes of each replica log kept on disk (the head of a longer log
            is freed while it runs) and returned by reads; None keeps whole logs.
        grace_seconds: SIGTERM -> SIGKILL delay when stopping replicas.
        gpus: device ids to hand out; None asks `nvidia-smi`.
        poll_interval: seconds between monitor ticks.
        restart_backoff: first restart delay in seconds, doubled per restart (CrashLoopBackOff).
    """

    name = "local"
    capabilities = frozenset({CAP_EVENTS, CAP_OUTPUTS, CAP_PREVIOUS_LOGS, CAP_SUSPEND, CAP_FOLLOW_BYTES})

    def __init__(self, state_dir: Path, *, output_root: Path | None = None, log_limit_bytes: int | None = None,
                 grace_seconds: float = 5.0, gpus: Sequence[str] | None = None, poll_interval: float = 0.05,
                 restart_backoff: float = 1.0) -> None:
        self.store = StateStore(Path(state_dir))
        # Named apart from the output_root() verb: the folder all jobs' output folders go under.
        self.outputs_under = Path(output_root) if output_root is not None else None
        self.log_limit_bytes = log_limit_bytes
        self.grace_seconds = grace_seconds
        self.poll_interval = poll_interval
        self.supervisor = Supervisor(grace=grace_seconds, restart_backoff=restart_backoff,
                                     gpus=detect_gpus() if gpus is None else gpus, log_limit_bytes=log_limit_bytes)
        self._records: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._listeners: Listeners[[str, Job]] = Listeners(log, "local backend change listener")
        self._monitor: asyncio.Task | None = None
        self._broken: list[str] = []
        self._lock_file = None

    # ---- lifecycle of the backend ----------------------------------------------------------
    async def start(self) -> None:
        """Load every job on disk (re-attaching live replicas) and start the monitor task.

        Raises:
            BackendUnavailable: another running backend already manages this state dir.
        """
        if self._monitor is not None:
            return
        self._lock_file = self.store.acquire()
        for folder, record in self.store.load_all():
            if record is None or not {"namespace", "plural", "name", "replicas"} <= set(record):
                self._broken.append(str(folder))
                log.warning("unreadable local job record in %s; left untouched", folder)
                continue
            record["dir"] = str(folder)
            self._records[self._key_of(record)] = record
        self._monitor = asyncio.get_running_loop().create_task(self._run_monitor())

    async def stop(self) -> None:
        """Stop the monitor; replicas keep running and are re-attached by the next start()."""
        if self._monitor is not None:
            self._monitor.cancel()
            try:
                await self._monitor
            except asyncio.CancelledError:
                pass
            self._monitor = None
        await self.supervisor.drain()
        if self._lock_file is not None:
            self._lock_file.close()  # closing the file releases the lock
            self._lock_file = None

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.add(listener)

    def unsubscribe(self, listener: ChangeListener) -> None:
        self._listeners.remove(listener)

    def describe(self) -> dict[str, Any]:
        gpus = self.supervisor.gpus
        return {"backend": "local", "context": "local", "namespace": FALLBACK_NAMESPACE, "server": "localhost",
                "kinds": list(known_kinds()), "ready": True,
                "message": f"replicas run as processes on this machine ({os.cpu_count()} CPUs, "
                           f"{len(gpus)} GPUs); state in {self.store.root}",
                "state_dir": str(self.store.root), "gpus": list(gpus)}

    # ---- internals ---------------------------------------------------------------------------
    @staticmethod
    def _key_of(record: dict[str, Any]) -> tuple[str, str, str]:
        return (record["namespace"], record["plural"], record["name"])

    def _lock(self, key: tuple[str, str, str]) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _notify(self, change: str, record: dict[str, Any], deleting: bool = False) -> None:
        if self._listeners:  # a Job is built only for someone to hear it
            self._listeners.notify(change, self._to_job(record, deleting=deleting))

    def _save(self, record: dict[str, Any], change: str = "MODIFIED") -> None:
        self.store.save(record)
        self._notify(change, record)

    async def _run_monitor(self) -> None:
        failures = 0
        while True:
            try:
                process.reap()
                for key, record in list(self._records.items()):
                    if self._lock(key).locked():
                        continue  # a verb (a delete waiting out its grace period) has it; next tick
                    async with self._lock(key):
                        if self._records.get(key) is not record:
                            continue
                        if await self.supervisor.tick(record, list(self._records.values())):
                            self._save(record)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                if failures == 1:  # report once, keep trying with a growing pause
                    log.exception("local backend monitor failed; retrying")
                await asyncio.sleep(min(5.0, self.poll_interval * 2 ** failures))
            await asyncio.sleep(self.poll_interval)

    def _find(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        frameworks = versions_of(kind)
        if not frameworks:
            raise InvalidRequest(f"unknown job kind {kind!r}", kind=kind)
        try:
            key = (check_namespace(namespace), frameworks[0].plural, check_name(name))
        except InvalidRequest:
            raise JobNotFound(kind, name, namespace, "local") from None
        record = self._records.get(key)
        if record is None or record.get("deleting"):
            raise JobNotFound(kind, name, namespace, "local")
        return record

    def _output_dir(self, namespace: str, plural: str, name: str, folder: Path) -> Path:
        if self.outputs_under is None:
            return folder / "output"
        # The plural keeps a TFJob and a PyTorchJob of the same name apart, as on a cluster.
        return self.outputs_under / namespace / plural / name

    # ---- conversion ----------------------------------------------------------------------------
    def _to_job(self, record: dict[str, Any], deleting: bool = False) -> Job:
        phase, reason, message = derive_phase(record["conditions"], deleting=deleting or bool(record.get("deleting")))
        if phase == Phase.PENDING and record.get("pending_reason"):
            reason, message = "Unschedulable", record["pending_reason"]
        status = JobStatus(phase=phase, reason=reason, message=message,
                           conditions=[dict(c) for c in record["conditions"]],
                           replicas=lifecycle.job_counts(record),
                           start_time=record.get("start_time"), completion_time=record.get("completion_time"))
        manifest = dict(record["manifest"])
        manifest["status"] = {"conditions": status.conditions,
                              "replicaStatuses": lifecycle.replica_statuses(status.replicas),
                              **({"startTime": record["start_time"]} if record.get("start_time") else {}),
                              **({"completionTime": record["completion_time"]} if record.get("completion_time") else {})}
        return Job(backend="local", kind=record["kind"], api_version=record["apiVersion"], name=record["name"],
                   namespace=record["namespace"], uid=record["uid"], created=record["created"], manifest=manifest,
                   status=status, context="local", notes=list(record.get("notes", [])))

    def _to_pod(self, record: dict[str, Any], rep: dict[str, Any]) -> Pod:
        state = rep["state"]
        if state == "Pending" and lifecycle.is_suspended(record["manifest"]):
            reason = "Pending: the job is suspended; its replicas start again when it is resumed"
        elif state == "Pending" and record.get("pending_reason"):
            reason = describe_pod("Pending", unschedulable_message=record["pending_reason"])
        elif state == "Pending" and rep.get("restart_at"):
            reason = describe_pod("Pending", waiting_reason="CrashLoopBackOff", waiting_message=rep.get("reason"))
        elif state in ("Succeeded", "Failed") and rep.get("reason", "").startswith(("stopped", "not restarted")):
            reason = rep["reason"]
        elif state in ("Succeeded", "Failed"):
            code = rep.get("exit_code")
            reason = describe_pod(state, exit_code=code, signal=rep.get("signal"),
                                  terminated_reason="OOMKilled" if rep.get("oom_killed") else
                                  "Completed" if code == 0 else "Error")
        else:
            reason = describe_pod(state)
        pid = rep.get("child_pid")
        if pid is None and state == "Running":
            pid = process.read_pid(Path(record["dir"]) / "run" / f"{rep['pod']}.pid")
        return Pod(name=rep["pod"], namespace=record["namespace"], job_name=record["name"],
                   replica_type=rep["type"], replica_index=rep["index"], phase=state, reason=reason,
                   node="localhost", restarts=rep["restarts"], exit_code=rep.get("exit_code"),
                   started=rep.get("started"), finished=rep.get("finished"), labels=dict(rep["labels"]),
                   containers=[rep["container"]], pid=pid)

    # ---- verbs ---------------------------------------------------------------------------------
    async def create(self, manifest: dict[str, Any], *, dry_run: bool = False,
                     code: CodeArchive | None = None) -> Job:
        """Start a job from a manifest (a ValidManifest is trusted; anything else is validated first).

        A script folder's `code` is kept as `code.tar.gz` in the job's folder and unpacked once
        into its `code/` folder, every replica's DTRAIN_CODE_DIR: later edits of the user's
        folder do not reach the job. The manifest's code volume stands for that folder here.

        Raises:
            InvalidRequest: a namespace that cannot name a folder of the state dir, checked first;
                a manifest that mounts the code volume without its code; a broken archive.
            InvalidJob: what validation finds, or what this machine cannot run; JobExists.
        """
        if self._monitor is None:
            await self.start()  # a job must never sit unwatched
        meta = manifest.get("metadata") if isinstance(manifest, dict) else None
        if isinstance(meta, dict):
            check_namespace(meta.get("namespace") or FALLBACK_NAMESPACE)
        configmap = code_configmap_of(manifest)
        if configmap is not None and code is None:
            raise InvalidRequest(
                f"the job mounts its code from ConfigMap {configmap!r} (volume {CODE_VOLUME!r}), but no code "
                "archive came with it, and the local backend has no ConfigMaps: create it from the folder "
                "again (Client.run('train.py', workdir=...) or Client.create(FolderJob(...)))", field="code")
        # The code volume is this backend's DTRAIN_CODE_DIR: planned without it, so no note says it is unused.
        plan = plan_job(without_code_volume(manifest) if configmap is not None else manifest)
        namespace = plan.namespace
        plural = plan.framework.plural
        key = (namespace, plural, plan.name)
        async with self._lock(key):
            if key in self._records or self.store.exists(*key):
                raise JobExists(plan.kind, plan.name, namespace, self.name)
            uid = str(uuid.uuid4())
            notes = list(plan.notes)
            folder = self.store.job_dir(*key)
            if dry_run:
                with tempfile.TemporaryDirectory() as tmp:
                    build_launches(plan, uid=uid, output_dir=Path(tmp) / "o", run_dir=Path(tmp) / "r",
                                   default_cwd=os.getcwd(), gpu_assignment={}, gpus_present=False, notes=notes)
                record = self._new_record(plan, manifest, uid, folder, notes, {})
                return self._to_job(record)
            output_dir = self._output_dir(namespace, plural, plan.name, folder)
            try:
                code_dir = await asyncio.to_thread(self.store.save_code, folder, code) if code is not None else None
                launches = build_launches(plan, uid=uid, output_dir=output_dir, run_dir=folder / "run",
                                          default_cwd=os.getcwd(), gpu_assignment={}, gpus_present=False, notes=notes,
                                          code_dir=code_dir)
                record = self._new_record(plan, manifest, uid, folder, notes, launches)
                record["output_dir"] = str(output_dir)
                record["default_cwd"] = os.getcwd()  # where a resume starts replicas that set no workingDir
                if lifecycle.is_suspended(manifest):
                    # The operator's first pass over a job created suspended makes no pod.
                    message = lifecycle.suspend_conditions(record["conditions"], plan.kind, plan.name)
                    add_event(record, "Normal", f"{plan.kind}Suspended", message)
                self.store.save(record)  # before the job is known: a full disk leaves no half job
            except (DTrainError, OSError) as e:
                self.store.remove(*key)
                if self.outputs_under is not None:
                    shutil.rmtree(output_dir, ignore_errors=True)
                if isinstance(e, OSError):
                    raise BackendUnavailable(f"cannot create {plan.kind} {plan.name!r} in {folder}: "
                                             f"{e.strerror or e} (is the disk of c.DTrain.state_dir full?)") from e
                raise
            self._records[key] = record
            self._notify("ADDED", record)
            if not lifecycle.is_suspended(record["manifest"]) and \
                    await self.supervisor.start(record, list(self._records.values())):
                self._save(record)
            return self._to_job(record)

    def _new_record(self, plan, manifest, uid, folder, notes, launches) -> dict[str, Any]:
        created = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        record: dict[str, Any] = {
            "uid": uid, "kind": plan.kind, "apiVersion": plan.framework.api_version, "plural": plan.framework.plural,
            "name": plan.name, "namespace": plan.namespace, "created": created, "manifest": copy.deepcopy(manifest),
            "notes": notes, "conditions": [], "events": [], "dir": str(folder), "start_ts": None,
            "replicas": [{
                "pod": rp.pod, "type": rp.replica_type, "index": rp.index, "labels": rp.labels,
                "container": str(rp.container.get("name") or ""), "restart_policy": rp.restart_policy,
                "gpu_count": rp.gpus, "gpus": [], "placeholder": rp.placeholder, "state": "Pending", "reason": "",
                "restarts": 0,
                "pid": None, "create_time": None, "exit_code": None, "signal": None,
                "launch": self._stored_launch(launches[rp.pod]) if rp.pod in launches else None,
            } for rp in plan.replicas],
        }
        kind = plan.kind
        set_condition(record["conditions"], "Created", "True", f"{kind}Created", f"{kind} {plan.name} is created.")
        add_event(record, "Normal", f"{kind}Created", f"{kind} {plan.name} is created.")
        return record

    @staticmethod
    def _stored_launch(launch) -> dict[str, Any]:
        # Only what differs from the server's own environment goes to disk: the server's
        # variables (tokens included) are inherited again at each start, never written out.
        overlay = {k: v for k, v in launch.env.items() if os.environ.get(k) != v}
        return {"argv": launch.argv, "cwd": launch.cwd, "env": overlay}

    async def list(self, namespace: str | None = None) -> list[Job]:
        if namespace is not None:
            check_namespace(namespace)
        return [self._to_job(r) for r in sorted(self._records.values(), key=lambda r: (r["namespace"], r["created"], r["name"]))
                if not r.get("deleting") and (namespace is None or r["namespace"] == namespace)]

    async def get(self, kind: str, name: str, namespace: str) -> Job:
        return self._to_job(self._find(kind, name, namespace))

    async def code_archive(self, kind: str, name: str, namespace: str) -> CodeArchive | None:
        """The `code.tar.gz` kept in the job's folder at create, or None."""
        record = self._find(kind, name, namespace)
        try:
            data = await asyncio.to_thread((Path(record["dir"]) / CODE_ARCHIVE).read_bytes)
        except FileNotFoundError:
            return None
        return CodeArchive.of(data, files=0, entry="")

    async def delete(self, kind: str, name: str, namespace: str) -> Job:
        """Stop every process of the job (SIGTERM, SIGKILL after the grace period), then remove it."""
        record = self._find(kind, name, namespace)
        key = self._key_of(record)
        async with self._lock(key):
            record["deleting"] = True
            job = self._to_job(record, deleting=True)
            roots = [(rep.get("pid"), rep.get("create_time")) for rep in record["replicas"]]
            await asyncio.to_thread(process.stop_job, record["uid"], roots, self.grace_seconds)
            self._records.pop(key, None)
            self.store.remove(*key)
            if self.outputs_under is not None and record.get("output_dir"):
                shutil.rmtree(record["output_dir"], ignore_errors=True)
        self._notify("DELETED", record, deleting=True)
        return job

    async def suspend(self, kind: str, name: str, namespace: str) -> Job:
        """Stop every process of the job as delete does (SIGTERM, SIGKILL after the grace period)
        and keep the job suspended: record, logs and outputs stay; see Backend.suspend.

        Raises:
            JobNotFound; InvalidRequest (finished, or suspended already).
        """
        record = self._find(kind, name, namespace)
        key = self._key_of(record)
        # The monitor skips a locked job: no tick sees the stopped processes as exits to restart.
        async with self._lock(key):
            record = self._find(kind, name, namespace)  # deleted while this waited for the lock?
            check_suspend_request(self._to_job(record), True)
            stopped = {rep["pod"]: rep.get("pid") for rep in record["replicas"] if rep["state"] == "Running"}
            roots = [(rep.get("pid"), rep.get("create_time")) for rep in record["replicas"]]
            await asyncio.to_thread(process.stop_job, record["uid"], roots, self.grace_seconds)
            self.supervisor.suspend(record, stopped)
            self._save(record)
            return self._to_job(record)

    async def resume(self, kind: str, name: str, namespace: str) -> Job:
        """Start every replica of a suspended job again, as create did; see Backend.resume.

        Each replica gets the environment create gave it, with fresh ports (the old ones may have
        been taken meanwhile); its log goes on after the lines of its earlier attempts.

        Raises:
            JobNotFound; InvalidRequest (not suspended); InvalidJob (a workingDir that is gone).
        """
        record = self._find(kind, name, namespace)
        key = self._key_of(record)
        async with self._lock(key):
            record = self._find(kind, name, namespace)
            check_suspend_request(self._to_job(record), False)
            self._renew_launches(record)
            await self.supervisor.resume(record, list(self._records.values()))
            self._save(record)
            return self._to_job(record)

    def _renew_launches(self, record: dict[str, Any]) -> None:
        """Build every replica's launch again from the stored manifest, as create did."""
        manifest = record["manifest"]
        plan = plan_job(without_code_volume(manifest) if code_configmap_of(manifest) is not None else manifest)
        folder = Path(record["dir"])
        code_dir = folder / CODE_DIR if (folder / CODE_ARCHIVE).exists() else None
        launches = build_launches(plan, uid=record["uid"], output_dir=Path(record["output_dir"]),
                                  run_dir=folder / "run", default_cwd=record.get("default_cwd") or os.getcwd(),
                                  gpu_assignment={}, gpus_present=False, notes=[], code_dir=code_dir)
        for rep in record["replicas"]:
            rep["launch"] = self._stored_launch(launches[rep["pod"]])

    async def pods(self, kind: str, name: str, namespace: str) -> list[Pod]:
        record = self._find(kind, name, namespace)
        return [self._to_pod(record, rep) for rep in record["replicas"]]

    async def events(self, kind: str, name: str, namespace: str) -> list[Event]:
        record = self._find(kind, name, namespace)
        return [Event.from_dict(e) for e in record.get("events", [])]

    async def outputs(self, kind: str, name: str, namespace: str) -> list[OutputFile]:
        record = self._find(kind, name, namespace)
        return await asyncio.to_thread(outputs.list_outputs, Path(record["output_dir"]))

    async def output_location(self, kind: str, name: str, namespace: str) -> dict[str, str]:
        """`{"folder": path}`: the job's DTRAIN_OUTPUT_DIR (under output_root when one is set)."""
        return outputs.location(Path(self._find(kind, name, namespace)["output_dir"]))

    async def output_root(self, kind: str, name: str, namespace: str) -> Path:
        """The job's DTRAIN_OUTPUT_DIR folder. Raises JobNotFound; NotFound (with its `location`)
        while the folder does not exist (its replicas have not started yet)."""
        root = Path(self._find(kind, name, namespace)["output_dir"])
        if not await asyncio.to_thread(root.is_dir):
            raise NotFound(f"{kind} {name!r} has no output folder yet ({root} does not exist)",
                           location=outputs.location(root))
        return root

    async def read_output(self, kind: str, name: str, namespace: str, path: str, *, limit: int) -> bytes:
        record = self._find(kind, name, namespace)
        return await asyncio.to_thread(outputs.read_output, Path(record["output_dir"]), path, limit)

    def output_bytes(self, kind: str, name: str, namespace: str, path: str) -> Stream[bytes]:
        return Stream(partial(self._open_output, kind, name, namespace, path))

    async def _open_output(self, kind: str, name: str, namespace: str, path: str) -> AsyncGenerator[bytes, None]:
        record = self._find(kind, name, namespace)
        return await outputs.stream_output(Path(record["output_dir"]), path)

    def logs(self, kind: str, name: str, namespace: str, *, pod: str | None = None, container: str | None = None,
             follow: bool = False, tail: int | None = None, since_seconds: int | None = None,
             previous: bool = False, timestamps: bool = False) -> Stream[LogLine]:
        """Lines of one replica's log, or of all replicas (each line names its pod); see Backend.logs.

        Without CAP_LINE_TIMES: `since_seconds` keeps a replica's log whole when it was written to
        within that time and skips it otherwise; `timestamps` stamps each line with the time this
        backend read it. `follow` ends once the job's replicas are finished and every file is drained.

        Raises (on await):
            InvalidRequest, JobNotFound, NotFound (no such replica).
        """
        return Stream(partial(self._open_logs, kind, name, namespace, pod, container, follow, tail, since_seconds,
                              previous, timestamps))

    async def _open_logs(self, kind: str, name: str, namespace: str, pod: str | None, container: str | None,
                         follow: bool, tail: int | None, since_seconds: int | None, previous: bool,
                         timestamps: bool) -> AsyncGenerator[LogLine, None]:
        record, files, waiting = self._log_files(kind, name, namespace, pod, container, follow, tail, since_seconds,
                                                 previous)
        return self._log_lines(record, files, waiting, follow, timestamps)

    def log_bytes(self, kind: str, name: str, namespace: str, *, pod: str, container: str | None = None,
                  tail: int | None = None, previous: bool = False, follow: bool = False) -> Stream[bytes]:
        """One replica's log file as raw byte chunks (no per-line work): the fast path of a full read,
        a tail or a follow.

        A read opens as `SizedChunks`: the file as it was when opened (see `Backend.log_bytes`). A
        follow gives each read's complete lines in one chunk, as the line follow reads them."""
        return Stream(partial(self._open_log_bytes, kind, name, namespace, pod, container, tail, previous, follow))

    async def _open_log_bytes(self, kind: str, name: str, namespace: str, pod: str, container: str | None,
                              tail: int | None, previous: bool, follow_: bool) -> AsyncGenerator[bytes, None]:
        record, files, waiting = self._log_files(kind, name, namespace, pod, container, follow_, tail, None, previous)
        if follow_:
            return self._followed_bytes(record, files, waiting.get(pod))
        if pod in waiting:
            return waiting_bytes(waiting[pod])
        return sized_chunks(*files[pod])

    async def _followed_bytes(self, record: dict[str, Any], files: dict[str, tuple[Path, int]],
                              waiting: str | None) -> AsyncGenerator[bytes, None]:
        if waiting is not None:
            yield (waiting + "\n").encode("utf-8")
        async for _pod, block in follow(files, _replicas_done(record, set(files)), raw=True):
            yield block

    def _log_files(self, kind: str, name: str, namespace: str, pod: str | None, container: str | None,
                   follow: bool, tail: int | None, since_seconds: int | None, previous: bool,
                   ) -> tuple[dict[str, Any], dict[str, tuple[Path, int]], dict[str, str]]:
        """(job record, pod -> (log file, start offset), pod -> "waiting: ..." line) of a `logs` request, checked.

        A replica that has not started yet (no log file) gets its waiting line, as a cluster pod does.
        """
        check_log_request(follow=follow, tail=tail, since_seconds=since_seconds, previous=previous)
        record = self._find(kind, name, namespace)
        reps = record["replicas"]
        if pod is not None:
            reps = [r for r in reps if r["pod"] == pod]
            if not reps:
                raise NotFound(f"pod {pod!r} is not a replica of {kind} {name!r}", pod=pod)
        for rep in reps:
            if container is not None and container != rep["container"]:
                raise InvalidRequest(f"container {container!r} is not valid for pod {rep['pod']!r} "
                                     f"(it runs {rep['container']!r})", argument="container")
        files: dict[str, tuple[Path, int]] = {}
        waiting: dict[str, str] = {}
        for rep in reps:
            path = log_path(log_dir(record), rep["pod"], previous)
            if previous and not path.exists():
                if pod is not None:
                    raise InvalidRequest(f"previous terminated container {rep['container']!r} in pod {rep['pod']!r} "
                                         "not found (the replica has not restarted)", argument="previous")
                continue  # a merged read leaves out the replicas that never restarted
            if not previous and rep["state"] == "Pending" and not path.exists():
                waiting[rep["pod"]] = waiting_line(self._to_pod(record, rep).reason)
            if since_seconds is not None and path.exists() and path.stat().st_mtime < time.time() - since_seconds and not follow:
                continue
            # Only the last log_limit_bytes of a log are kept: never read before them.
            start = limit_offset(path, self.log_limit_bytes)
            if tail is not None:
                start = tail_offset(path, tail, floor=start)
            files[rep["pod"]] = (path, start)
        return record, files, waiting

    async def _log_lines(self, record: dict[str, Any], files: dict[str, tuple[Path, int]], waiting: dict[str, str],
                         follow_: bool, timestamps: bool) -> AsyncGenerator[LogLine, None]:
        stamp = (lambda: now_iso()) if timestamps else (lambda: None)
        for pod, line in waiting.items():
            yield LogLine(pod, line, stamp())
        if not follow_:
            for pod, (path, start) in files.items():
                for block in read_blocks(path, start):
                    when = stamp()
                    for line in block:
                        yield LogLine(pod, line, when)
                    await asyncio.sleep(0)  # let the server breathe between 1 MiB blocks
            return
        async for pod, line in follow(files, _replicas_done(record, set(files))):
            yield LogLine(pod=pod, line=line, timestamp=stamp())


def _replicas_done(record: dict[str, Any], pods: set[str]) -> Callable[[], bool]:
    """When a follow of these replicas' logs may end, once their files are drained."""

    def done() -> bool:
        # Not the job's end: replicas may run on after it (cleanPodPolicy None), and their
        # last lines belong in the log; once the job is finished none of them restarts.
        if record.get("deleting"):
            return True
        return all(r["state"] in ("Succeeded", "Failed") for r in record["replicas"] if r["pod"] in pods)
    return done


def without_code_volume(manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of `manifest` without the code volume and its mounts (see `LocalBackend.create`)."""
    out = copy.deepcopy(manifest)
    for pod in pod_specs(out):
        if isinstance(pod.get("volumes"), list):
            pod["volumes"] = [v for v in pod["volumes"] if not (isinstance(v, dict) and v.get("name") == CODE_VOLUME)]
            if not pod["volumes"]:
                del pod["volumes"]
        for container in pod.get("containers") or []:
            if isinstance(container, dict) and isinstance(container.get("volumeMounts"), list):
                container["volumeMounts"] = [m for m in container["volumeMounts"]
                                             if not (isinstance(m, dict) and m.get("name") == CODE_VOLUME)]
                if not container["volumeMounts"]:
                    del container["volumeMounts"]
    return out
