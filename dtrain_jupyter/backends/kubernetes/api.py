"""The one choke point between this backend and the Kubernetes API server.

Every request goes through `Api.request`: it adds the client's auth, a timeout and retries for
answers that ask for them (429 with Retry-After, 5xx on reads), and turns every failure into
one of our errors by reading the server's Status body (reason, code, message, causes).
Bodies stay plain dicts: we ask the ApiClient for the raw response and parse the JSON
ourselves, so custom resources, pods and events never pass through the generated models.

The kubernetes client is synchronous; `Api.arequest` runs a request on this object's own
thread pool so the Jupyter server's loop never blocks. A followed stream whose every byte is
waited for (a log follow) is read on the loop itself where it can be: `Api.astream`.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from ...errors import (
    BackendUnavailable, ClusterError, DTrainError, Forbidden, InvalidJob, InvalidRequest, JobExists, JobNotFound,
    NotFound, ValidationIssue,
)
from . import loop_stream
from .config import ClusterConfig

BACKEND = "kubernetes"
# Answers a client may retry: the server says "later" (429) or failed before doing the work.
_RETRY_ANY_VERB = {429, 503}
_RETRY_IDEMPOTENT = {500, 502, 503, 504}
_WRITE_VERBS = {"create", "update", "patch"}


@dataclass(frozen=True)
class Call:
    """What a request is for, in RBAC words, so an error can name the verb and the resource."""

    verb: str                 # get, list, watch, create, delete, patch, update
    resource: str             # "pytorchjobs.kubeflow.org", "pods", "pods/log", "events"
    namespace: str | None = None   # None: across all namespaces
    kind: str = ""            # job kind, when the object is a job (for JobNotFound / JobExists)
    name: str = ""


@dataclass(frozen=True)
class Tuning:
    """Timeouts and retry pacing; tests shorten them, production keeps the defaults."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    retries: int = 4
    backoff_base: float = 0.2
    backoff_max: float = 5.0


def resource_path(group: str, version: str, plural: str, namespace: str | None = None,
                  name: str | None = None, sub: str | None = None) -> str:
    """`/apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<sub>]]`; core when group is ""."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespace:
        base += f"/namespaces/{quote(namespace, safe='')}"
    base += f"/{plural}"
    if name:
        base += f"/{quote(name, safe='')}"
        if sub:
            base += f"/{sub}"
    return base


def parse_status(body: Any) -> dict[str, Any]:
    """The Status object of an error answer, or {} when the body is not one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return {"message": body.strip()[:500]} if body.strip() else {}
    return body if isinstance(body, dict) else {}


def _where(call: Call) -> str:
    return f"in namespace {call.namespace!r}" if call.namespace else "across all namespaces"


def _field_path(field: str) -> str:
    """Status causes write map keys as `a[Key].b`; our paths are dotted (`a.Key.b`), indices stay `[0]`."""
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == "[":
            j = field.find("]", i)
            if j < 0:
                out.append(field[i:])
                break
            key = field[i + 1:j]
            out.append(f"[{key}]" if key.isdigit() else f".{key}")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out).lstrip(".")


# An admission webhook's refusal: `admission webhook "<name>" denied the request: <errors>`, the
# errors being one field error or a bracketed list of them, each `<field>: <Type>: <detail>`
# (apimachinery's field.ErrorList). The operators' validating webhooks answer 403 this way.
_WEBHOOK_DENIAL = re.compile(r'^admission webhook "(?P<hook>[^"]+)" denied the request: (?P<errors>.*)$', re.S)
_FIELD_ERROR_START = re.compile(
    r"(?:^|, )(?P<field>[A-Za-z][\w.\[\]/-]*): (?P<type>Required value|Invalid value|Forbidden|Unsupported value|"
    r"Duplicate value|Not found|Too long|Too many|Internal error)")


