"""Events of a job and its pods, each turned into one plain sentence where the cause is known.

The kubelet, the scheduler and the operators write events in their own words
("0/3 nodes are available: 3 Insufficient nvidia.com/gpu."); a person wants
"Pending: 0/3 nodes have 4 free nvidia.com/gpu". Unknown events keep their own message.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from ...model.job import Event
from ...model.kinds import known_kinds

_AVAILABLE = re.compile(r"^\s*(?P<avail>\d+)/(?P<total>\d+) nodes are available:?\s*(?P<rest>.*)$", re.S)
_INSUFFICIENT = re.compile(r"^(?P<count>\d+) Insufficient (?P<res>\S+)$")
_IMAGE = re.compile(r'image "(?P<image>[^"]+)"')
_VOLUME = re.compile(r'volume "(?P<volume>[^"]+)"')
_CLAIM = re.compile(r'persistentvolumeclaim "(?P<claim>[^"]+)" not found')

_KEEP_KINDS = frozenset(known_kinds()) | {"Pod"}
# The job a pod's name says it belongs to, as `job_events` matches a pod already deleted.
_POD_OF_JOB = (re.compile(r"^(?P<job>.+)-[a-z]+-\d+$"), re.compile(r"^(?P<job>.+)-launcher(-[a-z0-9]{5})?$"))
# The event informer's index (`Informer.by_index`): (namespace, name) of what an event is about,
# and of the job a pod's name points to, so a job's events are found among its own.
EVENT_BY_SUBJECT = "subject"


def slim_event(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The informer's transform: keep events about job kinds and pods only, and only what we show."""
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    if not isinstance(involved, dict) or involved.get("kind") not in _KEEP_KINDS:
        return None
    meta = obj.get("metadata") or {}
    return {
        "metadata": {k: meta.get(k) for k in ("name", "namespace", "creationTimestamp", "resourceVersion")},
        "involvedObject": {k: involved.get(k) for k in ("kind", "name", "namespace", "uid")},
        "type": obj.get("type"), "reason": obj.get("reason"),
        "message": obj.get("message") or obj.get("note") or "",
        "count": obj.get("count") or (obj.get("series") or {}).get("count") or 1,
        "firstTimestamp": obj.get("firstTimestamp") or obj.get("eventTime") or meta.get("creationTimestamp"),
        "lastTimestamp": obj.get("lastTimestamp") or (obj.get("series") or {}).get("lastObservedTime")
        or obj.get("eventTime") or meta.get("creationTimestamp"),
    }


def event_subjects(ev: Mapping[str, Any]) -> set[tuple[Any, str]]:
    """The EVENT_BY_SUBJECT index: every (namespace, name) under which `job_events` could pick the event.

    That is the involved object's name (a job, or a live pod found by name) and, for a pod, the
    job names its name fits (`<job>-<type>-<i>`, `<job>-launcher[-xxxxx]`), since events of a
    pod already deleted are still shown with its job's.
    """
    inv = ev.get("involvedObject") or {}
    namespace = (ev.get("metadata") or {}).get("namespace", inv.get("namespace"))
    name = str(inv.get("name"))
    keys = {(namespace, name)}
    if inv.get("kind") == "Pod":
        keys.update((namespace, m.group("job")) for m in (r.match(name) for r in _POD_OF_JOB) if m)
    return keys


EVENT_INDEXERS = {EVENT_BY_SUBJECT: event_subjects}


def job_event_keys(name: str, namespace: str, pod_names: Iterable[str]) -> list[tuple[str, str]]:
    """The EVENT_BY_SUBJECT values under which every event `job_events` keeps for the job is filed."""
    return [(namespace, name), *((namespace, p) for p in pod_names)]


def scheduling_sentence(message: str, requests: Mapping[str, str] | None = None) -> str:
    """The scheduler's FailedScheduling text in plain words.

    "0/3 nodes are available: 3 Insufficient nvidia.com/gpu." with a pod asking for 4 GPUs
    becomes "0/3 nodes have 4 free nvidia.com/gpu"; other reasons are kept after a "; ".
    """
    text = message.strip().rstrip(".")
    m = _AVAILABLE.match(text)
    if not m:
        return text
    avail, total = m.group("avail"), m.group("total")
    # The scheduler joins reasons with ", "; preemption notes follow after a ". ".
    reasons = [r.strip() for r in m.group("rest").split(". ")[0].split(",") if r.strip()]
    short: list[str] = []
    other: list[str] = []
    for r in reasons:
        im = _INSUFFICIENT.match(r)
        if im:
            res = im.group("res")
            qty = (requests or {}).get(res)
            short.append(f"{qty} free {res}" if qty else f"enough free {res}")
        else:
            other.append(r)
    if short:
        sentence = f"{avail}/{total} nodes have " + " and ".join(short)
        return sentence + (f"; {', '.join(other)}" if other else "")
    return f"{avail}/{total} nodes are available: {', '.join(other)}" if other else text


