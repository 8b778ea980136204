"""The backend's watches: discovery on a supervisor thread, and one informer per served kind and scope.

The supervisor retries discovery with backoff while the API server is down (so a server that
comes back later is picked up), then keeps one job informer per served kind and scope plus
one pod informer and one event informer per scope; it looks again every few minutes so an
operator installed later is picked up and a removed one stops being watched.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import Callable

from ...errors import DTrainError
from ...model.kinds import Framework
from .api import Api
from .cache import IndexFunc, Informer, Source, StoreListener, WatchTuning
from .discovery import Served, discover
from .events import EVENT_INDEXERS, slim_event
from .jobs import cached_job
from .pods import POD_INDEXERS, POD_SELECTOR, slim_pod

log = logging.getLogger(__name__)


class Watches:
    """Everything the backend reads from: served kinds and the informers that mirror them."""

    def __init__(self, api: Api, *, context: str, scopes: list[str | None], fallback_namespace: str,
                 tuning: WatchTuning, rediscover_seconds: float, on_job_change: StoreListener) -> None:
        """
        Args:
            api: the API choke point.
            context: kube context name, written into every Job.
            scopes: namespaces to watch; [None] watches all namespaces.
            fallback_namespace: watched alone when listing across namespaces is forbidden.
            tuning: watch pacing and backoff.
            rediscover_seconds: how often served kinds are looked up again.
            on_job_change: listener for every job informer (called on its thread).
        """
        self.api = api
        self.context = context
        self.scopes = scopes
        self.fallback = fallback_namespace
        self.tuning = tuning
        self.rediscover = rediscover_seconds
        self.on_job_change = on_job_change
        self.served: Served | None = None
        self.discovery_error: DTrainError | None = None
        self._jobs: dict[tuple[str, str, str | None], Informer] = {}
        self._pods: dict[str | None, Informer] = {}
        self._events: dict[str | None, Informer] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- life ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name="dtrain-kube-supervisor", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the supervisor and every informer (blocking, a few seconds at most)."""
        self._stop.set()
        informers = self.all()
        for inf in informers:
            inf.stop(join=0)
        for inf in informers:
            inf.stop()
        if self._thread is not None:
            self._thread.join(2.0)

    def settled(self) -> bool:
        """Discovery answered (or failed) and every informer has synced or reported a problem."""
        if self.discovery_error is not None:
            return True
        if self.served is None:
            return False
        return all(i.synced or i.error is not None for i in self.all())

    # ---- reading ---------------------------------------------------------------------------
    def all(self) -> list[Informer]:
        with self._lock:
            return [*self._jobs.values(), *self._pods.values(), *self._events.values()]

    @staticmethod
    def _covering(infs: list[Informer], namespace: str | None) -> list[Informer]:
        return [i for i in infs if namespace is None or i.source.namespace in (None, namespace)]

    def jobs(self, namespace: str | None = None, fw: Framework | None = None) -> list[Informer]:
        """Job informers whose scope holds `namespace` (all when None), optionally of one kind version."""
        with self._lock:
            infs = [i for (api_version, plural, _), i in self._jobs.items()
                    if fw is None or (api_version == fw.api_version and plural == fw.plural)]
        return self._covering(infs, namespace)

    def pods(self, namespace: str | None) -> list[Informer]:
        with self._lock:
            return self._covering(list(self._pods.values()), namespace)

    def events(self, namespace: str | None) -> list[Informer]:
        with self._lock:
            return self._covering(list(self._events.values()), namespace)

    def problems(self) -> tuple[list[str], list[str]]:
        """(problems, notes) for describe(): what keeps the cache from being complete, and scope notes."""
        problems: list[str] = []
        notes: list[str] = []
        if self.discovery_error is not None:
            problems.append(self.discovery_error.message)
        elif self.served is None:
            problems.append("connecting to the Kubernetes API server")
        elif not self.served.kinds:
            problems.append("no Kubeflow job kinds are installed on this cluster (no kubeflow.org job resources)")
        watch_problems: list[str] = []
        for inf in self.all():
            if inf.error is not None and inf.error.message not in watch_problems:
                watch_problems.append(inf.error.message)
            elif not inf.synced and inf.error is None:
                watch_problems.append(f"loading {inf.source.resource}")
            if inf.note and inf.note not in notes:
                notes.append(inf.note)
        # One unreachable server fails every watch alike: say it twice at most, and count the rest.
        problems.extend(watch_problems[:2])
        if len(watch_problems) > 2:
            problems.append(f"and {len(watch_problems) - 2} more watch problems")
        return problems, notes

    # ---- the supervisor --------------------------------------------------------------------
    def _supervise(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                served = discover(self.api)
            except DTrainError as e:
                failures += 1
                if self.discovery_error is None or self.discovery_error.message != e.message:
                    log.warning("kubernetes discovery failed: %s (retrying with backoff)", e.message)
                self.discovery_error = e
                delay = min(self.tuning.backoff_max, self.tuning.backoff_base * 2 ** min(failures - 1, 10))
                self._stop.wait(delay * (0.5 + random.random() / 2))
                continue
            failures = 0
            if self.discovery_error is not None:
                log.info("kubernetes discovery answered again")
            self.discovery_error = None
            self._apply(served)
            self._stop.wait(self.rediscover)

    def _informer(self, source: Source, transform: Callable, scope: str | None,
                  indexers: dict[str, IndexFunc] | None = None) -> Informer:
        return Informer(self.api, source, transform=transform, tuning=self.tuning,
                        fallback_namespace=self.fallback if scope is None else None, indexers=indexers)

    def _apply(self, served: Served) -> None:
        """Start informers for newly served kinds, stop those of kinds no longer served."""
        started: list[Informer] = []
        stopped: list[Informer] = []
        context = self.context
        with self._lock:
            wanted = {(fw.api_version, fw.plural, scope): fw for fw in served.frameworks for scope in self.scopes}
            for key in list(self._jobs):
                if key not in wanted:
                    stopped.append(self._jobs.pop(key))
            for key, fw in wanted.items():
                if key not in self._jobs:
                    inf = self._informer(Source(fw.group, fw.version, fw.plural, key[2]),
                                         lambda obj, shared, fw=fw: cached_job(obj, fw, context, shared), key[2])
                    inf.listeners.add(self.on_job_change)
                    self._jobs[key] = inf
                    started.append(inf)
            for scope in self.scopes:
                if scope not in self._pods:
                    self._pods[scope] = self._informer(Source("", "v1", "pods", scope, POD_SELECTOR), slim_pod, scope,
                                                       POD_INDEXERS)
                    started.append(self._pods[scope])
                if scope not in self._events:
                    self._events[scope] = self._informer(Source("", "v1", "events", scope),
                                                         lambda obj, shared: slim_event(obj), scope,
                                                         EVENT_INDEXERS)
                    started.append(self._events[scope])
            self.served = served
        for inf in stopped:
            inf.stop(join=0)
        for inf in started:
            inf.start()