def webhook_issues(message: str) -> list[ValidationIssue] | None:
    """The field issues of an admission webhook's denial, or None when `message` is not one."""
    denial = _WEBHOOK_DENIAL.match(message.strip())
    if not denial:
        return None
    errors = denial.group("errors").strip()
    if errors.startswith("[") and errors.endswith("]"):
        errors = errors[1:-1]
    starts = list(_FIELD_ERROR_START.finditer(errors))
    if not starts:
        return [ValidationIssue(path="", message=f"{denial.group('hook')}: {errors}")]
    issues = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(errors)
        issues.append(ValidationIssue(path=_field_path(m.group("field")), message=errors[m.start("type"):end].strip()))
    return issues


def _refused(call: Call) -> str:
    return f"the cluster refused {call.kind or call.resource} {call.name!r}".replace(" ''", "")


def translate_status(code: int, status: Any, call: Call, server: str) -> DTrainError:
    """Turn an error answer (HTTP code + Status body, parsed or not) into the project's error for that call."""
    status = parse_status(status)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or reason or f"HTTP {code}")
    what = f"{call.verb} {call.resource}"
    if code == 401:
        return Forbidden(
            f"the Kubernetes API at {server} rejected our credentials (401 Unauthorized) for "
            f"{what} {_where(call)}: {message}; check the kube context or the service-account token",
            verb=call.verb, resource=call.resource, namespace=call.namespace or "",
        )
    if code == 403 and call.verb in _WRITE_VERBS and (issues := webhook_issues(message)) is not None:
        # Not RBAC: the operator's validating webhook refused the job's content.
        return InvalidJob(issues, message=f"{_refused(call)} (its admission webhook): {message}")
    if code == 403:
        return Forbidden(
            f"not allowed to {what} {_where(call)} (403 Forbidden by the cluster's RBAC): {message}",
            verb=call.verb, resource=call.resource, namespace=call.namespace or "",
        )
    if code == 404:
        details = status.get("details") or {}
        if call.verb == "create" and details.get("kind") == "namespaces":
            # The job cannot be missing on create: its namespace is.
            return NotFound(f"namespace {call.namespace!r} does not exist on this cluster "
                            f"(create it first, or choose another): {message}")
        if call.kind and call.name:
            return JobNotFound(call.kind, call.name, call.namespace or "", backend=BACKEND)
        return NotFound(f"{call.resource} {call.name or ''} not found {_where(call)}: {message}".replace("  ", " "))
    if code == 409 and reason == "AlreadyExists" and call.verb == "create" and call.kind:
        return JobExists(call.kind, call.name, call.namespace or "", backend=BACKEND)
    if code == 422 or (code == 400 and call.verb in _WRITE_VERBS):
        causes = (status.get("details") or {}).get("causes") or []
        issues: list[ValidationIssue] = []
        for c in causes:
            if not isinstance(c, dict):
                continue
            # A cause about no field says so with "<nil>" (e.g. "some validation rules were not checked").
            field = str(c.get("field") or "")
            issue = ValidationIssue(path="" if field == "<nil>" else _field_path(field),
                                    message=str(c.get("message") or c.get("reason") or ""))
            # The server may name one field twice, once per notation (`a[Key]` and `a.Key`).
            if all((i.path, i.message) != (issue.path, issue.message) for i in issues):
                issues.append(issue)
        issues = issues or [ValidationIssue(path="", message=message)]
        return InvalidJob(issues, message=f"{_refused(call)} ({code} {reason or 'Invalid'}): {message}")
    if code == 400:
        return InvalidRequest(f"{what} {_where(call)} was refused as a bad request: {message}")
    if code == 503:
        return BackendUnavailable(f"the Kubernetes API at {server} is unavailable (503): {message}")
    return ClusterError(f"{what} {_where(call)} failed ({code} {reason}): {message}", reason=reason, code=code)


