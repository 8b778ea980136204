"""Reading a large replica log through the REST API vs `cat` / `tail -n` of the same file.

A local PyTorchJob writes an N MB log of 100-byte lines (1 GB full, 256 MB quick) through a
real `jupyter server` with the dtrain extension; the job history (on, as by default) archives
it, and how long that takes after the job has ended is measured first. Then, alternating,
several rounds:

  * full read: GET .../log?pod=P&format=text over a plain socket, its body read into one 1 MiB
    buffer to the end, as `cat FILE`'s output is read from a pipe into the same kind of buffer (so
    the two differ only in where the bytes come from: our server over loopback TCP, or cat over a
    pipe); for context the same read by `curl` (its output read from a pipe as cat's is), by
    httpx (a Python client), and the transport's own ceiling (the file over loopback TCP by
    sendfile into recv_into, no HTTP);
  * tail: GET .../log?pod=P&format=text&tail=1000 vs `tail -n 1000 FILE`;

with the server process's resident-memory growth and CPU time sampled during each socket read.
curl is a context row, not the measure: it writes its output 8 KiB at a time (strace: 62,912
writes for 5,243 reads of a 537 MB body), so through a pipe it reads at about a third of the
rate the server sends at (findings/server-under-load.md, "Sixth round").
Once, for comparison, the NDJSON form of the same full read (one LogLine object per line: the
path every line-wise reader takes). Goals: >= 0.95 of cat's rate (and >= 200 MB/s), <= 64 MB
memory growth.

    .venv/bin/python benchmarks/log_read_bench.py [--mb 1024] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PY, JupyterServer, Result, Row, Stat, peak_rss, progress, quiet_machine  # noqa: E402

LINE_BYTES = 100
TAIL = 1000
# Issue 18's goal for the full read: this share of cat's rate, same file, same rounds.
OF_CAT = 0.95
# The reads wait at most this long after the archive for the machine to be quiet.
QUIET_AFTER_ARCHIVE_S = 120.0
# Both full reads (the API's socket and cat's pipe) are read into a buffer of this size.
READ_BYTES = 1 << 20


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
    """(seconds, bytes, server memory growth MiB) of one streamed GET by httpx."""
    with peak_rss(server.pid) as mem:
        t = time.perf_counter()
        n = 0
        with server.http.stream("GET", server.url + path, params=params) as r:
            r.raise_for_status()
            for chunk in r.iter_raw(1 << 20):
                n += len(chunk)
        elapsed = time.perf_counter() - t
    return elapsed, n, mem["growth_mib"]


def socket_read(server: JupyterServer, path: str, params: dict) -> tuple[float, int, float, float]:
    """(seconds, bytes, server memory growth MiB, server CPU seconds) of one GET over a plain socket.

    The request is written by hand and the head parsed; the body is read by recv_into into one
    READ_BYTES buffer until the Content-Length the server sent (a finished pod's log is sized).
    """
    url = urllib.parse.urlsplit(server.url)
    request = (f"GET {url.path}{path}?{urllib.parse.urlencode(params)} HTTP/1.1\r\nHost: {url.netloc}\r\n"
               f"Authorization: token {server.token}\r\nConnection: close\r\n\r\n").encode()
    proc = psutil.Process(server.pid)
    cpu = sum(proc.cpu_times()[:2])
    buf = bytearray(READ_BYTES)
    # Sampled every 50 ms, not 5: the sampler runs in this process, beside the reader.
    with peak_rss(server.pid, every=0.05) as mem:
        t = time.perf_counter()
        with socket.create_connection((url.hostname, url.port)) as conn:
            conn.sendall(request)
            head = b""
            while b"\r\n\r\n" not in head:
                got = conn.recv(65536)
                if not got:
                    raise RuntimeError(f"the server closed the connection before its answer's head: {head!r}")
                head += got
            head, _, body = head.partition(b"\r\n\r\n")
            status, *fields = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (f.partition(":") for f in fields)}
            if status.split()[1] != "200" or "content-length" not in headers:
                raise RuntimeError(f"expected a 200 with a Content-Length, got {status!r} {headers}")
            length, n = int(headers["content-length"]), len(body)
            while n < length and (got := conn.recv_into(buf)):
                n += got
        secs = time.perf_counter() - t
    if n != length:
        raise RuntimeError(f"the body ended after {n} of {length} bytes")
    return secs, n, mem["growth_mib"], sum(proc.cpu_times()[:2]) - cpu


def curl_read(server: JupyterServer, path: str, params: dict) -> tuple[float, int]:
    """(seconds, bytes) of one GET by curl, its output read from a pipe as cat's is."""
    url = f"{server.url}{path}?{urllib.parse.urlencode(params)}"
    return command_read(["curl", "-sS", "--fail", "-H", f"Authorization: token {server.token}", url])


def command_read(argv: list[str]) -> tuple[float, int]:
    """(seconds, bytes) of a command whose stdout is read from a pipe to the end, into one READ_BYTES buffer."""
    t = time.perf_counter()
    n = 0
    buf = bytearray(READ_BYTES)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, bufsize=0)
    assert proc.stdout is not None
    while got := proc.stdout.readinto(buf):
        n += got
    if proc.wait() != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}")
    return time.perf_counter() - t, n


