"""Metric recognition over a large log: what `MetricReader` adds to reading the log.

A log of mixed lines (1 GB full, 100 MB quick) is written to a temp folder, shaped like a
training job's output where most lines hold no metric: per 1,000 lines, 550 timestamped logging
lines, 150 `INFO:module:message` lines, 100 lines with a `note: text` (a ": " but no number), 50
configuration lines (`seed=42 workers=8`), 130 progress-bar refreshes and 20 metric lines (plain
`step 120 loss=0.3` prints, Keras progress lines, Hugging Face Trainer dicts, Lightning bars,
`DTRAIN_METRIC` lines). A second log of the same size has log_read_bench's 100-byte lines of
"x" (no line is a candidate: the pre-check's floor). Then, alternating, several rounds over each
file (in the page cache), each read in 4 MiB blocks cut at a line end and decoded:

  * read: the blocks only (what any reader pays);
  * split: the blocks split into lines (what a line-wise reader pays);
  * read_lines: split, then `MetricReader.read_lines` (one call per line);
  * read_text: `MetricReader.read_text` on each block (no split: C searches find candidate lines).

The issue's goal: recognition adds <= 10% to reading a 1 GB log through the API, which reads at
about 900 MB/s (benchmarks/report.md, log_read). Reported: the seconds per GB recognition adds
over `read`, and that as a share of 1 GB at 900 MB/s.

What the profile showed (cProfile and timeit per line shape, 2 shared cores; numbers are the
best of 7): an ordinary line costs the pre-check's three substring tests, about 0.15 us; a line
with ": " but no number after it 0.6 us; a `seed=42` line 1.5 us (5.5 us before the lower-cased
key-word test skipped the key search); a metric line 4-17 us. Changes that got there: the key
search starts at the separator and reads the key backwards in the reversed line (a pattern
starting at the key was tried at every letter: 15 us a Keras line); step words and counters are
searched from their literal word or "/" (an IGNORECASE or digit-led pattern stops at every
character: 2.7 -> 0.16 us); Hugging Face dicts are read as JSON after swapping quotes, with
literal_eval only where that fails (25 -> 5 us); MetricPoint is a named tuple (a frozen dataclass
took 1 us to build). Still, per GB the mixed log costs 10-20 s and even the log without a
candidate line 1.5 s (three C substring searches; ": " is the slowest), against the 0.11 s per
GB the goal allows at 900 MB/s: in CPython recognition cannot ride on the read path. It belongs
where each line is seen once (the service, as replicas write), with the read path serving the
stored points. So it runs there now: the job history's metric reader process
(history/metric_worker.py) reads each archived log once, and `metrics_ingest_bench.py` measures the
goal itself (a 1 GB read through the API with recognition on vs off). The rows here are context:
what recognition would cost on the read path.

    .venv/bin/python benchmarks/metrics_bench.py [--mb 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Result, Row, Stat, alternate, progress  # noqa: E402

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from dtrain_jupyter.model.metrics import MetricReader  # noqa: E402

BLOCK = 4 << 20
# The API's full-read rate on the reference machine (benchmarks/report.md, log_read row).
API_MB_S = 900
WORDS = ("the model server request worker started finished loading checkpoint saved data batch gradient "
         "rank node process connected listening socket port time config value shard cache").split()


def ordinary_line(rng: random.Random, i: int) -> str:
    """A line with no metric, of the kinds a training job prints most."""
    stamp = f"2026-05-01 12:{i // 60 % 60:02d}:{i % 60:02d},{i % 1000:03d}"
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 10)))
    r = rng.randrange(980)
    if r < 550:
        return f"{stamp} INFO trainer {words}"
    if r < 700:
        return f"INFO:torch.distributed.elastic:{words}"
    if r < 800:
        return f"{stamp} WARNING note: {words}"
    if r < 850:
        return f"{stamp} DEBUG config seed={i} workers={rng.randint(1, 16)} {rng.choice(WORDS)}"
    return f"\r {i % 100:3d}%|{'#' * (i % 10):10s}| {i % 100}/100 [00:{i % 60:02d}<00:03, 18.52it/s]"


def metric_line(rng: random.Random, i: int) -> str:
    """A line with metrics, in one of the shapes the recognizer reads."""
    loss = rng.random()
    r = rng.randrange(5)
    if r == 0:
        return f"step {i} loss={loss:.4f} lr=1e-4 grad_norm={rng.random():.3f}"
    if r == 1:
        return (f"100/100 [==============================] - 2s 20ms/step - loss: {loss:.4f} - accuracy: "
                f"{rng.random():.4f} - val_loss: {loss:.4f} - val_accuracy: {rng.random():.4f}")
    if r == 2:
        return str({"loss": round(loss, 4), "grad_norm": 1.52, "learning_rate": 4.5e-05, "epoch": i / 1000})
    if r == 3:
        return f"Epoch {i // 1000}:  45%|####5     | 45/100 [00:02<00:03, 18.52it/s, v_num=0, train_loss={loss:.3f}]"
    return "DTRAIN_METRIC " + json.dumps({"step": i, "loss": loss, "progress": 0.4, "rank": 0,
                                          "time": 1.7e9 + i})


def write_log(path: Path, megabytes: int, mixed: bool = True, seed: int = 15) -> tuple[int, int]:
    """Writes the mixed (or the plain) log; (bytes, lines). A pool of lines is repeated to the size."""
    rng = random.Random(seed)
    if mixed:
        pool = [metric_line(rng, i) if i % 1000 < 20 else ordinary_line(rng, i) for i in range(100_000)]
        rng.shuffle(pool)
    else:
        pool = ["x" * 99] * 10_000
    block = ("\n".join(pool) + "\n").encode()
    target = megabytes * 1_048_576
    lines = 0
    with open(path, "wb") as f:
        while f.tell() < target:
            f.write(block)
            lines += len(pool)
    return path.stat().st_size, lines


def blocks(path: Path):
    """The file as text blocks of whole lines, about BLOCK bytes each."""
    rest = b""
    with open(path, "rb") as f:
        while True:
            data = f.read(BLOCK)
            if not data:
                break
            data = rest + data
            cut = data.rfind(b"\n") + 1
            rest = data[cut:]
            yield data[:cut].decode("utf-8", "replace")
    if rest:
        yield rest.decode("utf-8", "replace")


def measure(megabytes: int, rounds: int, mixed: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp, "train.log")
        progress(f"writing a {megabytes} MiB {'mixed' if mixed else 'plain'} log")
        size, lines = write_log(log, megabytes, mixed)
        found: dict[str, int] = {}

        def read() -> None:
            for _ in blocks(log):
                pass

        def split() -> None:
            for text in blocks(log):
                text.split("\n")

        def read_lines() -> None:
            reader = MetricReader()
            found["read_lines"] = sum(len(reader.read_lines(text.split("\n"))) for text in blocks(log))

        def read_text() -> None:
            reader = MetricReader()
            found["read_text"] = sum(len(reader.read_text(text)) for text in blocks(log))

        progress(f"{rounds} rounds over {size / 1e6:,.0f} MB: read, split, read_lines, read_text")
        seconds = alternate({"read": read, "split": split, "read_lines": read_lines, "read_text": read_text},
                            repeat=rounds)
    return {"size": size, "lines": lines, "seconds": seconds, "points": found, "mixed": mixed}


def rows_for(m: dict) -> list[Row]:
    size, lines, secs = m["size"], m["lines"], m["seconds"]
    gb = size / 1e9
    rate = {name: Stat([size / 1e6 / s for s in samples], "MB/s") for name, samples in secs.items()}
    base = Stat(secs["read"], "s").median
    split = Stat(secs["split"], "s").median
    api_seconds_per_gb = 1000 / API_MB_S
    kind = "mixed log" if m["mixed"] else "log of 100-byte 'x' lines (log_read's)"
    rows = [
        Row(f"{size / 1e6:,.0f} MB {kind} ({lines:,} lines), read in 4 MiB blocks and decoded", rate["read"].text(),
            "-", "-", "context: the reading itself"),
        Row("  the same, split into lines", rate["split"].text(), "-",
            f"{(split - base) / gb:.2f} s/GB over reading", "context: a line-wise reader's own cost"),
    ]
    for name, what in (("read_lines", "MetricReader.read_lines (one call per line, after the split)"),
                       ("read_text", "MetricReader.read_text (whole blocks, no split)")):
        median = Stat(secs[name], "s").median
        added = (median - base) / gb
        share = added / api_seconds_per_gb
        lines_s = Stat([lines / s for s in secs[name]], "lines/s")
        # Context, not the goal: recognition runs off the read path (metrics_ingest_bench has the goal's row).
        rows.append(Row(f"  {what}: {lines_s.median / 1e6:.2f} M lines/s", rate[name].text(), rate["split"].text(),
                        f"adds {added:.2f} s/GB = {share:.2f} of a {API_MB_S} MB/s API read",
                        "context: why recognition is not on the read path (goal: metrics_ingest_bench)"))
    return rows


def run(size: str = "full") -> Result:
    megabytes, rounds = (1024, 3) if size == "full" else (100, 3)
    mixed, plain = measure(megabytes, rounds), measure(megabytes, rounds, mixed=False)
    res = Result("metrics", rows_for(mixed) + rows_for(plain))
    res.notes.append(f"metrics: points found per pass {mixed['points']} (read_lines and read_text must agree); "
                     "the log is in the page cache for every pass; 'peer' is the split-only rate.")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="log size in MiB (default 100; the issue's is 1024)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    mixed, plain = measure(args.mb, args.rounds), measure(args.mb, args.rounds, mixed=False)
    res = Result("metrics", rows_for(mixed) + rows_for(plain))
    res.notes.append(f"points found per pass in the mixed log: {mixed['points']}")
    res.print()


if __name__ == "__main__":
    main()