def translate_transport(exc: BaseException, call: Call, server: str) -> BackendUnavailable:
    """A connection that failed, timed out or dropped: the server is unreachable for now."""
    reason = getattr(exc, "reason", None)  # urllib3 wraps the cause; an SSLError's reason is a word
    inner = reason if isinstance(reason, BaseException) else exc
    # NewConnectionError subclasses ConnectTimeoutError in urllib3, so it must be asked first.
    if isinstance(inner, (urllib3.exceptions.NewConnectionError, ConnectionRefusedError)):
        text = "refused the connection (is it running?)"
    elif isinstance(inner, (urllib3.exceptions.TimeoutError, asyncio.TimeoutError)) or isinstance(exc, urllib3.exceptions.TimeoutError):
        text = "did not answer in time"
    elif isinstance(inner, ssl.SSLCertVerificationError):
        text = f"has a certificate we cannot verify ({inner.verify_message})"
    elif isinstance(inner, (urllib3.exceptions.ProtocolError, ConnectionResetError, loop_stream.StreamBroken)) \
            or isinstance(exc, urllib3.exceptions.ProtocolError):
        text = "dropped the connection"
    else:
        text = f"could not be reached ({type(inner).__name__})"
    return BackendUnavailable(f"the Kubernetes API server at {server} {text} during {call.verb} {call.resource}")


