"""The public Python client of the dtrain REST API; also what the magic, the command and the panel use.

`Client()` finds its Jupyter server by itself: inside a kernel the server that started it
(`JPY_PARENT_PID` matched against the servers' `jpserver-<pid>.json` runtime files), else
`$DTRAIN_URL`/`$DTRAIN_TOKEN`, else the one running server. It holds one `httpx.Client` for its
life, is synchronous (no event loop of its own, so it works inside a kernel's running loop) and
can be shared between threads. Server errors come back as the same `DTrainError` subclasses the
server raised, rebuilt from the JSON body.
"""

from __future__ import annotations

import gc
import glob
import json
import os
import ssl
import time
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import quote, urlencode, urljoin, urlsplit

import httpx

from . import render
from .errors import BackendUnavailable, DTrainError, InvalidRequest, JobNotFound, NotFound, ValidationIssue
from .model.job import Event, Job, JobChange, LogLine, OutputFile, Pod
from .model.kinds import plural_of
from .model.metric_series import JobProgress, MetricsPage
from .model.status import Phase

DEFAULT_TIMEOUT = 30.0
# How often `wait` re-reads the job when the change feed is quiet (the feed wakes it earlier).
WAIT_POLL_SECONDS = 2.0
# The longest the server waits for a TensorBoard it starts to answer (tensorboard/launcher.py's
# START_TIMEOUT_SECONDS; not imported: the client must not import the server side).
TENSORBOARD_START_S = 90.0
# How often Client.result looks again for replicas still running after their job ended.
POD_END_POLL_SECONDS = 1.0


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True
    except (OSError, ValueError, TypeError):
        return False
    return True


def running_servers(runtime_dir: str | None = None) -> list[dict[str, Any]]:
    """The `jpserver-*.json` records of Jupyter servers that are still alive."""
    if runtime_dir is None:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime_dir = jupyter_runtime_dir()
    found = []
    for path in sorted(glob.glob(os.path.join(runtime_dir, "jpserver-*.json"))):
        try:
            with open(path, encoding="utf-8") as f:
                info = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(info, dict) and info.get("url") and _alive(info.get("pid")):
            found.append(info)
    return found


def discover(environ: Mapping[str, str] | None = None, runtime_dir: str | None = None) -> dict[str, Any]:
    """Where the server is: `{"url", "token", "sock"}`.

    Order: the server whose pid is `$JPY_PARENT_PID` (a kernel's own server), then
    `$DTRAIN_URL` with `$DTRAIN_TOKEN`, then the single running server.

    Raises:
        BackendUnavailable: no server, or several and nothing says which.
    """
    env = os.environ if environ is None else environ
    servers = running_servers(runtime_dir)
    parent = env.get("JPY_PARENT_PID")
    if parent:
        for info in servers:
            if str(info.get("pid")) == str(parent):
                return {"url": info["url"], "token": info.get("token", ""), "sock": info.get("sock") or ""}
    if env.get("DTRAIN_URL"):
        return {"url": env["DTRAIN_URL"], "token": env.get("DTRAIN_TOKEN", ""), "sock": ""}
    if len(servers) == 1:
        info = servers[0]
        return {"url": info["url"], "token": info.get("token", ""), "sock": info.get("sock") or ""}
    if not servers:
        raise BackendUnavailable(
            "no running Jupyter server found; start one (`jupyter lab`), or set DTRAIN_URL and "
            "DTRAIN_TOKEN, or pass url= and token= (--url/--token on the command line)"
        )
    urls = ", ".join(s["url"] for s in servers)
    raise BackendUnavailable(
        f"{len(servers)} Jupyter servers are running ({urls}); say which with DTRAIN_URL and "
        "DTRAIN_TOKEN, or url= and token= (--url/--token)"
    )


# A list body this large is decoded with the cyclic garbage collector paused (see below).
PAUSE_GC_ABOVE_BYTES = 256 * 1024


