"""A job's pods: which pods belong to it, and what each one is doing, in a person's words.

Selection follows the operators (operator-contract §1.3): `training.kubeflow.org/job-name`
plus `operator-name` (two kinds may share a name in one namespace); the controller
ownerReference UID is the fallback that covers every operator version. MPI Operator v2beta1
pods carry `job-role` (launcher, worker) instead of `replica-type`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from typing import Any, Iterable, Iterator

from ...model.job import Job, Pod
from ...model.kinds import (
    LABEL_JOB_NAME, LABEL_JOB_ROLE, LABEL_OPERATOR, LABEL_REPLICA_INDEX, LABEL_REPLICA_TYPE, Framework, versions_of,
)
from ...model.status import describe_pod
from .cache import Compactor, pack_uid, pack_version, unpack_uid, unpack_version
from .events import scheduling_sentence

# The informer's selector: every pod an operator (v1.6+ or MPI Operator v2) made for a job.
POD_SELECTOR = LABEL_JOB_NAME
# The label operators before v1.6 put on a job's pods instead (with `group-name`).
OLD_LABEL_JOB_NAME = "job-name"
# The pod informer's indexes (`Informer.by_index`), so a job's pods are found among its own:
POD_BY_JOB = "job"        # (namespace, the operator's job-name label)
POD_BY_OWNER = "owner"    # the uid of each owner (the job, for its controller reference)

_NAME_RE = re.compile(r"^(?P<job>.+)-(?P<rtype>[a-z]+)-(?P<index>\d+)$")
# Marks a key tuple of pod labels among the compactor's parts.
_LABEL_KEYS = "pod label keys"


# What each container state keeps: what pod_from_object, has_log and the log reader read. Every
# state keeps a field its API type requires or the only one it has, so a state that was there
# still reads as there (containerID, image and the terminated startedAt are dropped).
_STATE_KEYS = {
    "running": ("startedAt",),
    "waiting": ("reason", "message"),
    "terminated": ("exitCode", "signal", "reason", "message", "finishedAt"),
}


def _pick(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    """The given keys that carry a value (absent and None are the same to every reader here)."""
    return {k: d[k] for k in keys if d.get(k) is not None}


def _slim_state(state: Any) -> Any:
    if not isinstance(state, dict):
        return state
    return {k: _pick(v, _STATE_KEYS[k]) if isinstance(v, dict) and k in _STATE_KEYS else v
            for k, v in state.items() if k in _STATE_KEYS}


def _slim_status(s: dict[str, Any]) -> dict[str, Any]:
    out = _pick(s, ("name", "restartCount"))
    for key in ("state", "lastState"):
        if s.get(key) is not None:
            out[key] = _slim_state(s[key])
    return out


class Labels(Mapping[str, str]):
    """A pod's labels: their values in a tuple, under a tuple of keys shared by pods labelled alike.

    An operator labels every pod of a kind with the same keys (job name, operator, replica type
    and index, ...), and their values differ per pod, so a dict per pod shared nothing: 184 or
    272 bytes for each of 200,000 pods (issue 18). Read as the dict is (`get`, `[]`, `in`,
    iteration in the API's key order, `dict(labels)`), never changed.
    """

    __slots__ = ("_keys", "_values")

    def __init__(self, keys: tuple[str, ...], values: tuple[str, ...]) -> None:
        self._keys, self._values = keys, values

    def __getitem__(self, key: str) -> str:
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        # belongs_to and the indexers read one or two labels of every pod: no exception on a miss.
        return self._values[self._keys.index(key)] if key in self._keys else default

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Labels({dict(zip(self._keys, self._values))!r})"


def split_labels(labels: Any, shared: Compactor) -> tuple[tuple[str, ...] | None, Any]:
    """(keys, values) of a dict of string keys and values (what the API sends): the keys a tuple
    shared by every pod labelled with them, the values a tuple. Anything else: (None, the value
    shared as it is)."""
    if type(labels) is not dict or not labels or not all(type(k) is str and type(v) is str for k, v in labels.items()):
        return None, shared.share(labels)
    keys = tuple(labels)
    values = tuple(map(sys.intern, labels.values()))
    return shared.one((_LABEL_KEYS, *keys), lambda: tuple(map(sys.intern, keys))), values


class SlimPod(Mapping[str, Any]):
    """What the pod cache keeps of one pod, read as the API's pod dict is (`pod["metadata"]["name"]`).

    The pod's own facts sit in slots; `spec` and `status` are dicts (shared with other pods where
    equal); the metadata dict is built when asked for. Two dicts per pod, the pod's and its
    metadata's, were a third of what the cache held per pod (issue 18), while a pod's metadata
    is read a few times per request about its job: `belongs_to` and the indexes read the slots.

    The labels are their values' tuple under the shared key tuple (`labels` makes the `Labels`
    when read: an object per pod was 48 bytes of 200,000 pods), the uid a number and the
    resourceVersion a number where they round-trip (cache.pack_uid, pack_version); `uid` and
    `resource_version` give the API's strings back.
    """

    __slots__ = ("name", "namespace", "_uid", "_version", "_label_keys", "_labels", "owners", "spec", "status")
    _KEYS = ("metadata", "spec", "status")

    def __init__(self, name: Any, namespace: Any, uid: Any, resource_version: Any, labels: Any,
                 owners: list[dict[str, Any]], spec: dict[str, Any], status: dict[str, Any],
                 shared: Compactor | None = None) -> None:
        self.name, self.namespace = name, namespace
        self._uid, self._version = pack_uid(uid), pack_version(resource_version)
        self._label_keys, self._labels = split_labels(labels, shared or Compactor())
        self.owners, self.spec, self.status = owners, spec, status

    @property
    def uid(self) -> Any:
        return unpack_uid(self._uid)

    @property
    def resource_version(self) -> Any:
        return unpack_version(self._version)

    @property
    def labels(self) -> Any:
        """`Labels` (read as the API's dict) for string labels, else what the pod had (a dict, None)."""
        keys = self._label_keys
        return self._labels if keys is None else Labels(keys, self._labels)

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata as the API names it: the fields the pod has, and its owners' uids."""
        meta = {k: v for k, v in (("name", self.name), ("namespace", self.namespace), ("uid", self.uid),
                                  ("labels", self.labels), ("resourceVersion", self.resource_version))
                if v is not None}
        meta["ownerReferences"] = self.owners
        return meta

    def __getitem__(self, key: str) -> Any:
        if key == "metadata":
            return self.metadata
        if key == "spec":
            return self.spec
        if key == "status":
            return self.status
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)

    def __repr__(self) -> str:
        return f"SlimPod({dict(self)!r})"