class Api:
    """A private client for one cluster: raw JSON in and out, our errors only."""

    def __init__(self, cluster: ClusterConfig, tuning: Tuning | None = None) -> None:
        self.cluster = cluster
        self.tuning = tuning or Tuning()
        # Watches and log streams hold connections for long; keep enough of them pooled.
        cluster.configuration.connection_pool_maxsize = 64
        self._client = k8s_client.ApiClient(cluster.configuration)
        self._executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dtrain-kube-api")
        self._closed = False
        self._ssl_context: Any = None  # built on the first `astream`

    @property
    def streams_on_loop(self) -> bool:
        """Whether `astream` can reach this cluster (not through a proxy)."""
        return loop_stream.supported(self.cluster.configuration)

    @property
    def server(self) -> str:
        return self.cluster.server

    def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        try:
            self._client.close()
        except Exception:  # noqa: BLE001 - closing a pool must never break shutdown
            pass

    def _send(self, method: str, path: str, query: dict[str, Any] | None, body: Any,
              content_type: str | None, timeout: tuple[float, float] | None) -> Any:
        headers = {"Accept": "application/json", "Content-Type": content_type or "application/json"}
        q = [(k, str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (query or {}).items() if v is not None]
        return self._client.call_api(
            path, method, query_params=q, header_params=headers, body=body,
            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True,
            _request_timeout=timeout or (self.tuning.connect_timeout, self.tuning.read_timeout),
        )

    def _retries_status(self, call: Call, status: int, attempt: int) -> bool:
        """Whether an answer of `status` is asked for again, after `attempt` retries: "later" (429,
        503) for any verb, a server's failure (5xx) only for a call that changes nothing."""
        retryable = _RETRY_ANY_VERB if call.verb in _WRITE_VERBS else _RETRY_ANY_VERB | _RETRY_IDEMPOTENT
        return status in retryable and attempt < self.tuning.retries

    def _retries_transport(self, call: Call, attempt: int) -> bool:
        """Whether a connection that failed is tried again, after `attempt` retries: a read, once."""
        return call.verb in ("get", "list") and attempt < min(1, self.tuning.retries)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.tuning.backoff_max)
            except ValueError:
                pass
        base = min(self.tuning.backoff_max, self.tuning.backoff_base * (2 ** attempt))
        return base * (0.5 + random.random() / 2)

    def request(self, method: str, path: str, call: Call, *, query: dict[str, Any] | None = None,
                body: Any = None, content_type: str | None = None, stream: bool = False,
                timeout: tuple[float, float] | None = None) -> Any:
        """Send one request (blocking); retries what may be retried.

        Args:
            method: HTTP method.
            path: API path from `resource_path` or a discovery path.
            call: what the request is for, used to word any error.
            query: query parameters (None values dropped, booleans as "true"/"false").
            body: JSON-able body for writes.
            stream: return the open urllib3 response (watch, logs) instead of parsed JSON.
            timeout: (connect, read) seconds; read None waits forever (follow streams).

        Returns:
            The parsed JSON body, or the open response when `stream`.

        Raises:
            Forbidden, JobNotFound, NotFound, JobExists, InvalidJob, ClusterError, BackendUnavailable.
        """
        attempt = 0
        while True:
            try:
                resp = self._send(method, path, query, body, content_type, timeout)
            except ApiException as e:
                if self._retries_status(call, e.status, attempt):
                    retry_after = (e.headers or {}).get("Retry-After") if e.headers else None
                    time.sleep(self._delay(attempt, retry_after))
                    attempt += 1
                    continue
                if not e.status:  # TLS failures arrive as status 0 with the reason text
                    raise BackendUnavailable(f"cannot talk to the Kubernetes API at {self.server}: {e.reason}") from e
                raise translate_status(e.status, parse_status(e.body), call, self.server) from e
            except (urllib3.exceptions.HTTPError, OSError) as e:
                if self._retries_transport(call, attempt):
                    time.sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise translate_transport(e, call, self.server) from e
            if stream:
                return resp
            try:
                data = resp.data
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise translate_transport(e, call, self.server) from e
            finally:
                resp.release_conn()
            if not data:
                return {}
            try:
                return json.loads(data)
            except ValueError as e:
                raise ClusterError(
                    f"{call.verb} {call.resource}: the API server sent a body that is not JSON", reason="BadBody",
                ) from e

    async def astream(self, path: str, call: Call, *, query: dict[str, Any] | None = None) -> loop_stream.LoopStream:
        """GET a stream read on the server loop (see `loop_stream`): the open response, its body unread.

        Retries and errors as `request` for a read; only where `streams_on_loop`. The token is
        asked for on the thread pool: the configuration's refresh hook may run a credential
        plugin, and the first TLS context reads its files there too.

        Raises:
            Forbidden, NotFound, InvalidRequest, ClusterError, BackendUnavailable.
        """
        if self._closed:
            raise BackendUnavailable("the Kubernetes backend has been stopped")
        loop = asyncio.get_running_loop()
        configuration = self.cluster.configuration
        attempt = 0
        while True:
            try:
                authorization, context = await loop.run_in_executor(self._executor, self._stream_credentials)
                resp = await loop_stream.open_stream(configuration, context, path, query or {}, authorization,
                                                     self.tuning.connect_timeout)
            except (OSError, asyncio.TimeoutError) as e:
                if self._retries_transport(call, attempt):
                    await asyncio.sleep(self._delay(attempt, None))
                    attempt += 1
                    continue
                raise translate_transport(e, call, self.server) from e
            if resp.status < 300:
                return resp
            try:
                body = await resp.read_all()
            except (OSError, asyncio.TimeoutError):
                body = b""
            if self._retries_status(call, resp.status, attempt):
                await asyncio.sleep(self._delay(attempt, resp.headers.get("retry-after")))
                attempt += 1
                continue
            raise translate_status(resp.status, parse_status(body), call, self.server)

    def _stream_credentials(self) -> tuple[str | None, Any]:
        """(Authorization header, TLS context) for `astream`, on the thread pool."""
        configuration = self.cluster.configuration
        if self._ssl_context is None:
            self._ssl_context = loop_stream.ssl_context(configuration) or False
        # The kubeconfig's token, or its user and password as a Basic header, as `request` sends it.
        return configuration.get_api_key_with_prefix("authorization"), self._ssl_context or None

    async def arequest(self, method: str, path: str, call: Call, **kwargs: Any) -> Any:
        """`request` on this client's thread pool, awaited from the server loop."""
        if self._closed:
            raise BackendUnavailable("the Kubernetes backend has been stopped")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(self.request, method, path, call, **kwargs))