@contextmanager
def cycle_collector_paused(pause: bool = True) -> Iterator[None]:
    """Keep CPython's cyclic garbage collector still while a large job list is decoded.

    Decoding 10,000 jobs makes about a million dicts and lists. Each 700 of them start a
    collection, and the older generations' collections walk everything decoded so far, so
    decoding time grew with the square of the list (31 µs a job at 10,000 jobs against 10 µs
    at 1,000). Decoded JSON has no reference cycles, so nothing is lost by not collecting
    during it; the collector is switched back on after (unless it was off before).
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def split_name(name: str, kind: str | None = None) -> tuple[str | None, str]:
    """`KIND/NAME` -> (KIND, NAME); a bare NAME keeps `kind`."""
    if "/" in name:
        k, _, n = name.partition("/")
        if not k or not n or "/" in n:
            raise InvalidRequest(f"{name!r} is not NAME or KIND/NAME")
        return k, n
    if not name:
        raise InvalidRequest("a job name is required")
    return kind, name


class Changes(list):
    """Job changes from the feed; `resync` is True when the caller must list again."""

    resync: bool = False


def tls_context(url: str) -> ssl.SSLContext | bool:
    """How a client of `url` verifies TLS: httpx's default (the CA bundle) for https; for plain
    HTTP, a context with no CA loaded, which refuses any TLS it meets.

    httpx builds its TLS context when the client is made, and loading the CA bundle took ~20 ms
    of every `Client()`: of each CLI command, and of the panel's start when a click starts its
    kernel (benchmarks/findings/panel-open.md). A server reached over http:// (or its Unix
    socket) never uses it: the client sends only relative paths and follows no redirects.
    """
    if urlsplit(url).scheme == "https":
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


class Client:
    """A synchronous client of one Jupyter server's dtrain API. It can be shared between threads.

    Args:
        url: the server's URL including its base_url (`http://127.0.0.1:8888/`); found by
            `discover()` when omitted.
        token: the server's token; with an explicit `url` it defaults to `$DTRAIN_TOKEN`.
        timeout: seconds for ordinary requests (log following is never cut).
    Raises:
        BackendUnavailable: no server could be found.
    """

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        sock = ""
        if url is None:
            found = discover()
            url, sock = found["url"], found["sock"]
            token = found["token"] if token is None else token
        elif token is None:
            token = os.environ.get("DTRAIN_TOKEN", "")
        self.url = url.rstrip("/") + "/"
        tls = tls_context(self.url)
        transport = httpx.HTTPTransport(uds=sock, verify=tls) if sock else None
        headers = {"Authorization": f"token {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url + "dtrain/api/", headers=headers,
                                  timeout=timeout, transport=transport, verify=tls)

    def __repr__(self) -> str:
        return f"<dtrain Client {self.url}>"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- HTTP -------------------------------------------------------------------------------

    def _raise_for(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        body = response.read()
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = None
        if not isinstance(data, dict):
            text = body.decode("utf-8", errors="replace")[:300]
            raise DTrainError(f"HTTP {response.status_code} from {response.request.url}: {text}".rstrip(": "))
        raise DTrainError.from_dict(data, response.status_code)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise BackendUnavailable(f"cannot reach the Jupyter server at {self.url}: {e}") from e
        self._raise_for(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    @staticmethod
    def _body(source: Any) -> dict[str, Any]:
        if hasattr(source, "to_manifest"):
            # A script folder's job (code.job.CodeJobSpec) sends its packed files beside the manifest.
            code = getattr(source, "code", None)
            return {"manifest": source.to_manifest(), **({"code": code.to_body()} if code is not None else {})}
        if isinstance(source, Mapping):
            return {"manifest": dict(source)}
        if isinstance(source, str):
            return {"yaml": source}
        raise InvalidRequest(f"expected a JobSpec, a manifest dict or YAML text, not {type(source).__name__}")

    @staticmethod
    def _params(**values: Any) -> dict[str, Any]:
        out = {}
        for key, value in values.items():
            if value is None or value is False:
                continue
            out[key] = "true" if value is True else value
        return out

    # -- locating a job ---------------------------------------------------------------------

    def _find(self, name: str, kind: str | None, namespace: str | None, backend: str | None) -> Job:
        kind, name = split_name(name, kind)
        data = self._json("GET", "jobs", params=self._params(name=name, kind=kind, namespace=namespace, backend=backend))
        items = [Job.from_dict(j) for j in data.get("items", [])]
        if not items and not data.get("problems"):
            # Only when every backend answered: a backend that could not may still have the job.
            items = self._find_past(name, kind, namespace, backend, leaving=True)
        if not items:
            problems = "; ".join(p.get("message", "") for p in data.get("problems", []))
            err = JobNotFound(kind or "job", name, namespace or "(default)", backend or "",
                              also="nor in the job history" if self._has_history() else "")
            if problems:
                err.message += f" (also: {problems})"
                err.args = (err.message,)
            raise err
        if len(items) > 1:
            where = ", ".join(f"{j.kind}/{j.name} on {j.backend} in {j.namespace}" for j in items)
            raise InvalidRequest(f"{name!r} is ambiguous: {where}; say KIND/NAME, namespace or backend")
        return items[0]

    def _find_past(self, name: str, kind: str | None, namespace: str | None, backend: str | None,
                   leaving: bool = False) -> list[Job]:
        """The newest record of each job of that name that has left its cluster (the job history).

        With `leaving`, also a record not marked removed yet: the caller's list, which every backend
        answered, no longer has the job, and for a moment after a delete its record does not say so
        (the server answers from the newest record then too, `JobHistory.past_record`).
        """
        try:
            data = self._json("GET", "history", params=self._params(name=name, kind=kind, namespace=namespace,
                                                                     backend=backend, limit=50))
        except NotFound:  # this server keeps no history
            self._history_known = False
            return []
        newest: dict[tuple[str, str, str], Job] = {}
        for item in data.get("items", []):
            if item.get("removed") or leaving:
                job = Job.from_dict(item)
                newest.setdefault((job.backend, job.namespace, job.kind), job)
        return list(newest.values())

    def _has_history(self) -> bool:
        return getattr(self, "_history_known", True)

    @staticmethod
    def _path(job: Job, *rest: str) -> str:
        parts = [job.backend, "namespaces", job.namespace, plural_of(job.kind), job.name, *rest]
        return "/".join(quote(p, safe="") for p in parts)

    def job_link(self, job: Job, resource: str = "", file: str = "", **params: Any) -> str:
        """The address of one of a job's resources for a link in a page this server serves.

        It is the path from the server's root (base_url included) and the query, without scheme
        and host: the browser resolves it against the page it shows and sends that page's login
        cookie with it, so a plain `<a href>` works where the kernel's own URL and token would
        not (another host name, a proxy, no token in the page).

        Args:
            job: the job.
            resource: "log", "outputs", "pods", ... ("" for the job itself).
            file: a path under `resource` (an output file); its "/" stay separators.
            params: query arguments; None and False are left out, True is sent as "true".
        Returns:
            e.g. "/dtrain/api/local/namespaces/default/pytorchjobs/mnist/outputs/a%20b/c.txt",
            every part URL-quoted.
        """
        path = self._path(job, *((resource,) if resource else ()))
        if file:
            path += "/" + quote(file.lstrip("/"), safe="/")
        query = urlencode(self._params(**params))
        return f"{urlsplit(self.url).path or '/'}dtrain/api/{path}" + (f"?{query}" if query else "")

    def _locate(self, name: str, kind: str | None = None, namespace: str | None = None,
                backend: str | None = None) -> str:
        return self._path(self._find(name, kind, namespace, backend))

    # -- verbs ------------------------------------------------------------------------------

    def backends(self) -> list[dict[str, Any]]:
        """Each configured backend's description (where it points, whether it is ready)."""
        return list(self._json("GET", "backends")["items"])

    def create(self, source: Any, dry_run: bool = False, backend: str | None = None,
               namespace: str | None = None) -> render.RichJob:
        """Create a job from a JobSpec, a manifest dict or YAML text; a `FolderJob`'s code archive
        travels with its manifest.

        Raises:
            InvalidJob (every issue, with path and YAML line/column), JobExists, Forbidden,
            BackendUnavailable.
        """
        data = self._json("POST", "jobs", json=self._body(source),
                          params=self._params(backend=backend, namespace=namespace, dry_run=dry_run))
        return render.RichJob.from_dict(data)  # type: ignore[return-value]

    def validate(self, source: Any) -> list[ValidationIssue]:
        """Every problem of a manifest or YAML text (empty when valid); creates nothing."""
        data = self._json("POST", "validate", json=self._body(source))
        return [ValidationIssue.from_dict(i) for i in data.get("issues", [])]

    def list(self, namespace: str | None = None, all_namespaces: bool = False, backend: str | None = None,
             kind: str | None = None, phase: str | None = None) -> render.JobList:
        """Jobs, filtered; `.problems` lists backends that could not answer."""
        response = self._request("GET", "jobs", params=self._params(
            namespace=namespace, all_namespaces=all_namespaces, backend=backend, kind=kind, phase=phase))
        with cycle_collector_paused(len(response.content) >= PAUSE_GC_ABOVE_BYTES):
            data = json.loads(response.content)
            jobs = render.jobs(render.RichJob.from_dict(j) for j in data.get("items", []))
        jobs.problems = list(data.get("problems", []))  # type: ignore[attr-defined]
        return jobs

    def get(self, name: str, kind: str | None = None, namespace: str | None = None,
            backend: str | None = None) -> render.RichJob:
        """One job with its status. NAME may be `KIND/NAME`. Raises JobNotFound."""
        return render.RichJob.from_dict(self._json("GET", self._locate(name, kind, namespace, backend)))  # type: ignore[return-value]

    def delete(self, name: str, kind: str | None = None, namespace: str | None = None,
               backend: str | None = None) -> render.RichJob:
        """Delete a job and all its replicas; returns it as last seen. Raises JobNotFound."""
        return render.RichJob.from_dict(self._json("DELETE", self._locate(name, kind, namespace, backend)))  # type: ignore[return-value]

    def suspend(self, name: str, kind: str | None = None, namespace: str | None = None,
                backend: str | None = None) -> render.RichJob:
        """Suspend a job: its replicas stop, the job, its logs and outputs stay until `resume`.

        Locally the job returned is already Suspended. On Kubernetes it is the job with its new
        spec (runPolicy.suspend true): the operator deletes the pods and sets the `Suspended`
        condition right after, and `get` then shows phase Suspended. `wait` does not end while
        a job is suspended.

        Raises:
            JobNotFound; InvalidRequest (a backend that cannot suspend, a finished job, one
            suspended already).
        """
        return render.RichJob.from_dict(self._json("POST", self._locate(name, kind, namespace, backend) + "/suspend"))  # type: ignore[return-value]

    def resume(self, name: str, kind: str | None = None, namespace: str | None = None,
               backend: str | None = None) -> render.RichJob:
        """Resume a suspended job: every replica starts again as on create.

        Raises:
            JobNotFound; InvalidRequest (a backend that cannot suspend, a job that is not suspended).
        """
        return render.RichJob.from_dict(self._json("POST", self._locate(name, kind, namespace, backend) + "/resume"))  # type: ignore[return-value]

    # -- the job history --------------------------------------------------------------------

    def history(self, show: str = "all", search: str = "", *, kind: str | None = None, phase: str | None = None,
                backend: str | None = None, namespace: str | None = None, since: str | None = None,
                until: str | None = None, limit: int = 100, after: str | None = None,
                total: bool = False) -> "History":
        """One page of job records, live and past, newest first.

        Args:
            show: "live" (on the cluster, not finished), "finished" or "all".
            search: words each record must contain in its name, kind, namespace or phase.
            since, until: creation dates or times (ISO 8601: "2026-12-01", "2026-12-01T10:00:00Z").
            limit: records per page (1-1000); `after`: the previous page's `.next`.
            total: also count every matching record (`.total`).
        Returns:
            `History`: RichJob records (`removed` set on those no longer on their cluster; `.record`
            holds what the history keeps beside the job: id, finished, deleted, log_bytes, pods,
            events, incomplete_logs, archive_problem, archiving: true while a log of it is still being
            archived), with `.next` (the next page's cursor, None on the last) and `.total`.
        Raises:
            NotFound: this server keeps no job history. InvalidRequest: a bad filter.
        """
        data = self._json("GET", "history", params=self._params(
            show=show, q=search or None, kind=kind, phase=phase, backend=backend, namespace=namespace,
            **{"from": since, "to": until}, limit=limit, after=after, total=total))
        page = History()
        for item in data.get("items", []):
            job = render.RichJob.from_dict(item)
            job.record = dict(item.get("record") or {})  # type: ignore[attr-defined]
            page.append(job)
        page.next, page.total, page.problem = data.get("next"), data.get("total"), data.get("problem")
        return page

    def forget(self, name: str, kind: str | None = None, namespace: str | None = None,
               backend: str | None = None) -> int:
        """Remove a past job's records and archived logs from the job history; returns how many went.

        Raises:
            InvalidRequest: the job is still on its cluster (delete it first). JobNotFound: no record.
        """
        kind, name = split_name(name, kind)
        past = self._find_past(name, kind, namespace, backend)
        if not past:
            # Still on its cluster (the server then says to delete it first), or unknown (JobNotFound).
            past = [self._find(name, kind, namespace, backend)]
        if len(past) > 1:
            where = ", ".join(f"{j.kind}/{j.name} on {j.backend} in {j.namespace}" for j in past)
            raise InvalidRequest(f"{name!r} is ambiguous in the job history: {where}; say KIND/NAME, namespace or backend")
        return int(self._json("DELETE", "history/" + self._path(past[0]))["forgotten"])

    def rerun(self, name: str, *, new_name: str | None = None, to_backend: str | None = None,
              to_namespace: str | None = None, manifest: Any = None, dry_run: bool = False,
              kind: str | None = None, namespace: str | None = None, backend: str | None = None) -> render.RichJob:
        """Run a job again (one still on its cluster, or one only the job history remembers).

        Args:
            new_name: the new job's name (default "<name>-run2", "-run3", ...).
            to_backend, to_namespace: where the new job runs (default: where the old one ran).
            manifest: an edited manifest (a dict, YAML text or a JobSpec) to run instead ("Edit and re-run").
            kind, namespace, backend: find the old job, when its name alone is ambiguous.
        Returns:
            The new job.
        Raises:
            JobNotFound, InvalidRequest (a script-folder job whose code is no longer kept, another
            kind), and what `create` raises.
        """
        body: dict[str, Any] = {"name": new_name, "backend": to_backend, "namespace": to_namespace}
        if manifest is not None:
            body.update(self._body(manifest))  # {"manifest": {...}} or {"yaml": "..."}
        data = self._json("POST", self._locate(name, kind, namespace, backend) + "/rerun",
                          json={k: v for k, v in body.items() if v is not None},
                          params=self._params(dry_run=dry_run))
        return render.RichJob.from_dict(data)  # type: ignore[return-value]

    def pods(self, name: str, kind: str | None = None, namespace: str | None = None,
             backend: str | None = None) -> render.PodList:
        data = self._json("GET", self._locate(name, kind, namespace, backend) + "/pods")
        return render.pods(Pod.from_dict(p) for p in data["items"])

    def events(self, name: str, kind: str | None = None, namespace: str | None = None,
               backend: str | None = None) -> render.EventList:
        data = self._json("GET", self._locate(name, kind, namespace, backend) + "/events")
        return render.events(Event.from_dict(x) for x in data["items"])

    def outputs(self, name: str, kind: str | None = None, namespace: str | None = None,
                backend: str | None = None) -> Outputs:
        """The files in the job's output location, and where that location is.

        Returns:
            `Outputs`: the OutputFile entries, sorted by path (a list, as before), with `location`:
            `{"folder": path}` for a local job, `{"claim": name, "path": path in the claim}` on Kubernetes.
        Raises:
            JobNotFound; NotFound when the files cannot be listed here (the claim is not mounted in
            the server, nothing was written yet, no output location): its `fields["location"]` says
            where they are when the job has a location.
        """
        data = self._json("GET", self._locate(name, kind, namespace, backend) + "/outputs")
        return Outputs((OutputFile.from_dict(f) for f in data["items"]), location=data.get("location"))

    def open_tensorboard(self, jobs: Iterable[Any]) -> str:
        """Run the server's TensorBoard over these jobs' output folders; returns its URL.

        Each job is a `Job`, a mapping with backend, namespace, kind and name, or a name
        ("kind/name" allowed) looked up like `get`. One TensorBoard serves the server: the same jobs
        again reuse it, others restart it; it stops after c.DTrain.tensorboard_idle_minutes unused.

        Raises:
            JobNotFound; NotFound (a job's output folder is missing or holds no event files);
            BackendUnavailable (TensorBoard did not start: the message quotes its log).
        """
        chosen = []
        for job in jobs:
            if isinstance(job, str):
                job = self._find(job, None, None, None)
            fields = job if isinstance(job, Mapping) else {k: getattr(job, k) for k in ("backend", "namespace",
                                                                                          "kind", "name")}
            chosen.append({k: fields.get(k) for k in ("backend", "namespace", "kind", "name")})
        # The server waits for TensorBoard to answer (up to its START_TIMEOUT_SECONDS) before it answers.
        data = self._json("POST", "tensorboard", json={"jobs": chosen},
                          timeout=httpx.Timeout(DEFAULT_TIMEOUT + TENSORBOARD_START_S))
        return urljoin(self.url, data["url"])

    def read_output(self, name: str, path: str, limit: int | None = None, kind: str | None = None,
                    namespace: str | None = None, backend: str | None = None) -> bytes:
        """The bytes of one output file, at most `limit` (and the server's cap). Raises NotFound."""
        url = self._locate(name, kind, namespace, backend) + "/outputs/" + quote(path.lstrip("/"), safe="/")
        return self._request("GET", url, params=self._params(limit=limit)).content

    def logs(self, name: str, pod: str | None = None, follow: bool = False, tail: int | None = None,
             previous: bool = False, since_seconds: int | None = None, timestamps: bool = False,
             container: str | None = None, kind: str | None = None, namespace: str | None = None,
             backend: str | None = None) -> Iterator[LogLine]:
        """Log lines of one pod, or of every pod merged; streams while `follow` is True.

        Example:
            >>> for line in Client().logs("pytorchjob/mnist", follow=True):  # doctest: +SKIP
            ...     print(line.pod, line.line)
        """
        url = self._locate(name, kind, namespace, backend) + "/log"
        params = self._params(pod=pod, follow=follow, tail=tail, previous=previous,
                              since_seconds=since_seconds, timestamps=timestamps, container=container)
        return self._stream_lines(url, params, follow)

    def log_bytes(self, name: str, pod: str | None = None, follow: bool = False, tail: int | None = None,
                  previous: bool = False, container: str | None = None, kind: str | None = None,
                  namespace: str | None = None, backend: str | None = None) -> Iterator[bytes]:
        """The log as plain text (UTF-8 bytes, newline-terminated lines), in chunks as they arrive.

        The fast way to read a big log (`?format=text`: no object per line; one pod's whole log
        comes at hundreds of MB/s). Lines carry no pod name, so use `pod=` unless one merged
        stream is what you want; `logs()` gives LogLine objects with pod and timestamp.

        Example:
            >>> with open("master.log", "wb") as f:  # doctest: +SKIP
            ...     for chunk in Client().log_bytes("pytorchjob/mnist", pod="mnist-master-0"):
            ...         f.write(chunk)
        """
        url = self._locate(name, kind, namespace, backend) + "/log"
        params = self._params(pod=pod, follow=follow, tail=tail, previous=previous, container=container,
                              format="text")
        with self._log_stream(url, params, follow) as response:
            yield from response.iter_raw()

    def _stream_lines(self, url: str, params: dict[str, Any], follow: bool) -> Iterator[LogLine]:
        with self._log_stream(url, params, follow) as response:
            for raw in response.iter_lines():
                if not raw.strip():
                    continue
                data = json.loads(raw)
                if "error" in data and "line" not in data:
                    raise DTrainError.from_dict(data)
                yield LogLine.from_dict(data)

    @contextmanager
    def _log_stream(self, url: str, params: dict[str, Any], follow: bool) -> Iterator[httpx.Response]:
        """A streamed GET of a log: no read timeout while following; an error answer raises our
        error type, and a connection that breaks while reading is BackendUnavailable."""
        timeout = httpx.Timeout(DEFAULT_TIMEOUT, read=None) if follow else self._http.timeout
        try:
            with self._http.stream("GET", url, params=params, timeout=timeout) as response:
                self._raise_for(response)
                yield response
        except httpx.TransportError as e:
            raise BackendUnavailable(f"log stream from {self.url} broke: {e}") from e

    def metrics(self, name: str, kind: str | None = None, namespace: str | None = None,
                backend: str | None = None, *, since: int = 0, wait: float = 0) -> MetricsPage:
        """The job's metric points after cursor `since` (0: all), waiting up to `wait` seconds (0-25)
        for newer ones; live jobs and past ones the job history remembers.

        Returns:
            A `MetricsPage`: pass its `cursor` as `since` next time, and `held.merge(page)` keeps
            one page up to date (a `reset` page replaces what was held).
        Raises:
            JobNotFound; InvalidRequest (since < 0, wait out of range); NotFound (no job history on
            the server: metrics are kept by it).
        """
        return self.metrics_at(self._locate(name, kind, namespace, backend), since=since, wait=wait)

    def metrics_at(self, path: str, *, since: int = 0, wait: float = 0) -> MetricsPage:
        """`metrics` of a job already located (`job_path`), for followers that ask again and again."""
        data = self._json("GET", path + "/metrics", params=self._params(since=since, wait=wait or None),
                          timeout=httpx.Timeout(DEFAULT_TIMEOUT + float(wait)))
        return MetricsPage.from_dict(data)

    def job_path(self, name: str, kind: str | None = None, namespace: str | None = None,
                 backend: str | None = None) -> str:
        """The API path of a job (`local/namespaces/default/pytorchjobs/mnist`), found as `get` finds it."""
        return self._locate(name, kind, namespace, backend)

    def progress(self) -> list[JobProgress]:
        """Every live job whose code reported progress (`report(progress=...)`), with its ETA."""
        return [JobProgress.from_dict(p) for p in self._json("GET", "progress").get("jobs", [])]

    def changes(self, cursor: int | None = None, timeout: float = 25) -> tuple[int, Changes]:
        """Job changes after `cursor`, waiting up to `timeout` seconds for one.

        Returns:
            `(next_cursor, changes)`; `changes.resync` is True when the cursor was too old (or
            None): list again, then continue from `next_cursor`.
        """
        data = self._json("GET", "changes", params=self._params(cursor=cursor, timeout=timeout),
                          timeout=httpx.Timeout(DEFAULT_TIMEOUT + float(timeout)))
        out = Changes(JobChange(c["type"], render.RichJob.from_dict(c["job"])) for c in data.get("changes", []))
        out.resync = bool(data.get("resync"))
        return int(data["cursor"]), out

    def wait(self, name: str, timeout: float | None = None, until: str = "finished", kind: str | None = None,
             namespace: str | None = None, backend: str | None = None, progress: bool | None = None) -> render.RichJob:
        """Block until the job finishes (`until="finished"`) or succeeds (`until="succeeded"`).

        A job that has left its cluster (`removed` set: only the job history has it, or it was
        deleted while waiting) can change no more: it is returned at once with its last phase.
        In a notebook a line shows the phase while waiting (`progress=False` hides it).
        Returns:
            The finished job, or the removed one as last seen.
        Raises:
            DTrainError: `until="succeeded"` and the job failed or was removed before it
                succeeded. JobNotFound: no such job, nor a record of it.
            TimeoutError: still not done after `timeout` seconds.
        """
        if until not in ("finished", "succeeded"):
            raise InvalidRequest(f"until={until!r}: use 'finished' or 'succeeded'")
        path = self._locate(name, kind, namespace, backend)
        show = _Progress(progress)
        deadline = None if timeout is None else time.monotonic() + timeout
        cursor, _ = self.changes(None, timeout=0)
        while True:
            job: render.RichJob = render.RichJob.from_dict(self._json("GET", path))  # type: ignore[assignment]
            show.update(job)
            # A removed job (Deleted mid-run, or a record whose last phase was Running) never finishes.
            if job.phase.finished or job.removed or job.phase == Phase.DELETED:
                if until == "succeeded" and job.phase.value != "Succeeded":
                    raise DTrainError(f"{job.kind} {job.name!r} {job.phase}: "
                                      f"{job.status.reason} {job.status.message}".strip(),
                                      kind=job.kind, name=job.name, phase=job.phase.value)
                return job
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"{job.kind} {job.name!r} is still {job.phase} after {timeout} s")
            cursor, _ = self.changes(cursor, timeout=min(WAIT_POLL_SECONDS, left if left is not None else WAIT_POLL_SECONDS))

    # -- code to job: a notebook function as a job (dtrain_jupyter/code/) -----------------------

    def run(self, function: Any, *, args: Any = None, workdir: str | os.PathLike[str] = ".", kind: str = "PyTorchJob",
            workers: int | None = None, name: str | None = None, image: str | None = None,
            cpu: str | int | float | None = None, memory: str | int | None = None, gpu: int | None = None,
            env: Mapping[str, Any] | None = None, every_rank: bool = False, packages: list[str] | None = None,
            namespace: str | None = None, backend: str | None = None, dry_run: bool = False) -> render.RichJob:
        """Run a notebook function, or a script folder, on every replica of a new job; `result(job.name)`
        gives the function's return value (None for a script that ended well).

        A function's source travels in the manifest with the helpers, classes, imports and
        constants it reads; `args` are its keyword arguments, as JSON values. `FunctionJob` (same
        arguments) builds the JobSpec without submitting it.

        A str is a script's path relative to `workdir`: the folder is packed now (.gitignore and
        .dtrainignore honoured; at most 1,000,000 bytes packed, a ConfigMap's size) and every
        replica runs `python SCRIPT ARGS` in an unpacked copy of it; `args` is then the list of
        its command-line arguments. `FolderJob` (same arguments) builds that JobSpec.

        Example:
            >>> job = client.run(train, kind="PyTorchJob", workers=1, args={"lr": 0.1})  # doctest: +SKIP
            >>> client.result(job.name)                                                   # doctest: +SKIP
            >>> job = client.run("train.py", workdir="work", args=["--lr", "0.1"], workers=2)  # doctest: +SKIP

        Args:
            function: a notebook function, or a script's path (str) in `workdir`.
            args: the function's keyword arguments (a mapping of JSON values), or the script's
                arguments (a list of strings).
            workdir: the folder shipped with a script (ignored for a function).
            kind: "PyTorchJob", "TFJob" or "MPIJob" (an MPIJob on a cluster uses the version it serves).
            workers: Worker replicas, as for the kind's builder. cpu, memory, gpu: per replica.
            every_rank: `result` then gives every rank's return value, in rank order.
            packages: PEP 508 requirements each replica installs with pip before the function
                starts, into a cache folder first on its path, never into an existing environment
                (locally ~/.cache/dtrain-jupyter/packages or $DTRAIN_PACKAGE_CACHE; a re-run with
                the same ones installs nothing). PIP_* variables in `env` reach pip.
            dry_run: validate (and on Kubernetes ask the API server) without creating.
        Returns:
            The created job.
        Raises:
            InvalidRequest: the function, a name it reads, an argument or a requirement cannot be
                sent to a job (`fields["names"]` lists them); the code is too large for a manifest;
                a script that is missing or ignored; a folder too big (its five largest files
                listed) or with a link out of it.
            InvalidJob, JobExists, Forbidden, BackendUnavailable: as for `create`.
        """
        from .code.job import FolderJob, FunctionJob, served_mpi_version

        mpi_version = served_mpi_version(self.backends(), backend) if kind == "MPIJob" else None
        if isinstance(function, (str, os.PathLike)):
            spec = FolderJob(os.fspath(function), workdir, args=args, kind=kind, workers=workers, name=name,
                             image=image, cpu=cpu, memory=memory, gpu=gpu, env=env, every_rank=every_rank,
                             packages=packages, namespace=namespace, mpi_version=mpi_version)
            return self.create(spec, dry_run=dry_run, backend=backend, namespace=namespace)
        spec = FunctionJob(function, args=args, kind=kind, workers=workers, name=name, image=image, cpu=cpu,
                           memory=memory, gpu=gpu, env=env, every_rank=every_rank, packages=packages,
                           namespace=namespace, mpi_version=mpi_version)
        return self.create(spec, dry_run=dry_run, backend=backend, namespace=namespace)

    def result(self, name: str, timeout: float | None = None, kind: str | None = None,
               namespace: str | None = None, backend: str | None = None, progress: bool | None = None) -> Any:
        """Wait for a job made by `run` (or `%%dtrain run`) and return what its function returned on rank 0.

        Returns:
            Rank 0's return value as JSON brings it back (a tuple comes back as a list); for a job
            run with `every_rank=True`, the list of every rank's values in rank order.
        Raises:
            RemoteError: the function raised in a replica; the message ends with the remote
                traceback, `.pod` names the replica. Also when pip could not install the job's
                `packages` (`fields["type"]` is "PackageInstallError", the message is pip's).
            DTrainError: the job failed without an exception (killed, image not found, ...), or
                reported no result, or returned a value that is not JSON (`fields["repr"]`).
            JobNotFound, TimeoutError: as for `wait`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self.wait(name, timeout=timeout, kind=kind, namespace=namespace, backend=backend, progress=progress)
        ref = dict(kind=job.kind, namespace=job.namespace, backend=job.backend)
        reader = self._read_reports(job, ref, self.pods(job.name, **ref))
        first = reader.results.get(0, {})
        if reader.succeeded and first.get("every_rank") and not reader.done:
            # Rank 0 ending is what ends a PyTorchJob or TFJob; the other replicas (cleanPodPolicy
            # None) may still be printing their reports: read again once they ended.
            reader = self._read_reports(job, ref, self._pods_ended(job, ref, deadline))
        return reader.outcome()

    def _read_reports(self, job: Job, ref: dict[str, Any], pods: list[Pod]) -> Any:
        """A ResultReader fed the pods' logs: each log's tail first, whole logs only if needed."""
        from .code.results import TAIL_LINES, ResultReader, split_lines

        reader = ResultReader(job, pods)
        for tail in (TAIL_LINES, None):
            for pod in reader.pods:
                reader.feed(pod, split_lines(self.log_bytes(job.name, pod=pod, tail=tail, **ref)))
                if reader.done:
                    return reader
            if reader.errors:
                break
        return reader

    def _pods_ended(self, job: Job, ref: dict[str, Any], deadline: float | None) -> list[Pod]:
        """The job's pods once none is Pending or Running (or as they are at `deadline`)."""
        while True:
            pods = self.pods(job.name, **ref)
            if all(p.phase not in ("Pending", "Running") for p in pods):
                return pods
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return pods
            # Pods ending after their job changes nothing in the change feed: poll, gently.
            time.sleep(min(POD_END_POLL_SECONDS, left if left is not None else POD_END_POLL_SECONDS))


