"""A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
the Kubeflow operators and the node agent, as processes this object starts and stops.

The binaries come from `scripts/cluster.sh build` (cached outside the checkout). Every port is
a free one on 127.0.0.1, every file lives in one folder, so two test runs never clash.

    cluster = ControlPlane(mpi_version="v1").start()   # or `with ControlPlane() as cluster:`
    cluster.kubeconfig_path     # admin kubeconfig (token auth, namespace default)
    cluster.limited_kubeconfig_path  # user "dev": jobs, pods and logs in namespace default only
    cluster.url, cluster.token, cluster.ca_path
    cluster.stop()               # leaves no process behind
"""

from __future__ import annotations

import base64
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .pki import Pki, make_pki

REPO = Path(__file__).resolve().parents[2]
GO_SOURCES = REPO / "tests" / "cluster" / "go"
DEFAULT_CRD_DIR = Path(os.environ.get("DTRAIN_SHARED_DIR", REPO.parent / "shared")) / "conformance" / "crds"
CACHE_ROOT = Path(os.environ.get("DTRAIN_CLUSTER_CACHE", Path.home() / ".cache" / "dtrain-jupyter"))
NAMESPACES = ("default", "team-a")
STATE_FILE = "cluster.json"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# The controllers a test cluster needs: namespaces finalize, service accounts exist (pods are
# refused without one), owned objects are garbage-collected, batch Jobs (the MPI Operator's
# launcher) make pods. Node lifecycle would taint the agent's node for missing heartbeats.
CONTROLLERS = ("namespace-controller,serviceaccount-controller,serviceaccount-token-controller,"
               "garbage-collector-controller,job-controller,ttl-after-finished-controller,"
               "root-ca-certificate-publisher-controller,pod-garbage-collector-controller,"
               "clusterrole-aggregation-controller")


def kubernetes_version() -> str:
    """The pinned release, read from the build module's go.mod."""
    for line in (GO_SOURCES / "kubernetes" / "go.mod").read_text().splitlines():
        parts = line.split()
        if parts[:2] == ["require", "k8s.io/kubernetes"]:
            return parts[2]
    raise RuntimeError("tests/cluster/go/kubernetes/go.mod names no k8s.io/kubernetes version")


def binary_dir() -> Path:
    return CACHE_ROOT / f"k8s-{kubernetes_version()}" / "bin"


