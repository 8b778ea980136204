"""Metric ingest: the log bytes the recorder archives, handed to the metric reader process.

The recorder hands every chunk it archives to `feed` (on the event loop). The requests go, in
order, through a queue and a sender thread to the stdin of a process of its own (`metric_worker`):
recognition costs 10-20 s per GB in Python, and in a thread of the server it held the GIL the
event loop needs to relay logs (benchmarks/findings/metrics-ingest.md). The pipe writes block
outside the GIL; the process runs niced, reads the lines, and keeps the points in
`metrics.sqlite3` itself. After each batch it says which records got new points; a reader thread
wakes, on the loop, whoever waits for them.

The recorder's chunks are written (and flushed) to the archive file before they are fed, so for
them only lengths travel: the process reads the bytes back from the file (`begin(written_to=)`),
and the lengths fed in one turn of the loop go as one request. A log followed by lines (the
Kubernetes backend) comes a line per chunk; a request (a pickled copy) per line cost the loop more
than the archive write itself.

A log read again from its start (`begin` for a pod already read: the server restarted, or an
incomplete archive is replaced) replaces that pod's points, and callers get `reset`. Records
archived before metrics were kept are read from their archive files on first request
(`backfill`). TensorBoard event files are read there too (`scalars`): by the service while someone
watches a live job, and by the recorder once more when the job finishes.

The process lives as long as the server: `stop` closes its stdin (so does the server's death) and
it ends. If it dies, it is started again once with a warning (points of the logs it was reading may
be missing); if it dies again, metrics stop with one warning while logs and history go on. It runs
in the history folder, not the server's working directory: `python -m` puts its working directory
first on the module path, where a notebook's `json.py` would replace the standard library's.

One reader process per history folder: servers sharing a folder (docs/history.md) see the same
records and pods, and two readers would each write every point (and each `begin` would replace
the other's). The server that starts first holds `metrics.lock` (an exclusive `flock`) while its
reader runs; another server runs with the ingest off, says so once, and answers /metrics from the
points the first one keeps. With no reader of its own, a server forgets records' points in the
store itself (`forget`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Protocol

from .log_archive import LogArchive
from .metric_store import MetricStore
from .metric_worker import LOG_SOURCES, LONGEST_LINE, TENSORBOARD, frame, rank_of, replica_of

log = logging.getLogger(__name__)

__all__ = ["MetricIngest", "LOG_SOURCES", "LONGEST_LINE", "TENSORBOARD", "rank_of", "replica_of"]

# The file whose exclusive lock the server running the folder's reader process holds.
LOCK_FILE = "metrics.lock"

# Times a reader process that died is started again before metrics stop.
RESTARTS = 1
# Bytes of requests queued for the process past which the recorder waits (`room`): a 1 GB log read
# whole in seconds is recognised at 10-20 s per GB, and what waits must not all sit in memory.
QUEUE_BYTES = 16 << 20
# Bytes written to the pipe in one go at most.
SEND_BYTES = 4 << 20
# Seconds between two looks at a full queue.
ROOM_POLL_S = 0.01
# Seconds `stop` waits for the process to write what it was given before it is killed.
STOP_SECONDS = 30.0


class OutputFolder(Protocol):
    """A TensorBoard reader of one output folder (`dtrain_jupyter.tensorboard.scalars.EventScalars`)."""

    root: Path


class MetricIngest:
    """Hands archived log bytes to the metric reader process, which keeps their points in `store`.

    Args:
        store: where points are kept (the server reads it; the process writes the same file).
        archive: the history's log archive (read back for records archived before metrics were kept).
        clock: seconds since the epoch, stamped on log points that carry no time of their own.
        enabled: False: nothing is read (c.DTrain.metrics = False); waiters are never woken. Also
            False after `start` when another server's reader process keeps this folder's points.
    """

    def __init__(self, store: MetricStore, archive: LogArchive, *, clock: Callable[[], float] = time.time,
                 enabled: bool = True) -> None:
        self.store, self.archive, self.clock, self.enabled = store, archive, clock, enabled
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        # Request numbers: the last given, the last written to the process, the last it acknowledged;
        # and the last given per record (busy while above the acknowledged one).
        self._seq = self._sent = self._acked = 0
        self._queued_bytes = 0
        self._last_of: dict[int, int] = {}
        self._state = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._changed: dict[int, asyncio.Event] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._restarts = 0
        self.dead = False
        # Pods whose bytes the process reads from their archive file (only lengths are sent), and
        # the bytes fed since the loop last sent their lengths.
        self._from_file: set[tuple[int, str]] = set()
        self._lengths: dict[tuple[int, str], int] = {}
        # The open `metrics.lock` whose lock this server holds while its reader process runs.
        self._lock_fd: int | None = None

    # -- life --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader process and its two threads; waiters are woken on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        if self._threads or not self.enabled:
            return
        if not self._take_lock():
            self.enabled = False
            return
        try:
            self._proc = self._spawn()
        except OSError as e:
            log.warning("dtrain: metrics are off: the metric reader process cannot start: %s", e)
            self._give_up()
            return
        for target, name in ((self._send, "dtrain metric sender"), (self._hear, "dtrain metric acknowledgements")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _take_lock(self) -> bool:
        """Take the folder's reader lock; False when another server's reader process holds it."""
        path = self.store.path.parent / LOCK_FILE
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            log.warning("dtrain: metrics are off: %s cannot be opened: %s", path, e)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            log.warning("dtrain: another server sharing the history folder %s reads its metrics (it holds %s): "
                        "this server reads none itself, and answers with the points that one keeps",
                        path.parent, LOCK_FILE)
            return False
        except OSError as e:
            # A filesystem without locks (docs/history.md asks for one): one server reads as before.
            log.warning("dtrain: %s cannot be locked (%s): a second server sharing this history folder would "
                        "read every metric twice", path, e)
        self._lock_fd = fd
        return True

    def _release_lock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the last descriptor of the file releases its lock

    def _spawn(self) -> subprocess.Popen[bytes]:
        folder = self.store.path.parent
        # Started by path rather than `-m` from the server's working directory, where a notebook's
        # `json.py` or `select.py` would be imported in place of the standard library's: `-c` puts
        # its own working directory (the history folder) first on the module path, and the package
        # the server runs goes last, found there too when the server runs from a source checkout.
        package_root = str(Path(__file__).resolve().parents[2])
        start = (f"import sys; sys.path.append({package_root!r}); "
                 "from dtrain_jupyter.history.metric_worker import main; main()")
        return subprocess.Popen(
            [sys.executable, "-c", start, str(folder), "--max-points", str(self.store.max_points)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=folder)

    async def stop(self) -> None:
        """Have the process write what it was given, and end it and the threads."""
        threads, self._threads = self._threads, []
        if not threads:
            self._release_lock()
            return
        with self._state:
            # Under the lock: no request is queued after the end (`_put` drops it then).
            self._stopping = True
            self._queue.put(None)
        await asyncio.to_thread(self._end_process)
        for thread in threads:
            await asyncio.to_thread(thread.join)
        self._release_lock()

    def _end_process(self) -> None:
        proc = self._proc
        if proc is None:
            return
        try:
            proc.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("dtrain: the metric reader process did not end in %gs; killed", STOP_SECONDS)
            proc.kill()
            proc.wait()

    def flush(self, timeout: float = 30.0) -> None:
        """Block until everything given so far is written (for tests and benchmarks; not on the loop)."""
        loop = self._loop
        if loop is not None and not loop.is_closed() and not self._on_loop():
            # Through the loop: the lengths it has not sent yet go before the request waited for.
            asked: concurrent.futures.Future[int | None] = concurrent.futures.Future()
            loop.call_soon_threadsafe(lambda: asked.set_result(self._put(-1, ("sync",))))
            seq = asked.result(timeout)
        else:
            seq = self._put(-1, ("sync",))
        if seq is None:
            return  # no reader process: nothing to wait for
        with self._state:
            if not self._state.wait_for(lambda: self._acked >= seq or self.dead, timeout):
                raise TimeoutError("metric ingest still busy")

    def _on_loop(self) -> bool:
        return self._loop_thread == threading.get_ident()

    @property
    def pid(self) -> int | None:
        """The reader process's id (None: none runs)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- what the recorder and the service hand over (the loop) --------------------------------

    def begin(self, record_id: int, job_name: str, pod: str, *, written_to: Path | None = None,
              renamed_to: Path | None = None) -> None:
        """A pod's log is read from its start: its earlier points (if any) are replaced.

        `written_to`: the file each fed chunk is written (and flushed) to before it is fed, from
        its first byte; the process then reads the bytes from that file (from `renamed_to` once it
        was renamed there), and only their lengths travel: a 1 GB log read whole is not copied
        through the server a second time.
        """
        files = None if written_to is None else (str(written_to), str(renamed_to or written_to))
        if files is not None:
            self._from_file.add((record_id, pod))
        else:
            self._from_file.discard((record_id, pod))
        self._put(record_id, ("begin", record_id, job_name, pod, files))

    def feed(self, record_id: int, pod: str, chunk: bytes) -> None:
        """The next bytes of a pod's log (any split: lines are joined across chunks)."""
        key = (record_id, pod)
        if key in self._from_file:
            # A log followed by lines comes a line per chunk: a request per line would cost the loop
            # more than the line. The lengths fed in one turn of the loop go as one request (the loop
            # alone touches `_lengths`: no lock per line).
            lengths = self._lengths
            if not lengths and self._loop is not None:
                self._loop.call_soon(self._send_lengths)
            lengths[key] = lengths.get(key, 0) + len(chunk)
            return
        self._put(record_id, ("feed", record_id, pod, chunk, self.clock()))

    def _send_lengths(self) -> None:
        lengths, self._lengths = self._lengths, {}
        when = self.clock()
        for (record_id, pod), size in lengths.items():
            self._put(record_id, ("feed", record_id, pod, size, when))

    def end(self, record_id: int, pod: str) -> None:
        """The pod's log read ended: a last line without its newline is read too."""
        self._from_file.discard((record_id, pod))
        self._put(record_id, ("end", record_id, pod, self.clock()))

    def backfill(self, record_id: int, job_name: str) -> None:
        """Read a record's archived logs, unless its logs were read already (on first request for a
        record archived before metrics were kept)."""
        self._put(record_id, ("backfill", record_id, job_name))

    def scalars(self, record_id: int, folder: Path | OutputFolder, *, last: bool = False) -> None:
        """Read the new TensorBoard scalars under a job's output folder (a path, or a reader of it)
        into the record's "tensorboard" points. The process keeps one reader per folder, so each
        call reads only what was written since the last; `last`: the job finished, nothing more
        will be written, and the process lets go of that reader after this read."""
        root = folder if isinstance(folder, (str, Path)) else folder.root
        self._put(record_id, ("scalars", record_id, str(root), last))

    def forget(self, record_ids: Iterable[int]) -> None:
        """The records went (forget, retention): drop their points and any pod being read.

        Through the reader process while it runs (after the points it still holds of them); in the
        store at once when none does (metrics off, another server's reader, or it died), or their
        points would stay forever.
        """
        ids = {int(i) for i in record_ids}
        if ids and (not self._threads or self._put(-1, ("forget", ids)) is None):
            self.store.forget(ids)

    @property
    def full(self) -> bool:
        """Whether the queue holds more than QUEUE_BYTES: the caller should await `room`."""
        return self._queued_bytes > QUEUE_BYTES

    async def room(self) -> None:
        """Wait while the queue is full (the process is behind); a log read whole then goes at the
        pace of recognition rather than holding the log in memory."""
        while self.full and self._threads and not self.dead:
            await asyncio.sleep(ROOM_POLL_S)

    def busy(self, record_id: int) -> bool:
        """Whether something given for the record is not yet written."""
        with self._state:
            return self._last_of.get(record_id, 0) > self._acked

    def changed(self, record_id: int) -> asyncio.Event:
        """An event set (on the loop) when the record's next batch is written; take it before
        reading the store, then wait on it."""
        event = self._changed.get(record_id)
        if event is None:
            event = self._changed[record_id] = asyncio.Event()
        return event

    def _put(self, record_id: int, item: tuple[Any, ...]) -> int | None:
        """Queue a request; its number, or None when no reader process will handle it."""
        if self._lengths and item[0] != "feed" and self._on_loop():
            self._send_lengths()  # bytes fed before this request go first
        with self._state:
            if not self.enabled or self.dead or self._stopping:
                return None
            self._seq += 1
            self._last_of[record_id] = self._seq
            # Queued under the lock: the queue's order is the numbers' order.
            data = frame((self._seq, *item))
            self._queued_bytes += len(data)
            self._queue.put(data)
            return self._seq

    # -- the threads ---------------------------------------------------------------------------------

    def _send(self) -> None:
        """Write queued requests to the process's stdin (writes block outside the GIL)."""
        while True:
            frames = [self._queue.get()]
            size = len(frames[0] or b"")
            while frames[-1] is not None and size < SEND_BYTES:
                try:
                    frames.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                size += len(frames[-1] or b"")
            with self._state:
                self._queued_bytes -= size
            with self._pipe_lock:
                proc = self._proc
                if proc is not None and proc.stdin is not None:
                    try:
                        for data in frames:
                            if data is not None:
                                proc.stdin.write(data)
                        proc.stdin.flush()
                    except (BrokenPipeError, OSError, ValueError):
                        pass  # the process died: `_hear` starts another, these requests are lost
                    if frames[-1] is None:
                        _close(proc.stdin)
                with self._state:
                    # Requests are numbered in queue order (`_put` queues under this lock), so the
                    # last one sent is the last one given less those still queued.
                    self._sent = self._seq - self._queue.qsize()
            if frames[-1] is None:
                return

    def _hear(self) -> None:
        """Read the process's acknowledgements and wake the waiters; start it again if it dies."""
        while True:
            proc = self._proc
            if proc is None or proc.stdout is None:
                return
            for line in proc.stdout:
                try:
                    answer = json.loads(line)
                    seq, touched = int(answer["seq"]), set(answer["touched"])
                except (ValueError, KeyError, TypeError):
                    continue
                with self._state:
                    self._acked = max(self._acked, seq)
                    if len(self._last_of) > 256:
                        self._last_of = {k: v for k, v in self._last_of.items() if v > self._acked}
                    self._state.notify_all()
                self._call_on_loop(self._wake, touched)
            code = proc.wait()
            if self._stopping:
                return
            if not self._restart(code):
                return

    def _restart(self, code: int) -> bool:
        """The process died (not stopped): start another once; then give up. Whether one runs."""
        with self._pipe_lock:
            _close(self._proc.stdin if self._proc is not None else None)
            if self._restarts < RESTARTS:
                self._restarts += 1
                log.warning("dtrain: the metric reader process ended (exit code %s); starting it again (points of "
                            "logs being read now may be missing)", code)
                try:
                    self._proc = self._spawn()
                except OSError as e:
                    log.warning("dtrain: metrics are off: the metric reader process cannot start: %s", e)
                else:
                    with self._state:
                        # What the dead process was sent is lost: nobody waits for it any more.
                        self._acked = max(self._acked, self._sent)
                        self._state.notify_all()
                    self._call_on_loop(self._wake, None)
                    return True
            else:
                log.warning("dtrain: the metric reader process ended again (exit code %s): metrics are off until the "
                            "server restarts; logs and history go on", code)
            self._proc = None
        self._give_up()
        return False

    def _give_up(self) -> None:
        with self._state:
            self.dead = True
            self._acked = self._seq
            self._state.notify_all()
        self._call_on_loop(self._wake, None)

    def _call_on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(callback, *args)
            except RuntimeError:  # the loop closed meanwhile (shutdown)
                pass

    def _wake(self, record_ids: set[int] | None) -> None:
        """Wake the waiters of these records (None: all of them)."""
        for record_id in list(self._changed) if record_ids is None else record_ids:
            event = self._changed.pop(record_id, None)
            if event is not None:
                event.set()


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        try:
            stream.close()
        except OSError:
            pass  # its process is gone: nothing left to flush to
