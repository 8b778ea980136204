"""The operator simulator: turns stored jobs into pods, conditions, logs and events, tick by tick.

A job is picked up when it is created (a store watch, like the operator's informer). On each
`step()` every job it knows advances one tick: tick 0 sets `Created` and creates the pods
(Pending) and events; after `ticks_to_run` the pods are Running and the job `Running`; after
`ticks_to_finish` (None: never on its own) the deciding replicas succeed and the job is
`Succeeded`. Faults (`fault()`) replace that path for a pod or a whole job. A job whose
`spec.runPolicy.suspend` is true loses its pods and waits, and starts again from tick 0 once it
is false (suspension.py: the operators' suspend and resume). Jobs annotated
`kube-double/simulate: "false"` (bulk-loaded ones) are left alone. With `tick` set, a
thread calls `step()` on that interval; with `tick=None` tests call `step()` themselves.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field

from .discovery import Registry
from .logs import LogStore
from . import suspension
from .operators import KINDS, PlannedPod, deciding_type, owner_ref, plan_pods, replica_specs, set_condition
from .store import Store, StoreError, now_rfc3339

FAULTS = ("ImagePullBackOff", "Unschedulable", "OOMKilled", "CrashLoopBackOff", "Fail")
UNSCHEDULABLE = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
PODS = ("", "pods")


@dataclass
class _JobState:
    key: tuple[str, str]
    namespace: str
    name: str
    kind: str
    ticks: int = 0
    pods: list[str] = field(default_factory=list)
    finish: bool | None = None  # True succeed / False fail on next step
    done: bool = False
    log_step: int = 0
    fail_message: str = ""
    held: dict = field(default_factory=dict)  # pod name -> tick before which it stays Pending
    suspended: bool = False  # the operator has acted on runPolicy.suspend: the pods are gone


class Simulator:
    """Acts as the training-operator / MPI Operator for every job in the store."""

    def __init__(self, store: Store, logs: LogStore, registry: Registry, log_lines: int = 3) -> None:
        self.store, self.logs, self.registry = store, logs, registry
        self.log_lines = log_lines
        self.ticks_to_run = 2
        self.ticks_to_finish: int | None = 6
        self._lock = threading.RLock()
        self._jobs: dict[str, _JobState] = {}  # uid -> state
        self._event_seq = 0
        self._intake: deque = deque()  # (event, job) from the store watch, taken by step()
        self._faults: dict[str, str] = {}  # pod or job name -> fault
        self._stops = []
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        for rt in registry.types:
            if rt.kind in KINDS and rt.group == "kubeflow.org":
                self._stops.append(store.watch(rt.key, None, None, self._on_job))

    # ---- control -----------------------------------------------------------------------
    def set_speed(self, ticks_to_run: int = 2, ticks_to_finish: int | None = 6) -> None:
        """Ticks from Created to Running, and from Running to Succeeded (None: run until told)."""
        with self._lock:
            self.ticks_to_run, self.ticks_to_finish = ticks_to_run, ticks_to_finish

    def fault(self, target: str, kind: str) -> None:
        """Make a pod (by name) or every pod of a job (by job name) hit `kind` on the next step."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(FAULTS)}")
        with self._lock:
            self._faults[target] = kind

    def finish(self, job_name: str, succeed: bool = True) -> None:
        """Make a job succeed (or fail) on the next step."""
        with self._lock:
            self._take_intake()
            for st in self._jobs.values():
                if st.name == job_name:
                    st.finish = succeed

    def write_log(self, pod: str, line: str, container: str | None = None, namespace: str | None = None) -> None:
        """Append one line to a pod's container log (the first container when not named)."""
        found = [p for p in self.store.list(PODS, namespace)[0] if p["metadata"]["name"] == pod]
        if not found:
            raise KeyError(f"pod {pod} not found")
        p = found[0]
        container = container or p["spec"]["containers"][0]["name"]
        self.logs.write((p["metadata"]["namespace"], pod, container), line)

    def start(self, interval: float) -> None:
        self._halt.clear()
        self._thread = threading.Thread(target=self._run, args=(interval,), name="kube-double-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        if self._thread:
            self._thread.join(timeout=5)
        for stop in self._stops:
            stop()
        self._stops = []

    def _run(self, interval: float) -> None:
        while not self._halt.wait(interval):
            self.step()

    def _on_job(self, event: str, obj: dict, old: dict | None, rv: int) -> None:
        # Called with the store's lock held: only queue the news. Taking our own lock here
        # would invert the lock order of step(), which holds ours and then calls the store.
        if event in ("ADDED", "DELETED"):
            self._intake.append((event, obj))

    def _take_intake(self) -> None:
        while self._intake:
            event, obj = self._intake.popleft()
            uid = obj["metadata"]["uid"]
            if event == "DELETED":
                self._jobs.pop(uid, None)
            elif uid not in self._jobs:
                if (obj["metadata"].get("annotations") or {}).get("kube-double/simulate") == "false":
                    continue
                rt = self.registry.by_kind(obj["apiVersion"].split("/")[0], obj["kind"])
                self._jobs[uid] = _JobState(rt.key, obj["metadata"]["namespace"], obj["metadata"]["name"], obj["kind"])

    # ---- the reconcile loop ------------------------------------------------------------
    def step(self) -> None:
        """Advance every active job by one tick."""
        with self._lock:
            self._take_intake()
            for uid, st in list(self._jobs.items()):
                job = self.store.get(st.key, st.namespace, st.name)
                if job is None or job["metadata"]["uid"] != uid:
                    self._jobs.pop(uid, None)
                    continue
                if st.done or job["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self._advance(st, job)
                except StoreError:
                    pass  # the job or a pod was deleted under us; the next tick sees it
                except (TypeError, KeyError, AttributeError, ValueError, IndexError):
                    # A malformed object (stored raw, bypassing validation): the operator cannot
                    # reconcile it and leaves it alone, as the real controllers log and skip one.
                    st.done = True
                st.ticks += 1

    def _advance(self, st: _JobState, job: dict) -> None:
        facts = KINDS[job["kind"]]
        name = job["metadata"]["name"]
        wants_suspend = suspension.suspend_requested(job)
        if st.ticks == 0:
            self._set_status(st, lambda s: set_condition(s, "Created", "True", f"{facts.kind}Created",
                                                         f"{facts.kind} {name} is created."))
            if wants_suspend:
                suspension.suspend(self, st, job)  # created suspended: no pod until resumed
                return
            for planned in plan_pods(job):
                self._create_pod(st, job, planned)
            return
        if wants_suspend:
            if not st.suspended:
                suspension.suspend(self, st, job)
            return  # nothing runs, fails or finishes while suspended
        if st.suspended:
            suspension.resume(self, st, job)
            st.ticks = 0  # step() counts this as tick 0: the job goes on as a new one would
            return
        pods = self._pods(st)
        for pod in pods:
            fault = self._faults.pop(pod["metadata"]["name"], None) or self._faults.get(name)
            if fault:
                self._apply_fault(st, job, pod, fault)
        pods = self._pods(st)
        if st.ticks >= self.ticks_to_run:
            for pod in pods:
                if (pod["status"]["phase"] == "Pending" and not self._blocked(pod)
                        and st.held.get(pod["metadata"]["name"], 0) <= st.ticks):
                    self._run_pod(pod)
        self._faults.pop(name, None)
        pods = self._pods(st)
        running = [p for p in pods if p["status"]["phase"] == "Running"]
        for pod in running:
            self._write_progress(st, pod)
        if st.finish is None and self.ticks_to_finish is not None and st.ticks >= self.ticks_to_run + self.ticks_to_finish:
            st.finish = True
        if st.finish is not None:
            self._finish(st, job, pods, st.finish)
            return
        self._update_job_status(st, job, self._pods(st))

    # ---- pods --------------------------------------------------------------------------
    def _pods(self, st: _JobState) -> list[dict]:
        out = []
        for pod_name in st.pods:
            pod = self.store.get(PODS, st.namespace, pod_name)
            if pod is not None:
                out.append(pod)
        return out

    def _create_pod(self, st: _JobState, job: dict, planned: PlannedPod) -> None:
        owner = owner_ref(job)
        if planned.launcher_job:
            owner = owner_ref(self._create_launcher_job(st, job, planned))
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": planned.name, "namespace": st.namespace, "labels": planned.labels,
                            "annotations": planned.annotations, "ownerReferences": [owner]},
               "spec": {**planned.spec, "schedulerName": planned.spec.get("schedulerName", "default-scheduler")},
               "status": {"phase": "Pending", "qosClass": "BestEffort",
                          "conditions": [{"type": "PodScheduled", "status": "True",
                                          "lastTransitionTime": now_rfc3339()}],
                          "containerStatuses": [
                              {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": False,
                               "restartCount": 0,
                               "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}}
                              for c in planned.spec.get("containers") or []]}}
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        try:
            self.store.create(PODS, st.namespace, pod)
        except StoreError:
            return  # already there (a re-created job with the same name)
        st.pods.append(planned.name)
        if not planned.launcher_job:
            self.event(job, "Normal", "SuccessfulCreatePod", f"Created pod: {planned.name}",
                       f"{KINDS[job['kind']].controller}")
        self.event(pod, "Normal", "Scheduled", f"Successfully assigned {st.namespace}/{planned.name} to double-node-0",
                   "default-scheduler")
        if job["kind"] != "MPIJob" and planned.spec.get("containers"):
            self._create_service(st, job, planned)

    def _create_service(self, st: _JobState, job: dict, planned: PlannedPod) -> None:
        labels = {k: v for k, v in planned.labels.items() if k != "training.kubeflow.org/job-role"}
        ports = [{"name": p.get("name"), "port": p["containerPort"], "targetPort": p["containerPort"],
                  "protocol": p.get("protocol", "TCP")} for c in planned.spec["containers"]
                 if c["name"] == KINDS[job["kind"]].container for p in c.get("ports") or []]
        svc = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": planned.name, "namespace": st.namespace, "labels": labels,
                            "ownerReferences": [owner_ref(job)]},
               "spec": {"clusterIP": "None", "selector": labels, "ports": ports, "type": "ClusterIP"}}
        try:
            self.store.create(("", "services"), st.namespace, svc)
        except StoreError:
            pass

    def _create_launcher_job(self, st: _JobState, job: dict, planned: PlannedPod, suspended: bool = False) -> dict:
        """The v2beta1 launcher batch Job (the existing one, else a new one); a suspended one makes no pod."""
        existing = self.store.get(("batch", "jobs"), st.namespace, planned.launcher_job)
        if existing:
            return existing
        batch = {"apiVersion": "batch/v1", "kind": "Job",
                 "metadata": {"name": planned.launcher_job, "namespace": st.namespace,
                              "labels": {"app": job["metadata"]["name"]}, "ownerReferences": [owner_ref(job)]},
                 "spec": {"completions": 1, "parallelism": 1, "backoffLimit": 6,
                          "template": {"metadata": {"labels": planned.labels}, "spec": planned.spec}},
                 "status": {}}
        if suspended:
            batch["spec"]["suspend"] = True  # newLauncherJob mirrors the MPIJob's runPolicy.suspend
        created = self.store.create(("batch", "jobs"), st.namespace, batch)
        self.event(job, "Normal", "SuccessfulCreate", f"Created job: {planned.launcher_job}", "mpi-job-controller")
        if not suspended:
            self.event(created, "Normal", "SuccessfulCreate", f"Created pod: {planned.name}", "job-controller")
        return created

    def _blocked(self, pod: dict) -> bool:
        if any(c.get("reason") == "Unschedulable" for c in pod["status"].get("conditions") or []):
            return True
        return any((cs.get("state") or {}).get("waiting", {}).get("reason") in ("ImagePullBackOff", "ErrImagePull")
                   for cs in pod["status"].get("containerStatuses") or [])

    def _run_pod(self, pod: dict) -> None:
        now = now_rfc3339()
        ip = f"10.0.{abs(hash(pod['metadata']['name'])) % 250}.{abs(hash(pod['metadata']['uid'])) % 250 + 2}"

        def run(p: dict) -> None:
            p["spec"]["nodeName"] = "double-node-0"
            p["status"].update(phase="Running", podIP=ip, hostIP="192.168.0.10", startTime=now)
            p["status"]["conditions"] = [{"type": t, "status": "True", "lastTransitionTime": now}
                                         for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
            for cs in p["status"]["containerStatuses"]:
                cs.update(ready=True, started=True, state={"running": {"startedAt": now}},
                          imageID=f"docker-pullable://{cs['image']}@sha256:{'0' * 64}",
                          containerID=f"containerd://{uuid.uuid4().hex}")

        self.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], run)
        for c in pod["spec"].get("containers") or []:
            self.event(pod, "Normal", "Pulled", f'Container image "{c.get("image", "")}" already present on machine',
                       "kubelet")
            self.event(pod, "Normal", "Created", f"Created container {c['name']}", "kubelet")
            self.event(pod, "Normal", "Started", f"Started container {c['name']}", "kubelet")

    def _terminate_pod(self, pod: dict, exit_code: int, reason: str) -> None:
        now = now_rfc3339()
        phase = "Succeeded" if exit_code == 0 else "Failed"

        def end(p: dict) -> None:
            p["status"]["phase"] = phase
            for cond in p["status"].get("conditions") or []:
                if cond["type"] in ("Ready", "ContainersReady"):
                    cond["status"] = "False"
            for cs in p["status"]["containerStatuses"]:
                started = (cs.get("state") or {}).get("running", {}).get("startedAt", now)
                cs.update(ready=False, started=False, state={"terminated": {
                    "exitCode": exit_code, "reason": reason, "startedAt": started, "finishedAt": now}})

        self.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], end)
        for c in pod["spec"].get("containers") or []:
            self.logs.terminate((pod["metadata"]["namespace"], pod["metadata"]["name"], c["name"]))

    def _write_progress(self, st: _JobState, pod: dict) -> None:
        st.log_step += 1
        for c in pod["spec"].get("containers") or []:
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"], c["name"])
            for i in range(self.log_lines):
                n = st.log_step * self.log_lines + i
                self.logs.write(key, f"[{pod['metadata']['name']}] step {n}: loss={1.0 / (n + 1):.4f}")

    # ---- faults ------------------------------------------------------------------------
    def _apply_fault(self, st: _JobState, job: dict, pod: dict, fault: str) -> None:
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        image = (pod["spec"].get("containers") or [{}])[0].get("image", "")
        if fault == "Unschedulable":
            def unschedulable(p: dict) -> None:
                p["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                              "message": UNSCHEDULABLE, "lastTransitionTime": now_rfc3339()}]
                p["status"]["containerStatuses"] = []
            self.store.mutate(PODS, ns, name, unschedulable)
            self.event(pod, "Warning", "FailedScheduling", UNSCHEDULABLE, "default-scheduler")
        elif fault == "ImagePullBackOff":
            def backoff(p: dict) -> None:
                p["status"]["phase"] = "Pending"
                for cs in p["status"]["containerStatuses"]:
                    cs.update(ready=False, state={"waiting": {"reason": "ImagePullBackOff",
                                                              "message": f'Back-off pulling image "{image}"'}})
            self.store.mutate(PODS, ns, name, backoff)
            self.event(pod, "Warning", "Failed", f'Failed to pull image "{image}": rpc error: code = NotFound '
                       f'desc = failed to pull and unpack image "{image}": not found', "kubelet")
            self.event(pod, "Warning", "BackOff", f'Back-off pulling image "{image}"', "kubelet")
        elif fault == "CrashLoopBackOff":
            self._restart_in_place(pod, 1, "Error", waiting="CrashLoopBackOff")
            self.event(pod, "Warning", "BackOff", "Back-off restarting failed container", "kubelet")
        elif fault in ("OOMKilled", "Fail"):
            code, reason = (137, "OOMKilled") if fault == "OOMKilled" else (1, "Error")
            if pod["spec"].get("restartPolicy") in ("OnFailure", "Always") and fault == "OOMKilled":
                self._restart_in_place(pod, code, reason)
                return
            self._terminate_pod(pod, code, reason)
            rtype = self._rtype_of(job, pod)
            what = f"{job['kind']} {job['metadata']['name']}"
            policy = (replica_specs(job).get(rtype) or {}).get("restartPolicy")
            if policy == "ExitCode" and code >= 128:
                # A retryable exit code: the operator deletes the pod, creates it again and
                # marks the job Restarting (training-operator ReconcilePods, IsRetryableExitCode).
                self.store.delete(PODS, ns, name)
                self.logs.forget_pod(ns, name)
                st.pods.remove(name)
                st.held[name] = st.ticks + max(self.ticks_to_run, 1)  # Pending for a while, like a new pod
                for planned in plan_pods(job):
                    if planned.name == name:
                        self._create_pod(st, job, planned)
                self._set_status(st, lambda s: set_condition(
                    s, "Restarting", "True", f"{job['kind']}Restarting",
                    f"{what} is restarting because 1 {rtype} replica(s) failed."))
                self.event(job, "Warning", f"{job['kind']}Restarting",
                           f"{what} is restarting because 1 {rtype} replica(s) failed.", KINDS[job["kind"]].controller)
                return
            st.finish = False
            st.fail_message = f"{what} is failed because 1 {rtype} replica(s) failed."

    def _restart_in_place(self, pod: dict, code: int, reason: str, waiting: str | None = None) -> None:
        """The kubelet restarts the container: restartCount+1, lastState terminated, logs become previous."""
        now = now_rfc3339()
        for c in pod["spec"].get("containers") or []:
            key = (pod["metadata"]["namespace"], pod["metadata"]["name"], c["name"])
            self.logs.write(key, f"container exited with code {code} ({reason})")
            self.logs.restart(key)

        def restart(p: dict) -> None:
            p["status"]["phase"] = "Running"
            for cs in p["status"]["containerStatuses"]:
                cs["restartCount"] = cs.get("restartCount", 0) + 1
                cs["lastState"] = {"terminated": {"exitCode": code, "reason": reason, "finishedAt": now}}
                cs["state"] = ({"waiting": {"reason": waiting, "message": "back-off 10s restarting failed container"}}
                               if waiting else {"running": {"startedAt": now}})
                cs["ready"] = waiting is None

        self.store.mutate(PODS, pod["metadata"]["namespace"], pod["metadata"]["name"], restart)

    # ---- job status --------------------------------------------------------------------
    def _set_status(self, st: _JobState, fn) -> None:
        def apply(job: dict) -> None:
            job.setdefault("status", {})
            fn(job["status"])
        self.store.mutate(st.key, st.namespace, st.name, apply)

    @staticmethod
    def _rtype_of(job: dict, pod: dict) -> str:
        labels = pod["metadata"].get("labels") or {}
        lower = labels.get("training.kubeflow.org/replica-type") or labels.get("training.kubeflow.org/job-role", "")
        for rtype in replica_specs(job):
            if rtype.lower() == lower:
                return rtype
        return "Worker"

    def _counts(self, job: dict, pods: list[dict]) -> dict:
        counts: dict[str, dict] = {}
        for rtype in replica_specs(job):
            counts[rtype] = {}
        for pod in pods:
            bucket = counts.setdefault(self._rtype_of(job, pod), {})
            key = {"Running": "active", "Succeeded": "succeeded", "Failed": "failed"}.get(pod["status"]["phase"])
            if key:
                bucket[key] = bucket.get(key, 0) + 1
        return counts

    def _update_job_status(self, st: _JobState, job: dict, pods: list[dict]) -> None:
        facts = KINDS[job["kind"]]
        name = job["metadata"]["name"]
        counts = self._counts(job, pods)
        all_running = bool(pods) and all(p["status"]["phase"] == "Running" for p in pods)
        deciding = deciding_type(job)
        restarting = any(tick > st.ticks for tick in st.held.values())  # Restarting until it runs again
        running = (counts.get(deciding, {}).get("active", 0) > 0 and (job["kind"] != "MPIJob" or all_running)
                   and not restarting)

        def apply(status: dict) -> None:
            status["replicaStatuses"] = counts
            if running:
                status.setdefault("startTime", now_rfc3339())
                set_condition(status, "Running", "True", f"{facts.kind}Running", f"{facts.kind} {name} is running.")
        self._set_status(st, apply)

    def _finish(self, st: _JobState, job: dict, pods: list[dict], succeed: bool) -> None:
        facts = KINDS[job["kind"]]
        name = job["metadata"]["name"]
        policy = ((job.get("spec") or {}).get("runPolicy") or {}).get("cleanPodPolicy") or (
            (job.get("spec") or {}).get("cleanPodPolicy")) or "None"
        for pod in pods:
            if pod["status"]["phase"] in ("Succeeded", "Failed"):
                continue
            mpi_worker = job["kind"] == "MPIJob" and self._rtype_of(job, pod) == "Worker"
            if mpi_worker or not succeed:
                if policy in ("All", "Running"):
                    self.store.delete(PODS, st.namespace, pod["metadata"]["name"])
                    self.event(job, "Normal", "SuccessfulDeletePod", f"Deleted pod: {pod['metadata']['name']}",
                               facts.controller)
                continue
            self._terminate_pod(pod, 0, "Completed")
        counts = self._counts(job, self._pods(st))
        if succeed:
            for bucket in counts.values():
                if bucket.get("active"):
                    bucket["succeeded"] = bucket.get("succeeded", 0) + bucket.pop("active")
        message = (f"{facts.kind} {name} successfully completed." if succeed
                   else st.fail_message or f"{facts.kind} {name} is failed.")
        ctype = "Succeeded" if succeed else "Failed"

        def apply(status: dict) -> None:
            status["replicaStatuses"] = counts
            status.setdefault("startTime", now_rfc3339())
            status["completionTime"] = now_rfc3339()
            set_condition(status, ctype, "True", f"{facts.kind}{ctype}", message)
        self._set_status(st, apply)
        self.event(job, "Normal" if succeed else "Warning", f"{facts.kind}{ctype}", message, facts.controller)
        if job["kind"] == "MPIJob" and job["apiVersion"].endswith("v2beta1"):
            self._complete_launcher_job(st, job, succeed)
        st.done = True

    def _complete_launcher_job(self, st: _JobState, job: dict, succeed: bool) -> None:
        now = now_rfc3339()

        def done(batch: dict) -> None:
            batch["status"] = {"succeeded": 1 if succeed else 0, "failed": 0 if succeed else 1,
                               "completionTime": now, "conditions": [{"type": "Complete" if succeed else "Failed",
                                                                      "status": "True", "lastTransitionTime": now}]}
        self.store.mutate(("batch", "jobs"), st.namespace, f"{job['metadata']['name']}-launcher", done)

    # ---- events ------------------------------------------------------------------------
    def event(self, obj: dict, etype: str, reason: str, message: str, component: str) -> None:
        """Record an event about `obj` in core/v1 and events.k8s.io/v1, as both APIs serve it."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "default")
        now = now_rfc3339()
        # Named like the event recorder's: the object's name and a hex nanosecond stamp, so
        # the store's name order is creation order (kubectl describe keeps that order on ties).
        self._event_seq += 1
        name = f"{meta['name']}.{time.time_ns() + self._event_seq:x}"
        ref = {"kind": obj["kind"], "namespace": ns, "name": meta["name"], "uid": meta["uid"],
               "apiVersion": obj["apiVersion"], "resourceVersion": meta.get("resourceVersion", "")}
        core = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
                "involvedObject": ref, "reason": reason, "message": message, "type": etype,
                "source": {"component": component}, "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                "reportingComponent": component, "reportingInstance": ""}
        modern = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": name, "namespace": ns},
                  "regarding": copy.deepcopy(ref), "reason": reason, "note": message, "type": etype,
                  "eventTime": None, "deprecatedFirstTimestamp": now, "deprecatedLastTimestamp": now,
                  "deprecatedCount": 1, "deprecatedSource": {"component": component},
                  "reportingController": component, "reportingInstance": "", "action": reason}
        try:
            self.store.create(("", "events"), ns, core)
            self.store.create(("events.k8s.io", "events"), ns, modern)
        except StoreError:
            pass
