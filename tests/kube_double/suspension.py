"""What the operators do with `spec.runPolicy.suspend`: stop a job's pods and keep the job, then start it again.

Training Operator v1.7+ (`common/job.go ReconcileJobs`, every v1 kind, MPIJob v1 included): a
suspended job's pods and their same-named Services are deleted (`DeletePodsAndServices`: events
SuccessfulDeletePod / SuccessfulDeleteService), each `active` count drops to 0, a `Running=True`
condition becomes False, and `Suspended=True` is added, both reason `<Kind>Suspended` and message
"<Kind> <name> is suspended.", with the event `<Kind>Suspended`; startTime is kept. On resume:
`Suspended=False` reason `<Kind>Resumed` ("<Kind> <name> is resumed."), startTime reset to now,
event `<Kind>Resumed`, and the pods are created again under the same names, as for a new job.
A finished job is never suspended (ReconcileJobs checks IsFinished first).

MPI Operator v2beta1 (`mpi_job_controller.go`: `deleteWorkerPods`, `newLauncherJob`,
`updateMPIJobStatus`): the worker pods are deleted, the launcher batch Job gets `suspend: true`
(the Job controller then deletes its pod), `Suspended=True` "MPIJob suspended" and
`Running=False` "MPIJob <ns>/<name> is suspended." (set even when the job never ran); on resume
`Suspended=False` "MPIJob resumed", startTime reset, the launcher Job resumes with a new pod (a
new random suffix) and the workers are created again.

The real operators record the Suspended event on every reconcile of a suspended job (the event
recorder counts them up); the simulator records it once, when it acts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .operators import KINDS, plan_pods, set_condition
from .store import StoreError, now_rfc3339

if TYPE_CHECKING:
    from .simulator import Simulator, _JobState

PODS = ("", "pods")
SERVICES = ("", "services")
BATCH_JOBS = ("batch", "jobs")
# The MPI Operator's event recorder (controllerAgentName); the training-operator's controllers
# record under their operator-name, as the simulator's other events do.
MPI_V2_COMPONENT = "mpi-job-controller"


def suspend_requested(job: dict) -> bool:
    """Whether the job's spec asks to be suspended (`spec.runPolicy.suspend: true`)."""
    spec = job.get("spec") or {}
    policy = spec.get("runPolicy") if isinstance(spec, dict) else None
    return isinstance(policy, dict) and policy.get("suspend") is True


def is_mpi_v2(job: dict) -> bool:
    return job["kind"] == "MPIJob" and job["apiVersion"].endswith("v2beta1")


@dataclass(frozen=True)
class Words:
    """The messages one operator writes for a suspension."""

    suspended: str  # the Suspended=True condition and the <Kind>Suspended event
    not_running: str  # the Running=False condition while suspended
    resumed: str  # the Suspended=False condition and the <Kind>Resumed event
    component: str  # the event's source


def words(job: dict) -> Words:
    kind, name = job["kind"], job["metadata"]["name"]
    if is_mpi_v2(job):
        namespace = job["metadata"]["namespace"]
        return Words("MPIJob suspended", f"MPIJob {namespace}/{name} is suspended.", "MPIJob resumed",
                     MPI_V2_COMPONENT)
    said = f"{kind} {name} is suspended."
    return Words(said, said, f"{kind} {name} is resumed.", KINDS[kind].controller)


def suspend(sim: Simulator, st: _JobState, job: dict) -> None:
    """Delete every pod of the job (and its Service), then mark the job suspended."""
    kind = job["kind"]
    said = words(job)
    v2 = is_mpi_v2(job)
    launcher = _suspend_launcher_job(sim, st, job) if v2 else None
    for pod in sim._pods(st):
        _delete_pod(sim, st, job, pod, launcher)
    st.pods = []
    st.held.clear()
    reason = f"{kind}Suspended"

    def apply(status: dict) -> None:
        for counts in (status.get("replicaStatuses") or {}).values():
            counts.pop("active", None)  # zero counts are omitted (omitempty), as the operator writes them
        conditions = status.get("conditions") or []
        running = any(c["type"] == "Running" and c["status"] == "True" for c in conditions)
        suspended = any(c["type"] == "Suspended" and c["status"] == "True" for c in conditions)
        if v2:
            set_condition(status, "Suspended", "True", reason, said.suspended)
            set_condition(status, "Running", "False", reason, said.not_running)
            return
        if running:
            set_condition(status, "Running", "False", reason, said.not_running)
        if not suspended:
            set_condition(status, "Suspended", "True", reason, said.suspended)
    sim._set_status(st, apply)
    sim.event(job, "Normal", reason, said.suspended, said.component)
    st.suspended = True


