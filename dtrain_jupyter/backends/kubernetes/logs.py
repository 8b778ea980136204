"""Pod logs: one pod, or every pod of a job merged line by line with the pod's name on each line.

A followed pod's log is read from one stream shared by everyone following it (`shared_follow`:
the job history's copy, every view and client), on the server loop where the API client can
(`Api.astream`), else on a thread of its own (the kubernetes client blocks; a follow may last
for hours); a read that does not follow has a thread and a request of its own. Lines reach the
generator through a deque, with one wake-up per batch. With `follow`, pods that appear later,
and pods recreated or restarted in place, are picked up from the pod cache; the merged stream
ends when the job is finished and every reader is done. A pod that cannot have a log yet
(Pending, image pull back-off) shows as one "waiting: <reason>" line instead of being skipped;
with `follow` its log starts once it runs. One pod's log is asked for before the first line is
promised, so the API server's refusal (a container the pod does not run, no previous attempt)
reaches the caller as an error, not as a cut stream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import threading
import time
from datetime import datetime, timezone
from dataclasses import dataclass, field
from functools import partial
from typing import Any, AsyncGenerator, Callable

import urllib3

from ...errors import DTrainError
from ...model.job import LogLine
from ...model.kinds import Framework
from ..base import waiting_line
from .api import Api, Call, resource_path, translate_transport
from .housekeeping import HOUSEKEEPER
from .pods import default_container, pod_from_object
from .shared_follow import FOLLOWS, Start, Subscription, drop_response, key_of_time, split_timestamp, ts_key

log = logging.getLogger(__name__)

# Seconds a follow stream must have lasted before it is re-opened after the API server ended it.
REOPEN_AFTER_S = 1.0
# Bytes per chunk when a log is relayed as it is (`relay_log_bytes`).
RELAY_CHUNK = 1 << 20


@dataclass
class LogOptions:
    container: str | None = None
    follow: bool = False
    tail: int | None = None
    since_seconds: int | None = None
    previous: bool = False
    timestamps: bool = False


@dataclass
class _Reader:
    pod: str
    uid: str
    restarts: int
    thread: threading.Thread | None = None
    resp: Any = None
    done: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    # Timestamp of the last line read (followed streams always ask for timestamps), so a stream
    # the API server cut while the container still runs is re-opened after it, without repeats.
    last_ts: str | None = None
    resume_after: str | None = None
    started: float = field(default_factory=time.monotonic)

    # A follow's place among the followers of a shared stream (`shared_follow`).
    subscription: Subscription | None = None

    def close(self) -> None:
        self.stop.set()
        if self.subscription is not None:
            self.subscription.leave()
        elif self.resp is not None:
            HOUSEKEEPER.call(self.resp.shutdown)  # unblocks the reader's read, off the loop


@dataclass
class _Done:
    reader: _Reader
    error: DTrainError | None = None


def pod_waiting_line(pod: dict[str, Any], job_name: str, fw: Framework | None) -> str:
    """"waiting: <reason>" for a pod that has no log yet."""
    return waiting_line(pod_from_object(pod, job_name, fw).reason)


def has_log(pod: dict[str, Any], previous: bool) -> bool:
    """Whether the kubelet can serve this pod's log now (some container ran or runs)."""
    status = pod.get("status") or {}
    for s in status.get("containerStatuses") or []:
        if not isinstance(s, dict):
            continue
        state = s.get("state") or {}
        if previous:
            if (s.get("lastState") or {}).get("terminated"):
                return True
        elif state.get("running") or state.get("terminated") or (s.get("lastState") or {}).get("terminated"):
            return True
    return status.get("phase") in ("Running", "Succeeded", "Failed") and not previous


def _restarts(pod: dict[str, Any]) -> int:
    return sum(int(s.get("restartCount") or 0) for s in (pod.get("status") or {}).get("containerStatuses") or []
               if isinstance(s, dict))


def _since_seconds(stamp: str) -> int:
    """Whole seconds from an RFC3339(Nano) timestamp to now, plus one (a window that covers it)."""
    try:
        head, _, frac = stamp.rstrip("Z").partition(".")
        then = datetime.fromisoformat(head).replace(tzinfo=timezone.utc).timestamp() + float("0." + (frac or "0"))
    except ValueError:
        return 60
    return max(1, math.ceil(time.time() - then) + 1)


def _log_query(opts: LogOptions, container: str | None, resume: str | None) -> dict[str, Any]:
    """The pods/log query of one reader; a followed stream always asks for timestamps (to resume)."""
    stamped = opts.timestamps or opts.follow
    query = {
        "container": container, "follow": "true" if opts.follow else None, "tailLines": opts.tail,
        "sinceSeconds": opts.since_seconds, "previous": "true" if opts.previous else None,
        "timestamps": "true" if stamped else None,
    }
    if resume is not None:  # re-opened after a cut: only lines from then on (repeats are dropped on reading)
        query.update(tailLines=None, sinceSeconds=_since_seconds(resume))
    return query


