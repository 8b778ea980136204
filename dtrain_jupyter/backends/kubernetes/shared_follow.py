"""One followed log stream per pod and container, shared by everyone following it.

Each follow used to open a stream of its own to the API server: a reader thread and a TLS
connection per pod and per client. Under 50 clients that each followed a job for a second,
that was about 200 TLS handshakes a second, and the reader threads' connects and handshakes
were most of the server process's CPU (issue 18, `benchmarks/findings/server-under-load.md`);
the job history, which follows every running pod, doubled the streams of each followed pod.

An `Upstream` reads one stream and hands each line to every `Subscription`: on the server loop
where the API client can (`Api.astream`), else on a thread of its own.
It keeps its last lines (`RING_LINES`, `RING_BYTES`), so a follower that joins later starts
exactly where a stream of its own would have started (the last N lines, the lines since a
time, every line after a resume point, or the whole log while the upstream still holds it
from its first line), then gets every new line. A follow whose start the kept lines cannot
give opens an upstream of its own, which later followers may share in turn. When its last
follower leaves, an upstream stays open `LINGER_S` seconds for the next one.

A follow that asks for the last N lines joins only a stream that has caught up: one that has
sent a line written after it was opened. Until then the stream may still be sending the log's
earlier lines (the job history reads a running pod's log from its first line), and a follower
joining then would get all the rest of those after its N lines; it opens a stream of its own.
Follows of the whole log, or from a time or a resume point, want those lines and join at once.

Followed streams always carry the kubelet's timestamps; they order the kept lines and are
given to the followers that asked for them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Hashable

import urllib3

from ...errors import DTrainError
from .housekeeping import HOUSEKEEPER

# Lines an upstream keeps for followers that join later (the panel's log view asks for the last
# 500), and the most memory they may take (text, timestamp and about 100 bytes of objects a line),
# whichever is reached first.
RING_LINES = 500
RING_BYTES = 160 * 1024
LINE_OVERHEAD = 100
# Seconds an upstream with no follower left stays open for the next one (a view re-opened, the
# next poll of a client that follows a job for a moment at a time).
LINGER_S = 5.0

Line = tuple["str | None", str]  # (timestamp as sent, text)


def ts_key(ts: str) -> str:
    """A kubelet timestamp's sort key.

    RFC3339Nano drops the fraction's trailing zeros, so as strings "...:05.1Z" sorts after
    "...:05.12Z" and "...:05Z" after "...:05.5Z"; padded to nine digits, the fractions sort by
    time. The kubelet writes UTC ("Z").
    """
    head, _, frac = ts.rstrip("Z").partition(".")
    return f"{head}.{frac[:9].ljust(9, '0')}"


def key_of_time(seconds: float) -> str:
    """`ts_key` of a point in time (seconds since the epoch)."""
    whole = datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{int((seconds % 1) * 1e9):09d}"


def split_timestamp(text: str) -> tuple[str | None, str]:
    """("<timestamp>", "<text>") of a line the kubelet stamped; (None, text) for one it did not."""
    head, sep, rest = text.partition(" ")
    return (head, rest) if sep and head[:2].isdigit() else (None, text)


@dataclass(frozen=True)
class Start:
    """Where a follow starts: what its own stream would have been asked for.

    `after` (a resume point, a `ts_key`) wins over the others, as the re-opened stream asks for
    every line after it; otherwise `since` (a `ts_key`: lines at or after it) and `tail` (the
    last lines of those) combine; none of them is the whole log.
    """

    tail: int | None = None
    since: str | None = None
    after: str | None = None


@dataclass(eq=False)
class Subscription:
    """One follower: `deliver(timestamp, text)` per line, then `finish(error)` once when the stream ends."""

    deliver: Callable[[str | None, str], None]
    finish: Callable[[DTrainError | None], None]
    # Lines before this key (or at it, unless `floor_included`) are not delivered: the stream may
    # still be sending lines from before this follow's start (a resumed follow's, or those of a
    # window opened earlier than this follow's `since`). Cleared by the first line that passes.
    floor: str | None = None
    floor_included: bool = False
    upstream: Upstream | None = None

    def leave(self) -> None:
        if self.upstream is not None:
            self.upstream.leave(self)


@dataclass(eq=False)
class Upstream:
    """One open follow stream of one container, its kept lines and its followers."""

    registry: SharedFollows
    key: Hashable
    # True while the kept lines are the log from its first line (opened without tail, since or
    # resume point, and nothing dropped since).
    whole: bool
    # Every line whose `ts_key` is at or after this one is kept (None: not known yet).
    from_key: str | None
    lock: threading.Lock = field(default_factory=threading.Lock)
    lines: collections.deque[Line] = field(default_factory=collections.deque)
    kept_bytes: int = 0
    followers: list[Subscription] = field(default_factory=list)
    done: bool = False
    resp: Any = None
    # Set when the last follower leaves; that leave's linger timer closes the stream only if the
    # token is still the same (no follower came, and no later leave started a timer of its own).
    idle: object | None = None
    # `ts_key` of the moment the stream was asked for, and whether a line written since has come.
    opened_key: str = field(default_factory=lambda: key_of_time(time.time()))
    caught_up: bool = False
    task: asyncio.Task[None] | None = None  # the loop's read, where the stream is read there

    # ---- followers (the server loop) ------------------------------------------------------
    def join(self, sub: Subscription, start: Start, creator: bool) -> bool:
        """Add `sub`, first handing it the kept lines its start asks for; False when they cannot be given.

        The creator (the follow that opened this stream) is given every line the stream sends.
        """
        with self.lock:
            if self.done:
                return False
            if not creator:
                replay = self._replay(start)
                if replay is None:
                    return False
                for ts, text in replay:
                    sub.deliver(ts, text)
            if start.after is not None:
                sub.floor, sub.floor_included = start.after, False
            elif start.since is not None and not creator:  # the creator's stream was asked for its own window
                sub.floor, sub.floor_included = start.since, True
            sub.upstream = self
            self.followers.append(sub)
            self.idle = None
            return True

    def _replay(self, start: Start) -> list[Line] | None:
        if start.after is None and start.tail is not None and not self.caught_up:
            return None  # its last lines are not known yet (see the module's docstring)
        if start.after is not None:
            if not (self.whole or (self.from_key is not None and self.from_key <= start.after)):
                return None
            return [x for x in self.lines if x[0] is None or ts_key(x[0]) > start.after]
        if start.since is not None:
            if not (self.whole or (self.from_key is not None and self.from_key <= start.since)):
                return None
            chosen = [x for x in self.lines if x[0] is None or ts_key(x[0]) >= start.since]
        elif start.tail is not None:
            if not (self.whole or len(self.lines) >= start.tail):
                return None
            chosen = list(self.lines)
        elif self.whole:
            chosen = list(self.lines)
        else:
            return None
        if start.tail is not None:
            chosen = chosen[-start.tail:] if start.tail > 0 else []
        return chosen

    def leave(self, sub: Subscription) -> None:
        with self.lock:
            if sub in self.followers:
                self.followers.remove(sub)
            if self.followers or self.done:
                return
            self.idle = token = object()
        HOUSEKEEPER.call_later(LINGER_S, partial(self._close_if_idle, token))

    def _close_if_idle(self, token: object) -> None:  # on the housekeeping thread
        with self.lock:
            if self.idle is not token:
                return
        self.shut()

    def shut(self) -> None:
        """Close the stream now (from any thread); its followers are told it ended."""
        with self.lock:
            if self.done:
                return
            self.done = True  # with `resp` read under the same lock: a stream opened later is dropped
            resp = self.resp
        if resp is not None:
            with contextlib.suppress(Exception):
                resp.shutdown()  # unblocks the reading thread, or ends the loop's read
        self._end(None)

    # ---- the stream ------------------------------------------------------------------------
    def run(self, open_stream: Callable[[], Any], opened: Any = None) -> None:
        """Read the stream on this thread (a urllib3 response) until it ends or is shut."""
        error: DTrainError | None = None
        try:
            resp = opened if opened is not None else open_stream()
            if not self._hold(resp):
                return
            rest = b""
            try:
                for chunk in resp.stream(amt=None, decode_content=True):
                    if self.done:
                        break
                    rest = self._take(rest, chunk)
                if rest and not self.done:
                    self._hand_out([rest])
            except (urllib3.exceptions.HTTPError, OSError):
                pass  # the stream ended under us (closed, pod gone, server restart)
            finally:
                with contextlib.suppress(Exception):
                    resp.release_conn()
        except DTrainError as e:
            error = e
        finally:
            self._end(error)

    async def run_on_loop(self, open_stream: Callable[[], Awaitable[Any]], opened: Any = None) -> None:
        """Read the stream on the server loop (a `loop_stream.LoopStream`): each piece of it is
        handed out in the loop pass that read it, until it ends or is shut."""
        error: DTrainError | None = None
        resp = None
        try:
            resp = opened if opened is not None else await open_stream()
            if not self._hold(resp):
                return
            rest = [b""]

            def take(piece: bytes) -> None:
                if not self.done:
                    rest[0] = self._take(rest[0], piece)

            resp.start(take)
            try:
                await resp.ended
            except OSError:
                pass  # the stream ended under us (closed, pod gone, server restart)
            else:
                if rest[0] and not self.done:
                    self._hand_out([rest[0]])
        except DTrainError as e:
            error = e
        finally:
            if resp is not None:
                resp.close()  # a no-op once the body has ended
            self._end(error)

    def _hold(self, resp: Any) -> bool:
        """Keep the opened stream (so a close can shut it); False, and the stream dropped, when
        every follower left, and the linger passed, while it was being opened."""
        with self.lock:
            self.resp = resp
            closed = self.done
        if closed:
            drop_response(resp)
        return not closed

    def _take(self, rest: bytes, piece: bytes) -> bytes:
        """Hand out the lines `rest + piece` completes; returns the unfinished line after them."""
        rest += piece
        if b"\n" in rest:
            *complete, rest = rest.split(b"\n")
            self._hand_out(complete)
        return rest

    def _hand_out(self, raws: list[bytes]) -> None:
        with self.lock:
            for raw in raws:
                ts, text = split_timestamp(raw.decode("utf-8", "replace").rstrip("\r"))
                self._keep(ts, text)
                for sub in self.followers:
                    if sub.floor is not None and ts is not None:
                        key = ts_key(ts)
                        if key < sub.floor or (key == sub.floor and not sub.floor_included):
                            continue  # from before where this follow starts
                        sub.floor = None
                    sub.deliver(ts, text)

    def _keep(self, ts: str | None, text: str) -> None:
        if ts is not None and not (self.caught_up and self.from_key is not None):
            key = ts_key(ts)
            if self.from_key is None:
                self.from_key = key
            if key >= self.opened_key:
                self.caught_up = True
        self.lines.append((ts, text))
        self.kept_bytes += _size(ts, text)
        while len(self.lines) > RING_LINES or (self.kept_bytes > RING_BYTES and len(self.lines) > 1):
            self.kept_bytes -= _size(*self.lines.popleft())
            self.whole = False
            first = self.lines[0][0]
            if first is not None:
                self.from_key = ts_key(first)

    def _end(self, error: DTrainError | None) -> None:
        with self.lock:
            self.done = True
            followers, self.followers = self.followers, []
        self.registry.forget(self)
        for sub in followers:
            sub.finish(error)


class SharedFollows:
    """The open upstreams, by (API client, namespace, pod, pod uid, container)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Hashable, list[Upstream]] = {}

    def can_join(self, key: Hashable, start: Start) -> bool:
        """Whether an open upstream could give a follow starting at `start` its first lines now."""
        with self._lock:
            ups = list(self._open.get(key, ()))
        for up in ups:
            with up.lock:
                if not up.done and up._replay(start) is not None:
                    return True
        return False

    def follow(self, key: Hashable, start: Start, sub: Subscription, open_stream: Callable[[], Any],
               name: str, holds_from: str | None = None, opened: Any = None, on_loop: bool = False) -> None:
        """Join an open upstream that can start `sub` where it asks, or open one.

        `open_stream` asks the API server for this follow's own stream, unless `opened` is that
        stream already; `holds_from` is the `ts_key` from which that stream sends every line,
        where its ask says so (the window of a `since` or of a resume point). With `on_loop`,
        `open_stream` is a coroutine function and the stream is read by a task on the running
        loop (called from it); else `open_stream` blocks and a new thread reads the stream.
        `name` names that task or thread.
        """
        with self._lock:
            ups = list(self._open.get(key, ()))
        for up in ups:
            if up.join(sub, start, creator=False):
                if opened is not None:
                    HOUSEKEEPER.call(partial(drop_response, opened))
                return
        whole = start.tail is None and start.since is None and start.after is None
        up = Upstream(self, key, whole=whole, from_key=holds_from)
        up.join(sub, start, creator=True)
        with self._lock:
            self._open.setdefault(key, []).append(up)
        if on_loop:
            up.task = asyncio.get_running_loop().create_task(up.run_on_loop(open_stream, opened), name=name)
        else:
            HOUSEKEEPER.start(threading.Thread(target=up.run, args=(open_stream, opened), name=name, daemon=True))

    def shut_all(self, client: Hashable) -> None:
        """Close every open upstream whose key starts with `client`, an API client whose backend is
        stopping: a stream read on a loop that will not run again would otherwise stay open, and
        on the books, for good."""
        with self._lock:
            ups = [up for key, group in self._open.items() if isinstance(key, tuple) and key[:1] == (client,)
                   for up in group]
        for up in ups:
            up.shut()

    def forget(self, up: Upstream) -> None:
        with self._lock:
            ups = self._open.get(up.key)
            if ups is not None and up in ups:
                ups.remove(up)
                if not ups:
                    del self._open[up.key]

    def open_count(self) -> int:
        with self._lock:
            return sum(len(ups) for ups in self._open.values())


def _size(ts: str | None, text: str) -> int:
    return len(text) + (len(ts) if ts else 0) + LINE_OVERHEAD


def drop_response(resp: Any) -> None:
    """Close a log response that was not read to its end (its connection cannot be reused)."""
    with contextlib.suppress(Exception):
        resp.close()
    release = getattr(resp, "release_conn", None)  # a urllib3 response; a loop's stream has no pool
    if release is not None:
        with contextlib.suppress(Exception):
            release()


FOLLOWS = SharedFollows()
