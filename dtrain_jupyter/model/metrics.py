"""Metrics recognised in a replica's log lines: pure functions, standard library only.

The shapes read, with no change to the training code:

* our own `DTRAIN_METRIC {json}` line (`dtrain_jupyter.report`, in reporting.py), exactly: every numeric field
  but step, epoch, rank and time is a point ("progress" too); `source` is "report";
* the Hugging Face Trainer's dict lines `{'loss': 0.12, 'learning_rate': 4.5e-05, 'epoch': 1.0}`
  (a line that is a Python dict literal of at most `DICT_LIMIT` characters, read with
  `ast.literal_eval`, holding an "epoch" or a metric-like key): every numeric value is a point;
* `key=value`, `key = value` and `key: value` pairs (the colon needs a space after it, as
  `12:30` is a time) whose value is a number, optionally inside `tensor(...)`, followed by no
  letter, digit, ".", ":", "/" or "-" (so versions, IPs, hex, paths, dates and times are no
  values), and whose key (the whole run of letters, digits and `_ . - /` before the separator,
  starting with a letter or `_`) is metric-like. `metric_key` decides, on the lower-cased key
  split into words at `_ . - /`: "loss" anywhere in it, or "learning_rate"; or a word of
  `METRIC_WORDS` (lr, perplexity, ppl, f1, auc, precision, recall, ...); or a word like acc,
  accuracy, acc5, top1acc, err, error, top1err; but not the keys err, error, errors and stderr
  alone (counts of errors, not rates). Keras progress lines (`100/100 [===] - 2s 20ms/step -
  loss: 0.2345 - accuracy: 0.9100`), PyTorch Lightning's bar (`..., train_loss=0.693]`) and
  plain prints are this shape.

A line holding none of "=", ": " and "poch" is refused by plain substring tests before any
regular expression runs: most log lines end there (`MetricReader.read_text` runs these tests on
a whole block at once).

The x value of a point comes from its line: `step 120`, `Step: 120`, `iter 120`, `step=120`, an
epoch (`Epoch 3/10`, `epoch: 3`, `epoch=1.0`) and an `n/N` counter (`[120/1000]`, Keras's
`100/100`). A counter after an epoch counts within the epoch: step = (epochs done) * N + n, where
epochs count from 1 (Keras, PyTorch's examples) unless the log has shown an epoch 0 (Lightning's
bar). A `MetricReader` (one per replica) remembers the last epoch and step it saw,
for lines that carry none (Keras prints `Epoch 3/10` on a line of its own). ANSI colour codes are
removed and, of a line a progress bar rewrote with carriage returns, only the last text is read.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any, Iterable, NamedTuple

# Our own line's prefix, as dtrain_jupyter.report writes it.
MARKER = "DTRAIN_METRIC "
# A dict line longer than this is not read: literal_eval's cost grows with the text.
DICT_LIMIT = 4096
# Words that make a key metric-like on their own (a key is split into words at _ . / - and space).
METRIC_WORDS = frozenset({
    "lr", "learning_rate", "perplexity", "ppl", "f1", "auc", "roc_auc", "precision", "recall",
    "mse", "mae", "rmse", "bleu", "rouge", "rouge1", "rouge2", "rougel", "iou", "miou", "map",
    "wer", "cer", "reward", "grad_norm", "top1", "top5", "dice", "nll", "kl",
})
# Keys that name a count of errors, not an error rate: "Errors: 3".
_NOT_METRICS = frozenset({"error", "errors", "err", "stderr"})
# Fields of our own line that place a point rather than being one.
_COORDINATES = frozenset({"step", "epoch", "rank", "time"})
# Steps past this do not fit the store's 64-bit integers: such a step (a line like `step
# 123456789012345678901234`) places no point, rather than failing the batch it came in.
MAX_STEP = (1 << 63) - 1
_EMPTY: tuple = ()

_ANSI = re.compile(r"\x1b(?:\[[0-9;?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
# A separator and its value. The search starts at "=" or ":" (a quick scan in C); a pattern that
# started at the key would be tried at every letter of the line.
_VALUE_AT = re.compile(r"(?:=|:[ \t])[ \t]*+(?:tensor\()?(" + _NUMBER + r")(?![\w.:/\-])")
# The key before a separator, read in the reversed line: the whole run of key characters (so
# `20ms/step` offers no key `step`), after the spaces before the separator.
_KEY_REVERSED = re.compile(r"[ \t]*+([\w.\-/]+)")
_KEY_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
# A number right after a separator: the second check, before the pairs are looked for.
_VALUE = re.compile(r"(?:=|: )[ \t]*+(?:tensor\()?[-+]?\.?\d")
# What the pre-check looks for; read_text finds them in a whole block.
_NEEDLES = ("=", ": ", "poch")
# Epoch and step words, searched in the lower-cased line (IGNORECASE would defeat the quick scan).
_EPOCH = re.compile(r"\bepoch[ \t]*+[:=]?[ \t]*+(\d+(?:\.\d+)?)(?![\d.])")
# Each starts with its word, so the search skips ahead in C; the word's start is checked after.
_STEP_WORDS = (re.compile(r"step[ \t]*+[:=]?[ \t]*+(\d+)(?![\d.])"),
               re.compile(r"iter(?:ation)?[ \t]*+[:=]?[ \t]*+(\d+)(?![\d.])"))
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
# n/N is read from each "/" outwards (digits after it, digits before it in the reversed line): a
# search for digits would stop at every digit of the line. One inside a date, a path or a
# fraction like 1.5/2 (a key character or "/" or ":" on either side) is no counter.
_DIGITS = re.compile(r"\d+")
_COUNTER_EDGE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:-")
_JSON = json.JSONDecoder()
# Every metric-like key holds one of these (lower-cased): a line without any has no pair to read.
_KEY_HINTS = tuple(sorted(
    (hint for hint in {"loss", "learning_rate", "acc", "err"} | METRIC_WORDS
     if not any(other != hint and other in hint for other in METRIC_WORDS | {"acc", "err"})),
    key=lambda hint: (hint != "loss", hint)))  # loss first: the commonest
_WORD_SPLIT = re.compile(r"[_./\- ]")
_ACC = re.compile(r"(?:[a-z0-9]*acc|acc(?:uracy)?)\d*")
_ERR = re.compile(r"(?:[a-z0-9]*err|err(?:or)?s?)\d*")


class MetricPoint(NamedTuple):
    """One value of one metric, as read from a log line or a report.

    `step` and `epoch` place it (None: the line gave none); `time` is seconds since the epoch
    when known (a report's own time, else what the caller gives); `rank` and `pod` name the
    replica; `source` is "report" (our own line) or "log" (recognised in ordinary output).
    A named tuple: immutable, and built three times faster than a frozen dataclass (one per value
    read from a log).
    """

    name: str
    value: float
    step: int | None = None
    epoch: float | None = None
    time: float | None = None
    rank: int | None = None
    pod: str | None = None
    source: str = "log"

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


_key_cache: dict[str, bool] = {}


def metric_key(key: str) -> bool:
    """Whether a key names a metric (the rule is in the module docstring)."""
    known = _key_cache.get(key)
    if known is None:
        if len(_key_cache) > 10_000:  # keys come from arbitrary output: keep the memo bounded
            _key_cache.clear()
        known = _key_cache[key] = _metric_key(key.lower())
    return known


def _metric_key(low: str) -> bool:
    if "loss" in low or low in METRIC_WORDS or "learning_rate" in low:
        return True
    if low in _NOT_METRICS:
        return False
    for word in _WORD_SPLIT.split(low):
        if word in METRIC_WORDS or word == "stderr":
            return word != "stderr"
        if _ACC.fullmatch(word) or _ERR.fullmatch(word):
            return True
    return False


def recognize(line: str) -> tuple[MetricPoint, ...]:
    """The metric points of one line on its own (no epoch or step remembered from before)."""
    return MetricReader().read(line)


class MetricReader:
    """Reads one replica's log line by line, remembering the last epoch and step it saw.

    Args:
        pod: the replica's name, set on every point.
        rank: the replica's rank, set on every point that does not carry its own.
    """

    __slots__ = ("pod", "rank", "epoch", "zero_based", "step")

    def __init__(self, pod: str | None = None, rank: int | None = None) -> None:
        self.pod = pod
        self.rank = rank
        self.epoch: float | None = None
        # Whether this log numbers epochs from 0 (it showed an "Epoch 0"): then a counter after
        # "Epoch 2" is in the third epoch, else in the second.
        self.zero_based = False
        self.step: int | None = None

    def read(self, line: str, time: float | None = None) -> tuple[MetricPoint, ...]:
        """The points of `line` (a tuple, empty for most lines); `time` is set on log points."""
        # The pre-check: every shape holds "=", ": " or an epoch (our JSON and the dict lines
        # have ": " too). Plain `in` tests run in C; most log lines end here.
        if "=" not in line and ": " not in line and "poch" not in line:
            return _EMPTY
        return self._read(line, time)

    def read_lines(self, lines: Iterable[str], time: float | None = None) -> list[MetricPoint]:
        """The points of many lines, in order."""
        out: list[MetricPoint] = []
        read = self.read
        for line in lines:
            points = read(line, time)
            if points:
                out.extend(points)
        return out

    def read_text(self, text: str, time: float | None = None) -> list[MetricPoint]:
        """The points of a block of whole lines (a chunk of a log file), in order.

        The same points as `read_lines(text.split("\\n"))`, found without a Python step per
        line: `str.find` (C) looks for the pre-check's strings in the whole block and only the
        lines holding one are read, so the cost follows the candidate lines, not all lines.
        """
        out: list[MetricPoint] = []
        find = text.find
        hits = [find(needle) for needle in _NEEDLES]
        while True:
            found = [hit for hit in hits if hit >= 0]
            if not found:
                return out
            first = min(found)
            start = text.rfind("\n", 0, first) + 1
            end = find("\n", first)
            if end < 0:
                end = len(text)
            points = self._read(text[start:end], time)
            if points:
                out.extend(points)
            # Each string's next occurrence after this line (a line is read once, whichever
            # strings it holds).
            hits = [hit if hit > end or hit < 0 else find(needle, end) for hit, needle in zip(hits, _NEEDLES)]

    def _read(self, line: str, time: float | None) -> tuple[MetricPoint, ...]:
        """The points of a line that passed the pre-check."""
        if "\x1b" in line:
            line = _ANSI.sub("", line)
        if "\r" in line:
            line = line.rstrip("\r\n").rpartition("\r")[2]
        if _VALUE.search(line) is None:
            # No number after a separator: no metric, but Keras's "Epoch 3/10" line places the next.
            if "poch" in line or "POCH" in line:
                self._epoch(line.lower())
            return _EMPTY
        marker = line.find(MARKER)
        if marker >= 0:
            return self._report(line[marker + len(MARKER):])
        stripped = line.strip()
        if stripped.startswith("{'") and stripped.endswith("}") and len(stripped) <= DICT_LIMIT:
            points = self._dict(stripped, time)
            if points is not None:
                return points
        low = line.lower()
        for hint in _KEY_HINTS:
            if hint in low:
                return self._pairs(line, low, time)
        # No metric-like key can be on this line (the cheaper test, for "seed=42"-like lines).
        if "epoch" in low:
            self._epoch(low)
        return _EMPTY

    # -- the shapes ------------------------------------------------------------------------

    def _report(self, text: str) -> tuple[MetricPoint, ...]:
        try:
            record, _end = _JSON.raw_decode(text)
        except ValueError:
            return _EMPTY
        if not isinstance(record, dict):
            return _EMPTY
        step = _step(record.get("step"))
        epoch = _finite(record.get("epoch"))
        when = _finite(record.get("time"))
        rank = record.get("rank")
        rank = rank if type(rank) is int else self.rank
        if epoch is not None:
            self.epoch = epoch
        if step is not None:
            self.step = step
        return tuple(MetricPoint(name, float(value), step, epoch, when, rank, self.pod, "report")
                     for name, value in record.items()
                     if name not in _COORDINATES and _finite(value) is not None)

    def _dict(self, text: str, time: float | None) -> tuple[MetricPoint, ...] | None:
        """A dict line's points; None when the line is not a dict of metrics after all."""
        try:
            # The Trainer's dicts hold quote-free keys and numbers: with the quotes swapped they
            # are JSON, read ten times faster than by literal_eval. Where the swap breaks the text
            # (quotes inside strings, True, None, tuples), JSON refuses it and literal_eval reads it.
            record = _JSON.decode(text.replace("'", '"'))
        except ValueError:
            try:
                record = ast.literal_eval(text)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return None
        if not isinstance(record, dict) or not all(isinstance(k, str) for k in record):
            return None
        if "epoch" not in record and not any(metric_key(k) for k in record):
            return None
        epoch = _finite(record.get("epoch"))
        step = _step(record.get("step", record.get("global_step")))
        if epoch is not None:
            self.epoch = epoch
        if step is not None:
            self.step = step
        else:
            step = self.step
        return tuple(MetricPoint(name, float(value), step, epoch, time, self.rank, self.pod)
                     for name, value in record.items()
                     if name not in _COORDINATES and name != "global_step" and _finite(value) is not None)

    def _epoch(self, low: str) -> re.Match | None:
        """Remember the epoch the (lower-cased) line states; the match, or None."""
        match = _EPOCH.search(low)
        if match is not None:
            epoch = float(match.group(1))
            if not math.isfinite(epoch):
                return None  # 400 digits: no epoch a counter could be placed in
            if epoch != self.epoch:
                self.step = None  # a step seen in another epoch does not place this one's points
            self.epoch = epoch
            self.zero_based = self.zero_based or epoch == 0
        return match

    def _pairs(self, line: str, low: str, time: float | None) -> tuple[MetricPoint, ...]:
        """The key/value points of a line (`low`: the line lower-cased)."""
        found = []
        reversed_line = None
        for match in _VALUE_AT.finditer(line):
            if reversed_line is None:
                reversed_line = line[::-1]
            key = _KEY_REVERSED.match(reversed_line, len(line) - match.start())
            if key is None:
                continue
            name = key.group(1)[::-1]
            if name[0] in _KEY_START and metric_key(name):
                value = float(match.group(1))
                if math.isfinite(value):
                    found.append((name, value))
        epoch_match = self._epoch(low) if "epoch" in low else None
        if not found:
            return _EMPTY
        step = _step_word(low) if "step" in low or "iter" in low else None
        if step is None and "/" in line:
            counter = _counter(line, reversed_line, epoch_match.end() if epoch_match is not None else 0)
            if counter is not None:
                n, total = counter
                step = n
                if self.epoch is not None and self.epoch == int(self.epoch):
                    done = int(self.epoch) if self.zero_based else int(self.epoch) - 1
                    step += max(done, 0) * total
        if step is not None and step > MAX_STEP:
            step = None
        if step is not None:
            self.step = step
        else:
            step = self.step
        epoch, rank, pod = self.epoch, self.rank, self.pod
        return tuple(MetricPoint(name, value, step, epoch, time, rank, pod) for name, value in found)


def _counter(line: str, reversed_line: str, start: int) -> tuple[int, int] | None:
    """The first `n/N` counter (n <= N, N > 0) of the line at or after `start`, as (n, N)."""
    size = len(line)
    slash = line.find("/", start)
    while slash >= 0:
        after = _DIGITS.match(line, slash + 1)
        before = _DIGITS.match(reversed_line, size - slash) if after is not None else None
        if before is not None:
            first, end = slash - len(before.group()), after.end()
            if (first >= start and (first == 0 or line[first - 1] not in _COUNTER_EDGE)
                    and (end == size or line[end] not in _COUNTER_EDGE)):
                n, total = int(before.group()[::-1]), int(after.group())
                if 0 < total and n <= total:
                    return n, total
        slash = line.find("/", slash + 1)
    return None


def _step_word(low: str) -> int | None:
    """The step a lower-cased line states in words (`step 120`, `Step: 120`, `global_step=7`,
    `iter 5`, `iteration 5`), the leftmost if several; a word inside a longer one (`ms/step` is
    fine, `train_step` is not) does not count."""
    best: tuple[int, int] | None = None
    for pattern in _STEP_WORDS:
        for match in pattern.finditer(low):
            start = match.start()
            if pattern is _STEP_WORDS[0] and low.endswith("global_", 0, start):
                start -= len("global_")
            if start == 0 or low[start - 1] not in _WORD_CHARS:
                if best is None or start < best[0]:
                    best = (start, int(match.group(1)))
                break
    return None if best is None else best[1]


def _step(value: Any) -> int | None:
    """`value` as a step when it is a whole number (not a bool) from 0 to MAX_STEP, else None."""
    return value if type(value) is int and 0 <= value <= MAX_STEP else None


def _finite(value: Any) -> float | None:
    """`value` as a float when it is a finite int or float (not a bool), else None."""
    if type(value) in (int, float):
        try:
            number = float(value)
        except OverflowError:  # an int past float's range (10**400)
            return None
        return number if math.isfinite(number) else None
    return None