def resume(sim: Simulator, st: _JobState, job: dict) -> None:
    """Mark the job resumed (startTime now) and create its pods again, as on its first tick."""
    kind = job["kind"]
    said = words(job)
    reason = f"{kind}Resumed"

    def apply(status: dict) -> None:
        set_condition(status, "Suspended", "False", reason, said.resumed)
        status["startTime"] = now_rfc3339()
    sim._set_status(st, apply)
    sim.event(job, "Normal", reason, said.resumed, said.component)
    if is_mpi_v2(job):
        _resume_launcher_job(sim, st, job)
    st.suspended = False
    st.held.clear()
    for planned in plan_pods(job):
        sim._create_pod(st, job, planned)


def _delete_pod(sim: Simulator, st: _JobState, job: dict, pod: dict, launcher: dict | None) -> None:
    name = pod["metadata"]["name"]
    if pod["status"]["phase"] == "Running":
        for c in pod["spec"].get("containers") or []:
            sim.event(pod, "Normal", "Killing", f"Stopping container {c['name']}", "kubelet")
    sim.store.delete(PODS, st.namespace, name)
    sim.logs.forget_pod(st.namespace, name)  # a deleted pod's log is gone with it, as on a node
    owned_by_launcher = launcher is not None and any(
        ref.get("uid") == launcher["metadata"]["uid"] for ref in pod["metadata"].get("ownerReferences") or [])
    if owned_by_launcher:
        sim.event(launcher, "Normal", "SuccessfulDelete", f"Deleted pod: {name}", "job-controller")
    elif not is_mpi_v2(job):  # the MPI Operator deletes its workers without an event
        sim.event(job, "Normal", "SuccessfulDeletePod", f"Deleted pod: {name}", KINDS[job["kind"]].controller)
    if job["kind"] == "MPIJob":
        return  # no Service per pod for MPI jobs
    try:
        sim.store.delete(SERVICES, st.namespace, name)
    except StoreError:
        return  # a pod without containers gets no Service
    sim.event(job, "Normal", "SuccessfulDeleteService", f"Deleted service: {name}", KINDS[job["kind"]].controller)


def _suspend_launcher_job(sim: Simulator, st: _JobState, job: dict) -> dict | None:
    """The v2beta1 launcher batch Job with `suspend: true` (created so when the job starts suspended)."""
    planned = next((p for p in plan_pods(job) if p.launcher_job), None)
    if planned is None:
        return None
    existing = sim.store.get(BATCH_JOBS, st.namespace, planned.launcher_job)
    if existing is None:
        return sim._create_launcher_job(st, job, planned, suspended=True)
    now = now_rfc3339()

    def suspended(batch: dict) -> None:
        batch["spec"]["suspend"] = True
        status = batch.setdefault("status", {})
        status.pop("active", None)
        status["conditions"] = [c for c in status.get("conditions") or [] if c["type"] != "Suspended"] + [
            {"type": "Suspended", "status": "True", "reason": "JobSuspended", "message": "Job suspended",
             "lastProbeTime": now, "lastTransitionTime": now}]
    batch = sim.store.mutate(BATCH_JOBS, st.namespace, planned.launcher_job, suspended)
    sim.event(batch, "Normal", "Suspended", "Job suspended", "job-controller")
    return batch


def _resume_launcher_job(sim: Simulator, st: _JobState, job: dict) -> None:
    name = f"{job['metadata']['name']}-launcher"
    now = now_rfc3339()

    def resumed(batch: dict) -> None:
        batch["spec"]["suspend"] = False
        status = batch.setdefault("status", {})
        status["conditions"] = [c for c in status.get("conditions") or [] if c["type"] != "Suspended"] + [
            {"type": "Suspended", "status": "False", "reason": "JobResumed", "message": "Job resumed",
             "lastProbeTime": now, "lastTransitionTime": now}]
    batch = sim.store.mutate(BATCH_JOBS, st.namespace, name, resumed)
    if batch is not None:
        sim.event(batch, "Normal", "Resumed", "Job resumed", "job-controller")