def tcp_ceiling_read(path: Path) -> tuple[float, int]:
    """(seconds, bytes) of the file sent over loopback TCP by sendfile and read by recv_into: no HTTP, no
    Python per byte on either side. What any server on this machine could reach at best."""
    size = path.stat().st_size
    with socket.create_server(("127.0.0.1", 0)) as listener:
        def send() -> None:
            conn, _ = listener.accept()
            with conn, open(path, "rb") as f:
                offset = 0
                while offset < size:
                    offset += os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        buf, n = bytearray(1 << 20), 0
        with socket.create_connection(listener.getsockname()) as conn:
            t = time.perf_counter()
            while got := conn.recv_into(buf):
                n += got
            elapsed = time.perf_counter() - t
        sender.join()
    return elapsed, n


def archived_after(server: JupyterServer, root: Path, pod: str, size: int, ended: float,
                   timeout: float = 600) -> tuple[float, float]:
    """(seconds after `ended`, server CPU seconds meanwhile) until the job history has the pod's log whole."""
    proc = psutil.Process(server.pid)
    cpu = sum(proc.cpu_times()[:2])
    logs = root / "data" / "dtrain-history" / "logs"
    while time.monotonic() - ended < timeout:
        # The archive is renamed into place once its copy has reached the log's end.
        if any(p.stat().st_size == size for p in logs.glob(f"*/{pod}.log")):
            return time.monotonic() - ended, sum(proc.cpu_times()[:2]) - cpu
        time.sleep(0.02)
    raise RuntimeError(f"the job history had not archived {pod}'s log {timeout:.0f} s after the job ended")


