"""Reading a large replica log through the REST API vs `cat` / `tail -n` of the same file.

A local PyTorchJob writes an N MB log of 100-byte lines (1 GB full, 256 MB quick) through a
real `jupyter server` with the dtrain extension. Then, alternating, several rounds:

  * full read: GET .../log?pod=P&format=text, streamed and counted by an HTTP client, vs
    `cat FILE` read from a pipe;
  * tail: GET .../log?pod=P&format=text&tail=1000 vs `tail -n 1000 FILE`;

with the server process's resident-memory growth sampled during each API read. Once, for
comparison, the NDJSON form of the same full read (one LogLine object per line: the path
every line-wise reader takes). Goals: >= 0.95 of cat's rate (and >= 200 MB/s), <= 64 MB
memory growth.

    .venv/bin/python benchmarks/log_read_bench.py [--mb 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PY, JupyterServer, Result, Row, Stat, peak_rss, progress  # noqa: E402

LINE_BYTES = 100
TAIL = 1000
# Issue 18's goal for the full read: this share of cat's rate, same file, same rounds.
OF_CAT = 0.95


def writer_job(name: str, megabytes: int) -> dict:
    """A one-replica PyTorchJob writing `megabytes` MiB of LINE_BYTES-byte lines, then exiting."""
    per_block = 1_048_576 // LINE_BYTES
    code = (f"import sys\nline = b'x' * {LINE_BYTES - 1} + b'\\n'\nblock = line * {per_block}\n"
            f"for _ in range({megabytes}):\n    sys.stdout.buffer.write(block)\n")
    container = {"name": "pytorch", "image": "bench:1", "command": [PY, "-c", code]}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "restartPolicy": "Never",
                                                        "template": {"spec": {"containers": [container]}}}}}}


def api_read(server: JupyterServer, path: str, params: dict) -> tuple[float, int, float]:
    """(seconds, bytes, server memory growth MiB) of one streamed GET."""
    with peak_rss(server.pid) as mem:
        t = time.perf_counter()
        n = 0
        with server.http.stream("GET", server.url + path, params=params) as r:
            r.raise_for_status()
            for chunk in r.iter_raw(1 << 20):
                n += len(chunk)
        elapsed = time.perf_counter() - t
    return elapsed, n, mem["growth_mib"]


def command_read(argv: list[str]) -> tuple[float, int]:
    """(seconds, bytes) of a command whose stdout is read from a pipe to the end."""
    t = time.perf_counter()
    n = 0
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    while True:
        chunk = proc.stdout.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
    proc.wait()
    return time.perf_counter() - t, n


def measure(megabytes: int, rounds: int, ndjson_once: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp, JupyterServer(Path(tmp)) as server:
        client = server.client()
        progress(f"writing a {megabytes} MiB log through a local job")
        client.create(writer_job("biglog", megabytes))
        job = client.wait("biglog", timeout=600)
        if job.phase.value != "Succeeded":
            raise RuntimeError(f"log writer ended {job.phase.value}: {job.status.message}")
        pod = "biglog-master-0"
        log = next(Path(tmp, "state").rglob(f"{pod}.log"))
        size = log.stat().st_size
        path = "dtrain/api/local/namespaces/default/pytorchjobs/biglog/log"
        out: dict = {"size": size, "full": [], "cat": [], "tail": [], "tail_peer": [], "mem": []}
        api_read(server, path, {"pod": pod, "format": "text", "tail": TAIL})  # warm-up
        for r in range(rounds):
            progress(f"round {r + 1}/{rounds}: API full read, cat, API tail, tail -n")
            secs, n, growth = api_read(server, path, {"pod": pod, "format": "text"})
            assert n == size, (n, size)
            out["full"].append(size / 1e6 / secs)
            out["mem"].append(growth)
            secs, n = command_read(["cat", str(log)])
            assert n == size, (n, size)
            out["cat"].append(size / 1e6 / secs)
            secs, n, _ = api_read(server, path, {"pod": pod, "format": "text", "tail": TAIL})
            assert n == TAIL * LINE_BYTES, n
            out["tail"].append(secs * 1000)
            secs, n = command_read(["tail", "-n", str(TAIL), str(log)])
            out["tail_peer"].append(secs * 1000)
        if ndjson_once:
            progress("once: the NDJSON (line-object) form of the full read")
            secs, n, growth = api_read(server, path, {"pod": pod})
            out["ndjson"] = (size / 1e6 / secs, growth)
        client.close()
    return out


def rows_for(m: dict) -> list[Row]:
    mb = m["size"] / 1e6
    full, cat = Stat(m["full"], "MB/s"), Stat(m["cat"], "MB/s")
    share = full.median / cat.median  # both medians from the same alternating rounds
    mem = Stat(m["mem"], "MiB")
    tail, tail_peer = Stat(m["tail"], "ms"), Stat(m["tail_peer"], "ms")
    rows = [
        Row(f"{mb:,.0f} MB log, full read through the API (format=text) vs cat", full.text(), cat.text(),
            f"{share:.2f} of cat's rate", f">= {OF_CAT:g} of cat's rate and >= 200 MB/s",
            share >= OF_CAT and full.median >= 200),
        Row("  server memory growth during that read", mem.text(), "-", "-", "<= 64 MB", max(mem.samples) <= 64),
        Row(f"{mb:,.0f} MB log, last {TAIL:,} lines through the API vs tail -n {TAIL}", tail.text(), tail_peer.text(),
            f"{tail.median / tail_peer.median:.1f}x tail's time"),
    ]
    if "ndjson" in m:
        rate, growth = m["ndjson"]
        rows.append(Row(f"{mb:,.0f} MB log, full read as NDJSON (one LogLine object per line), once",
                        f"{rate:.0f} MB/s, memory +{growth:.1f} MiB", "-", "-",
                        "context: the line-object form; the goal is the text form's"))
    return rows


def run(size: str = "full") -> Result:
    megabytes, rounds = (1024, 3) if size == "full" else (256, 2)
    m = measure(megabytes, rounds)
    res = Result("log_read", rows_for(m))
    res.notes.append(f"log read: {m['size'] / 1e6:,.0f} MB of {LINE_BYTES}-byte lines, in the page cache for both "
                     "sides; the API side is a real HTTP client (httpx) reading the stream to its end; memory "
                     "is the server process's RSS peak over its level before the read.")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="log size in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    Result("log_read", rows_for(measure(args.mb, args.rounds))).print()


if __name__ == "__main__":
    main()