def plain_sentence(reason: str, message: str, requests: Mapping[str, str] | None = None) -> str:
    """One sentence for a known event cause; the event's own message otherwise."""
    msg = (message or "").strip()
    if reason == "FailedScheduling":
        return f"Pending: {scheduling_sentence(msg, requests)}"
    if reason in ("Failed", "ErrImagePull") and ("pull image" in msg or "ErrImagePull" in msg):
        im = _IMAGE.search(msg)
        image = im.group("image") if im else "the image"
        return f"cannot pull image {image}: not found or not pullable (check the name, tag and pull secret)"
    if reason == "BackOff" and "pulling image" in msg:
        im = _IMAGE.search(msg)
        return f"waiting: ImagePullBackOff — image {im.group('image') if im else ''} not found or not pullable".replace("  ", " ")
    if reason == "BackOff" and "restarting failed container" in msg:
        return "waiting: CrashLoopBackOff — the container keeps exiting; see its previous log"
    if reason in ("FailedMount", "FailedAttachVolume"):
        cm = _CLAIM.search(msg)
        if cm:
            return f"Pending: the volume claim {cm.group('claim')!r} does not exist in this namespace"
        vm = _VOLUME.search(msg)
        return f"Pending: volume {vm.group('volume') if vm else ''} cannot be mounted: {msg}".replace("  ", " ")
    if reason in ("FailedCreate", "FailedCreatePod", "FailedCreatePodReason"):
        return f"the operator could not create a pod: {msg}"
    if reason == "Evicted":
        return f"Evicted: {msg}"
    if reason in ("OOMKilling", "OOMKilled"):
        return "OOMKilled: a container used more memory than its limit"
    return msg


def event_from_object(ev: dict[str, Any], requests_by_pod: Mapping[str, Mapping[str, str]] | None = None) -> Event:
    """The model Event of a (slim or raw) core/v1 event."""
    involved = ev.get("involvedObject") or ev.get("regarding") or {}
    reason = str(ev.get("reason") or "")
    requests = (requests_by_pod or {}).get(str(involved.get("name"))) if involved.get("kind") == "Pod" else None
    return Event(
        type=str(ev.get("type") or "Normal"), reason=reason,
        message=plain_sentence(reason, str(ev.get("message") or ev.get("note") or ""), requests),
        object_kind=str(involved.get("kind") or ""), object_name=str(involved.get("name") or ""),
        count=int(ev.get("count") or 1),
        first_time=ev.get("firstTimestamp") or ev.get("eventTime"),
        last_time=ev.get("lastTimestamp") or ev.get("firstTimestamp") or ev.get("eventTime"),
    )


def job_events(kind: str, name: str, namespace: str, pod_names: Iterable[str], candidates: Iterable[dict[str, Any]],
               requests_by_pod: Mapping[str, Mapping[str, str]] | None = None) -> list[Event]:
    """Events about the job itself and about its pods, oldest first."""
    pods = set(pod_names)
    # Pods already deleted still have events; the operators name them <job>-<type>-<i> (<job>-launcher-xxxxx).
    by_name = re.compile(rf"^{re.escape(name)}-(launcher(-[a-z0-9]{{5}})?|[a-z]+-\d+)$")
    out = []
    for ev in candidates:
        inv = ev.get("involvedObject") or {}
        if (ev.get("metadata") or {}).get("namespace", inv.get("namespace")) != namespace:
            continue
        about_job = inv.get("kind") == kind and inv.get("name") == name
        about_pod = inv.get("kind") == "Pod" and (inv.get("name") in pods or by_name.match(str(inv.get("name"))))
        if about_job or about_pod:
            out.append(event_from_object(ev, requests_by_pod))
    out.sort(key=lambda e: (e.last_time or e.first_time or "", e.first_time or ""))
    return out