def missing_binaries() -> list[str]:
    names = ("etcd", "kube-apiserver", "kube-controller-manager", "training-operator", "mpi-operator")
    return [n for n in names if not (binary_dir() / n).is_file()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClusterError(RuntimeError):
    """The control plane could not be built, started or reached; the message says which part."""


class ControlPlane:
    """One control plane: start() brings it up and waits until it is ready, stop() ends it.

    Args:
        mpi_version: "v1" (the training-operator runs every kind, MPIJob v1 included) or
            "v2beta1" (the MPI Operator runs MPIJob v2beta1, the training-operator the rest).
        crd_dir: folder of the Kubeflow CRDs (default ../shared/conformance/crds).
        folder: where certificates, kubeconfigs, data and logs go (default: a new temp folder,
            removed by stop()).
        operators: run the operators (False: the CRDs only, nothing acts on jobs).
        node_agent: run the node agent (False: pods stay Pending and unbound, e.g. for bulk
            seeding where thousands of animated pods would only cost time).
        outlive_caller: leave the processes running when this Python process ends (`up`);
            by default each gets SIGKILL from the kernel if its starter dies, so a killed test
            run leaves no control plane behind (SIGTERM is not enough: an apiserver whose etcd
            is gone shuts down slowly, if at all).
    """

    def __init__(self, mpi_version: str = "v1", crd_dir: Path | None = None, folder: Path | None = None,
                 operators: bool = True, node_agent: bool = True, outlive_caller: bool = False) -> None:
        if mpi_version not in ("v1", "v2beta1"):
            raise ValueError(f"mpi_version must be v1 or v2beta1, not {mpi_version!r}")
        self.mpi_version = mpi_version
        self.crd_dir = Path(crd_dir or DEFAULT_CRD_DIR)
        self._own_folder = folder is None
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="dtrain-cluster-"))
        self.operators = operators  # the training-operator also serves its validating webhooks
        self.node_agent = node_agent
        self.outlive_caller = outlive_caller
        self.version = kubernetes_version()
        self.token = secrets.token_hex(16)
        self.limited_token = secrets.token_hex(16)
        self.processes: dict[str, subprocess.Popen] = {}
        self.port = 0
        self.pki: Pki | None = None

    # -- paths ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> str:
        return str(self.folder / "pki" / "ca.crt")

    @property
    def kubeconfig_path(self) -> str:
        return str(self.folder / "admin.kubeconfig")

    @property
    def limited_kubeconfig_path(self) -> str:
        return str(self.folder / "dev.kubeconfig")

    # -- life -------------------------------------------------------------------------------
    def start(self) -> "ControlPlane":
        missing = missing_binaries()
        if missing:
            raise ClusterError(f"control plane binaries missing in {binary_dir()}: {', '.join(missing)}; "
                               "run scripts/cluster.sh build (about 8 minutes the first time)")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        (self.folder / "pki").mkdir(parents=True, exist_ok=True)
        (self.folder / "logs").mkdir(exist_ok=True)
        self.pki = make_pki(self.folder / "pki")
        self._start_etcd()
        self._start_apiserver()
        self._write_kubeconfig(self.kubeconfig_path, "admin", self.token)
        self._write_kubeconfig(self.limited_kubeconfig_path, "dev", self.limited_token)
        # CRDs before the controller-manager: its garbage collector maps kinds from discovery
        # at start and refreshes only every 30 s, so jobs' pods would outlive them that long.
        self._install_crds()
        self._create_namespaces_and_rbac()
        self._start_controller_manager()
        if self.node_agent:
            self._start_node_agent()
        if self.operators:
            self._start_operators()
        self._wait_for(lambda: self._service_account_exists(), "the default ServiceAccount (kube-controller-manager)", 60)
        self._write_state()

    def stop(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after 5 s) and remove an own folder."""
        for name in reversed(list(self.processes)):
            _terminate(self.processes[name])
        self.processes.clear()
        if self._own_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "ControlPlane":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- processes --------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.folder / "logs" / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=self.folder, env={**os.environ, **(env or {})}, start_new_session=True,
                                preexec_fn=None if self.outlive_caller else _die_with_parent)
        log.close()
        self.processes[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.folder / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"

    def _wait_for(self, check, what: str, timeout: float, process: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if process and self.processes[process].poll() is not None:
                raise ClusterError(f"{process} exited ({self.processes[process].returncode}) while waiting for "
                                   f"{what}:\n{self.log_tail(process)}")
            try:
                if check():
                    return
            except (OSError, urllib.error.URLError, ssl.SSLError, ValueError):
                pass
            if time.monotonic() > deadline:
                detail = f":\n{self.log_tail(process)}" if process else ""
                raise ClusterError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
            time.sleep(0.1)

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        self._spawn("etcd", [
            str(binary_dir() / "etcd"), "--name", "dtrain", "--data-dir", str(self.folder / "etcd"),
            "--listen-client-urls", self.etcd_url, "--advertise-client-urls", self.etcd_url,
            "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"dtrain=http://127.0.0.1:{peer}",
            # A test cluster's data is thrown away: fsync only costs time.
            "--unsafe-no-fsync", "--log-level", "warn", "--quota-backend-bytes", str(4 << 30)])
        self._wait_for(lambda: b"true" in urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2).read(),
                       "etcd /health", 30, "etcd")

    def _start_apiserver(self) -> None:
        pki = self.pki
        assert pki is not None
        tokens = self.folder / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin-uid,"system:masters"\n{self.limited_token},dev,dev-uid,"dtrain:dev"\n')
        self.port = free_port()
        self._spawn("kube-apiserver", [
            str(binary_dir() / "kube-apiserver"),
            "--bind-address=127.0.0.1", f"--secure-port={self.port}", "--advertise-address=127.0.0.1",
            f"--etcd-servers={self.etcd_url}",
            f"--tls-cert-file={pki.apiserver_cert}", f"--tls-private-key-file={pki.apiserver_key}",
            f"--client-ca-file={pki.ca_cert}", f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            "--service-cluster-ip-range=10.96.0.0/24",
            f"--kubelet-client-certificate={pki.kubelet_client_cert}",
            f"--kubelet-client-key={pki.kubelet_client_key}",
            f"--kubelet-certificate-authority={pki.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP",
            "--allow-privileged=true", "--profiling=false",
        ])
        self._wait_for(lambda: self._get("/readyz") == b"ok", "kube-apiserver /readyz", 120, "kube-apiserver")

    def _start_controller_manager(self) -> None:
        pki = self.pki
        assert pki is not None
        self._spawn("kube-controller-manager", [
            str(binary_dir() / "kube-controller-manager"),
            f"--kubeconfig={self.kubeconfig_path}", "--secure-port=0", "--leader-elect=false",
            f"--controllers={CONTROLLERS}",
            f"--service-account-private-key-file={pki.service_account_key}", f"--root-ca-file={pki.ca_cert}",
            "--use-service-account-credentials=false", "--concurrent-gc-syncs=10",
        ])

    def _start_node_agent(self) -> None:
        pki = self.pki
        assert pki is not None
        ready = self.folder / "node-agent.ready"
        self._spawn("node-agent", [
            sys.executable, "-m", "tests.cluster.node_agent", "--kubeconfig", self.kubeconfig_path,
            "--cert", str(pki.node_cert), "--key", str(pki.node_key), "--ca", str(pki.ca_cert),
            "--ready-file", str(ready)], env={"PYTHONPATH": str(REPO)})
        self._wait_for(ready.exists, "the node agent to register its node", 30, "node-agent")

    def _start_operators(self) -> None:
        env = {"KUBECONFIG": self.kubeconfig_path}
        schemes = ["tfjob", "pytorchjob", "xgboostjob", "paddlejob", "jaxjob"]
        if self.mpi_version == "v1":
            schemes.append("mpijob")
        probe, webhook = free_port(), free_port()
        # The operator's validating webhooks serve the API server's own certificate (it names 127.0.0.1).
        cert_dir = self.folder / "webhook-certs"
        cert_dir.mkdir(exist_ok=True)
        shutil.copy(self.pki.apiserver_cert, cert_dir / "tls.crt")
        shutil.copy(self.pki.apiserver_key, cert_dir / "tls.key")
        self._spawn("training-operator", [
            str(binary_dir() / "training-operator"), f"--metrics-bind-address=127.0.0.1:{free_port()}",
            f"--health-probe-bind-address=127.0.0.1:{probe}", f"--webhook-port={webhook}",
            f"--webhook-cert-dir={cert_dir}", *(f"--enable-scheme={s}" for s in schemes)], env)
        self._wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{probe}/readyz", timeout=2).status == 200,
                       "the training-operator's /readyz", 60, "training-operator")
        self._register_webhooks(webhook)
        if self.mpi_version == "v2beta1":
            self._spawn("mpi-operator", [str(binary_dir() / "mpi-operator"), "--threadiness=4"], env)

    def _register_webhooks(self, port: int) -> None:
        """The operator's ValidatingWebhookConfiguration (as its release manifests name it), pointing
        at its webhook server on 127.0.0.1 instead of a Service. MPIJob v1 has no webhook."""
        ca = base64.b64encode(Path(self.ca_path).read_bytes()).decode()
        hooks = []
        for plural in ("jaxjobs", "paddlejobs", "pytorchjobs", "tfjobs", "xgboostjobs"):
            singular = plural[:-1]
            hooks.append({
                "name": f"validator.{singular}.training-operator.kubeflow.org",
                "admissionReviewVersions": ["v1"], "failurePolicy": "Fail", "sideEffects": "None",
                "clientConfig": {"url": f"https://127.0.0.1:{port}/validate-kubeflow-org-v1-{singular}", "caBundle": ca},
                "rules": [{"apiGroups": ["kubeflow.org"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                           "resources": [plural]}]})
        config = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                  "metadata": {"name": "validator.training-operator.kubeflow.org"}, "webhooks": hooks}
        self.api("POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations", config, ok=(201, 409))

    # -- API --------------------------------------------------------------------------------
    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_path)

    def _request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, context=self._ssl(), timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _get(self, path: str) -> bytes:
        status, body = self._request("GET", path)
        return body if status == 200 else b""

    def api(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201)) -> dict:
        """One admin call to the API server; raises ClusterError on an unexpected status."""
        status, data = self._request(method, path, body)
        if status not in ok:
            raise ClusterError(f"{method} {path}: {status} {data[:500].decode(errors='replace')}")
        return json.loads(data) if data else {}

    def crd_files(self) -> list[Path]:
        skip = "kubeflow.org_mpijobs_v2beta1.yaml" if self.mpi_version == "v1" else "kubeflow.org_mpijobs_v1.yaml"
        return [p for p in sorted(self.crd_dir.glob("*.yaml")) if p.name != skip]

    def _install_crds(self) -> None:
        # Created, not applied: a client-side apply's last-applied annotation cannot hold them.
        names = []
        for path in self.crd_files():
            crd = yaml.safe_load(path.read_text())
            self.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd, ok=(201, 409))
            names.append(crd["metadata"]["name"])

        def established() -> bool:
            for name in names:
                crd = self.api("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conditions = {c["type"]: c["status"] for c in (crd.get("status") or {}).get("conditions") or []}
                if conditions.get("Established") != "True":
                    return False
            return True

        self._wait_for(established, "the Kubeflow CRDs to be established", 60)

    def _create_namespaces_and_rbac(self) -> None:
        for ns in NAMESPACES:
            self.api("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                     ok=(201, 409))
        # User "dev" works with training jobs, pods, logs and events in namespace default only.
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "dtrain-dev"},
                "rules": [{"apiGroups": ["kubeflow.org"], "resources": ["*"],
                           "verbs": ["get", "list", "watch", "create", "delete", "patch", "update"]},
                          {"apiGroups": [""], "resources": ["pods", "pods/log", "events", "configmaps"],
                           "verbs": ["get", "list", "watch"]},
                          {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]}]}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                   "metadata": {"name": "dtrain-dev", "namespace": "default"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "dtrain-dev"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "dev"}]}
        self.api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", role, ok=(201, 409))
        self.api("POST", "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", binding, ok=(201, 409))

    def _service_account_exists(self) -> bool:
        return all(self._get(f"/api/v1/namespaces/{ns}/serviceaccounts/default") for ns in NAMESPACES)

    def _write_kubeconfig(self, path: str, user: str, token: str) -> None:
        ca = base64.b64encode(Path(self.ca_path).read_bytes()).decode()
        config = {"apiVersion": "v1", "kind": "Config", "current-context": f"{user}@dtrain-test",
                  "clusters": [{"name": "dtrain-test", "cluster": {"server": self.url, "certificate-authority-data": ca}}],
                  "users": [{"name": user, "user": {"token": token}}],
                  "contexts": [{"name": f"{user}@dtrain-test", "context": {"cluster": "dtrain-test", "user": user,
                                                                          "namespace": "default"}}],
                  "preferences": {}}
        Path(path).write_text(yaml.safe_dump(config))

    # -- state for `down` -------------------------------------------------------------------
    def _write_state(self) -> None:
        state = {"folder": str(self.folder), "url": self.url, "kubeconfig": self.kubeconfig_path,
                 "processes": {name: p.pid for name, p in self.processes.items()}}
        (self.folder / STATE_FILE).write_text(json.dumps(state, indent=2))


def _die_with_parent() -> None:
    """In the child before exec: ask Linux for SIGKILL when the process that started us ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


def stop_recorded(folder: Path) -> list[str]:
    """Stop the processes a `cluster.json` in `folder` records (for `down`); returns their names.

    In reverse start order, each to its end before the next (an apiserver whose etcd went first
    would hang in its shutdown): SIGTERM to its process group, SIGKILL after 5 s.
    """
    state = json.loads((folder / STATE_FILE).read_text())
    stopped = []
    for name, pid in reversed(list(state["processes"].items())):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        # A recycled pid runs something else: only stop what this cluster started.
        if name.encode() not in cmdline and b"node_agent" not in cmdline:
            continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            if _ended(pid, timeout=5.0):
                break
        stopped.append(name)
    return stopped


def _ended(pid: int, timeout: float) -> bool:
    """Whether the process is gone (or a zombie nobody reaps yet) within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False