def measure(megabytes: int, rounds: int, ndjson_once: bool = True) -> dict:
    with tempfile.TemporaryDirectory() as tmp, JupyterServer(Path(tmp)) as server:
        client = server.client()
        progress(f"writing a {megabytes} MiB log through a local job")
        started = time.monotonic()
        client.create(writer_job("biglog", megabytes))
        job = client.wait("biglog", timeout=600)
        ended = time.monotonic()
        if job.phase.value != "Succeeded":
            raise RuntimeError(f"log writer ended {job.phase.value}: {job.status.message}")
        pod = "biglog-master-0"
        log = next(Path(tmp, "state").rglob(f"{pod}.log"))
        size = log.stat().st_size
        archived_s, archive_cpu = archived_after(server, Path(tmp), pod, size, ended)
        # The server's metric worker goes on reading the archived log for seconds more (5.3 s of CPU
        # in the 8 s after it, measured per process): rounds taken meanwhile share the two cores
        # with it.
        settled = quiet_machine(QUIET_AFTER_ARCHIVE_S)
        path = "dtrain/api/local/namespaces/default/pytorchjobs/biglog/log"
        out: dict = {"size": size, "written_s": ended - started, "archived_s": archived_s,
                     "archive_cpu_s": archive_cpu, "settled_s": settled.waited_s,
                     "full": [], "cat": [], "curl": [], "httpx": [], "ceiling": [],
                     "cpu_per_gb": [], "tail": [], "tail_peer": [], "mem": []}
        api_read(server, path, {"pod": pod, "format": "text", "tail": TAIL})  # warm-up
        for r in range(rounds):
            progress(f"round {r + 1}/{rounds}: socket, cat, curl, httpx, TCP ceiling, API tail, tail -n")
            secs, n, growth, cpu = socket_read(server, path, {"pod": pod, "format": "text"})
            assert n == size, (n, size)
            out["full"].append(size / 1e6 / secs)
            out["mem"].append(growth)
            out["cpu_per_gb"].append(cpu / (size / 1e9))
            secs, n = command_read(["cat", str(log)])
            assert n == size, (n, size)
            out["cat"].append(size / 1e6 / secs)
            secs, n = curl_read(server, path, {"pod": pod, "format": "text"})
            assert n == size, (n, size)
            out["curl"].append(size / 1e6 / secs)
            secs, n, _ = api_read(server, path, {"pod": pod, "format": "text"})
            assert n == size, (n, size)
            out["httpx"].append(size / 1e6 / secs)
            secs, n = tcp_ceiling_read(log)
            assert n == size, (n, size)
            out["ceiling"].append(size / 1e6 / secs)
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
    by_curl, by_httpx, ceiling = Stat(m["curl"], "MB/s"), Stat(m["httpx"], "MB/s"), Stat(m["ceiling"], "MB/s")
    rows = [
        Row(f"{mb:,.0f} MB log, full read through the API (format=text, one GET read 1 MiB at a time, as cat's "
            "output is read from its pipe) vs cat", full.text(), cat.text(), f"{share:.2f} of cat's rate",
            f">= {OF_CAT:g} of cat's rate and >= 200 MB/s", share >= OF_CAT and full.median >= 200),
        Row("  server memory growth during that read", mem.text(), "-", "-", "<= 64 MB", max(mem.samples) <= 64),
        Row("  server CPU time per GB sent", Stat(m["cpu_per_gb"], "s").text(), "-", "-",
            "context: the body goes out by sendfile, not through Python"),
        Row("  the same read by curl, its output read from a pipe as cat's is", by_curl.text(), cat.text(),
            f"{by_curl.median / cat.median:.2f} of cat's rate", "context: curl writes its output 8 KiB at a time"),
        Row("  the same read by httpx (a Python client, iter_raw)", by_httpx.text(), cat.text(),
            f"{by_httpx.median / cat.median:.2f} of cat's rate", "context: the client's own cost"),
        Row("  the transport's ceiling: the file over loopback TCP, sendfile -> recv_into, no HTTP",
            ceiling.text(), cat.text(), f"{ceiling.median / cat.median:.2f} of cat's rate",
            "context: the most any server reaches here"),
        Row(f"{mb:,.0f} MB log, last {TAIL:,} lines through the API vs tail -n {TAIL}", tail.text(), tail_peer.text(),
            f"{tail.median / tail_peer.median:.1f}x tail's time"),
        Row(f"{mb:,.0f} MB log written in {m['written_s']:.1f} s: job history has it archived whole",
            f"{m['archived_s']:.1f} s after the job ended; server CPU {m['archive_cpu_s']:.1f} s", "-", "-",
            "context: a running pod's log is copied as its bytes (follow-bytes)"),
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
    res.notes.append(f"log read: {m['size'] / 1e6:,.0f} MB of {LINE_BYTES}-byte lines, in the page cache for all "
                     "sides; the API read is one GET over a plain socket whose body is read 1 MiB at a time, as cat's "
                     "output is read from its pipe (curl, httpx and the loopback TCP ceiling are context rows); "
                     "memory is the server process's RSS peak over its level before the read; the reads start once "
                     f"the job history has archived the log and the machine is quiet again ({m['settled_s']:.0f} s "
                     "later: the metric worker reads the archived log).")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="log size in MiB (default 1024)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    Result("log_read", rows_for(measure(args.mb, args.rounds))).print()


if __name__ == "__main__":
    main()
