"""The jupyter_server extension: `c.DTrain.*` configuration, the service, the change log, routes.

`DTrain` holds every configurable trait; `DTrainExtension` is the ExtensionApp that jupyter_server
loads. Traitlets read a class's config section and those of its configurable bases, so both
`c.DTrain.backend` (documented) and `c.DTrainExtension.backend` work.

Start-up stays cheap: backends are described by factories and built on first use (or by a
background task started in `_start_jupyter_server_extension`, which never blocks the server);
the Kubernetes backend module, and with it the `kubernetes` client, is imported only when the
configuration names it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from traitlets import Bool, Dict, Float, Integer, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

from ..backends.base import Backend
from ..history.history import JobHistory, Retention
from ..history.store import HistoryError
from ..service import SHIPPED_BACKENDS, JobService
from ..tensorboard import TensorBoardLauncher
from .change_log import JobChangeLog
from .handlers import FALLBACK_ROUTE, ROUTES
from .kernel_connect import SUBSCRIBE_WAIT_S, install as install_settled_nudge
from .list_cache import ListCache
from .tensorboard_handlers import PROXY_PATH as TENSORBOARD_PROXY_PATH, PROXY_ROUTE as TENSORBOARD_PROXY_ROUTE
from .notifications import FILE_NAME as NOTIFICATIONS_FILE, JobNotifications

# Seconds after server start at which the backends start in the background (see below).
BACKGROUND_START_DELAY = 1.0
MIB = 1 << 20


class DTrain(Configurable):
    """Configuration of the dtrain server extension (`c.DTrain.*`)."""

    backend = Unicode(
        "local",
        help="Which backends serve jobs: 'local', 'kubernetes', or both side by side as "
        "'local,kubernetes'. The first named is the default for requests that name none.",
    ).tag(config=True)

    namespace = Unicode(
        "",
        help="Default namespace for requests that name none. Empty: the kube context's namespace "
        "on Kubernetes (or the pod's service-account namespace), 'default' locally.",
    ).tag(config=True)

    allowed_namespaces = List(
        Unicode(), default_value=[],
        help="When non-empty, the only namespaces this server lets anyone touch; others get "
        "403 Forbidden. Empty (default): every namespace the backend may see.",
    ).tag(config=True)

    kube_context = Unicode(
        "", help="kubeconfig context for the Kubernetes backend. Empty: the current context, "
        "or in-cluster config inside a pod.",
    ).tag(config=True)

    kubeconfig = Unicode("", help="Path of the kubeconfig file. Empty: $KUBECONFIG or ~/.kube/config.").tag(config=True)

    state_dir = Unicode(
        help="Folder where the local backend keeps its jobs (manifests, state, logs); also where the "
        "server keeps the jobs created through it whose end JupyterLab announces (notifications.json). "
        "Default: <jupyter data dir>/dtrain.",
    ).tag(config=True)

    output_root = Unicode(
        "", help="Folder under which local jobs get their DTRAIN_OUTPUT_DIR. Empty: inside state_dir.",
    ).tag(config=True)

    output_mounts = Dict(
        key_trait=Unicode(), value_trait=Unicode(), default_value={},
        help="Output mapping for Kubernetes jobs: PersistentVolumeClaim name -> the local folder "
        "where this server sees that volume, so job outputs can be listed and read.",
    ).tag(config=True)

    log_limit_bytes = Integer(
        0, help="Most bytes of each local replica's log kept on disk and returned by reads "
        "(bytes; 0 keeps whole logs).",
    ).tag(config=True)

    grace_seconds = Float(
        5.0, help="Seconds the local backend waits after SIGTERM before SIGKILL on delete.",
    ).tag(config=True)

    output_read_limit = Integer(
        10 * MIB, help="Most bytes one output-file read returns (bytes; default 10 MiB).",
    ).tag(config=True)

    max_request_bytes = Integer(
        MIB + 64 * 1024,
        help="Largest request body accepted, in bytes (a 1 MiB manifest plus its JSON "
        "envelope); larger bodies get 413.",
    ).tag(config=True)

    feed_size = Integer(
        1000, help="How many job changes the change log behind dtrain/api/changes keeps; clients further "
        "behind re-list.",
    ).tag(config=True)

    freeze_gc = Bool(
        True, help="Once the backends have started (their job caches filled), take every object then "
        "alive out of the walks of Python's cyclic garbage collector (gc.freeze; reference counting still "
        "frees them). The server's modules and caches live as long as the server, and a full collection "
        "walking them all held every request for 130-160 ms with 1,000 jobs and 4,000 pods cached (about "
        "50 ms after). Undone when the extension stops.",
    ).tag(config=True)

    history = Bool(
        True, help="Keep a record of every job this server sees (manifest, final status, pods, events, "
        "every pod's log), so deleted jobs and jobs whose pods the operator removed can still be read "
        "and re-run. Off: only what the cluster still has.",
    ).tag(config=True)

    history_dir = Unicode(
        help="Folder of the job history (a SQLite file and the archived logs). Several servers on one "
        "machine may share it and see one history; servers on other machines need their own (SQLite's "
        "write-ahead log needs one host, so not a network filesystem). Default: <Jupyter data dir>/dtrain-history.",
    ).tag(config=True)

    history_max_records = Integer(
        10_000, help="Job records kept; beyond it the oldest finished ones are forgotten (0: no limit). "
        "Records of running jobs are never forgotten.",
    ).tag(config=True)

    history_max_age_days = Float(
        90.0, help="Days a finished or deleted job's record is kept (0: no limit).",
    ).tag(config=True)

    history_max_log_bytes = Integer(
        5 * 1024 ** 3, help="Bytes of archived logs kept (default 5 GiB); beyond it the oldest finished "
        "jobs' records and logs are forgotten (0: no limit).",
    ).tag(config=True)

    history_max_follows = Integer(
        64, help="Running pods whose logs are archived as they are written, at once; the logs of pods "
        "beyond it are read whole when they end (lost if the operator removes the pod first).",
    ).tag(config=True)

    metrics_max_points = Integer(
        10_000, help="Metric points kept per series (one metric of one replica); past it, every second point of "
        "the older half goes, so the newest stay whole and the start of training stays drawn.",
    ).tag(config=True)

    metrics = Bool(
        True, help="Read metric points (report() lines, lines like `step 10 loss=0.25`, TensorBoard scalars) "
        "from every job the history records, for the charts and progress. The reading runs in a process "
        "of its own at low priority. Off: no charts or progress; logs and history stay. Needs the history.",
    ).tag(config=True)

    @validate("metrics_max_points")
    def _check_max_points(self, proposal: Any) -> int:
        if proposal["value"] < 2:
            raise TraitError(f"metrics_max_points must be 2 or more, not {proposal['value']}")
        return proposal["value"]

    settled_kernel_connect = Bool(
        True, help="Open kernel websockets (the panel's, and every notebook's) without the half second "
        "jupyter_server's first kernel_info nudge can lose: the first nudge waits 20 ms for the new iopub "
        "subscription (server/kernel_connect.py). Only where the server uses jupyter_server's own "
        "websocket connection class. Off: that class as it is.",
    ).tag(config=True)

    tensorboard_idle_minutes = Float(
        15.0, help="Minutes without a request after which the TensorBoard opened from the panel is stopped "
        "(it starts again when opened again; a fraction is allowed, 0.5 is 30 seconds).",
    ).tag(config=True)

    @validate("tensorboard_idle_minutes")
    def _positive_minutes(self, proposal: Any) -> float:
        """The idle time is positive."""
        if float(proposal["value"]) <= 0:
            raise TraitError(f"tensorboard_idle_minutes must be positive, not {proposal['value']}")
        return float(proposal["value"])

    @default("history_dir")
    def _default_history_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "dtrain-history")

    @validate("history_max_records", "history_max_log_bytes", "history_max_age_days", "history_max_follows")
    def _check_not_negative(self, proposal: Any) -> Any:
        if proposal["value"] < 0:
            raise TraitError(f"{proposal['trait'].name} must be 0 or more, not {proposal['value']}")
        return proposal["value"]

    def job_history(self) -> JobHistory | None:
        """The history this configuration asks for, or None when it is off or cannot be opened
        (the server then runs without one and says why in its log)."""
        if not self.history:
            return None
        retention = Retention(max_records=self.history_max_records, max_age_days=self.history_max_age_days,
                              max_log_bytes=self.history_max_log_bytes)
        try:
            return JobHistory(Path(self.history_dir), retention=retention, max_follows=self.history_max_follows,
                              max_points=self.metrics_max_points, metrics=self.metrics)
        except (HistoryError, OSError) as e:
            logging.getLogger("dtrain_jupyter").error(
                "dtrain: the job history is off: %s (set c.DTrain.history_dir to a writable folder, or "
                "c.DTrain.history = False)", e)
            return None

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return os.path.join(jupyter_data_dir(), "dtrain")

    @validate("backend")
    def _check_backend(self, proposal: Any) -> str:
        """Every named backend is one this project ships; at least one is named."""
        names = [n.strip() for n in str(proposal["value"]).replace("+", ",").split(",") if n.strip()]
        unknown = [n for n in names if n not in SHIPPED_BACKENDS]
        if not names or unknown:
            raise TraitError(
                f"c.DTrain.backend={proposal['value']!r}: use {' or '.join(map(repr, SHIPPED_BACKENDS))}, "
                f"or several joined by commas ({','.join(SHIPPED_BACKENDS)!r})"
            )
        return ",".join(dict.fromkeys(names))

    @validate("output_read_limit", "max_request_bytes", "feed_size")
    def _check_positive(self, proposal: Any) -> int:
        """Limits are positive."""
        if int(proposal["value"]) <= 0:
            raise TraitError(f"{proposal['trait'].name} must be positive, not {proposal['value']}")
        return int(proposal["value"])

    @property
    def backend_names(self) -> list[str]:
        return self.backend.split(",")

    def backend_factories(self) -> dict[str, Any]:
        """name -> zero-argument callable building that backend (imports happen inside)."""
        factories = {}
        for name in self.backend_names:
            factories[name] = self._local if name == "local" else self._kubernetes
        return factories

    def _local(self) -> Backend:
        from ..backends.local import LocalBackend

        return LocalBackend(
            Path(self.state_dir),
            output_root=Path(self.output_root) if self.output_root else None,
            log_limit_bytes=self.log_limit_bytes or None,
            grace_seconds=self.grace_seconds,
        )

    def _kubernetes(self) -> Backend:
        from ..backends.kubernetes import KubernetesBackend

        return KubernetesBackend(
            context=self.kube_context or None,
            kubeconfig=self.kubeconfig or None,
            namespace=self.namespace or None,
            allowed_namespaces=list(self.allowed_namespaces) or None,
            output_mounts=dict(self.output_mounts) or None,
        )


class DTrainExtension(ExtensionApp, DTrain):
    """The dtrain jupyter_server extension: the job service and its REST API under <base_url>/dtrain/api/."""

    name = "dtrain"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        self.service = JobService(
            self.backend_factories(),
            namespace=self.namespace,
            allowed_namespaces=self.allowed_namespaces,
            log=self.log,
            history=self.job_history(),
        )
        self.change_log = JobChangeLog(self.feed_size)
        self.service.subscribe(self.change_log.publish)
        # Jobs created through this server, announced in JupyterLab when they end (notifications.py).
        self.notifications = JobNotifications(Path(self.state_dir) / NOTIFICATIONS_FILE)
        self.service.subscribe(self.notifications.hear)
        self._start_task: asyncio.Task[None] | None = None
        self._froze_gc = False
        self.settings.update(
            dtrain_service=self.service,
            dtrain_change_log=self.change_log,
            dtrain_notifications=self.notifications,
            dtrain_list_cache=ListCache(lambda: self.change_log.cursor),
            dtrain_limits={"request": self.max_request_bytes, "output": self.output_read_limit},
        )
        # The one TensorBoard of this server, proxied at <base_url>dtrain/tensorboard/ (tensorboard_handlers.py).
        self.tensorboard = TensorBoardLauncher(
            path_prefix=unquote(url_path_join(self.serverapp.base_url, TENSORBOARD_PROXY_PATH)),
            log_file=Path(self.state_dir) / "tensorboard" / "tensorboard.log",
            idle_seconds=self.tensorboard_idle_minutes * 60,
        )
        self.settings.update(dtrain_tensorboard=self.tensorboard)
        if self.settled_kernel_connect and install_settled_nudge(self.serverapp, self.settings):
            self.log.debug("dtrain: kernel websockets wait %.0f ms for their iopub subscription before the "
                           "first nudge", SUBSCRIBE_WAIT_S * 1000)

    def initialize_handlers(self) -> None:
        self.handlers.extend([*ROUTES, TENSORBOARD_PROXY_ROUTE, FALLBACK_ROUTE])

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # Start the backends in the background, a moment after the server is up: start-up pays
        # nothing for them (importing a backend and reloading its jobs blocks the loop briefly),
        # the first request starts its backend at once anyway, and a backend that cannot start
        # (no cluster) only fails the requests that need it.
        loop = asyncio.get_running_loop()
        self.change_log.bind(loop)
        self.notifications.bind(loop)
        # The history listens before any backend starts, so it hears every job the backends load.
        await self.service.start_history()
        self._start_handle = loop.call_later(BACKGROUND_START_DELAY, self._start_backends)

    def _start_backends(self) -> None:
        self._start_task = asyncio.ensure_future(self._start_all())

    async def _start_all(self) -> None:
        await self.service.start_all()
        if self.freeze_gc:
            gc.collect()  # only what is alive: the start-up's garbage is collected first, not kept forever
            gc.freeze()
            self._froze_gc = True

    async def stop_extension(self) -> None:
        handle = getattr(self, "_start_handle", None)
        if handle is not None:
            handle.cancel()
        task = self._start_task
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self.tensorboard.stop()
        await self.service.stop()
        if self._froze_gc:
            gc.unfreeze()  # a process that goes on (tests, an embedding app) collects them again
            self._froze_gc = False
