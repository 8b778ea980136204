"""The operator's rules, as pure functions over a local job's replica states.

Conditions follow the Training Operator's algebra (`util/status.go`, operator-contract §1.4):
reasons `<Kind><Reason>`, Running and Restarting exclude each other, Succeeded/Failed flip
Running to False, nothing changes after Failed. Restart decisions follow §1.5 (Never, OnFailure,
Always, ExitCode with codes >= 128 retryable) and runPolicy.backoffLimit (§1.6); success per kind
follows the table of §1.4; what happens to the replicas still running at the job's end follows
runPolicy.cleanPodPolicy (§1.6), and so do the conditions of runPolicy.suspend. Replica states
are the strings Pending, Running, Succeeded, Failed.
"""

from __future__ import annotations

import signal as _signal
from datetime import datetime, timezone
from dataclasses import asdict
from typing import Any, Iterable, Mapping

from ...model.job import ReplicaCounts
from ...model.kinds import lookup, versions_of

# Exit code of a replica whose end was never recorded (the operator's 0xbeef: retryable).
LOST_EXIT_CODE = 0xBEEF
# Exit code recorded when a replica's process could not be started at all (as a shell's 126).
START_FAILED_EXIT_CODE = 126


def now_iso(ts: float | None = None) -> str:
    dt = datetime.now(timezone.utc) if ts is None else datetime.fromtimestamp(ts, timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_condition(conditions: list[dict[str, Any]], ctype: str, status: str, reason: str,
                  message: str, when: str | None = None) -> bool:
    """Apply one condition update with the operator's algebra. Returns True when anything changed."""
    if any(c["type"] == "Failed" and c["status"] == "True" for c in conditions):
        return False
    when = when or now_iso()
    for c in conditions:
        if c["type"] == ctype and c["status"] == status and c["reason"] == reason:
            return False
    if ctype in ("Running", "Restarting"):
        other = "Restarting" if ctype == "Running" else "Running"
        conditions[:] = [c for c in conditions if c["type"] != other]
    if ctype in ("Succeeded", "Failed"):
        for c in conditions:
            if c["type"] == "Running" and c["status"] == "True":
                c.update(status="False", lastUpdateTime=when, lastTransitionTime=when)
    for c in conditions:
        if c["type"] == ctype:
            transition = c["status"] != status
            c.update(status=status, reason=reason, message=message, lastUpdateTime=when)
            if transition:
                c["lastTransitionTime"] = when
            # The operator keeps the list ordered by last change: the newest is the printer column.
            conditions.remove(c)
            conditions.append(c)
            return True
    conditions.append({"type": ctype, "status": status, "reason": reason, "message": message,
                       "lastUpdateTime": when, "lastTransitionTime": when})
    return True


def is_finished(conditions: Iterable[dict[str, Any]]) -> bool:
    return any(c["type"] in ("Succeeded", "Failed") and c["status"] == "True" for c in conditions)


def should_restart(policy: str, exit_code: int) -> bool:
    """Whether a replica that ended with `exit_code` (non-zero) is restarted under `policy`.

    `Always` restarts failures like `OnFailure`; a replica that exits 0 counts as succeeded under
    every policy locally, since a kubelet restarting a finished `Always` container would keep a
    local job from ever finishing.
    """
    if policy in ("OnFailure", "Always"):
        return True
    if policy == "ExitCode":
        return exit_code >= 128
    return False


def backoff_delay(restarts: int, base: float, cap: float = 30.0) -> float:
    """Delay before restart number `restarts + 1`: doubling from `base`, like CrashLoopBackOff."""
    return min(cap, base * (2 ** restarts))


def describe_exit(exit_code: int | None, signum: int | None, oom_killed: bool = False) -> str:
    """Words for how a replica ended: 'exited with code 3', 'was killed by signal 9 (SIGKILL)'."""
    if oom_killed:
        return "was killed for running out of memory (OOMKilled, exit code 137)"
    if exit_code == LOST_EXIT_CODE and signum is None:
        return "was lost (its process ended without recording an exit status)"
    if signum:
        try:
            name = _signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        extra = "; the system may have run out of memory" if signum == _signal.SIGKILL else ""
        return f"was killed by signal {signum} ({name}{extra})"
    return f"exited with code {exit_code}"


def counts(replicas: Iterable[dict[str, Any]]) -> dict[str, ReplicaCounts]:
    """replicaStatuses per type: Running is active, Succeeded succeeded, Failed failed, Pending nowhere."""
    out: dict[str, ReplicaCounts] = {}
    for r in replicas:
        c = out.setdefault(r["type"], ReplicaCounts())
        c.replicas += 1
        if r["state"] == "Running":
            c.active += 1
        elif r["state"] == "Succeeded":
            c.succeeded += 1
        elif r["state"] == "Failed":
            c.failed += 1
    return out


def finished_counts(replicas: Iterable[dict[str, Any]], ok: bool) -> dict[str, dict[str, int]]:
    """The counts a job keeps once it is finished, as plain dicts for the record.

    The operator counts pods one last time in the pass that finishes the job; from then on
    `ReconcileJobs` returns before counting again, and on success it moves the leftover `active`
    into `succeeded` (operator-contract §1.4). A replica that runs on after the job's end
    (cleanPodPolicy None) therefore changes its pod, never the job's counts.
    """
    out = {}
    for rtype, c in counts(replicas).items():
        if ok:
            c.succeeded, c.active = c.succeeded + c.active, 0
        out[rtype] = asdict(c)
    return out


def job_counts(record: Mapping[str, Any]) -> dict[str, ReplicaCounts]:
    """A job's replica counts: the ones kept at its end once finished, else the live ones."""
    final = record.get("final_counts")
    if final is not None:
        return {t: ReplicaCounts(**c) for t, c in final.items()}
    return counts(record["replicas"])


def replica_statuses(by_type: Mapping[str, ReplicaCounts]) -> dict[str, dict[str, int]]:
    """The operator's `status.replicaStatuses` shape of `counts`/`job_counts`: zero counts omitted."""
    return {t: {k: v for k, v in (("active", c.active), ("succeeded", c.succeeded), ("failed", c.failed)) if v}
            for t, c in by_type.items()}


def clean_pod_policy(kind: str, api_version: str, spec: Mapping[str, Any]) -> str:
    """The job's cleanPodPolicy: All, Running or None (operator-contract §1.6; see Framework.clean_pod_policy).

    A record of a kind this version does not know reads as `None`, which stops nothing.
    """
    fw = lookup(api_version, kind)
    return fw.clean_pod_policy(spec) if fw is not None else "None"


def succeeded(kind: str, spec: Mapping[str, Any], replicas: Iterable[Mapping[str, Any]]) -> bool:
    """The kind's success rule (contract §1.4; see Framework.succeeded) over a job's replica records.

    Every API version of a kind succeeds by the same rule, so the kind alone chooses it.
    """
    fw = versions_of(kind)[0]
    return fw.succeeded(spec, ((r["type"], r["index"], r["state"] == "Succeeded") for r in replicas))


def first_failure(replicas: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first replica that failed for good (its restart policy allows no restart)."""
    failed = [r for r in replicas if r["state"] == "Failed"]
    return min(failed, key=lambda r: r.get("finished_ts") or 0) if failed else None


def is_suspended(manifest: Mapping[str, Any]) -> bool:
    """Whether the job's spec.runPolicy.suspend is true (what `suspend` sets and `resume` clears)."""
    policy = (manifest.get("spec") or {}).get("runPolicy") or {}
    return policy.get("suspend") is True


def set_suspend(manifest: dict[str, Any], suspend: bool) -> None:
    """Write spec.runPolicy.suspend into a stored manifest, as a merge patch of it would."""
    spec = manifest.setdefault("spec", {})
    if not isinstance(spec.get("runPolicy"), dict):
        spec["runPolicy"] = {}
    spec["runPolicy"]["suspend"] = suspend


def suspend_conditions(conditions: list[dict[str, Any]], kind: str, name: str) -> str:
    """The operator's conditions for a suspended job (`ReconcileJobs`, operator-contract §1.6):
    Running flips to False, Suspended is True, both with reason `<Kind>Suspended`. Returns the message."""
    message = f"{kind} {name} is suspended."
    if any(c["type"] == "Running" and c["status"] == "True" for c in conditions):
        set_condition(conditions, "Running", "False", f"{kind}Suspended", message)
    set_condition(conditions, "Suspended", "True", f"{kind}Suspended", message)
    return message


def resume_conditions(conditions: list[dict[str, Any]], kind: str, name: str) -> str:
    """The operator's conditions for a resumed job: Suspended False, reason `<Kind>Resumed`
    (Running comes back once the replicas run). Returns the message."""
    message = f"{kind} {name} is resumed."
    set_condition(conditions, "Suspended", "False", f"{kind}Resumed", message)
    return message
