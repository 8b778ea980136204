"""The tornado HTTP face of the double: auth, faults, latency, discovery, CRUD, watch and log streams.

One catch-all handler serves the whole URL space, as the API server's mux does, and
delegates the semantics to `api.Api`. Streams (watch, `logs -f`) are written here: a watch
is a chunked response of one JSON event per line; a followed log is chunked text that ends
when the container terminates.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError

from .api import TABLE_MEDIA, Api, ApiError, Target, q1, truthy
from .discovery import Registry
from .logs import LogStore
from .openapi import ProtobufError, decode_protobuf, gv_document, root_document
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .store import Store, StoreError
from .tables import to_table

VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-double", "gitCommit": "0" * 40,
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
           "compiler": "gc", "platform": "linux/amd64"}


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int
    times: int
    retry_after: int | None = None
    skip: int = 0  # matching requests let through before the fault answers


@dataclass
class ServerState:
    """Everything the handler needs; shared with KubeDouble, which changes it from test threads."""

    api: Api
    store: Store
    logs: LogStore
    registry: Registry
    token: str
    address: str = ""
    latency: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    request_log: list[tuple[str, str, dict]] = field(default_factory=list)
    streams: set = field(default_factory=set)  # open watch / follow handlers
    bookmark_interval: float = 1.0
    default_watch_timeout: float = 1800.0

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in list(self.faults):
            if fault.method in (method, "*") and fault.pattern.search(path):
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
                return fault
        return None


_FAULT_REASONS = {429: ("TooManyRequests", "Too many requests, please try again later."),
                  500: ("InternalError", "Internal error occurred: injected fault"),
                  503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
                  504: ("Timeout", "the server was unable to return a response in the time allotted")}


class KubeHandler(web.RequestHandler):
    """Every path of the API server."""

    SUPPORTED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

    def initialize(self, state: ServerState) -> None:
        self.state = state
        self.api = state.api
        self.query = urllib.parse.parse_qs(self.request.query, keep_blank_values=True)
        self._dropped: asyncio.Event | None = None

    async def prepare(self) -> None:
        path = self.request.path
        self.state.request_log.append((self.request.method, path, {k: v[0] for k, v in self.query.items()}))
        if self.state.latency:
            await asyncio.sleep(self.state.latency)
        authorization = self.request.headers.get("Authorization", "")
        if not authorization:
            # As kube-apiserver with its default --anonymous-auth: no credentials is the user
            # system:anonymous, whom RBAC refuses (403); only wrong credentials are a 401.
            verb = self.request.method.lower()
            self._status(ApiError(403, "Forbidden", f'forbidden: User "system:anonymous" cannot {verb} path "{path}"'))
            return
        if authorization != f"Bearer {self.state.token}":
            self._status(ApiError(401, "Unauthorized", "Unauthorized"))
            return
        fault = self.state.take_fault(self.request.method, path)
        if fault:
            reason, message = _FAULT_REASONS.get(fault.status, ("InternalError", "injected fault"))
            details = {"retryAfterSeconds": fault.retry_after} if fault.retry_after is not None else None
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            self._status(ApiError(fault.status, reason, message, details, headers))

    # ---- output ------------------------------------------------------------------------
    def _json(self, code: int, body: Any, headers: dict | None = None) -> None:
        self.set_status(code)
        self.set_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            for v in value if isinstance(value, list) else [value]:
                self.add_header(name, v)
        self.finish(json.dumps(body))

    def _status(self, err: ApiError) -> None:
        self._json(err.code, err.status(), err.headers)

    def wants_table(self) -> bool:
        return TABLE_MEDIA in self.request.headers.get("Accept", "")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if exc is not None and not isinstance(exc, web.HTTPError):
            traceback.print_exception(*kwargs["exc_info"], file=sys.stderr)
        message = str(exc) if exc else self._reason
        self._json(status_code, ApiError(status_code, "InternalError", f"Internal error occurred: {message}").status())

    async def _run(self, fn) -> None:
        try:
            await fn()
        except ApiError as e:
            if not self._finished:
                self._status(e)

    # ---- verbs -------------------------------------------------------------------------
    async def get(self) -> None:
        await self._run(self._get)

    async def post(self) -> None:
        await self._run(self._write_verb)

    async def put(self) -> None:
        await self._run(self._write_verb)

    async def patch(self) -> None:
        await self._run(self._write_verb)

    async def delete(self) -> None:
        await self._run(self._write_verb)

    async def _get(self) -> None:
        path = self.request.path.rstrip("/")
        discovery = self._discovery(path)
        if discovery is not None:
            self._json(200, discovery)
            return
        target = self.api.route(path)
        if target.sub == "log":
            self.api.authorize("get", target)
            await self._pod_log(target)
            return
        if target.name is None:
            watching = truthy(q1(self.query, "watch"))
            self.api.authorize("watch" if watching else "list", target)
            if watching:
                await self._watch(target)
                return
            items, meta = self.api.list(target, self.query)
            if self.wants_table():
                self._json(200, to_table(target.rt, items, meta, q1(self.query, "includeObject") or "Metadata"))
            else:
                self._json(200, self.api.list_body(target, items, meta))
            return
        self.api.authorize("get", target)
        obj = self.api.get(target)
        if self.wants_table():
            self._json(200, to_table(target.rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                     q1(self.query, "includeObject") or "Metadata"))
        else:
            self._json(200, obj)

    def _discovery(self, path: str) -> dict | None:
        reg = self.state.registry
        if path == "/version":
            return VERSION
        if path == "/api":
            return reg.api_versions(self.state.address)
        if path == "/apis":
            return reg.group_list()
        if path == "/openapi/v3":
            return root_document(reg)
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["openapi", "v3"]:
            rest = parts[2:]
            doc = (gv_document(reg, "", rest[1]) if rest[:1] == ["api"] and len(rest) == 2 else
                   gv_document(reg, rest[1], rest[2]) if rest[:1] == ["apis"] and len(rest) == 3 else None)
            if doc is None:
                raise self.api.not_found_path()
            return doc
        if parts[:1] == ["openapi"]:
            raise self.api.not_found_path()  # no swagger 2.0: kubectl prefers v3
        if parts[:1] == ["api"] and len(parts) == 2:
            doc = reg.resource_list("", parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 2:
            doc = reg.group_doc(parts[1])
        elif parts[:1] == ["apis"] and len(parts) == 3:
            doc = reg.resource_list(parts[1], parts[2])
        else:
            return None
        if doc is None:
            raise self.api.not_found_path()
        return doc

    def _body(self, ctype: str):
        if ctype.startswith("application/vnd.kubernetes.protobuf"):
            try:
                return decode_protobuf(self.request.body)
            except ProtobufError as e:
                raise ApiError(400, "BadRequest", f"the body of the request was in an unknown format: {e}") from e
        return self.api.parse_body(self.request.body, ctype)

    async def _write_verb(self) -> None:
        method = self.request.method
        target = self.api.route(self.request.path.rstrip("/"))
        ctype = self.request.headers.get("Content-Type", "application/json")
        if method == "POST":
            if target.name is not None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            self.api.authorize("create", target)
            answer = self.api.create(target, self._body(ctype), self.query)
        elif method == "PUT":
            self.api.authorize("update", target)
            answer = self.api.update(target, self._body(ctype), self.query)
        elif method == "PATCH":
            self.api.authorize("patch", target)
            answer = self.api.patch(target, self.request.body, ctype, self.query)
        elif target.name is None:
            self.api.authorize("deletecollection", target)
            answer = self.api.delete_collection(target, self.query)
        else:
            self.api.authorize("delete", target)
            answer = self.api.delete(target, self.request.body, self.query)
        self._json(answer.code, answer.body, answer.headers)

    # ---- streams -----------------------------------------------------------------------
    def on_connection_close(self) -> None:
        self._wake()

    def _wake(self) -> None:
        if self._dropped is not None:
            self._dropped.set()
            self._queue.put_nowait(None)  # wakes the pump at once, whatever it waits for

    def drop(self) -> None:
        """End this stream abruptly, as a broken connection would (called on the server loop)."""
        self._wake()
        if self.request.connection and getattr(self.request.connection, "stream", None):
            self.request.connection.stream.close()

    async def _stream(self, queue: asyncio.Queue, render, deadline: float, bookmark) -> None:
        """Pump queue items to the client until deadline, drop, or a None item."""
        self._dropped = asyncio.Event()
        self._queue = queue
        self.state.streams.add(self)
        try:
            while not self._dropped.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(remaining, self.state.bookmark_interval) if bookmark else remaining
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=wait)
                except asyncio.TimeoutError:
                    if bookmark and time.monotonic() < deadline:
                        self.write(bookmark() + "\n")
                        await self.flush()
                    continue
                if item is None:
                    break
                text = render(item)
                if text:
                    self.write(text)
                    await self.flush()
            if not self._dropped.is_set():
                self.finish()
        except StreamClosedError:
            pass
        finally:
            self.state.streams.discard(self)

    async def _watch(self, target: Target) -> None:
        try:
            label = parse_label_selector(q1(self.query, "labelSelector"))
            fields = parse_field_selector(q1(self.query, "fieldSelector"))
        except SelectorError as e:
            raise ApiError(400, "BadRequest", str(e)) from e
        rv_text = q1(self.query, "resourceVersion") or ""
        since = int(rv_text) if rv_text.isdigit() and rv_text != "0" else None
        timeout = float(q1(self.query, "timeoutSeconds") or self.state.default_watch_timeout)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        rt = target.rt

        def on_event(kind: str, obj: dict, old: dict | None, rv: int) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, obj, old))

        self.set_header("Content-Type", "application/json")
        try:
            stop = self.state.store.watch(rt.key, target.namespace, since, on_event)
        except StoreError as e:
            self.write(json.dumps({"type": "ERROR", "object": ApiError(e.code, e.reason, e.message).status()}) + "\n")
            self.finish()
            return
        if truthy(q1(self.query, "sendInitialEvents")) and since is None:
            marker = {"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.group_version, "metadata": {
                "resourceVersion": str(self.state.store.rv), "annotations": {"k8s.io/initial-events-end": "true"}}}}
            loop.call_soon_threadsafe(queue.put_nowait, ("RAW", marker, None))
        table = self.wants_table()
        first = [True]

        def render(item: tuple) -> str:
            kind, obj, old = item
            if kind == "RAW":
                return json.dumps(obj) + "\n"
            now, before = label(obj) and fields(obj), old is not None and label(old) and fields(old)
            if kind == "MODIFIED" and now and not before:
                kind = "ADDED"
            elif kind == "MODIFIED" and before and not now:
                kind = "DELETED"
            elif not (now or (kind == "DELETED" and before)):
                return ""
            if table:
                body = to_table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                q1(self.query, "includeObject") or "Metadata")
                if not first[0]:
                    body["columnDefinitions"] = []
                first[0] = False
                obj = body
            return json.dumps({"type": kind, "object": obj}) + "\n"

        def bookmark() -> str:
            return json.dumps({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.group_version,
                                                              "metadata": {"resourceVersion": str(self.state.store.rv)}}})

        allow = truthy(q1(self.query, "allowWatchBookmarks"))
        await self.flush()
        try:
            await self._stream(queue, render, time.monotonic() + timeout, bookmark if allow else None)
        finally:
            stop()

    async def _pod_log(self, target: Target) -> None:
        pod = self.api.get(Target(target.rt, target.namespace, target.name))
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        container = q1(self.query, "container")
        if not container:
            if len(containers) != 1:
                raise ApiError(400, "BadRequest", f"a container name must be specified for pod {target.name}, "
                               f"choose one of: [{' '.join(containers)}]")
            container = containers[0]
        elif container not in containers:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {target.name}")
        key = (target.namespace, target.name, container)
        previous = truthy(q1(self.query, "previous"))
        if previous and not self.state.logs.has_previous(key):
            raise ApiError(400, "BadRequest",
                           f'previous terminated container "{container}" in pod "{target.name}" not found')
        if not previous:
            for cs in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (cs.get("state") or {}).get("waiting")
                if cs.get("name") == container and waiting and not cs.get("restartCount"):
                    why = "trying and failing to pull image" if waiting.get("reason") in (
                        "ImagePullBackOff", "ErrImagePull") else waiting.get("reason", "ContainerCreating")
                    raise ApiError(400, "BadRequest",
                                   f'container "{container}" in pod "{target.name}" is waiting to start: {why}')
        tail = q1(self.query, "tailLines")
        since = q1(self.query, "sinceSeconds")
        timestamps = truthy(q1(self.query, "timestamps"))
        filters = dict(tail=int(tail) if tail else None, since_seconds=float(since) if since else None,
                       timestamps=timestamps)
        self.set_header("Content-Type", "text/plain")
        if not truthy(q1(self.query, "follow")) or previous:
            self.finish("".join(self.state.logs.read(key, previous=previous, **filters)))
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        # The backlog and the follow start as one step: a line the simulator writes in between
        # must be in one or the other (a kubelet streams the file it is appending to).
        lines, done, stop = self.state.logs.read_and_follow(
            key, lambda line: loop.call_soon_threadsafe(queue.put_nowait, line), **filters)
        self.write("".join(lines))
        await self.flush()
        if done:
            self.finish()
            return
        try:
            await self._stream(queue, lambda line: line, time.monotonic() + 86400, None)
        finally:
            stop()


def make_app(state: ServerState) -> web.Application:
    # No access log: a 404 is an answer here, not a problem worth a line on stderr.
    return web.Application([(r"/.*", KubeHandler, {"state": state})], compress_response=False,
                           log_function=lambda handler: None)
