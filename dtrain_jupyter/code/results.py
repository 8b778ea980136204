"""What a finished job's replicas reported: the runner's DTRAIN_RESULT and DTRAIN_ERROR lines.

`ResultReader` is fed log lines pod by pod (rank 0's pod first) and turns the marker lines it
finds into the outcome: rank 0's value (or every rank's, when the job was run with every_rank),
or, for a failed job, a `RemoteError` with the earliest exception's traceback and its pod (or
pip's words, when the job's packages could not be installed). It reads no log itself;
`Client.result` fetches the lines.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

from ..errors import DTrainError, RemoteError
from ..model.job import Job, Pod
from ..model.kinds import preferred_version
from .runner import ERROR_MARKER, RESULT_MARKER

__all__ = ["ResultReader", "is_marker", "split_lines", "TAIL_LINES"]

# Lines read from the end of a log first: the runner prints its marker last, so a full read of
# a long log is needed only when this tail does not hold what is looked for.
TAIL_LINES = 2000


def is_marker(line: str) -> bool:
    """Whether a log line is one of the runner's reports (the magic hides them from the log)."""
    return line.startswith(RESULT_MARKER) or line.startswith(ERROR_MARKER)


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Text lines from a log's byte chunks, which may cut a line anywhere."""
    rest = b""
    for chunk in chunks:
        rest += chunk
        *whole, rest = rest.split(b"\n")
        for raw in whole:
            yield raw.rstrip(b"\r").decode("utf-8", errors="replace")
    if rest:
        yield rest.decode("utf-8", errors="replace")


class ResultReader:
    """Collects the reports of one finished job and gives its outcome.

    Args:
        job: the finished job (Succeeded or Failed).
        pods: its pods, as `Client.pods` lists them.
    """

    def __init__(self, job: Job, pods: Iterable[Pod]) -> None:
        self.job = job
        self.results: dict[int, dict[str, Any]] = {}
        self.errors: dict[tuple[Any, ...], dict[str, Any]] = {}
        pods = list(pods)
        # Rank 0 runs in the role whose success decides the job (MPI: every rank prints in the
        # Launcher's log), so the operators' success roles are also where to look first.
        fw = preferred_version(job.kind)
        roles = fw.success_roles if fw is not None else ()
        ranked = sorted((p for p in pods if p.replica_type in roles),
                        key=lambda p: (roles.index(p.replica_type), p.replica_index or 0))
        # Rank 0's pod first; the others may hold other ranks' reports (every_rank) or an error.
        self.pods = [p.name for p in ranked] + ([] if job.kind == "MPIJob" else
                                                 [p.name for p in pods if p.replica_type not in roles])

    @property
    def succeeded(self) -> bool:
        return self.job.phase.value == "Succeeded"

    @property
    def done(self) -> bool:
        """Nothing more to read: rank 0's result (and every rank's when asked) is in."""
        if not self.succeeded or 0 not in self.results:
            return False
        first = self.results[0]
        return not first.get("every_rank") or all(r in self.results for r in range(int(first.get("size") or 1)))

    def feed(self, pod: str, lines: Iterable[str]) -> None:
        """Read one pod's log lines (again is harmless: a report counts once)."""
        for line in lines:
            if line.startswith(RESULT_MARKER):
                report = _load(line[len(RESULT_MARKER):])
                if report is not None and isinstance(report.get("rank"), int):
                    self.results[report["rank"]] = {**report, "log_pod": pod}
            elif line.startswith(ERROR_MARKER):
                report = _load(line[len(ERROR_MARKER):])
                if report is not None:
                    key = (report.get("rank"), report.get("pod"), report.get("time"), report.get("type"))
                    self.errors[key] = {**report, "log_pod": pod}

    def outcome(self) -> Any:
        """Rank 0's value, or the list of every rank's values when the job was run with every_rank.

        Raises:
            RemoteError: the job failed and a replica reported an exception (the earliest one).
            DTrainError: the job failed without a report, reported no result, or its result is
                not JSON (`fields["repr"]` holds its repr).
        """
        job = self.job
        if not self.succeeded:
            if self.errors:
                raise _remote_error(min(self.errors.values(), key=lambda r: r.get("time") or 0))
            why = " ".join(x for x in (job.status.reason, job.status.message) if x)
            raise DTrainError(f"{job.kind} {job.name!r} {job.phase.value}" + (f": {why}" if why else "") +
                              "; no replica reported an exception: see its logs and events",
                              kind=job.kind, name=job.name, phase=job.phase.value)
        if 0 not in self.results:
            raise DTrainError(f"{job.kind} {job.name!r} succeeded but reported no result (looked in "
                              f"{', '.join(self.pods) or 'no pod'}): was it made by Client.run or %%dtrain run?",
                              kind=job.kind, name=job.name)
        first = self.results[0]
        if not first.get("every_rank"):
            return _value(first)
        size = int(first.get("size") or 1)
        missing = [r for r in range(size) if r not in self.results]
        if missing:
            raise DTrainError(f"{job.kind} {job.name!r}: ranks {missing} reported no result", kind=job.kind,
                              name=job.name)
        return [_value(self.results[r]) for r in range(size)]


def _load(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None  # a line cut or mixed with another rank's output: not a report
    return data if isinstance(data, dict) else None


def _what(report: dict[str, Any]) -> str:
    """The code a report is about: "train()" for a function, "the cell", "train.py" for a script."""
    where = report.get("where") or "the code"
    return where if report.get("script") or where in ("the cell", "the code") else f"{where}()"


def _value(report: dict[str, Any]) -> Any:
    if "value" in report:
        return report["value"]
    what = _what(report)
    raise DTrainError(f"{what} returned a {report.get('type')} on rank {report.get('rank')}, which is not JSON, "
                      f"so it cannot come back; its repr: {str(report.get('repr'))[:500]}. Return plain values "
                      "(numbers, strings, lists, dicts), e.g. tensor.tolist(), and save large results to files",
                      rank=report.get("rank"), type=report.get("type"), repr=report.get("repr"))


def _remote_error(report: dict[str, Any]) -> RemoteError:
    what = _what(report)
    pod = report.get("pod") or report.get("log_pod") or ""
    rank, kind = report.get("rank"), str(report.get("type") or "Exception")
    trace = str(report.get("traceback") or "")
    at = f" on rank {rank}" if rank is not None else ""
    if report.get("stage") == "packages":
        # The code never ran: the message is pip's, and `traceback` holds pip's last lines.
        return RemoteError(f"{report.get('message', '')}\n\n(while preparing {what}{at} in pod {pod}; pip's whole "
                           "output is in that pod's log)", pod=pod, traceback=trace, rank=rank, type=kind)
    return RemoteError(f"{what} raised {kind}{at} in pod {pod}: {report.get('message', '')}\n\n{trace}".rstrip(),
                       pod=pod, traceback=trace, rank=rank, type=kind)
