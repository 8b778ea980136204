"""A node for a control plane without kubelets: it binds pods, moves them, and serves their logs.

Run as `python -m tests.cluster.node_agent --kubeconfig K --cert C --key K --ca CA` (the
control plane starts it). It registers one Node, binds every unscheduled pod to it (there is
no kube-scheduler), walks each pod's status through the status subresource (Running, then
Succeeded or Failed), confirms deletions as a kubelet does (a pod with a deletionTimestamp is
deleted with grace period 0), and serves the kubelet's `/containerLogs` endpoint so that
`kubectl logs -f` and our backend read logs through the real API server.

What a pod does is chosen by annotations, on the pod or on the replica template it came from:

    dtrain.test/run-seconds    the containers exit after this many seconds (absent: they run until told)
    dtrain.test/exit-code      the exit code they exit with (default 0)
    dtrain.test/log-interval   seconds between "step N" log lines (default 1; 0: none)
    dtrain.test/start-seconds  seconds from binding to Running (default 0.2)
    dtrain.test/unschedulable  the pod is never bound: Pending, PodScheduled False (Unschedulable) with this
                               message and a FailedScheduling event, as from a scheduler that found no node
    dtrain.test/exit           set on a running pod (kubectl annotate): its containers exit now with this code

A container's log starts with its command line and the operator-given environment, so a test
can read what the operator told each replica.

Why not KWOK (the module proxy serves sigs.k8s.io/kwok): its kubelet serves logs from files
named in Logs/ClusterLogs objects per pod selector, so a replica's log cannot show what the
operator gave that replica, and ending a training pod by a test's rule takes Stage objects
per rule; this agent does both from annotations, in one file, with no further Go build. Under restartPolicy OnFailure (non-zero exit) or
Always, the container restarts in place: restartCount + 1, lastState terminated, the previous
log kept for `previous=true`; a restarted container runs until told.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import heapq
import json
import shlex
import signal
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import yaml

from .kubelet_logs import KubeletLogServer, LogBook

ANNOTATION = "dtrain.test/"
NODE_NAME = "dtrain-node"
# The operator-contract variables worth echoing into a container's log.
CONTRACT_ENV = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT",
                "PET_NNODES", "PET_NODE_RANK", "PET_NPROC_PER_NODE", "TF_CONFIG", "OMPI_MCA_orte_default_hostfile",
                "K_MPI_JOB_ROLE")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Api:
    """The few API calls the agent makes, over one authenticated httpx client."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.server = cluster["server"]
        if "certificate-authority-data" in cluster:
            verify = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        else:
            verify = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.client = httpx.Client(base_url=self.server, verify=verify,
                                   headers={"Authorization": f"Bearer {user['token']}"},
                                   timeout=httpx.Timeout(30.0, read=None))

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                ok: tuple[int, ...] = (200, 201)) -> dict:
        response = self.client.request(method, path, content=None if body is None else json.dumps(body),
                                       headers={"Content-Type": content_type})
        if response.status_code not in ok:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    def watch(self, path: str, resource_version: str) -> Iterator[dict]:
        params = {"watch": "1", "resourceVersion": resource_version, "allowWatchBookmarks": "true",
                  "timeoutSeconds": "300"}
        with self.client.stream("GET", path, params=params) as response:
            if response.status_code != 200:
                raise RuntimeError(f"watch {path}: {response.status_code}")
            for line in response.iter_lines():
                if line:
                    yield json.loads(line)


@dataclass
class PodState:
    """What the agent knows of one pod it runs."""

    pod: dict
    restarts: int = 0
    started_at: str = ""
    last_state: dict = field(default_factory=dict)
    running: bool = False
    finished: bool = False
    step: int = 0
    exit_handled: str | None = None  # the value of dtrain.test/exit already acted on
    deletion_confirmed: bool = False


