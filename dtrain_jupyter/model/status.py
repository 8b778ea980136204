"""The one status vocabulary of both backends, and the pure functions that derive it.

Backends report raw facts (operator conditions, pod phases, container states, exit codes);
this module turns them into a `Phase` and a sentence a person can act on. Condition semantics
follow the Training Operator's status algebra (operator-contract §1.4).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Iterable, Mapping


class Phase(str, Enum):
    """Job phase shown everywhere; the only status values that cross the wire."""

    PENDING = "Pending"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SUSPENDED = "Suspended"
    DELETING = "Deleting"
    # Only in the job history: the job was deleted from its cluster before it finished.
    DELETED = "Deleted"
    UNKNOWN = "Unknown"

    @property
    def finished(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.FAILED)

    def __str__(self) -> str:  # so f-strings print "Running", not "Phase.RUNNING"
        return self.value


def _true(cond: Mapping[str, Any]) -> bool:
    return str(cond.get("status", "")).lower() == "true"


def derive_phase(
    conditions: Iterable[Mapping[str, Any]] | None,
    *,
    deleting: bool = False,
) -> tuple[Phase, str, str]:
    """Phase, reason and message of a job from its operator conditions.

    Args:
        conditions: `status.conditions` as the operator writes them (type, status, reason, message).
        deleting: True when the object carries a deletionTimestamp.

    Returns:
        `(phase, reason, message)`; a job with no conditions yet is Pending ("Created" not seen).
    """
    if deleting:
        return Phase.DELETING, "Deleting", "the job is being deleted"
    by_type: dict[str, Mapping[str, Any]] = {}
    for cond in conditions or ():
        if isinstance(cond, Mapping) and cond.get("type"):
            by_type[str(cond["type"])] = cond
    # A finished job stays finished; Failed wins over Succeeded as the operator freezes on Failed.
    for ctype, phase in (("Failed", Phase.FAILED), ("Succeeded", Phase.SUCCEEDED),
                         ("Suspended", Phase.SUSPENDED), ("Restarting", Phase.RESTARTING),
                         ("Running", Phase.RUNNING)):
        cond = by_type.get(ctype)
        if cond is not None and _true(cond):
            return phase, str(cond.get("reason") or ctype), str(cond.get("message") or "")
    created = by_type.get("Created")
    if created is not None:
        return Phase.PENDING, str(created.get("reason") or "Created"), str(created.get("message") or "")
    return Phase.PENDING, "Pending", "waiting for the operator to pick the job up"


# Container waiting reasons that mean "this will not fix itself", with the hint a person needs.
_WAITING_HINTS = {
    "ImagePullBackOff": "image not found or not pullable",
    "ErrImagePull": "image not found or not pullable",
    "InvalidImageName": "the image name is not valid",
    "CrashLoopBackOff": "the container keeps exiting; see its previous log",
    "CreateContainerConfigError": "a referenced ConfigMap or Secret is missing",
    "CreateContainerError": "the container could not be created",
}


def describe_pod(
    phase: str,
    *,
    waiting_reason: str | None = None,
    waiting_message: str | None = None,
    terminated_reason: str | None = None,
    exit_code: int | None = None,
    signal: int | None = None,
    unschedulable_message: str | None = None,
) -> str:
    """One sentence for a pod's state: "waiting: ImagePullBackOff — image not found", "OOMKilled".

    Every argument is a raw fact the backend read; the function only chooses the words.
    """
    if unschedulable_message:
        return f"Pending: {unschedulable_message}"
    if waiting_reason:
        hint = _WAITING_HINTS.get(waiting_reason) or (waiting_message or "")
        return f"waiting: {waiting_reason}" + (f" — {hint}" if hint else "")
    if terminated_reason == "OOMKilled":
        return "OOMKilled"
    if signal:
        return f"killed by signal {signal}"
    if exit_code is not None and exit_code != 0:
        return f"exit code {exit_code}" + (f" ({terminated_reason})" if terminated_reason and terminated_reason != "Error" else "")
    if phase == "Succeeded" or (exit_code == 0 and terminated_reason):
        return "completed"
    return phase or "Unknown"
