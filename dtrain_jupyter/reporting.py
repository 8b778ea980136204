"""`report()`: training code states its metrics and progress, in one line the backends recognise.

    from dtrain_jupyter import report
    report(step=10, loss=0.21, accuracy=0.93, progress=0.4)

prints, flushed, one line to stdout (which is the replica's log inside a job)

    DTRAIN_METRIC {"step": 10, "loss": 0.21, "accuracy": 0.93, "progress": 0.4, "rank": 0, "time": 1764...}

and, where `$DTRAIN_OUTPUT_DIR` is set (local jobs get one), appends the same JSON object to
`$DTRAIN_OUTPUT_DIR/metrics/rank-R.jsonl` (one file per rank, opened once, line-buffered).
`dtrain_jupyter.model.metrics` reads the line back. Only the standard library is imported, so
the helper works in any training image, with no server and outside any job (it still prints).
It never raises for a bad value: a metric that is not a finite number is left out with one
`ReportWarning` per name; `step`, `epoch` and `progress` outside their range likewise.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from typing import Any, TextIO

# The line's prefix; dtrain_jupyter.model.metrics.MARKER is the same text (a test checks).
MARKER = "DTRAIN_METRIC "
# Fields of the line that are not metrics: report() refuses metrics of these names.
RESERVED = frozenset({"step", "epoch", "progress", "rank", "time"})


class ReportWarning(UserWarning):
    """A value given to `report()` was left out of the line (said once per name)."""


# Names already warned about: warnings' own registry repeats a warning whose text differs.
_warned: set[str] = set()
# (environment values the rank is read from) -> (rank, file tag); TF_CONFIG is JSON to parse.
_rank_cache: dict[tuple[str, ...], tuple[int | None, str]] = {}
# (output folder, file tag) -> the open metrics file.
_files: dict[tuple[str, str], TextIO] = {}
_RANK_VARIABLES = ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "RANK", "TF_CONFIG")


def report(step: int | None = None, epoch: float | None = None, progress: float | None = None,
           **metrics: float) -> None:
    """Write one metric line for this replica (stdout, and the output folder's metrics file).

    Args:
        step: the x value of the points: a whole number >= 0 (e.g. the global batch count).
        epoch: the epoch, a number >= 0 (fractions allowed, as the Hugging Face Trainer counts).
        progress: the share of the job done, in [0, 1]; the panel derives an ETA from it.
        **metrics: name=value pairs; each value a finite int or float.

    A value that breaks these rules is left out of the line with one `ReportWarning` per name;
    the rest is still written. Never raises for a value.
    """
    record: dict[str, Any] = {}
    if step is not None:
        whole = _whole(step)
        if whole is None:
            _warn("step", f"step={step!r} left out: a step is a whole number >= 0")
        else:
            record["step"] = whole
    if epoch is not None:
        number = _number(epoch)
        if number is None or number < 0:
            _warn("epoch", f"epoch={epoch!r} left out: an epoch is a number >= 0")
        else:
            record["epoch"] = number
    for name, value in metrics.items():
        if name in RESERVED:
            _warn(name, f"metric {name!r} left out: the name is a field of the line itself")
        else:
            number = _number(value)
            if number is None:
                _warn(name, f"metric {name}={value!r} left out: a metric is a finite number")
            else:
                record[name] = number
    if progress is not None:
        number = _number(progress)
        if number is None or not 0 <= number <= 1:
            _warn("progress", f"progress={progress!r} left out: progress is a number in [0, 1]")
        else:
            record["progress"] = number
    rank, tag = _rank()
    record["rank"] = rank
    record["time"] = time.time()
    text = json.dumps(record)
    out = sys.stdout
    if out is not None:  # None under pythonw and some daemons: the file below still gets it
        try:
            out.write(MARKER + text + "\n")
            out.flush()
        except (OSError, ValueError) as e:  # a closed stdout or a broken pipe: training goes on
            _warn("stdout", f"metrics not printed: {e}")
    folder = os.environ.get("DTRAIN_OUTPUT_DIR")
    if folder:
        _append(folder, tag, text)


def _number(value: Any) -> float | int | None:
    """`value` when it is a finite number (bool and text are not), else None."""
    if type(value) is float:  # the common cases first: one type test each
        return value if math.isfinite(value) else None
    if type(value) is int:
        return value
    if isinstance(value, (bool, str, bytes)):
        return None
    try:
        number = float(value)  # numpy and torch scalars; a tensor of several values raises
    except Exception:  # whatever a foreign type raises, report() must not
        return None
    return number if math.isfinite(number) else None


def _whole(value: Any) -> int | None:
    """`value` as an int when it is a whole number >= 0 (10 or 10.0), else None."""
    number = _number(value)
    if number is None or number < 0 or number != int(number):
        return None
    return int(number)


def _warn(name: str, message: str) -> None:
    if name not in _warned:
        _warned.add(name)
        warnings.warn(message, ReportWarning, stacklevel=3)


def _rank() -> tuple[int | None, str]:
    """(rank, file tag) of this replica from its environment, by runner.rank_and_size's rule.

    The rule is copied, not imported: code/runner.py is a stand-alone program text that the
    backends pass to `python -c`, so it cannot import a module shared with this one.
    """
    env = os.environ
    key = tuple(env.get(name, "") for name in _RANK_VARIABLES)
    known = _rank_cache.get(key)
    if known is None:
        known = _rank_cache[key] = _rank_from(env)
    return known


def _rank_from(env: Any) -> tuple[int | None, str]:
    for name in _RANK_VARIABLES[:-1]:
        # MPI first: a rank that mpirun started may have inherited a RANK meant for something else.
        value = env.get(name, "").strip()
        if value.isdigit():
            return int(value), f"rank-{int(value)}"
    if env.get("TF_CONFIG"):
        try:
            config = json.loads(env["TF_CONFIG"])
            cluster, task = config.get("cluster") or {}, config.get("task") or {}
            kind, index = str(task.get("type", "")).lower(), int(task.get("index", 0))
        except (ValueError, TypeError, AttributeError):
            return 0, "rank-0"
        # TensorFlow's own numbering: the chief (or master) is task 0, workers follow.
        leaders = len(cluster.get("chief") or []) + len(cluster.get("master") or [])
        if kind in ("chief", "master"):
            return index, f"rank-{index}"
        if kind == "worker":
            return leaders + index, f"rank-{leaders + index}"
        # A parameter server or evaluator has no rank; its file is named by its task.
        safe = "".join(c for c in kind if c.isalnum()) or "task"
        return None, f"{safe}-{index}"
    return 0, "rank-0"


def _append(folder: str, tag: str, text: str) -> None:
    handle = _files.get((folder, tag))
    if handle is None:
        try:
            os.makedirs(os.path.join(folder, "metrics"), exist_ok=True)
            # Line-buffered append: each report is one whole line on disk as soon as it is written,
            # for a reader that follows the file while the job runs.
            handle = open(os.path.join(folder, "metrics", f"{tag}.jsonl"), "a", buffering=1, encoding="utf-8")
        except OSError as e:
            _warn("DTRAIN_OUTPUT_DIR", f"metrics not written to {folder}: {e}")
            return
        _files[(folder, tag)] = handle
    try:
        handle.write(text + "\n")
    except (OSError, ValueError) as e:  # ValueError: closed by the code itself
        _warn("DTRAIN_OUTPUT_DIR", f"metrics not written to {folder}: {e}")
        del _files[(folder, tag)]