def slim_pod(obj: dict[str, Any], shared: Compactor | None = None) -> SlimPod:
    """Only what pods(), events() and logs() read, so the cache stays small.

    No managedFields, env, images, container IDs, IPs or timestamps nobody shows. With the pod
    informer's compactor (`shared`), the parts pods have in common (the spec, the labels' keys
    and values, the owner, a status that says what other pods' say) are held once.
    """
    shared = shared or Compactor()
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    return SlimPod(
        name=meta.get("name"), namespace=shared.share(meta.get("namespace")), uid=meta.get("uid"),
        resource_version=meta.get("resourceVersion"), labels=meta.get("labels"), shared=shared,
        owners=shared.share([{"uid": r.get("uid")} for r in meta.get("ownerReferences") or [] if isinstance(r, dict)]),
        spec=shared.share({
            "nodeName": spec.get("nodeName"),
            "containers": [_pick(c, ("name", "resources")) for c in spec.get("containers") or [] if isinstance(c, dict)],
        }),
        status=shared.share({
            **_pick(status, ("phase", "reason", "message", "startTime")),
            "conditions": [_pick(c, ("type", "status", "reason", "message")) for c in status.get("conditions") or []
                           if isinstance(c, dict) and c.get("type") == "PodScheduled" and c.get("status") != "True"],
            "containerStatuses": [_slim_status(s) for s in status.get("containerStatuses") or [] if isinstance(s, dict)],
        }),
    )