def _open_log(api: Api, namespace: str, pod: str, container: str | None, opts: LogOptions,
              resume: str | None = None) -> Any:
    """Ask for one pod's log (blocking): the open response, or the API server's refusal raised."""
    call = Call("get", "pods/log", namespace, name=pod)
    return api.request("GET", resource_path("", "v1", "pods", namespace, pod, "log"), call,
                       query=_log_query(opts, container, resume), stream=True,
                       timeout=(api.tuning.connect_timeout, None if opts.follow else api.tuning.read_timeout))


async def _open_log_on_loop(api: Api, namespace: str, pod: str, container: str | None, opts: LogOptions,
                           resume: str | None = None) -> Any:
    """`_open_log` for a follow read on the loop (`Api.astream`): the open stream, or the refusal raised."""
    return await api.astream(resource_path("", "v1", "pods", namespace, pod, "log"),
                             Call("get", "pods/log", namespace, name=pod), query=_log_query(opts, container, resume))


def _read(api: Api, namespace: str, reader: _Reader, container: str | None, opts: LogOptions,
          emit: Callable[[Any], None], opened: Any = None) -> None:
    """Thread body of a read that does not follow: one pod's log (from `opened`, or a request of
    its own) into `emit`, then _Done. Follows share their streams (`_subscribe`)."""
    error: DTrainError | None = None
    if reader.stop.is_set():  # the caller left before this thread was started: ask for nothing
        if opened is not None:
            drop_response(opened)
        emit(_Done(reader))
        return
    try:
        resp = opened if opened is not None else _open_log(api, namespace, reader.pod, container, opts)
        reader.resp = resp
        buf = b""
        try:
            for chunk in resp.stream(amt=None, decode_content=True):
                if reader.stop.is_set():
                    break
                buf += chunk
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    _emit_line(reader, raw, opts.timestamps, emit)
            if buf and not reader.stop.is_set():
                _emit_line(reader, buf, opts.timestamps, emit)
        except (urllib3.exceptions.HTTPError, OSError):
            pass  # the stream ended under us (stop, pod gone, server restart): this reader is done
        finally:
            with contextlib.suppress(Exception):
                resp.release_conn()
    except DTrainError as e:
        error = e
    emit(_Done(reader, error))


def _emit_line(reader: _Reader, raw: bytes, stamped: bool, emit: Callable[[Any], None]) -> None:
    text = raw.decode("utf-8", "replace").rstrip("\r")
    ts, text = split_timestamp(text) if stamped else (None, text)
    emit(LogLine(pod=reader.pod, line=text, timestamp=ts))


def _subscribe(api: Api, namespace: str, reader: _Reader, container: str | None, opts: LogOptions,
               emit: Callable[[Any], None], opened: Any = None) -> None:
    """Follow one pod's log on the stream shared by everyone following it (`shared_follow`):
    joined where it can give this follow its first lines, else opened (from `opened`, or a request)."""
    resume = reader.resume_after

    def deliver(ts: str | None, text: str) -> None:  # on the stream's thread, or the loop when joining
        if ts is not None:
            reader.last_ts = ts
        emit(LogLine(pod=reader.pod, line=text, timestamp=ts if opts.timestamps else None))

    def finish(error: DTrainError | None) -> None:
        emit(_Done(reader, error))

    if resume is not None:
        start = Start(after=ts_key(resume))
        # The re-opened stream is asked for whole seconds back from now (`_log_query`).
        holds_from = key_of_time(time.time() - _since_seconds(resume))
    else:
        start = _follow_start(opts)
        holds_from = start.since
    reader.subscription = Subscription(deliver, finish)
    on_loop = api.streams_on_loop
    FOLLOWS.follow(_follow_key(api, namespace, reader.pod, reader.uid, reader.restarts, container), start,
                   reader.subscription,
                   partial(_open_log_on_loop if on_loop else _open_log, api, namespace, reader.pod, container, opts,
                           resume),
                   f"dtrain-log-{reader.pod}", holds_from=holds_from, opened=opened, on_loop=on_loop)


def _follow_key(api: Api, namespace: str, pod: str, uid: str, restarts: int, container: str | None) -> tuple[Any, ...]:
    """Follows of the same container instance (a pod made anew, or restarted in place, is another) share a stream."""
    return (id(api), namespace, pod, uid, restarts, container)


def close_follows(api: Api) -> None:
    """Close every shared follow stream of this API client (its backend is stopping)."""
    FOLLOWS.shut_all(id(api))