class History(render.JobList):
    """A page of job records (`Client.history`): `.next` is the next page's cursor (None on the
    last), `.total` the count of every matching record when asked for, `.problem` why the server
    stopped archiving logs (a full disk), None while it archives."""

    next: str | None = None
    total: int | None = None
    problem: str | None = None


class Outputs(render.OutputList):
    """What `Client.outputs` returns: the files (a list of OutputFile) and `location`, where they are.

    `location` is `{"folder": path}` for a local job (the folder on the Jupyter server's machine)
    or `{"claim": name, "path": path inside the claim}` for a Kubernetes job; `{}` from a server
    that does not say.
    """

    def __init__(self, files: Iterable[OutputFile] = (), location: Mapping[str, str] | None = None) -> None:
        super().__init__(files)
        self.location: dict[str, str] = dict(location or {})

    @property
    def where(self) -> str:
        """The location in words: "folder /x", "volume claim c, path /p", or "" when unknown."""
        if self.location.get("folder"):
            return f"folder {self.location['folder']}"
        if self.location.get("claim"):
            return f"volume claim {self.location['claim']}, path {self.location.get('path') or '/'}"
        return ""

    def text(self) -> str:
        return f"Output location: {self.where}\n{super().text()}" if self.where else super().text()

    def _repr_html_(self) -> str:
        head = f"<div>Output location: <code>{render.esc(self.where)}</code></div>" if self.where else ""
        return head + super()._repr_html_()


class _Progress:
    """A one-line phase display that updates in place in a notebook; silent elsewhere."""

    def __init__(self, enabled: bool | None) -> None:
        self._handle = None
        self._last = ""
        if enabled is False:
            self._enabled = False
            return
        try:
            from IPython import get_ipython

            shell = get_ipython()
        except ImportError:
            shell = None
        self._enabled = bool(enabled) or (shell is not None and getattr(shell, "kernel", None) is not None)

    def update(self, job: Job) -> None:
        if not self._enabled:
            return
        from IPython.display import HTML, display

        state = f"{job.phase}|{render.replicas_text(job)}"
        if state == self._last:
            return
        self._last = state
        body = HTML(f"waiting for <b>{render.esc(job.kind)}</b> <code>{render.esc(job.name)}</code>: "
                    f"{render.badge(job.phase)} {render.esc(render.replicas_text(job))}")
        if self._handle is None:
            self._handle = display(body, display_id=True)
        else:
            self._handle.update(body)