class Timers:
    """One thread running timed callbacks in order (no thread per pod)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._count = 0
        self._wake = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="node-timers", daemon=True)
        self._thread.start()

    def after(self, seconds: float, fn: Callable[[], None]) -> None:
        with self._wake:
            self._count += 1
            heapq.heappush(self._heap, (time.monotonic() + seconds, self._count, fn))
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._wake.wait(timeout=None if not self._heap else max(0.0, self._heap[0][0] - time.monotonic()))
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception as e:  # one pod's failed update must not stop every other pod
                print(f"[node-agent] timer failed: {e}", flush=True)


def annotation(pod: dict, name: str, default: str | None = None) -> str | None:
    return (pod["metadata"].get("annotations") or {}).get(ANNOTATION + name, default)


class NodeAgent:
    """Registers the node, binds and animates pods, serves their logs."""

    def __init__(self, api: Api, book: LogBook, kubelet_port: int, node_name: str = NODE_NAME) -> None:
        self.api = api
        self.book = book
        self.kubelet_port = kubelet_port
        self.node_name = node_name
        self.timers = Timers()
        self.pods: dict[str, PodState] = {}  # by uid
        self.lock = threading.RLock()

    # -- the node ---------------------------------------------------------------------------
    def register(self) -> None:
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.node_name, "labels": {"kubernetes.io/hostname": self.node_name,
                                                                "kubernetes.io/os": "linux", "type": "dtrain-node"}}}
        self.api.request("POST", "/api/v1/nodes", node, ok=(201, 409))
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "10000", "ephemeral-storage": "1Ti",
                    "nvidia.com/gpu": "8"}
        status = {"status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "dtrain node agent is posting ready status",
                            "lastHeartbeatTime": now_iso(), "lastTransitionTime": now_iso()}],
            "nodeInfo": {"kubeletVersion": "v0.0.0-dtrain-node-agent", "operatingSystem": "linux",
                         "architecture": "amd64", "containerRuntimeVersion": "dtrain://0", "kernelVersion": "",
                         "osImage": "dtrain node agent", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""}}}
        self.api.request("PATCH", f"/api/v1/nodes/{self.node_name}/status", status,
                         content_type="application/merge-patch+json")

    # -- the watch --------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """List and watch every pod until `stop` is set; re-list after any break."""
        while not stop.is_set():
            try:
                listed = self.api.request("GET", "/api/v1/pods")
                for pod in listed["items"]:
                    self.on_pod(pod)
                version = listed["metadata"]["resourceVersion"]
                for event in self.api.watch("/api/v1/pods", version):
                    if stop.is_set():
                        return
                    if event["type"] == "ERROR":
                        break
                    if event["type"] == "BOOKMARK":
                        continue
                    if event["type"] == "DELETED":
                        self.on_deleted(event["object"])
                    else:
                        self.on_pod(event["object"])
            except (httpx.HTTPError, RuntimeError, json.JSONDecodeError) as e:
                if stop.is_set():
                    return
                print(f"[node-agent] watch broke ({e}); re-listing", flush=True)
                time.sleep(0.5)

    def on_pod(self, pod: dict) -> None:
        meta, spec = pod["metadata"], pod["spec"]
        if not spec.get("nodeName"):
            if meta.get("deletionTimestamp"):
                return
            if annotation(pod, "unschedulable") is not None:
                self.refuse(pod, annotation(pod, "unschedulable") or "0/1 nodes are available.")
            else:
                self.bind(pod)
            return
        if spec["nodeName"] != self.node_name:
            return
        with self.lock:
            state = self.pods.get(meta["uid"])
            if state is None:
                if pod.get("status", {}).get("phase") in ("Succeeded", "Failed") and not meta.get("deletionTimestamp"):
                    return  # ended before this agent started: nothing to move
                state = self.pods[meta["uid"]] = PodState(pod=pod)
                if not meta.get("deletionTimestamp"):
                    self.timers.after(float(annotation(pod, "start-seconds", "0.2")), lambda: self.start(meta["uid"]))
            state.pod = pod
        if meta.get("deletionTimestamp"):
            self.confirm_deletion(state)
        elif state.running and annotation(pod, "exit") not in (None, state.exit_handled):
            # Once per value: the annotation stays on the pod, the restarted container runs on.
            state.exit_handled = annotation(pod, "exit")
            self.exit(meta["uid"], int(state.exit_handled))

    def on_deleted(self, pod: dict) -> None:
        with self.lock:
            state = self.pods.pop(pod["metadata"]["uid"], None)
        if state is not None:
            state.running = False
            state.finished = True
            self.book.forget_pod(pod["metadata"]["namespace"], pod["metadata"]["name"])

    def bind(self, pod: dict) -> None:
        meta = pod["metadata"]
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"], "uid": meta["uid"]},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name}}
        # 409: already bound (an event raced the list); 404: deleted meanwhile.
        bound = self.api.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                                 binding, ok=(200, 201, 404, 409))
        if bound.get("status") == "Success":
            self.event(pod, "Normal", "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} "
                       f"to {self.node_name}", component="default-scheduler")

    def refuse(self, pod: dict, message: str) -> None:
        """Leave the pod Pending as a scheduler that found no node does (once per pod)."""
        conditions = pod.get("status", {}).get("conditions") or []
        if any(c.get("type") == "PodScheduled" and c.get("reason") == "Unschedulable" for c in conditions):
            return
        status = {"status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
             "lastTransitionTime": now_iso()}]}}
        meta = pod["metadata"]
        self.api.request("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", status,
                         content_type="application/merge-patch+json", ok=(200, 404, 409))
        self.event(pod, "Warning", "FailedScheduling", message, component="default-scheduler")

    def event(self, pod: dict, type_: str, reason: str, message: str, component: str = "kubelet") -> None:
        """A core/v1 Event about the pod, as the scheduler or a kubelet writes one."""
        meta = pod["metadata"]
        now = dt.datetime.now(dt.timezone.utc)
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{meta['name']}.{now.strftime('%H%M%S%f')}", "namespace": meta["namespace"]},
                 "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                                    "namespace": meta["namespace"], "uid": meta["uid"]},
                 "type": type_, "reason": reason, "message": message, "count": 1,
                 "firstTimestamp": now_iso(), "lastTimestamp": now_iso(),
                 "source": {"component": component, **({"host": self.node_name} if component == "kubelet" else {})},
                 "reportingComponent": component, "reportingInstance": self.node_name}
        try:
            self.api.request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", event, ok=(201, 404, 409))
        except (RuntimeError, httpx.HTTPError) as e:
            # Best effort, as a kubelet's: a namespace being deleted refuses new events (403).
            print(f"[node-agent] event {reason} for {meta['name']} not written: {e}", flush=True)

    # -- a pod's life -----------------------------------------------------------------------
    def containers(self, pod: dict) -> list[dict]:
        return pod["spec"].get("containers", [])

    def start(self, uid: str) -> None:
        with self.lock:
            state = self.pods.get(uid)
            if state is None or state.finished or state.pod["metadata"].get("deletionTimestamp"):
                return
            state.running = True
            state.started_at = now_iso()
            state.step = 0
            pod = state.pod
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for c in self.containers(pod):
            key = (ns, name, c["name"])
            self.book.start(key)
            self.book.write(key, f"[dtrain-node] container {c['name']} started on {self.node_name}"
                                 f" (restart {state.restarts})")
            command = [*c.get("command", []), *c.get("args", [])]
            self.book.write(key, "$ " + (shlex.join(command) if command else f"(the image's entrypoint: {c.get('image')})"))
            for env in c.get("env", []):
                if env.get("name") in CONTRACT_ENV and "value" in env:
                    self.book.write(key, f"{env['name']}={env['value']}")
        for c in pod["spec"].get("initContainers", []):
            key = (ns, name, c["name"])
            if state.restarts == 0:
                self.book.start(key)
                self.book.write(key, f"[dtrain-node] init container {c['name']} completed")
                self.book.end(key)
        self.patch_status(state, self.running_status(state))
        for c in self.containers(pod):
            if state.restarts == 0:
                self.event(pod, "Normal", "Pulled", f'Container image "{c.get("image", "")}" already present on machine')
            self.event(pod, "Normal", "Created", f"Created container: {c['name']}")
            self.event(pod, "Normal", "Started", f"Started container {c['name']}")
        interval = float(annotation(pod, "log-interval", "1"))
        if interval > 0:
            self.timers.after(interval, lambda: self.tick(uid, interval))
        run_seconds = annotation(pod, "run-seconds")
        if run_seconds is not None and state.restarts == 0:
            code, instance = int(annotation(pod, "exit-code", "0")), state.restarts
            self.timers.after(float(run_seconds), lambda: self.exit(uid, code, restarts=instance))

    def tick(self, uid: str, interval: float) -> None:
        with self.lock:
            state = self.pods.get(uid)
            if state is None or not state.running:
                return
            state.step += 1
            pod, step = state.pod, state.step
        for c in self.containers(pod):
            self.book.write((pod["metadata"]["namespace"], pod["metadata"]["name"], c["name"]), f"step {step}")
        self.timers.after(interval, lambda: self.tick(uid, interval))

    def exit(self, uid: str, code: int, restarts: int | None = None) -> None:
        """The pod's containers exit with `code` (a timer for an earlier instance is ignored)."""
        with self.lock:
            state = self.pods.get(uid)
            if state is None or not state.running or (restarts is not None and restarts != state.restarts):
                return
            state.running = False
            pod = state.pod
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for c in self.containers(pod):
            key = (ns, name, c["name"])
            self.book.write(key, f"[dtrain-node] container {c['name']} exited with code {code}")
            self.book.end(key)
        policy = pod["spec"].get("restartPolicy", "Always")
        terminated = self.terminated(state, code)
        if policy == "Always" or (policy == "OnFailure" and code != 0):
            with self.lock:
                state.restarts += 1
                state.last_state = {"terminated": terminated}
            self.event(pod, "Warning", "BackOff", f"Back-off restarting failed container {self.containers(pod)[0]['name']} "
                       f"in pod {name}_{ns}({pod['metadata']['uid']})")
            self.timers.after(0.2, lambda: self.start(uid))
            return
        with self.lock:
            state.finished = True
        self.patch_status(state, self.finished_status(state, terminated, code))

    def confirm_deletion(self, state: PodState) -> None:
        """As a kubelet does: stop the containers, then delete the pod for good."""
        with self.lock:
            if state.deletion_confirmed:
                return
            state.running = False
            state.finished = True
            state.deletion_confirmed = True
            pod = state.pod
        meta = pod["metadata"]
        for c in self.containers(pod):
            key = (meta["namespace"], meta["name"], c["name"])
            self.book.write(key, f"[dtrain-node] container {c['name']} stopped: the pod is being deleted")
            self.book.end(key)
            self.event(pod, "Normal", "Killing", f"Stopping container {c['name']}")
        self.timers.after(0.05, lambda: self.api.request(
            "DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
            {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
             "preconditions": {"uid": meta["uid"]}}, ok=(200, 202, 404, 409)))

    # -- status -----------------------------------------------------------------------------
    def terminated(self, state: PodState, code: int) -> dict:
        return {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                "startedAt": state.started_at, "finishedAt": now_iso(),
                "containerID": f"dtrain://{state.pod['metadata']['uid']}-{state.restarts}"}

    def base_status(self, state: PodState, ready: bool, phase: str) -> dict:
        pod = state.pod
        t = now_iso()
        ready_word = "True" if ready else "False"
        status = {
            "phase": phase, "hostIP": "127.0.0.1", "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": pod.get("status", {}).get("startTime") or t,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": t},
                {"type": "Initialized", "status": "True", "lastTransitionTime": t},
                {"type": "ContainersReady", "status": ready_word, "lastTransitionTime": t},
                {"type": "Ready", "status": ready_word, "lastTransitionTime": t},
            ],
        }
        if pod["spec"].get("initContainers"):
            status["initContainerStatuses"] = [
                {"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": True, "restartCount": 0,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": t, "finishedAt": t}}}
                for c in pod["spec"]["initContainers"]]
        if not ready and phase != "Running":
            for cond in status["conditions"][2:]:
                cond["reason"] = "PodCompleted"
        return status

    def running_status(self, state: PodState) -> dict:
        status = self.base_status(state, ready=True, phase="Running")
        status["containerStatuses"] = [
            {"name": c["name"], "image": c.get("image", ""), "imageID": f"dtrain://{c.get('image', '')}",
             "containerID": f"dtrain://{state.pod['metadata']['uid']}-{state.restarts}",
             "ready": True, "started": True, "restartCount": state.restarts,
             "state": {"running": {"startedAt": state.started_at}}, "lastState": state.last_state}
            for c in self.containers(state.pod)]
        return status

    def finished_status(self, state: PodState, terminated: dict, code: int) -> dict:
        status = self.base_status(state, ready=False, phase="Succeeded" if code == 0 else "Failed")
        status["containerStatuses"] = [
            {"name": c["name"], "image": c.get("image", ""), "imageID": f"dtrain://{c.get('image', '')}",
             "containerID": terminated["containerID"], "ready": False, "started": False,
             "restartCount": state.restarts, "state": {"terminated": terminated}, "lastState": state.last_state}
            for c in self.containers(state.pod)]
        return status

    def patch_status(self, state: PodState, status: dict) -> None:
        meta = state.pod["metadata"]
        self.api.request("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status",
                         {"status": status}, content_type="application/merge-patch+json", ok=(200, 404, 409))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.cluster.node_agent", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True, help="an admin kubeconfig (token, CA file)")
    parser.add_argument("--cert", type=Path, required=True, help="the kubelet endpoint's serving certificate")
    parser.add_argument("--key", type=Path, required=True, help="its key")
    parser.add_argument("--ca", type=Path, required=True, help="the CA whose client certificates may read logs")
    parser.add_argument("--node-name", default=NODE_NAME)
    parser.add_argument("--ready-file", type=Path, help="written once the node is registered")
    args = parser.parse_args()

    book = LogBook()
    server = KubeletLogServer(book, args.cert, args.key, args.ca).start()
    agent = NodeAgent(Api(args.kubeconfig), book, server.port, args.node_name)
    agent.register()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    watcher = threading.Thread(target=agent.run, args=(stop,), name="pod-watch", daemon=True)
    watcher.start()
    if args.ready_file:
        args.ready_file.write_text(str(server.port))
    print(f"[node-agent] node {args.node_name} registered; kubelet logs on 127.0.0.1:{server.port}", flush=True)
    stop.wait()
    agent.timers.stop()
    server.stop()


if __name__ == "__main__":
    main()