def _follow_start(opts: LogOptions) -> Start:
    """Where a follow asked for with `opts` starts (a `since` becomes the point in time it means now)."""
    since = key_of_time(time.time() - opts.since_seconds) if opts.since_seconds is not None else None
    return Start(tail=opts.tail, since=since)


def _running(pod: dict[str, Any]) -> bool:
    """Whether a container of the pod is running now (its log stream should still be open)."""
    return any(isinstance(s, dict) and (s.get("state") or {}).get("running")
               for s in (pod.get("status") or {}).get("containerStatuses") or [])


async def stream_logs(
    api: Api, namespace: str, job_name: str, fw: Framework | None, opts: LogOptions, *,
    list_pods: Callable[[], list[dict[str, Any]]], job_done: Callable[[], bool], single: bool,
    poll: float = 0.3,
) -> AsyncGenerator[LogLine | None, None]:
    """Log lines of the pods `list_pods()` returns (re-read every `poll` seconds when following).

    The first step only opens and yields None: for one pod whose log can be read (or whose
    previous log is asked for: the kubelet decides), it asks the API server, so a refusal is
    raised there, before any line. Every later step yields a line. Prime it with `anext`.

    Args:
        api: the backend's API choke point.
        namespace: the pods' namespace.
        job_name: the job (for replica names in "waiting" lines).
        fw: the job's kind facts (default container).
        opts: container, follow, tail, since, previous, timestamps.
        list_pods: current pods to read (slim pod dicts), from the cache.
        job_done: True once the job is finished or gone (ends a merged follow).
        single: one pod was asked for: its errors are raised, not shown as lines.

    Raises:
        NotFound, InvalidRequest, Forbidden, ClusterError, BackendUnavailable (single pod only).
    """
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    # Readers append here (a deque's append is atomic) and wake the loop once per batch; the
    # generator waits on one future of its own. An asyncio.Queue read through `wait_for` cost a
    # task and three passes of the loop per line between the reader thread and the client
    # (issue 18: the Kubernetes follow's p50 was 1.75x kubectl's); this is one pass.
    arrived: collections.deque[Any] = collections.deque()
    waiter: list[asyncio.Future[None] | None] = [None]
    wake_pending = [False]

    def wake() -> None:  # on the loop
        wake_pending[0] = False
        w = waiter[0]
        if w is not None and not w.done():
            w.set_result(None)

    def emit(item: Any) -> None:
        arrived.append(item)
        if threading.get_ident() == loop_thread:
            wake()  # a stream read on the loop: no trip through the loop's wake-up pipe
            return
        if not wake_pending[0]:  # a wake already queued will find this item too
            wake_pending[0] = True
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
                loop.call_soon_threadsafe(wake)

    async def until_arrived(timeout: float | None) -> None:
        """Return when an item has arrived, or after `timeout` seconds (None: no limit)."""
        if arrived:
            return
        w = waiter[0] = loop.create_future()
        timer = loop.call_later(timeout, lambda: w.done() or w.set_result(None)) if timeout is not None else None
        try:
            await w
        finally:
            waiter[0] = None
            if timer is not None:
                timer.cancel()

    readers: dict[str, _Reader] = {}
    # Pods whose stream was cut while the container runs on, too soon after it opened to be
    # re-opened yet (a follow must not end while one waits: it is re-opened at a later scan).
    reopening: set[str] = set()
    said: dict[str, str] = {}
    finished_without_log: set[str] = set()
    opened: dict[str, Any] = {}  # pod -> its response, asked for before the first line

    def container_of(pod: dict[str, Any]) -> str | None:
        return opts.container or default_container(pod, fw)

    def start(pod: dict[str, Any], resume_after: str | None = None) -> None:
        meta = pod.get("metadata") or {}
        name = str(meta.get("name"))
        reader = _Reader(name, str(meta.get("uid") or ""), _restarts(pod), last_ts=resume_after,
                         resume_after=resume_after)
        readers[name] = reader
        if opts.follow and not opts.previous:
            _subscribe(api, namespace, reader, container_of(pod), opts, emit, opened.pop(name, None))
            return
        reader.thread = threading.Thread(
            target=_read, args=(api, namespace, reader, container_of(pod), opts, emit, opened.pop(name, None)),
            name=f"dtrain-log-{name}", daemon=True)
        HOUSEKEEPER.start(reader.thread)

    def scan() -> list[LogLine]:
        """Start readers for pods that can be read now; return "waiting" lines for those that cannot."""
        lines = []
        reopening.clear()
        for pod in list_pods():
            meta = pod.get("metadata") or {}
            name = str(meta.get("name"))
            reader = readers.get(name)
            if reader is not None:
                # A pod read once is read again only by a follow whose stream has ended.
                if not (opts.follow and not opts.previous and reader.done):
                    continue
                renewed = str(meta.get("uid") or "") != reader.uid or _restarts(pod) > reader.restarts
                # The API server may end a follow stream while the container runs on (its restart,
                # a proxy's timeout, a dropped connection): re-open it after the last line read.
                # At most once a second per pod, so a stream that ends at once (the container has
                # just exited and the pod cache does not say so yet) is not re-opened in a tight loop.
                # A resumed follow may have joined a shared stream that was being cut as well, so
                # a stream that ends too soon waits for a later scan rather than ending the follow.
                if not renewed:
                    if not reader.stop.is_set() and _running(pod):
                        if time.monotonic() - reader.started < REOPEN_AFTER_S:
                            reopening.add(name)
                        else:
                            start(pod, resume_after=reader.last_ts)
                    continue
                # A new pod of the same name, or a restarted container: its log from the start.
            elif name in finished_without_log:
                continue
            if name in opened or has_log(pod, opts.previous):
                start(pod)
                continue
            if opts.previous:
                # A merged read of previous logs leaves out the pods that never restarted.
                finished_without_log.add(name)
                continue
            text = pod_waiting_line(pod, job_name, fw)
            if said.get(name) != text:
                said[name] = text
                lines.append(LogLine(pod=name, line=text))
            if not opts.follow:
                finished_without_log.add(name)
        return lines

    try:
        if single:
            # One pod's log, or its previous log (the kubelet's to refuse, as kubectl shows it),
            # is asked for now: a refusal is raised before the first line.
            # A follow that joins a stream already open (`shared_follow`) is not refused: it asks nothing.
            for pod in list_pods():
                if opts.previous or has_log(pod, False):
                    meta = pod.get("metadata") or {}
                    name = str(meta.get("name"))
                    container = container_of(pod)
                    key = _follow_key(api, namespace, name, str(meta.get("uid") or ""), _restarts(pod), container)
                    follows = opts.follow and not opts.previous
                    if follows and FOLLOWS.can_join(key, _follow_start(opts)):
                        continue
                    if follows and api.streams_on_loop:
                        opened[name] = await _open_log_on_loop(api, namespace, name, container, opts)
                    else:
                        opened[name] = await loop.run_in_executor(None, _open_log, api, namespace, name, container,
                                                                  opts)
        yield None
        # The pod list is read once a `poll`, and again when a reader ends (a restart, a cut
        # stream, the last pod done), never once a line: each read walks the namespace's pod
        # cache, and with thousands of pods and dozens of followers that walk after every line
        # was most of the server loop's time (issue 18).
        rescan_at = 0.0
        while True:
            if time.monotonic() >= rescan_at:
                for line in scan():
                    yield line
                rescan_at = time.monotonic() + poll
            active = [r for r in readers.values() if not r.done]
            if not active:
                if not opts.follow:
                    return
                if single and readers and not reopening:
                    return
                if not single and job_done() and not [p for p in list_pods() if not has_log(p, False)]:
                    return
            if not arrived:
                await until_arrived(max(0.0, rescan_at - time.monotonic()) if opts.follow or not active else None)
            while arrived:
                item = arrived.popleft()
                if isinstance(item, _Done):
                    item.reader.done = True
                    rescan_at = 0.0
                    if item.error is not None:
                        if single:
                            raise item.error
                        yield LogLine(pod=item.reader.pod, line=f"cannot read log: {item.error.message}")
                else:
                    yield item
    finally:
        for reader in readers.values():
            reader.close()
        for resp in opened.values():  # opened, never read: the caller left first
            drop_response(resp)


async def relay_log_bytes(api: Api, namespace: str, pod: str, container: str | None,
                          opts: LogOptions) -> AsyncGenerator[bytes | None, None]:
    """One pod's log (no follow) as the API server sends it, in chunks, with no per-line work.

    Like `stream_logs`, the first step asks for the log (raising a refusal) and yields None.

    Raises:
        NotFound, InvalidRequest, Forbidden, ClusterError; BackendUnavailable when the
        connection breaks mid-log (a cut log must not pass for a whole one).
    """
    loop = asyncio.get_running_loop()
    resp = await loop.run_in_executor(None, _open_log, api, namespace, pod, container, opts)
    whole = False
    try:
        yield None
        chunks = resp.stream(amt=RELAY_CHUNK, decode_content=True)
        while True:
            try:
                chunk = await loop.run_in_executor(None, next, chunks, None)
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise translate_transport(e, Call("get", "pods/log", namespace, name=pod), api.server) from e
            if chunk is None:
                whole = True
                return
            if chunk:
                yield chunk
    finally:
        if whole:
            with contextlib.suppress(Exception):
                resp.release_conn()
        else:
            drop_response(resp)
