"""KubernetesBackend: Kubeflow jobs on a cluster, behind the same Backend protocol as local jobs.

Reads (list, get, pods, events) are answered from list+watch informers (`watches.py`,
`cache.py`), never by asking the API server per refresh; writes go through the one API choke
point (`api.py`). Problems are reported through describe() (ready False + message), never by
crashing: the Jupyter server keeps running while a cluster is away.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import logging
import operator
import time
from functools import partial
from pathlib import Path
from typing import Any, AsyncGenerator, cast

from ...errors import (
    BackendUnavailable, ClusterError, DTrainError, Forbidden, InvalidJob, InvalidRequest, JobExists, JobNotFound,
    NotFound, ValidationIssue,
)
from ...model.code_archive import (
    CODE_JOB_LABEL, CODE_SHA256_ANNOTATION, CODE_VOLUME, CONFIGMAP_KEY, CodeArchive, code_configmap_of,
)
from ...model.job import Event, Job, LogLine, OutputFile, Pod
from ...model.kinds import LABEL_JOB_NAME, Framework, lookup
from ...model.status import Phase
from ..base import (
    CAP_DRY_RUN, CAP_EVENTS, CAP_LINE_TIMES, CAP_OUTPUTS, CAP_PREVIOUS_LOGS, CAP_SUSPEND, ChangeListener, Stream,
    check_log_request, check_suspend_request, waiting_bytes,
)
from ..listeners import Listeners
from ..namespaces import NamespacePolicy
from . import outputs as out
from .api import Api, Call, Tuning, resource_path
from .cache import Informer, WatchTuning
from .config import ClusterConfig, load_cluster_config
from .discovery import Served
from .events import EVENT_BY_SUBJECT, job_event_keys, job_events, slim_event
from .jobs import CachedJob, job_from_object
from .logs import LogOptions, close_follows, has_log, pod_waiting_line, relay_log_bytes, stream_logs
from .pods import (
    OLD_LABEL_JOB_NAME, belongs_to, default_container, job_pod_keys, job_pods, pod_requests, slim_pod,
)
from .watches import Watches

log = logging.getLogger(__name__)
# A followed job that never shows up in the cache (deleted at once) ends the stream after this long.
_UNSEEN_GIVE_UP = 30.0
# Sorted job lists kept for reuse (one per namespace listed, and one for all of them).
MAX_SNAPSHOTS = 8
_SORT_KEY = operator.attrgetter("sort_key")


class KubernetesBackend:
    """Jobs on a Kubernetes cluster running the Kubeflow operators.

    Args:
        context: kube context; None takes the kubeconfig's current one (or in-cluster config).
        kubeconfig: kubeconfig path(s); None honours KUBECONFIG, then ~/.kube/config.
        namespace: default namespace for create; None takes the context's (or the pod's) namespace.
        allowed_namespaces: when set, only these namespaces are watched and usable.
        output_mounts: PVC claim name -> local path where this server sees that claim.
        tuning, watch_tuning: timeouts, retries and backoff (tests shorten them).
        rediscover_seconds: how often served kinds are looked up again.
        start_wait: how long start() waits for the first sync before returning anyway.
    """

    name = "kubernetes"

    def __init__(self, *, context: str | None = None, kubeconfig: str | None = None, namespace: str | None = None,
                 allowed_namespaces: list[str] | None = None, output_mounts: dict[str, str] | None = None,
                 tuning: Tuning | None = None, watch_tuning: WatchTuning | None = None,
                 rediscover_seconds: float = 300.0, start_wait: float = 10.0) -> None:
        self._context_arg = context
        self._kubeconfig = kubeconfig
        self._namespace_arg = namespace
        self._namespaces = NamespacePolicy(allowed_namespaces or ())
        self._output_mounts = dict(output_mounts or {})
        self._tuning = tuning or Tuning()
        self._watch_tuning = watch_tuning or WatchTuning()
        self._rediscover = rediscover_seconds
        self._start_wait = start_wait
        caps = {CAP_DRY_RUN, CAP_EVENTS, CAP_SUSPEND, CAP_PREVIOUS_LOGS, CAP_LINE_TIMES}
        self.capabilities = frozenset(caps | ({CAP_OUTPUTS} if self._output_mounts else set()))
        self._cluster: ClusterConfig | None = None
        self._api: Api | None = None
        self._config_error: DTrainError | None = None
        self._watches: Watches | None = None
        self._listeners: Listeners[[str, Job]] = Listeners(log, "job change listener")
        # namespace (None: all) -> (informer generations, sorted jobs) of the last list there
        self._snapshots: dict[str | None, tuple[tuple[tuple[int, int], ...], list[Job]]] = {}

    # ---- life ------------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        """The default namespace: the one given, else the context's (or the pod's), within the allowed ones."""
        return self._namespaces.default(self._namespace_arg, self._cluster.namespace if self._cluster else None)

    async def start(self) -> None:
        """Load the configuration and begin discovery and watches; never raises for a cluster that is down."""
        try:
            self._cluster = await asyncio.to_thread(load_cluster_config, context=self._context_arg, kubeconfig=self._kubeconfig)
        except DTrainError as e:
            self._config_error = e
            log.warning("kubernetes backend not configured: %s", e.message)
            return
        self._api = Api(self._cluster, self._tuning)
        self._watches = Watches(
            self._api, context=self._cluster.context, scopes=list(self._namespaces.allowed) or [None],
            fallback_namespace=self.namespace, tuning=self._watch_tuning, rediscover_seconds=self._rediscover,
            on_job_change=self._on_job_change,
        )
        self._watches.start()
        deadline = asyncio.get_running_loop().time() + self._start_wait
        while asyncio.get_running_loop().time() < deadline and not self._watches.settled():
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop the watches and close the client."""
        if self._api is not None:
            close_follows(self._api)  # here, on the loop that reads them: they end while the rest closes
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """`stop()` for callers without a loop (blocking; a second call does nothing)."""
        if self._watches is not None:
            self._watches.close()
        if self._api is not None:
            close_follows(self._api)
            self._api.close()

    def subscribe(self, listener: ChangeListener) -> None:
        self._listeners.add(listener)

    def unsubscribe(self, listener: ChangeListener) -> None:
        self._listeners.remove(listener)

    def _on_job_change(self, change: str, new: CachedJob | None, old: CachedJob | None) -> None:
        entry = new if new is not None else old
        if entry is not None:
            self._listeners.notify(change, entry.job)

    # ---- describe --------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """{"backend", "context", "namespace", "server", "kinds", "ready", "message"}."""
        if self._config_error is not None:
            problems, notes = [self._config_error.message], []
        elif self._watches is None:
            problems, notes = ["not started yet"], []
        else:
            problems, notes = self._watches.problems()
        served = self._watches.served if self._watches else None
        return {
            "backend": self.name,
            "context": self._cluster.context if self._cluster else (self._context_arg or ""),
            "namespace": self.namespace,
            "server": self._cluster.server if self._cluster else "",
            "kinds": served.describe() if served else {},
            "ready": not problems,
            "message": "; ".join(problems + notes),
        }

    # ---- helpers ---------------------------------------------------------------------------
    def _api_or_raise(self) -> Api:
        if self._config_error is not None:
            raise BackendUnavailable(self._config_error.message)
        if self._api is None:
            raise BackendUnavailable("the Kubernetes backend has not been started")
        return self._api

    def _watches_or_raise(self) -> Watches:
        self._api_or_raise()
        assert self._watches is not None
        return self._watches

    async def _served_or_raise(self) -> Served:
        watches = self._watches_or_raise()
        deadline = asyncio.get_running_loop().time() + self._tuning.read_timeout
        while watches.served is None:
            if watches.discovery_error is not None:
                raise BackendUnavailable(watches.discovery_error.message)
            if asyncio.get_running_loop().time() > deadline:
                raise BackendUnavailable("the Kubernetes API server has not answered discovery yet")
            await asyncio.sleep(0.05)
        return watches.served

    def _check_namespace(self, namespace: str) -> None:
        if not isinstance(namespace, str) or not namespace:
            raise InvalidRequest("a namespace is required")
        self._namespaces.check(namespace)

    async def _wait_synced(self, infs: list[Informer]) -> None:
        deadline = asyncio.get_running_loop().time() + self._tuning.read_timeout
        while any(not i.synced and i.error is None for i in infs) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)

    def _cached(self, fw: Framework, name: str, namespace: str) -> Job | None:
        for inf in self._watches_or_raise().jobs(namespace, fw):
            entry = inf.get(namespace, name) if inf.synced else None
            if entry is not None:
                return _copy_job(entry.job)
        return None

    def _not_covered(self, namespace: str) -> Forbidden:
        notes = [i.note for i in self._watches_or_raise().jobs() if i.note]
        return Forbidden(
            (notes[0] + f", so namespace {namespace!r} cannot be read") if notes
            else f"namespace {namespace!r} is not watched by this server",
            verb="list", resource="jobs", namespace=namespace,
        )

    # ---- jobs ------------------------------------------------------------------------------
    async def list(self, namespace: str | None = None) -> list[Job]:
        """Jobs from the cache: one namespace, or every namespace this backend watches.

        Raises:
            Forbidden: the namespace is not allowed, or the cluster refuses to list it.
            BackendUnavailable: nothing has been loaded yet and the API server cannot be reached.
        """
        await self._served_or_raise()
        if namespace is not None:
            self._check_namespace(namespace)
        watches = self._watches_or_raise()
        infs = watches.jobs(namespace)
        if namespace is not None and not infs and watches.jobs():
            raise self._not_covered(namespace)
        await self._wait_synced(infs)
        errors: list[DTrainError] = [i.error for i in infs if not i.synced and i.error is not None]
        ready = [i for i in infs if i.synced]
        if errors and not ready:
            forbidden = [e for e in errors if isinstance(e, Forbidden)]
            raise forbidden[0] if forbidden else BackendUnavailable(errors[0].message)
        if namespace is not None and errors and any(isinstance(e, Forbidden) for e in errors):
            raise next(e for e in errors if isinstance(e, Forbidden))
        return list(self._sorted_jobs(namespace, ready))

    def _sorted_jobs(self, namespace: str | None, infs: list[Informer]) -> list[Job]:
        """The cached jobs of `infs` in (namespace, kind, name) order, rebuilt only after a change.

        The result is kept with the informers' generations it was built from; while none moved,
        a list is a copy of one Python list, whatever the number of jobs. The Job objects are
        the cache's own (read-only, see Backend.list), so a rebuild allocates no object per job.
        """
        state = tuple((id(inf), inf.generation) for inf in infs)  # read before the stores
        kept = self._snapshots.get(namespace)
        if kept is not None and kept[0] == state:
            return kept[1]
        entries = [e for inf in infs for e in inf.values() if namespace is None or e.job.namespace == namespace]
        entries.sort(key=_SORT_KEY)
        jobs = [e.job for e in entries]
        self._snapshots.pop(namespace, None)
        if len(self._snapshots) >= MAX_SNAPSHOTS:
            self._snapshots.pop(next(iter(self._snapshots)))
        self._snapshots[namespace] = (state, jobs)
        return jobs

    async def get(self, kind: str, name: str, namespace: str) -> Job:
        """One job, from the cache when it holds it, else from the API server. Raises JobNotFound."""
        served = await self._served_or_raise()
        self._check_namespace(namespace)
        fws = served.for_kind(kind)
        for fw in fws:
            job = self._cached(fw, name, namespace)
            if job is not None:
                return job
        api = self._api_or_raise()
        for fw in fws:
            path = resource_path(fw.group, fw.version, fw.plural, namespace, name)
            try:
                obj = await api.arequest("GET", path, Call("get", f"{fw.plural}.{fw.group}", namespace, kind, name))
            except JobNotFound:
                continue
            return job_from_object(obj, fw, self._cluster.context if self._cluster else "")
        raise JobNotFound(kind, name, namespace, backend=self.name)

    async def create(self, manifest: dict[str, Any], *, dry_run: bool = False,
                     code: CodeArchive | None = None) -> Job:
        """Ask the API server (dryRun=All) first, then create.

        With `code`, the ConfigMap the manifest's code volume names is created first (binaryData
        CONFIGMAP_KEY, labelled with the job's name), then the job, then the ConfigMap is given
        the job as its owner, so the cluster's garbage collector deletes it with the job. If the
        job cannot be created, the ConfigMap made for it is deleted again. A ConfigMap of that
        name that already holds the same code is used (and gets one more owner).

        Raises:
            InvalidJob: the manifest is not a job object, or the server refused it (issues carry field paths).
            JobExists: the job, or a ConfigMap of the code's name holding other code, exists.
            Forbidden, NotFound (kind not installed), ClusterError, BackendUnavailable.
        """
        # The API server (schema, webhooks) is this backend's validator: a manifest the service did
        # not validate is only checked for the fields that address the request.
        if not isinstance(manifest, dict):
            raise InvalidJob([ValidationIssue("", "a job manifest must be a mapping")])
        kind, api_version = manifest.get("kind"), manifest.get("apiVersion")
        meta = manifest.get("metadata")
        if not isinstance(kind, str) or not isinstance(api_version, str) or not isinstance(meta, dict):
            raise InvalidJob([ValidationIssue(p, f"{p} is required") for p, ok in
                              (("apiVersion", isinstance(api_version, str)), ("kind", isinstance(kind, str)),
                               ("metadata", isinstance(meta, dict))) if not ok])
        served = await self._served_or_raise()
        fw = served.for_manifest(api_version, kind)
        namespace = meta.get("namespace") or self.namespace
        self._check_namespace(namespace)
        body = copy.deepcopy(manifest)
        body["metadata"]["namespace"] = namespace
        name = str(meta.get("name") or meta.get("generateName") or "")
        api = self._api_or_raise()
        path = resource_path(fw.group, fw.version, fw.plural, namespace)
        call = Call("create", f"{fw.plural}.{fw.group}", namespace, kind, name)
        code_map = _code_configmap(body, code, name, namespace) if code is not None else None
        if code_map is not None:
            await self._put_code(api, code_map, dry_run=True)
        obj = await api.arequest("POST", path, call, query={"dryRun": "All"}, body=body)
        if dry_run:
            return job_from_object(obj, fw, self._cluster.context if self._cluster else "")
        made_map = await self._put_code(api, code_map) if code_map is not None else False
        try:
            obj = await api.arequest("POST", path, call, body=body)
        except Exception:
            # A job that was refused leaves no code behind. (A cancelled request, the server
            # shutting down, may have created the job: its code stays for it.)
            if made_map:
                await self._delete_code(api, code_map)
            raise
        if code_map is not None:
            await self._own_code(api, code_map, obj)
        return job_from_object(obj, fw, self._cluster.context if self._cluster else "")

    async def _put_code(self, api: Api, code_map: dict[str, Any], dry_run: bool = False) -> bool:
        """Create the code's ConfigMap (or ask whether it could be, with `dry_run`); False when one
        with the same code is there already.

        Raises:
            JobExists: a ConfigMap of that name holds other code.
        """
        meta = code_map["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        try:
            await api.arequest("POST", resource_path("", "v1", "configmaps", namespace),
                               _configmap_call("create", code_map), body=code_map,
                               query={"dryRun": "All"} if dry_run else None)
            return True
        except ClusterError as e:
            if e.fields.get("reason") != "AlreadyExists":
                raise
        there = await api.arequest("GET", resource_path("", "v1", "configmaps", namespace, name),
                                   _configmap_call("get", code_map))
        if (there.get("binaryData") or {}).get(CONFIGMAP_KEY) != code_map["binaryData"][CONFIGMAP_KEY]:
            raise JobExists("ConfigMap", name, namespace, backend=self.name)
        return False

    async def code_archive(self, kind: str, name: str, namespace: str) -> CodeArchive | None:
        """The archive in the ConfigMap the job's code volume names, or None (no code volume, or
        the ConfigMap is gone). Raises JobNotFound."""
        job = await self.get(kind, name, namespace)
        configmap = code_configmap_of(job.manifest)
        if configmap is None:
            return None
        api = self._api_or_raise()
        try:
            there = await api.arequest("GET", resource_path("", "v1", "configmaps", namespace, configmap),
                                       Call("get", "configmaps", namespace, "", configmap))
        except NotFound:
            return None
        encoded = (there.get("binaryData") or {}).get(CONFIGMAP_KEY)
        if not isinstance(encoded, str):
            return None
        return CodeArchive.of(base64.b64decode(encoded), files=0, entry="")

    async def _delete_code(self, api: Api, code_map: dict[str, Any]) -> None:
        meta = code_map["metadata"]
        try:
            await api.arequest("DELETE", resource_path("", "v1", "configmaps", meta["namespace"], meta["name"]),
                               _configmap_call("delete", code_map))
        except DTrainError as e:
            log.warning("the job was not created and its code ConfigMap %s/%s could not be deleted: %s",
                        meta["namespace"], meta["name"], e.message)

    async def _own_code(self, api: Api, code_map: dict[str, Any], job: dict[str, Any]) -> None:
        """Make the job an owner of its code's ConfigMap (not its controller: the operator is
        the job's pods' controller, and nothing here reconciles the ConfigMap)."""
        meta = code_map["metadata"]
        job_meta = job.get("metadata") or {}
        owner = {"apiVersion": job.get("apiVersion"), "kind": job.get("kind"), "name": job_meta.get("name"),
                 "uid": job_meta.get("uid"), "controller": False, "blockOwnerDeletion": False}
        path = resource_path("", "v1", "configmaps", meta["namespace"], meta["name"])
        try:
            there = await api.arequest("GET", path, _configmap_call("get", code_map))
            owners = [o for o in (there.get("metadata") or {}).get("ownerReferences") or []
                      if isinstance(o, dict) and o.get("uid") != owner["uid"]]
            # A merge patch replaces the whole list: send the owners already there with ours.
            await api.arequest("PATCH", path, _configmap_call("patch", code_map),
                               body={"metadata": {"ownerReferences": [*owners, owner]}},
                               content_type="application/merge-patch+json")
        except DTrainError as e:
            # The job runs either way; only the ConfigMap's clean-up is lost: say so.
            log.warning("ConfigMap %s/%s holds the code of %s %s but could not be given it as owner (%s); "
                        "delete it with the job", meta["namespace"], meta["name"], job.get("kind"),
                        job_meta.get("name"), e.message)

    async def delete(self, kind: str, name: str, namespace: str) -> Job:
        """Delete with foreground propagation: the job stays (Deleting) until its pods are gone."""
        job = await self.get(kind, name, namespace)
        fw = lookup(job.api_version, job.kind)
        if fw is None:
            raise JobNotFound(kind, name, namespace, backend=self.name)
        api = self._api_or_raise()
        path = resource_path(fw.group, fw.version, fw.plural, namespace, name)
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
        obj = await api.arequest("DELETE", path, Call("delete", f"{fw.plural}.{fw.group}", namespace, kind, name), body=body)
        if isinstance(obj, dict) and obj.get("kind") == job.kind:
            job = job_from_object(obj, fw, job.context)
        job.status = dataclasses.replace(job.status, phase=Phase.DELETING, reason="Deleting",
                                         message="deleting the job and its pods")
        return job

    async def suspend(self, kind: str, name: str, namespace: str) -> Job:
        """Set spec.runPolicy.suspend to true (a merge patch); the operator then deletes the pods
        and sets `Suspended` (Training Operator v1.7+ for every v1 kind, MPI Operator v2beta1)."""
        return await self._set_suspend(kind, name, namespace, True)

    async def resume(self, kind: str, name: str, namespace: str) -> Job:
        """Set spec.runPolicy.suspend to false; the operator makes the pods again."""
        return await self._set_suspend(kind, name, namespace, False)

    async def _set_suspend(self, kind: str, name: str, namespace: str, suspend: bool) -> Job:
        """Patch spec.runPolicy.suspend and return the job as the API server stored it.

        Every CRD of the Training Operator since v1.7 and of the MPI Operator v2beta1 has the field
        (the copies in shared/conformance/crds do); an older CRD's structural schema prunes it, so
        the patch then changes nothing and the answer lacks it: that is refused in words.

        Raises:
            InvalidRequest (see `check_suspend_request`; the field is pruned), JobNotFound,
            Forbidden, ClusterError, BackendUnavailable.
        """
        job, fw = await self._job_and_framework(kind, name, namespace)
        check_suspend_request(job, suspend)
        api = self._api_or_raise()
        path = resource_path(fw.group, fw.version, fw.plural, namespace, name)
        obj = await api.arequest("PATCH", path, Call("patch", f"{fw.plural}.{fw.group}", namespace, kind, name),
                                 body={"spec": {"runPolicy": {"suspend": suspend}}},
                                 content_type="application/merge-patch+json")
        stored = ((obj.get("spec") or {}).get("runPolicy") or {}).get("suspend") if isinstance(obj, dict) else None
        if suspend and stored is not True:
            raise InvalidRequest(
                f"the cluster's {fw.plural}.{fw.group} ({fw.api_version}) has no spec.runPolicy.suspend: its CRD "
                f"dropped the field, so {kind} {name!r} was not suspended. Suspending needs the Training Operator "
                "v1.7 or later (MPIJob: the MPI Operator's kubeflow.org/v2beta1)", field="spec.runPolicy.suspend")
        return job_from_object(obj, fw, job.context)

    # ---- pods, events, logs ----------------------------------------------------------------
    async def _job_and_pods(self, kind: str, name: str, namespace: str) -> tuple[Job, Framework | None, list[dict[str, Any]]]:
        job = await self.get(kind, name, namespace)
        fw = lookup(job.api_version, job.kind)
        infs = self._watches_or_raise().pods(namespace)
        await self._wait_synced(infs)
        if any(i.synced for i in infs):
            raw = _indexed_pods(infs, job)
        else:
            # The pod watch has not synced in time (or is refused): this job's pods only, never
            # every pod of the namespace (issue 18: the job history asks about every job at start).
            raw = await self._ask_pods(job, LABEL_JOB_NAME)
        had_replicas = any(c.active or c.succeeded or c.failed for c in job.status.replicas.values())
        if not raw and had_replicas:
            # Operators before v1.6 label pods with `job-name` only, which the pod watch does not select.
            raw = await self._ask_pods(job, OLD_LABEL_JOB_NAME)
        return job, fw, raw

    async def _ask_pods(self, job: Job, label: str) -> list[dict[str, Any]]:
        """The job's pods that carry `label=<job name>`, from the API server; kept by `belongs_to`."""
        namespace = job.namespace
        body = await self._api_or_raise().arequest(
            "GET", resource_path("", "v1", "pods", namespace), Call("list", "pods", namespace),
            query={"labelSelector": f"{label}={job.name.replace('/', '-')}"})
        raw = [slim_pod(p) for p in body.get("items") or [] if isinstance(p, dict)]
        return [p for p in raw if belongs_to({**p, "metadata": {**p["metadata"], "namespace": namespace}}, job)]

    async def pods(self, kind: str, name: str, namespace: str) -> list[Pod]:
        job, fw, raw = await self._job_and_pods(kind, name, namespace)
        return job_pods(job, raw, fw)

    async def events(self, kind: str, name: str, namespace: str) -> list[Event]:
        job, fw, raw = await self._job_and_pods(kind, name, namespace)
        infs = self._watches_or_raise().events(namespace)
        await self._wait_synced(infs)
        names = [str(p["metadata"]["name"]) for p in raw]
        keys = job_event_keys(job.name, namespace, names)
        if any(i.synced for i in infs):
            candidates = _from_index(infs, [(EVENT_BY_SUBJECT, key) for key in keys])
        else:
            # Not synced in time: ask about the job and each of its pods by name (a deleted pod's
            # events wait for the watch), never for every event of the namespace.
            api = self._api_or_raise()
            candidates = []
            for _, subject in keys:
                body = await api.arequest("GET", resource_path("", "v1", "events", namespace),
                                          Call("list", "events", namespace),
                                          query={"fieldSelector": f"involvedObject.name={subject}"})
                candidates += [s for s in (slim_event(e) for e in body.get("items") or [] if isinstance(e, dict)) if s]
        requests = {str(p["metadata"]["name"]): pod_requests(p) for p in raw}
        return job_events(job.kind, job.name, namespace, names, candidates, requests)

    def logs(self, kind: str, name: str, namespace: str, *, pod: str | None = None,
             container: str | None = None, follow: bool = False, tail: int | None = None,
             since_seconds: int | None = None, previous: bool = False,
             timestamps: bool = False) -> Stream[LogLine]:
        """Log lines of one pod, or of every pod of the job merged (each line names its pod); see Backend.logs.

        Raises (on await):
            InvalidRequest, JobNotFound, NotFound (no such pod), and for one pod whatever the API
            server answers when asked for its log (Forbidden, ClusterError, BackendUnavailable).
        """
        opts = LogOptions(container=container, follow=follow, tail=tail, since_seconds=since_seconds,
                          previous=previous, timestamps=timestamps)
        return Stream(partial(self._open_logs, kind, name, namespace, pod, opts))

    async def _open_logs(self, kind: str, name: str, namespace: str, pod: str | None,
                         opts: LogOptions) -> AsyncGenerator[LogLine, None]:
        job, fw, raw = await self._log_pods(kind, name, namespace, pod, opts)
        fallback = {p["metadata"]["name"]: p for p in raw}
        cached = [False]

        def list_pods() -> list[dict[str, Any]]:
            infs = self._watches_or_raise().pods(namespace)
            current = {p["metadata"]["name"]: p for p in _indexed_pods(infs, job)}
            # The pods read for this request stand in until the cache has them (a job created a
            # moment ago); once it had them, its word is final, so removed pods are gone here too.
            cached[0] = cached[0] or bool(current)
            merged = current if cached[0] else fallback
            return [merged[pod]] if pod is not None and pod in merged else ([] if pod is not None else list(merged.values()))

        seen = {"at": None, "asked": time.monotonic()}

        def job_done() -> bool:
            """Finished, or gone after we saw it (a job created a moment ago may not be cached yet)."""
            cached = self._cached(fw, name, namespace) if fw is not None else None
            if cached is not None:
                seen["at"] = time.monotonic()
                return cached.status.phase.finished
            return seen["at"] is not None or time.monotonic() - seen["asked"] > _UNSEEN_GIVE_UP

        lines = stream_logs(self._api_or_raise(), namespace, name, fw, opts, list_pods=list_pods,
                            job_done=job_done, single=pod is not None)
        await anext(lines)  # opens: one pod's refusal is raised here, before any line
        return cast(AsyncGenerator[LogLine, None], lines)

    def log_bytes(self, kind: str, name: str, namespace: str, *, pod: str, container: str | None = None,
                  tail: int | None = None, previous: bool = False, follow: bool = False) -> Stream[bytes]:
        """One pod's log as the API server sends it (a whole read or a tail): no object per line.

        A follow is refused (no CAP_FOLLOW_BYTES): `logs(follow=True)` re-opens a stream the API server
        cut and takes up restarts, which the lines' timestamps make possible."""
        opts = LogOptions(container=container, tail=tail, previous=previous, follow=follow)
        return Stream(partial(self._open_log_bytes, kind, name, namespace, pod, opts))

    async def _open_log_bytes(self, kind: str, name: str, namespace: str, pod: str,
                              opts: LogOptions) -> AsyncGenerator[bytes, None]:
        if opts.follow:
            raise InvalidRequest("the kubernetes backend follows a log by its lines (logs with follow), not as raw "
                                 "bytes", argument="follow")
        _, fw, raw = await self._log_pods(kind, name, namespace, pod, opts)
        [chosen] = [p for p in raw if p["metadata"]["name"] == pod]
        if not opts.previous and not has_log(chosen, previous=False):
            return waiting_bytes(pod_waiting_line(chosen, name, fw))
        chunks = relay_log_bytes(self._api_or_raise(), namespace, pod, opts.container or default_container(chosen, fw),
                                 opts)
        await anext(chunks)  # asks for the log: a refusal is raised here, before any byte
        return cast(AsyncGenerator[bytes, None], chunks)

    async def _log_pods(self, kind: str, name: str, namespace: str, pod: str | None,
                        opts: LogOptions) -> tuple[Job, Framework | None, list[dict[str, Any]]]:
        """The job and the pods a log request reads, with every check made before a line is promised.

        Raises:
            InvalidRequest (arguments; a container the pods do not run), JobNotFound, NotFound (pod).
        """
        check_log_request(follow=opts.follow, tail=opts.tail, since_seconds=opts.since_seconds,
                          previous=opts.previous)
        job, fw, raw = await self._job_and_pods(kind, name, namespace)
        chosen = raw
        if pod is not None:
            chosen = [p for p in raw if p["metadata"]["name"] == pod]
            if not chosen:
                raise NotFound(f"pod {pod!r} is not a replica of {kind} {name!r} in namespace {namespace!r}", pod=pod)
        if opts.container is not None:
            for p in chosen:
                runs = [str(c.get("name")) for c in (p.get("spec") or {}).get("containers") or []]
                if opts.container not in runs:
                    raise InvalidRequest(f"container {opts.container!r} is not valid for pod {p['metadata']['name']!r} "
                                         f"(it runs {', '.join(map(repr, runs))})", argument="container")
        return job, fw, raw

    # ---- outputs ---------------------------------------------------------------------------
    async def _job_and_framework(self, kind: str, name: str, namespace: str) -> tuple[Job, Framework]:
        job = await self.get(kind, name, namespace)
        fw = lookup(job.api_version, job.kind)
        if fw is None:
            raise JobNotFound(kind, name, namespace, backend=self.name)
        return job, fw

    async def output_root(self, kind: str, name: str, namespace: str) -> Path:
        """Where this server mounts the job's output claim (c.DTrain.output_mounts), down to its
        DTRAIN_OUTPUT_DIR. Raises JobNotFound; NotFound (`outputs.output_root` has the words)."""
        job, fw = await self._job_and_framework(kind, name, namespace)
        return await asyncio.to_thread(out.output_root, job, fw, self._output_mounts)

    async def outputs(self, kind: str, name: str, namespace: str) -> list[OutputFile]:
        """Files under the job's DTRAIN_OUTPUT_DIR, read where its claim is mounted. Raises NotFound."""
        root = await self.output_root(kind, name, namespace)
        return await asyncio.to_thread(out.list_outputs, root)

    async def output_location(self, kind: str, name: str, namespace: str) -> dict[str, str]:
        """`{"claim", "path"}` of the job's DTRAIN_OUTPUT_DIR, read from its manifest. Raises NotFound."""
        job, fw = await self._job_and_framework(kind, name, namespace)
        return out.output_location(job, fw)

    async def read_output(self, kind: str, name: str, namespace: str, path: str, *, limit: int) -> bytes:
        root = await self.output_root(kind, name, namespace)
        return await asyncio.to_thread(out.read_output, root, path, limit)

    def output_bytes(self, kind: str, name: str, namespace: str, path: str) -> Stream[bytes]:
        return Stream(partial(self._open_output, kind, name, namespace, path))

    async def _open_output(self, kind: str, name: str, namespace: str, path: str) -> AsyncGenerator[bytes, None]:
        root = await self.output_root(kind, name, namespace)
        return await out.stream_output(root, path)


def _from_index(infs: list[Informer], keys: list[tuple[str, Any]]) -> list[Any]:
    """What the synced informers file under any of `keys` ((index, value) pairs), each value once."""
    found: dict[int, Any] = {}
    for inf in infs:
        if inf.synced:
            for index, value in keys:
                for item in inf.by_index(index, value):
                    found.setdefault(id(item), item)
    return list(found.values())


def _indexed_pods(infs: list[Informer], job: Job) -> list[Any]:
    """The job's cached pods: looked up in the pod informers' indexes (O(its pods)), not by a walk of every pod."""
    return [p for p in _from_index(infs, job_pod_keys(job)) if belongs_to(p, job)]


def _copy_job(job: Job) -> Job:
    """A shallow copy of a cached Job (what `dataclasses.replace(job)` gives, at a fifth of its cost).

    `get` hands out a copy: its caller (delete, for one) may reassign the copy's fields without
    touching the cache. A list hands out the cached jobs themselves (see Backend.list).
    """
    copy = object.__new__(Job)
    copy.__dict__.update(job.__dict__)
    return copy


def _configmap_call(verb: str, code_map: dict[str, Any]) -> Call:
    return Call(verb, "configmaps", code_map["metadata"]["namespace"], "", code_map["metadata"]["name"])


def _code_configmap(job: dict[str, Any], code: CodeArchive, job_name: str, namespace: str) -> dict[str, Any]:
    """The ConfigMap holding `code` that the job's code volume names.

    Raises:
        InvalidRequest: no replica of the job mounts a code volume from a ConfigMap.
    """
    name = code_configmap_of(job)
    if name is None:
        raise InvalidRequest(f"the request sends a code archive, but no replica of the job mounts a volume "
                             f"{CODE_VOLUME!r} from a ConfigMap", field="code")
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": {CODE_JOB_LABEL: job_name},
                         "annotations": {CODE_SHA256_ANNOTATION: code.sha256}},
            "binaryData": {CONFIGMAP_KEY: base64.b64encode(code.data).decode("ascii")}}