def _meta_of(pod: Mapping[str, Any]) -> tuple[Any, dict[str, Any], list[Any]]:
    """(namespace, labels, owner references) of a slim or raw pod, without building a metadata dict."""
    if isinstance(pod, SlimPod):
        return pod.namespace, pod.labels or {}, pod.owners or []
    meta = pod.get("metadata") or {}
    return meta.get("namespace"), meta.get("labels") or {}, meta.get("ownerReferences") or []


def pods_by_job(pod: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The POD_BY_JOB index: where `belongs_to` looks first (the job's name as its operator labels it)."""
    namespace, labels, _ = _meta_of(pod)
    name = labels.get(LABEL_JOB_NAME)
    return ((namespace, name),) if isinstance(name, str) else ()


def pods_by_owner(pod: Mapping[str, Any]) -> tuple[str, ...]:
    """The POD_BY_OWNER index: the owners' uids, `belongs_to`'s fallback for pods of other labels."""
    return tuple(ref["uid"] for ref in _meta_of(pod)[2] if isinstance(ref, dict) and isinstance(ref.get("uid"), str))


POD_INDEXERS = {POD_BY_JOB: pods_by_job, POD_BY_OWNER: pods_by_owner}


def job_pod_keys(job: Job) -> list[tuple[str, Any]]:
    """(index, value) pairs under which every pod that `belongs_to` the job is filed (see POD_INDEXERS)."""
    keys: list[tuple[str, Any]] = [(POD_BY_JOB, (job.namespace, job.name.replace("/", "-")))]
    if job.uid:
        keys.append((POD_BY_OWNER, job.uid))
    return keys


def operator_names(kind: str) -> set[str]:
    return {f.operator_name for f in versions_of(kind)}


def belongs_to(pod: Mapping[str, Any], job: Job) -> bool:
    """Whether a (slim or raw) pod is one of the job's replicas.

    Every pod it accepts is filed under one of `job_pod_keys(job)` in the pod informer's indexes.
    """
    namespace, labels, owners = _meta_of(pod)
    if namespace != job.namespace:
        return False
    if labels.get(LABEL_JOB_NAME) == job.name.replace("/", "-") and labels.get(LABEL_OPERATOR) in operator_names(job.kind):
        return True
    return bool(job.uid) and any(isinstance(ref, dict) and ref.get("uid") == job.uid for ref in owners)


def _replica(pod: Mapping[str, Any], job_name: str, fw: Framework | None) -> tuple[str, int | None]:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    raw_type = labels.get(LABEL_REPLICA_TYPE) or labels.get(LABEL_JOB_ROLE) or ""
    raw_index = labels.get(LABEL_REPLICA_INDEX)
    m = _NAME_RE.match(str(meta.get("name") or ""))
    if not raw_type and m and m.group("job") == job_name:
        raw_type = m.group("rtype")
    if raw_index is None and m and m.group("job") == job_name:
        raw_index = m.group("index")
    if not raw_type and str(meta.get("name") or "").startswith(f"{job_name}-launcher"):
        raw_type = "launcher"
    rtype = (fw.canonical_replica_type(raw_type) if fw else None) or raw_type.capitalize()
    try:
        index = int(raw_index) if raw_index is not None else None
    except ValueError:
        index = None
    if index is None and rtype == "Launcher":
        index = 0
    return rtype, index


def _main_status(pod: Mapping[str, Any], fw: Framework | None) -> dict[str, Any]:
    """The status of the training container (`default_container`), which decides the replica's state."""
    statuses = [s for s in (pod.get("status") or {}).get("containerStatuses") or [] if isinstance(s, dict)]
    if not statuses:
        return {}
    # Statuses are matched by name: the kubelet's order need not be the spec's.
    name = default_container(pod, fw)
    return next((s for s in statuses if s.get("name") == name), statuses[0])


def pod_requests(pod: Mapping[str, Any]) -> dict[str, str]:
    """Resource requests (limits where no request) over the pod's containers: {"nvidia.com/gpu": "4"}."""
    out: dict[str, str] = {}
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = (c.get("resources") or {})
        for k, v in {**(res.get("limits") or {}), **(res.get("requests") or {})}.items():
            out[k] = str(v)
    return out


def pod_from_object(pod: Mapping[str, Any], job_name: str, fw: Framework | None) -> Pod:
    """The model Pod of a (slim or raw) pod: phase plus the reason a person needs."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Unknown")
    main = _main_status(pod, fw)
    state = main.get("state") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    last = (main.get("lastState") or {}).get("terminated") or {}
    unschedulable = None
    for cond in status.get("conditions") or []:
        if isinstance(cond, dict) and cond.get("type") == "PodScheduled" and str(cond.get("status")) == "False" \
                and cond.get("reason") == "Unschedulable":
            unschedulable = scheduling_sentence(str(cond.get("message") or "unschedulable"), pod_requests(pod))
    if status.get("reason") == "Evicted" and not terminated:
        terminated = {"reason": "Evicted"}
    exit_code = terminated.get("exitCode")
    if exit_code is None and waiting.get("reason") == "CrashLoopBackOff":
        exit_code = last.get("exitCode")
    reason = describe_pod(
        phase, waiting_reason=waiting.get("reason"), waiting_message=waiting.get("message"),
        terminated_reason=terminated.get("reason"), exit_code=exit_code, signal=terminated.get("signal"),
        unschedulable_message=unschedulable,
    )
    if status.get("reason") == "Evicted":
        reason = f"Evicted: {status.get('message') or 'the node ran out of resources'}"
    rtype, index = _replica(pod, job_name, fw)
    restarts = sum(int(s.get("restartCount") or 0) for s in status.get("containerStatuses") or [] if isinstance(s, dict))
    if last and not terminated:
        # Restarted in place (OnFailure): why the last run ended is what a person is looking for.
        last_words = "OOMKilled" if last.get("reason") == "OOMKilled" else f"exit code {last.get('exitCode')}"
        reason += f" (last exit: {last_words})" if waiting else f", restarted {restarts}× (last exit: {last_words})"
    return Pod(
        name=str(meta.get("name") or ""), namespace=str(meta.get("namespace") or ""), job_name=job_name,
        replica_type=rtype, replica_index=index, phase=phase, reason=reason,
        node=str((pod.get("spec") or {}).get("nodeName") or ""), restarts=restarts,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        started=status.get("startTime"), finished=terminated.get("finishedAt"),
        labels=dict(meta.get("labels") or {}),
        containers=[str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name")],
    )


def job_pods(job: Job, candidates: Iterable[Mapping[str, Any]], fw: Framework | None) -> list[Pod]:
    """The job's pods among `candidates`, ordered by replica type (as the kind lists them), then index."""
    order = {t: i for i, t in enumerate(fw.replica_types)} if fw else {}
    pods = [pod_from_object(p, job.name, fw) for p in candidates if belongs_to(p, job)]
    pods.sort(key=lambda p: (order.get(p.replica_type, 99), p.replica_index if p.replica_index is not None else 1 << 30, p.name))
    return pods


def default_container(pod: Mapping[str, Any], fw: Framework | None) -> str | None:
    """The container whose log and status a person means: the one the operator trains in.

    That is the kind's `training_container`: found by name for PyTorch or TF, the first one for
    both MPI operators (so an MPI pod whose later container happens to be named `mpi` still
    means its first); the first one when the kind is unknown.
    """
    containers = [c for c in (pod.get("spec") or {}).get("containers") or [] if isinstance(c, dict)]
    if not containers:
        return None
    chosen = containers[fw.training_container(containers)] if fw is not None else containers[0]
    return chosen.get("name") or None
