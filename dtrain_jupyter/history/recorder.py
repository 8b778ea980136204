"""The history recorder: the service's change feed in, records and archived logs out.

It hears every job change of every backend (`JobService.subscribe`), keeps the job in the store,
then looks at the job's pods and events and archives each pod's log:
- a Running pod is followed from its first line, so its log is kept even when the operator
  (cleanPodPolicy) or a TTL removes the pod the moment it ends;
- a pod that ended is read whole, once, unless its log is archived already;
- a pod that does not run yet is looked at again soon, so it is followed once it runs even when
  no change of its job comes in between (its job's change and the pod can arrive in either order);
- a job that finished is looked at once more a little later, for its operator's last events.
Each archive is written to a file of its own writer and renamed into place when complete, so a
server killed mid-log (or a second server archiving the same pod) never leaves a torn file;
a server that starts again reads the logs it had not finished, and takes over the partial files
a killed server of this host left (kept as incomplete logs until a whole read replaces them).

Costs are bounded: at most `max_follows` pods are followed at once (more are read whole when
they end), whole reads go `READ_AT_ONCE` at a time, changes to one job that arrive together are
recorded once, and jobs already finished when first seen are archived last, in the background.
A full disk stops archiving with one warning (the jobs run on); the log that filled it gives
back `STORE_ROOM` of its end so the store keeps working, and `problems` tells each record's
readers why its log stops.

Every chunk archived also goes to the metric ingest (`MetricIngest`, when given), which reads
metric points from it in a process of its own; a log read from its start replaces that pod's points.
A job that finished has its TensorBoard event files read once more, through the ingest.

The recorder knows the service only by the calls it makes (`JobSource`); the backends never
know about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncGenerator, Callable, Iterator, Protocol

from ..errors import DTrainError, NotFound
from ..model.code_archive import CodeArchive, code_configmap_of
from ..model.job import Event, Job, Pod
from ..model.status import Phase
from .log_archive import ArchiveFull, ArchiveWriter, LogArchive
from .metric_ingest import MetricIngest
from .store import HistoryStore

log = logging.getLogger(__name__)

# Whole-log reads of ended pods at once (each is one stream from the backend).
READ_AT_ONCE = 4
# Live jobs' pods and events are looked at again this often, besides on each change of the job
# (a pod may start or end without its job's status changing).
REFRESH_SECONDS = 15.0
# A followed log that is caught up is read again this long after its last line (see `_copy`).
FOLLOW_PAUSE_SECONDS = 0.25
CAUGHT_UP_SECONDS = 0.01
# A job that finished is looked at once more this long after (its operator's last events).
FINAL_LOOK_SECONDS = 3.0
# A live job's pods that do not run yet are looked at again this often: a pod may start, and in a
# short job end and be removed (cleanPodPolicy) before any change of its job is heard, and the
# job change that said a replica is active can reach this server before its pod cache does.
PENDING_LOOK_SECONDS = 1.0
# Retention runs this often (and once at start).
PRUNE_SECONDS = 600.0
_ENDED = ("Succeeded", "Failed")
_FINISHED_PHASES = (Phase.SUCCEEDED.value, Phase.FAILED.value)
# A log file being written has this suffix plus its writer (host and pid): two servers on one
# history folder each write their own and the last complete one is kept.
PARTIAL = ".partial"
# A log that filled the disk gives back this much of its end (cut at a line), so the store can
# still write the job's record (its finish, and why its log stops): the record matters more.
STORE_ROOM = 256 * 1024
# How far back from that cut a line's end is looked for (a longer last line is dropped whole).
READ_WINDOW = 64 * 1024


class JobSource(Protocol):
    """What the recorder asks of the service (`dtrain_jupyter.service.JobService`)."""

    def subscribe(self, listener: Callable[[str, Job], None]) -> None: ...

    def unsubscribe(self, listener: Callable[[str, Job], None]) -> None: ...

    # history=False: the live answers only (the recorder must never archive its own archive).
    async def pods(self, backend: str | None, namespace: str | None, kind: str, name: str, *,
                   history: bool) -> list[Pod]: ...

    async def events(self, backend: str | None, namespace: str | None, kind: str, name: str, *,
                     history: bool) -> list[Event]: ...

    async def code_archive(self, backend: str | None, namespace: str | None, kind: str, name: str, *,
                           history: bool) -> CodeArchive | None: ...

    async def log_text(self, backend: str | None, namespace: str | None, kind: str, name: str,
                       **options: Any) -> AsyncGenerator[bytes, None]: ...

    async def output_root(self, backend: str | None, namespace: str | None, kind: str, name: str) -> Path: ...


@dataclass(frozen=True)
class Retention:
    """How much history is kept; 0 is no limit. Only finished or deleted jobs are ever forgotten."""

    max_records: int = 10_000
    max_age_days: float = 90.0
    max_log_bytes: int = 5 * 1024 ** 3


class HistoryRecorder:
    """Keeps `store` and `archive` up to date with what `source` reports.

    Args:
        store, archive: the history folder's records and logs.
        source: the service.
        retention: what to keep.
        max_follows: pods followed at once.
        ingest: where archived log bytes also go, for their metric points (None, or not enabled:
            nowhere); forgotten records' points go through it too.
    """

    def __init__(self, store: HistoryStore, archive: LogArchive, source: JobSource, *,
                 retention: Retention = Retention(), max_follows: int = 64,
                 permits: Callable[[str], bool] = lambda _namespace: True,
                 ingest: MetricIngest | None = None) -> None:
        self.store, self.archive, self.source = store, archive, source
        self.ingest = ingest
        # Jobs in namespaces the server may not touch (c.DTrain.allowed_namespaces) are not kept.
        self.permits = permits
        self.retention = retention
        self.max_follows = max_follows
        self._loop: asyncio.AbstractEventLoop | None = None
        # Changes heard and not yet recorded: the latest (change, job) per job instance.
        self._pending: dict[tuple[str, str], tuple[str, Job]] = {}
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._copies: dict[tuple[int, str], asyncio.Task[None]] = {}
        self._later: set[asyncio.Task[None]] = set()
        # Records whose pods are looked at again soon because some did not run yet, and the wait
        # before the next such look of each.
        self._soon: set[int] = set()
        self._pending_waits: dict[int, float] = {}
        self._follows = 0
        self._reads = asyncio.Semaphore(READ_AT_ONCE)
        self._live: dict[tuple[str, str], tuple[int, Job]] = {}
        # Records of finished jobs whose last logs and scalars are still to be read.
        self._finishing: set[int] = set()
        self._backlog: asyncio.Queue[tuple[int, Job]] = asyncio.Queue()
        self._full_warned = False
        self._full_problem = ""
        self._writer_tag = f"{socket.gethostname()}-{os.getpid()}"
        # Why an archive stopped early, by record id, for the record's readers.
        self.problems: dict[int, str] = {}

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self.source.subscribe(self._heard)
        self._tasks = [asyncio.create_task(loop(), name=f"dtrain history {loop.__name__}")
                       for loop in (self._record_loop, self._refresh_loop, self._backlog_loop, self._prune_loop)]

    async def stop(self) -> None:
        """Stop hearing changes and cancel every copy; unfinished logs are read again next start."""
        self.source.unsubscribe(self._heard)
        tasks = [*self._tasks, *self._later, *self._copies.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._copies, self._later = [], {}, set()
        self._soon.clear()
        self._pending_waits.clear()

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait until every change heard so far is recorded and no copy runs (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while self._pending or self._copies or not self._backlog.empty():
            if time.monotonic() > deadline:
                raise TimeoutError(f"history still busy: {len(self._pending)} changes, {len(self._copies)} logs")
            await asyncio.sleep(0.05)

    def live(self) -> list[tuple[int, Job]]:
        """(record id, job as last heard) of every job recorded as on the cluster and not finished."""
        return list(self._live.values())

    def reading(self, record_id: int) -> bool:
        """Whether a log of the record is being archived now (followed or read whole), or the
        record is finished and its last logs and TensorBoard scalars are still to be read."""
        return record_id in self._finishing or any(key[0] == record_id for key in self._copies)

    # -- hearing changes (any thread) ----------------------------------------------------

    def _heard(self, change: str, job: Job) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._queue, change, job)

    def _queue(self, change: str, job: Job) -> None:
        if not self.permits(job.namespace):
            return
        key = (job.backend, job.uid or job.name)
        previous = self._pending.get(key)
        # A DELETED heard after other changes must stay a delete; the job it carries is the last state.
        self._pending[key] = ("DELETED" if previous and previous[0] == "DELETED" else change, job)
        self._wake.set()

    # -- the loops ------------------------------------------------------------------------

    async def _record_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                key = next(iter(self._pending))
                change, job = self._pending.pop(key)
                try:
                    await self._record(change, job)
                except Exception:  # noqa: BLE001 - one bad job must not stop the history of all others
                    log.exception("dtrain: could not record %s %s/%s in the job history", job.kind,
                                  job.namespace, job.name)
                # Thousands of changes arrive together when a backend loads its jobs: let the
                # server's requests run between two of them.
                await asyncio.sleep(0)

    async def _record(self, change: str, job: Job) -> None:
        key = (job.backend, job.uid or job.name)
        known = self.store.phase_of(job.backend, job.uid) if job.uid else None
        if known in _FINISHED_PHASES and not job.phase.finished:
            # A finished job being deleted says "Deleting" (a Foreground delete, as the TTL
            # controller sends, shows it for a while), then goes: its last state is the finished one.
            if change == "DELETED":
                self._live.pop(key, None)
                self.store.mark_deleted(job.backend, job.uid)
            return
        if change == "DELETED" and not job.phase.finished:
            # The last state of a job deleted mid-run says Running or Deleting; its record says what happened.
            job = dataclasses.replace(job, status=dataclasses.replace(
                job.status, phase=Phase.DELETED, reason="Deleted",
                message="deleted from the cluster before it finished"))
        first_sight = known is None and bool(job.uid)
        record_id = self.store.record_job(job)
        if change != "DELETED" and job.phase.finished:
            # Recorded as finished; its last logs and scalars are still to be read (see `reading`).
            self._finishing.add(record_id)
        backlogged = False
        try:
            if first_sight and code_configmap_of(job.manifest) is not None:
                await self._keep_code(record_id, job)
            if change == "DELETED":
                self._live.pop(key, None)
                self.store.mark_deleted(job.backend, job.uid or "")
                return
            if first_sight and job.phase.finished:
                # Finished before this server saw it: its logs are still on the cluster; archive
                # them after the jobs that run now (it stays in `_finishing` until then).
                self._backlog.put_nowait((record_id, job))
                backlogged = True
                return
            self._live[key] = (record_id, job)
            if change == "ADDED" and first_sight and job.phase == Phase.PENDING:
                # Just created: no pod of it can run yet, and looking now would only compete with
                # the start of its replicas (the local backend starts them right after this
                # change). The change that says they run brings the first look, or the pending
                # look does if that change is slow to come.
                self._look_soon(record_id, job)
                return
            await self._look_at_pods(record_id, job)
            if job.phase.finished:
                self._live.pop(key, None)
                await self._last_scalars(record_id, job)
                self._look_again_later(record_id, job)
        finally:
            if not backlogged:
                self._finishing.discard(record_id)

    async def _last_scalars(self, record_id: int, job: Job) -> None:
        """Have the ingest read the finished job's TensorBoard event files once more: the scalars
        written last (a writer flushes when it closes) would otherwise wait for someone to ask."""
        if self.ingest is None or not self.ingest.enabled:
            return
        try:
            root = await self.source.output_root(job.backend, job.namespace, job.kind, job.name)
        except DTrainError:
            return  # no output folder, or not mounted on this server: no scalars to read
        # The last read of this folder: the reader process lets go of its reader after it.
        self.ingest.scalars(record_id, root, last=True)

    def _look_again_later(self, record_id: int, job: Job) -> None:
        """Look at a job that just finished once more, FINAL_LOOK_SECONDS on: the operator writes its
        last events (and removes pods, cleanPodPolicy) after the status change this server heard,
        and no later change of the job would bring them."""
        async def look() -> None:
            await asyncio.sleep(FINAL_LOOK_SECONDS)
            await self._look_at_pods(record_id, job)

        task = asyncio.create_task(look(), name=f"dtrain history last look {job.name}")
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    async def _keep_code(self, record_id: int, job: Job) -> None:
        """Copy a script-folder job's code while its ConfigMap (or job folder) exists: a re-run needs it."""
        try:
            code = await self.source.code_archive(job.backend, job.namespace, job.kind, job.name, history=False)
        except DTrainError as e:
            log.debug("dtrain: history could not read the code of %s: %s", job.name, e.message)
            return
        if code is not None:
            try:
                await asyncio.to_thread(self.archive.keep_code, record_id, code)
            except OSError as e:
                log.warning("dtrain: the job history could not keep the code of %s: %s", job.name, e)

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            for record_id, job in list(self._live.values()):
                with _logged("look again at", job):
                    await self._look_at_pods(record_id, job, events=False)

    async def _backlog_loop(self) -> None:
        while True:
            record_id, job = await self._backlog.get()
            try:
                with _logged("archive", job):
                    await self._look_at_pods(record_id, job)
                    await self._last_scalars(record_id, job)
                while any(k[0] == record_id for k in self._copies):
                    await asyncio.sleep(0.1)
            finally:
                self._finishing.discard(record_id)
                self._backlog.task_done()

    async def _prune_loop(self) -> None:
        await asyncio.to_thread(self.recover_partials)
        while True:
            try:
                await asyncio.to_thread(self.prune)
            except Exception:  # noqa: BLE001 - a locked or full database now is tried again next time
                log.exception("dtrain: pruning the job history failed; trying again in %d s", PRUNE_SECONDS)
            await asyncio.sleep(PRUNE_SECONDS)

    def recover_partials(self) -> int:
        """Take over the partial log files that writers of this host which no longer run left behind
        (a server killed mid-log): each becomes the pod's log, marked incomplete, unless a log is
        archived already, and then it goes. Another host's partial files are left to that host.
        Returns how many were found.
        """
        found = 0
        for partial in self.archive.root.glob(f"*/*.log{PARTIAL}-*"):
            name, _, writer = partial.name.rpartition(f"{PARTIAL}-")
            host, _, pid = writer.rpartition("-")
            if host != socket.gethostname() or not pid.isdigit() or _running(int(pid)):
                continue
            found += 1
            target = partial.with_name(name)
            try:
                try:
                    # A link never replaces: a copy that wrote the whole log meanwhile keeps it.
                    os.link(partial, target)
                except FileExistsError:
                    partial.unlink()
                    continue
                except OSError:  # a filesystem without hard links
                    if target.exists():
                        partial.unlink()
                        continue
                    os.replace(partial, target)
                partial.unlink(missing_ok=True)
                record_id = int(target.parent.name)
                pod, _, container = target.name[:-len(".log")].partition(".")
                self.archive.set_complete(record_id, pod, False, container)
                self.store.add_log_bytes(record_id, target.stat().st_size)
            except (OSError, ValueError) as e:
                log.warning("dtrain: the job history could not take over %s: %s", partial, e)
        return found

    def prune(self) -> int:
        """Forget what is over the retention limits, logs included; returns how many records went."""
        r = self.retention
        chosen = self.store.over_retention(max_records=r.max_records, max_age_s=r.max_age_days * 86400,
                                           max_log_bytes=r.max_log_bytes)
        for record_id in chosen:
            self.archive.remove(record_id)
        if self.ingest is not None and chosen:
            self.ingest.forget(chosen)
        return self.store.forget(chosen)

    # -- pods, events, logs ----------------------------------------------------------------

    async def _look_at_pods(self, record_id: int, job: Job, *, events: bool = True) -> None:
        """Keep the job's pods (and events) and start archiving the logs not yet kept."""
        ref = (job.backend, job.namespace, job.kind, job.name)
        try:
            pods = await self.source.pods(*ref, history=False)
            found = await self.source.events(*ref, history=False) if events else []
        except DTrainError as e:
            # Gone already (deleted between the change and now), or the cluster is away: the
            # next change or refresh tries again.
            log.debug("dtrain: history could not read %s %s: %s", job.kind, job.name, e.message)
            return
        self.store.record_pods(record_id, pods)
        if found:
            self.store.record_events(record_id, found)
        for pod in pods:
            self._archive_log(record_id, job, pod)
        if not job.phase.finished and (not pods or any(p.phase not in (*_ENDED, "Running") for p in pods)):
            self._look_soon(record_id, job)
        else:
            self._pending_waits.pop(record_id, None)

    def _look_soon(self, record_id: int, job: Job) -> None:
        """Look at a live job's pods again soon, with the job as last heard then (not at all when it
        finished or went meanwhile: its own change brought a look). The wait doubles while its pods
        still do not run, from PENDING_LOOK_SECONDS up to REFRESH_SECONDS: a job queued for hours
        costs a look per refresh, not one a second."""
        if record_id in self._soon:
            return
        self._soon.add(record_id)
        wait = self._pending_waits.get(record_id, PENDING_LOOK_SECONDS)
        self._pending_waits[record_id] = min(wait * 2, REFRESH_SECONDS)
        key = (job.backend, job.uid or job.name)

        async def look() -> None:
            try:
                await asyncio.sleep(wait)
            finally:
                self._soon.discard(record_id)
            live = self._live.get(key)
            if live is None or live[0] != record_id:
                self._pending_waits.pop(record_id, None)
                return
            with _logged("look again at", live[1]):
                await self._look_at_pods(record_id, live[1], events=False)

        task = asyncio.create_task(look(), name=f"dtrain history pending pods {job.name}")
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def _archive_log(self, record_id: int, job: Job, pod: Pod) -> None:
        key = (record_id, pod.name)
        if key in self._copies:
            return
        if self._full_warned:
            if not self.archive.complete(record_id, pod.name):
                # Archiving stopped on another job's log: this record's readers learn why too.
                self.problems.setdefault(record_id, self._full_problem)
            return
        if pod.phase in _ENDED:
            if self.archive.complete(record_id, pod.name):
                return
            follow = False
        elif pod.phase == "Running" and self._follows < self.max_follows:
            follow = True
        else:
            return
        if follow:
            # Counted here, not when the copy starts: one look may start many copies at once.
            self._follows += 1
        task = asyncio.create_task(self._copy(record_id, job, pod.name, follow), name=f"dtrain archive {pod.name}")
        self._copies[key] = task
        task.add_done_callback(lambda _t: self._copies.pop(key, None))

    async def _copy(self, record_id: int, job: Job, pod: str, follow: bool) -> None:
        target = self.archive.path(record_id, pod)
        partial = target.with_name(f"{target.name}{PARTIAL}-{self._writer_tag}")
        if not follow:
            await self._reads.acquire()
        writer: ArchiveWriter | None = None
        ingest = self.ingest if self.ingest is not None and self.ingest.enabled else None
        try:
            chunks = await self.source.log_text(job.backend, job.namespace, job.kind, job.name, pod=pod,
                                                follow=follow, history=False)
            writer = ArchiveWriter(partial, truncate=True)
            if ingest is not None:
                # Read from its first byte, as the archive: the pod's earlier points are replaced.
                # The metric reader reads the bytes back from the archive file (page cache), so
                # only their lengths go through the server.
                ingest.begin(record_id, job.name, pod, written_to=partial, renamed_to=target)
            loop = asyncio.get_running_loop()
            asked = loop.time()
            try:
                async for chunk in chunks:
                    writer.write(chunk)
                    if ingest is not None:
                        ingest.feed(record_id, pod, chunk)
                    if follow and loop.time() - asked > CAUGHT_UP_SECONDS:
                        # The chunk had to be waited for: the copy is caught up with a slow log,
                        # and each new line would wake it on the loop that also serves the people
                        # following the same log. Reading what came meanwhile at once, a moment
                        # later, takes it out of their way (a fast log, whose chunks come back to
                        # back, is never paused).
                        await asyncio.sleep(FOLLOW_PAUSE_SECONDS)
                    if ingest is not None and ingest.full:
                        # The metric reader is behind: wait for it rather than queue the log in memory.
                        await ingest.room()
                    asked = loop.time()
            except NotFound:
                if not (follow and writer.written):
                    raise
                # The pod went while it was followed (cleanPodPolicy, a delete): its stream ended
                # with it, and re-opening it found no pod. Followed from its first line, what was
                # read is all the cluster will ever give of it.
            finally:
                await chunks.aclose()
            writer.close()
            old = target.stat().st_size if target.exists() else 0
            os.replace(partial, target)
            self.archive.set_complete(record_id, pod, True)
            self.store.add_log_bytes(record_id, writer.written - old)
        except ArchiveFull as e:
            if writer is not None:
                writer.close()
                _give_back_room(partial)
            self._stop_for_full_disk(record_id, e)
        except DTrainError as e:
            log.debug("dtrain: history could not read the log of %s: %s", pod, e.message)
        except OSError as e:
            if e.errno is not None and e.errno in (28, 122):  # ENOSPC, EDQUOT when making the folder
                self._stop_for_full_disk(record_id, e)
            else:
                log.warning("dtrain: archiving the log of %s failed: %s", pod, e)
        except sqlite3.Error as e:  # the byte count could not be written (locked, full): the log is kept
            log.warning("dtrain: the job history could not count the log of %s: %s", pod, e)
        finally:
            if writer is not None:
                writer.close()
                if ingest is not None:
                    ingest.end(record_id, pod)
            if partial.exists() and not target.exists():
                # Ended early (cancelled, the pod went, a read failed): what was read is better
                # than nothing; it is marked incomplete, and a later read replaces it.
                os.replace(partial, target)
                self.archive.set_complete(record_id, pod, False)
                try:
                    self.store.add_log_bytes(record_id, target.stat().st_size)
                except (OSError, sqlite3.Error) as e:
                    log.warning("dtrain: the job history could not count the log of %s: %s", pod, e)
            partial.unlink(missing_ok=True)
            if follow:
                self._follows -= 1
            else:
                self._reads.release()

    def _stop_for_full_disk(self, record_id: int, error: OSError) -> None:
        self.problems[record_id] = f"log archive stopped: {error.strerror or error}"
        if not self._full_warned:
            self._full_warned = True
            self._full_problem = (f"log archive stopped: the job history's disk is full ({error.strerror or error}); "
                                  "logs are archived again once the server restarts with room")
            log.warning("dtrain: the job history's disk is full (%s); logs are no longer archived until "
                        "the server restarts. Running jobs are not affected. Free space or lower "
                        "c.DTrain.history_max_log_bytes.", error)


def _give_back_room(path: os.PathLike[str] | str, room: int = STORE_ROOM) -> None:
    """Cut `room` bytes off the end of a log that filled the disk, at a line's end (all of it
    when it is smaller), so what stays is a clean head of the log."""
    try:
        size = os.path.getsize(path)
        keep = 0
        if size > room:
            with open(path, "rb") as f:
                f.seek(max(0, size - room - READ_WINDOW))
                window = f.read(size - room - f.tell())
            cut = window.rfind(b"\n")
            keep = size - room - len(window) + cut + 1 if cut >= 0 else 0
        os.truncate(path, keep)
    except OSError as e:
        log.warning("dtrain: the job history could not free room in %s: %s", path, e)


def _running(pid: int) -> bool:
    """Whether a process of this host has that pid (a writer that still runs)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


@contextlib.contextmanager
def _logged(doing: str, job: Job) -> Iterator[None]:
    """Log, and carry on past, what goes wrong with one job in a background loop (a locked or
    full database, a backend's surprise): the loop goes on with the other jobs."""
    try:
        yield
    except Exception:  # noqa: BLE001 - one job's failure must not end the history's loop
        log.exception("dtrain: the job history could not %s %s %s/%s", doing, job.kind, job.namespace, job.name)
