"""KubeDouble: starts, stops and steers the API server double (the face tests use).

The server runs on its own asyncio loop in a background thread, bound to 127.0.0.1. Test
code calls the control methods (faults, latency, RBAC rules, down/up, dropping watches,
compaction, seeding) from its own thread; each is safe to call at any time.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
import secrets
import base64
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable

import yaml
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from .api import Api, Rule
from .discovery import Registry, load_crds
from .logs import LogStore
from .operators import KINDS, owner_ref
from .schema import Validator
from .server import Fault, ServerState, make_app
from .simulator import Simulator
from .store import Store

# Like tests/conftest.py: the conformance corpus sits in shared/ beside the checkout.
DEFAULT_CRD_DIR = Path(os.environ.get("DTRAIN_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared")) / \
    "conformance" / "crds"


def _make_certificate(folder: Path) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 that is also its own CA; returns (cert, key) paths.

    TLS is not decoration here: client-go (kubectl) sends the bearer token only to https
    servers, so a plain-http double could never exercise authentication.
    """
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "30", "-subj", "/CN=kube-double",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,digitalSignature,keyCertSign",
                    "-addext", "extendedKeyUsage=serverAuth"],
                   check=True, capture_output=True)
    return str(cert), str(key)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KubeDouble:
    """A Kubernetes API server double with a Kubeflow operator simulator.

    Args:
        mpi_version: "v1" (training-operator's MPIJob CRD) or "v2beta1" (MPI Operator's).
        crd_dir: folder of CRD YAML files (default: ../shared/conformance/crds).
        namespaces: namespaces that exist from the start.
        simulate: run the operator simulator.
        log_lines: log lines the simulator writes per running container per tick.
        tick: seconds between simulator steps; None means tests call `simulator.step()`.
        port: 0 picks a free port.
    """

    def __init__(self, mpi_version: str = "v1", crd_dir: str | Path | None = None,
                 namespaces: Iterable[str] = ("default", "team-a"), simulate: bool = True,
                 log_lines: int = 3, tick: float | None = 0.05, port: int = 0) -> None:
        if mpi_version not in ("v1", "v2beta1"):
            raise ValueError(f"mpi_version must be 'v1' or 'v2beta1', not {mpi_version!r}")
        self.mpi_version = mpi_version
        self.token = secrets.token_hex(16)
        self.store = Store()
        self.logs = LogStore()
        self.registry = Registry(load_crds(Path(crd_dir or DEFAULT_CRD_DIR), mpi_version))
        self.api = Api(self.registry, self.store)
        self.state = ServerState(self.api, self.store, self.logs, self.registry, self.token)
        for ns in namespaces:
            self.store.create(("", "namespaces"), "", {"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]},
                                                       "status": {"phase": "Active"}})
        for crd in self.registry.crds:
            self.store.create(("apiextensions.k8s.io", "customresourcedefinitions"), "", copy.deepcopy(crd))
        self.simulator = Simulator(self.store, self.logs, self.registry, log_lines) if simulate else None
        self._tick = tick
        self.port = port or _free_port()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: HTTPServer | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="kube-double-"))
        self.kubeconfig_path = str(self._dir / "kubeconfig")
        self.ca_path, self._key_path = _make_certificate(self._dir)

    # ---- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def request_log(self) -> list[tuple[str, str, dict]]:
        """Every request served so far: (method, path, query with first values)."""
        return self.state.request_log

    def start(self) -> "KubeDouble":
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._listen()
            self.store.schedule = lambda fn: self._loop.call_soon_threadsafe(fn)
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="kube-double", daemon=True)
        self._thread.start()
        ready.wait(10)
        self.state.address = f"127.0.0.1:{self.port}"
        self._write_kubeconfig()
        if self.simulator and self._tick:
            self.simulator.start(self._tick)
        return self

    def _listen(self) -> None:
        sockets = bind_sockets(self.port, "127.0.0.1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_path, self._key_path)
        self._server = HTTPServer(make_app(self.state), ssl_options=context, idle_connection_timeout=60)
        self._server.add_sockets(sockets)

    def _call(self, fn, *args) -> Any:
        """Run `fn(*args)` (sync or coroutine function) on the server loop and wait for it."""
        async def wrapper():
            result = fn(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        return asyncio.run_coroutine_threadsafe(wrapper(), self._loop).result(30)

    def stop(self) -> None:
        if self.simulator:
            self.simulator.stop()
        if self._loop is None:
            return
        self.set_down(True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop = None
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "KubeDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_down(self, down: bool) -> None:
        """Down: stop listening and cut every open connection. Up: listen on the same port again."""
        async def go_down() -> None:
            if self._server is not None:
                server, self._server = self._server, None
                server.stop()
                for handler in list(self.state.streams):
                    handler.drop()
                await server.close_all_connections()

        self._call(go_down if down else (lambda: self._server or self._listen()))

    def restart(self) -> None:
        """Server down, then back on the same port with the same data."""
        self.set_down(True)
        self.set_down(False)

    # ---- steering ----------------------------------------------------------------------
    def drop_watches(self) -> None:
        """Cut every open watch and log-follow stream mid-stream."""
        self._call(lambda: [h.drop() for h in list(self.state.streams)])

    def compact(self) -> None:
        """Forget history: any older resourceVersion now gets 410 Expired."""
        self.store.compact()

    def fail_next(self, method: str, path_regex: str, status: int = 500, times: int = 1,
                  retry_after: int | None = None, skip: int = 0) -> None:
        """The next `times` requests matching method ("*" for any) and path regex get `status`,
        after `skip` matching ones were served (a create's dry run passes, the create fails)."""
        self.state.faults.append(Fault(method.upper() if method != "*" else "*", re.compile(path_regex),
                                       status, times, retry_after, skip))

    def set_latency(self, seconds: float) -> None:
        self.state.latency = seconds

    def forbid(self, verb: str, resource: str, namespace: str | None = None) -> None:
        """RBAC: refuse `verb` on `resource` (plural, or "pods/log") in `namespace` (None: everywhere)."""
        self.api.forbidden.append(Rule(verb, resource, namespace))

    def allow_all(self) -> None:
        self.api.forbidden.clear()

    def put_raw(self, group_version: str, plural: str, namespace: str, obj: dict) -> dict:
        """Store an object as-is, bypassing validation (the simulator treats a job like any other)."""
        group = group_version.split("/")[0] if "/" in group_version else ""
        return self.store.create((group, plural), namespace, copy.deepcopy(obj))

    def stored_form(self, obj: dict) -> dict:
        """A custom object as this server would store it: pruned, with its CRD schema's defaults."""
        group = str(obj.get("apiVersion", "")).split("/")[0]
        rt = self.registry.by_kind(group, obj.get("kind", ""))
        if rt is None or rt.schema is None:
            return copy.deepcopy(obj)
        return Validator(rt.schema, defaults=True).run(copy.deepcopy(obj))

    def get_object(self, group_version: str, plural: str, namespace: str, name: str) -> dict | None:
        group = group_version.split("/")[0] if "/" in group_version else ""
        return self.store.get((group, plural), namespace, name)

    def bulk_load(self, n_jobs: int, kinds: Iterable[str] = ("PyTorchJob", "TFJob", "MPIJob"),
                  pods_per_job: int = 4, namespace: str = "default") -> list[str]:
        """Seed `n_jobs` finished-or-running jobs with their pods, fast (no simulator, no events).

        Jobs alternate over `kinds`; every third one is Running, the rest Succeeded.
        Returns the job names.
        """
        kinds = list(kinds)
        names = []
        for i in range(n_jobs):
            kind = kinds[i % len(kinds)]
            facts = KINDS[kind]
            rt = self.registry.by_kind("kubeflow.org", kind)
            name = f"bulk-{kind.lower()}-{i}"
            lead, worker = {"PyTorchJob": ("Master", "Worker"), "TFJob": ("Chief", "Worker"),
                            "MPIJob": ("Launcher", "Worker")}.get(kind, ("Master", "Worker"))
            template = {"spec": {"containers": [{"name": facts.container, "image": "example/train:1"}]}}
            running = i % 3 == 0
            cond = "Running" if running else "Succeeded"
            job = {"apiVersion": rt.group_version, "kind": kind,
                   "metadata": {"name": name, "namespace": namespace,
                                "annotations": {"kube-double/simulate": "false"}},
                   "spec": {facts.replica_key: {
                       lead: {"replicas": 1, "template": template},
                       worker: {"replicas": max(pods_per_job - 1, 0), "template": template}}},
                   "status": {"conditions": [
                       {"type": "Created", "status": "True", "reason": f"{kind}Created"},
                       {"type": cond, "status": "True", "reason": f"{kind}{cond}"}]}}
            job = self.store.create(rt.key, namespace, job)
            phase = "Running" if running else "Succeeded"
            for p in range(pods_per_job):
                rtype = lead if p == 0 else worker
                pod_name = f"{name}-{rtype.lower()}-{0 if p == 0 else p - 1}"
                self.store.create(("", "pods"), namespace, {
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod_name, "namespace": namespace, "ownerReferences": [owner_ref(job)],
                                 "labels": {"training.kubeflow.org/job-name": name,
                                            "training.kubeflow.org/operator-name": facts.controller,
                                            "training.kubeflow.org/replica-type": rtype.lower(),
                                            "training.kubeflow.org/replica-index": str(0 if p == 0 else p - 1)}},
                    "spec": copy.deepcopy(template["spec"]),
                    "status": {"phase": phase, "containerStatuses": [
                        {"name": facts.container, "ready": running, "restartCount": 0,
                         "state": {"running": {}} if running else {"terminated": {"exitCode": 0,
                                                                                   "reason": "Completed"}}}]}})
            names.append(name)
        return names

    def _write_kubeconfig(self) -> None:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "double",
                  "clusters": [{"name": "double", "cluster": {
                      "server": self.url,
                      "certificate-authority-data": base64.b64encode(Path(self.ca_path).read_bytes()).decode()}}],
                  "users": [{"name": "double", "user": {"token": self.token}}],
                  "contexts": [{"name": "double", "context": {"cluster": "double", "user": "double",
                                                              "namespace": "default"}}],
                  "preferences": {}}
        Path(self.kubeconfig_path).write_text(yaml.safe_dump(config))
