"""Benchmark of the local backend; prints a table (a measurement, not a test).

    .venv/bin/python benchmarks/local_bench.py [--log-mb 1024] [--repeat 3]

Rows:
  * create -> all replicas Running, for 1, 4 and 8 replicas (goal <= 1 s for 8): from the
    `create()` call until every replica's own command has been exec'd (its pid file exists);
  * the same 2-process DDP script (benchmarks/local_ddp.py) as a PyTorchJob (Master + 1 Worker)
    through the backend vs `torchrun --nproc-per-node=2` run directly: wall-time ratio (goal <= 1.05);
  * log latency: a replica prints a timestamped line every 20 ms, a follower of `logs(follow=True)`
    reads it: p50/p95 (goal p50 <= 50 ms);
  * log throughput: reading a large log through `logs()` (goal >= 200 MB/s, <= 64 MB memory growth).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, Row, Stat, progress  # noqa: E402
from dtrain_jupyter.backends.local import LocalBackend  # noqa: E402
from dtrain_jupyter.backends.local.environment import free_port  # noqa: E402
from dtrain_jupyter.model.status import Phase  # noqa: E402

HERE = Path(__file__).resolve().parent
PY = sys.executable


def job(name: str, command: list[str], workers: int, master: bool = True, env: dict | None = None) -> dict:
    def spec(n):
        c = {"name": "pytorch", "image": "bench:1", "command": command,
             "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
        return {"replicas": n, "restartPolicy": "Never", "template": {"spec": {"containers": [c]}}}
    specs = {"Master": spec(1)} if master else {}
    if workers:
        specs["Worker"] = spec(workers)
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": specs}}


async def wait_finished(backend, name, timeout=600):
    deadline = time.monotonic() + timeout
    while True:
        j = await backend.get("PyTorchJob", name, "default")
        if j.phase.finished:
            return j
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not finish")
        await asyncio.sleep(0.01)


async def bench_startup(backend, n: int, repeat: int) -> list[float]:
    times = []
    for r in range(repeat):
        name = f"start-{n}-{r}"
        t0 = time.perf_counter()
        j = await backend.create(job(name, [PY, "-c", "import time; time.sleep(60)"], n - 1))
        run = Path(backend.store.job_dir("default", "pytorchjobs", name)) / "run"
        while len(list(run.glob("*.pid"))) < n:
            await asyncio.sleep(0.001)
        times.append(time.perf_counter() - t0)
        await backend.delete("PyTorchJob", name, "default")
        assert j.phase in (Phase.RUNNING, Phase.PENDING)
    return times


async def bench_ddp(backend, repeat: int) -> tuple[list[float], list[float]]:
    script = str(HERE / "local_ddp.py")
    ours, direct = [], []
    for r in range(repeat):
        t0 = time.perf_counter()
        # torchrun sets OMP_NUM_THREADS=1 for its workers; give the replicas the same, so both
        # sides run the same computation and only the launching differs.
        await backend.create(job(f"ddp-{r}", [PY, script], 1, env={"OMP_NUM_THREADS": "1"}))
        j = await wait_finished(backend, f"ddp-{r}")
        ours.append(time.perf_counter() - t0)
        if j.phase != Phase.SUCCEEDED:
            tail = [f"{ln.pod}: {ln.line}" async for ln in backend.logs("PyTorchJob", f"ddp-{r}", "default", tail=15)]
            raise RuntimeError(j.status.message + "\n" + "\n".join(tail))
        await backend.delete("PyTorchJob", f"ddp-{r}", "default")
        t0 = time.perf_counter()
        subprocess.run([str(Path(PY).parent / "torchrun"), "--nproc-per-node=2", f"--master-port={free_port()}",
                        script], check=True, capture_output=True)
        direct.append(time.perf_counter() - t0)
    return ours, direct


async def bench_latency(backend, lines: int) -> list[float]:
    code = (f"import time\nfor i in range({lines}):\n    print(f'{{time.time():.6f}}', flush=True)\n    time.sleep(0.02)\n")
    await backend.create(job("latency", [PY, "-c", code], 0))
    lat = []
    async for ln in backend.logs("PyTorchJob", "latency", "default", follow=True):
        try:
            lat.append(time.time() - float(ln.line))
        except ValueError:
            pass
    await backend.delete("PyTorchJob", "latency", "default")
    return lat


async def bench_throughput(backend, megabytes: int, line_bytes: int) -> tuple[float, float, float]:
    # One replica writes the log at disk speed: fixed-size lines in ~1 MB blocks.
    per_block = max(1, 1_048_576 // line_bytes)
    code = (f"import sys\nline = b'x' * {line_bytes - 1} + b'\\n'\nblock = line * {per_block}\n"
            f"for _ in range({megabytes}):\n    sys.stdout.buffer.write(block)\n")
    await backend.create(job("bigLog".lower(), [PY, "-c", code], 0))
    await wait_finished(backend, "biglog")
    size = (Path(backend.store.job_dir("default", "pytorchjobs", "biglog")) / "logs" / "biglog-master-0.log").stat().st_size
    me = psutil.Process()
    base = me.memory_info().rss
    peak = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], me.memory_info().rss)
            time.sleep(0.01)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    n = 0
    nbytes = 0
    async for ln in backend.logs("PyTorchJob", "biglog", "default"):
        n += 1
        nbytes += len(ln.line) + 1
    elapsed = time.perf_counter() - t0
    stop.set()
    t.join()
    await backend.delete("PyTorchJob", "biglog", "default")
    assert nbytes == size, (nbytes, size)
    return size / 1e6, size / 1e6 / elapsed, (peak[0] - base) / 2**20


async def measure(repeat: int, latency_lines: int, log_mb: int, line_bytes: list[int]) -> dict:
    """Every figure of this benchmark as samples; `log_mb=0` skips the in-process log read."""
    out: dict = {"startup": {}, "throughput": []}
    with tempfile.TemporaryDirectory() as tmp:
        backend = LocalBackend(Path(tmp) / "state", grace_seconds=2.0, poll_interval=0.05)
        await backend.start()
        try:
            for n in (1, 4, 8):
                progress(f"create -> {n} replica(s) Running, {repeat} times")
                out["startup"][n] = await bench_startup(backend, n, repeat)
            progress(f"2-process DDP: local backend and torchrun, alternating, {repeat} times")
            out["ddp"] = await bench_ddp(backend, repeat)
            progress("log latency in-process")
            out["latency"] = await bench_latency(backend, latency_lines)
            for lb in line_bytes if log_mb else []:
                progress(f"in-process read of a {log_mb} MiB log, {lb}-byte lines")
                out["throughput"].append((lb, *await bench_throughput(backend, log_mb, lb)))
        finally:
            await backend.stop()
    return out


def rows_for(m: dict) -> list[Row]:
    rows = []
    for n, times in m["startup"].items():
        st = Stat([t * 1000 for t in times], "ms")
        rows.append(Row(f"create -> {n} replica(s) Running (local backend)", st.text(),
                        goal="<= 1 s" if n == 8 else "-", met=st.median <= 1000 if n == 8 else None))
    ours, direct = (Stat(x, "s") for x in m["ddp"])
    ratio = ours.median / direct.median
    rows.append(Row("2-process DDP (30 steps, gloo): local backend vs torchrun --nproc-per-node=2",
                    ours.text(), direct.text(), f"{ratio:.3f} (ours/peer)", "wall ratio <= 1.05", ratio <= 1.05))
    lat = Stat([x * 1000 for x in m["latency"]], "ms")
    rows.append(Row("log latency, replica write -> Backend.logs(follow) in-process",
                    f"p50 {lat.median:.1f} ms, p95 {lat.pct(0.95):.1f} ms ({len(lat.samples)} lines)",
                    goal="p50 <= 50 ms", met=lat.median <= 50))
    for lb, size, rate, growth in m["throughput"]:
        rows.append(Row(f"{size:.0f} MB log, {lb}-byte lines, read line by line via Backend.logs() in-process",
                        f"{rate:.0f} MB/s, memory +{growth:.1f} MiB", goal="(context; the API path is in log_read)"))
    return rows


def run(size: str = "full") -> Result:
    """Start-up and DDP rows (the log rows through the API are log_follow / log_read's)."""
    repeat, lines, log_mb = (5, 100, 256) if size == "full" else (3, 50, 0)
    res = Result("local", rows_for(asyncio.run(measure(repeat, lines, log_mb, [100]))))
    res.notes.append("local: create -> Running is from the create() call until every replica's own command has been "
                     "exec'd (its pid file exists); DDP alternates ours and torchrun on the same script "
                     "(benchmarks/local_ddp.py), OMP_NUM_THREADS=1 on both sides.")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-mb", type=int, default=1024, help="size of the log read for throughput (MB, default 1024; 0 skips)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per startup/DDP measurement (default 3)")
    parser.add_argument("--line-bytes", type=int, nargs="+", default=[100],
                        help="line length(s) of the throughput log, newline included (default 100)")
    parser.add_argument("--latency-lines", type=int, default=200, help="lines written for the latency measure")
    args = parser.parse_args()
    m = asyncio.run(measure(args.repeat, args.latency_lines, args.log_mb, args.line_bytes))
    Result("local", rows_for(m)).print()
    print(f"\n{psutil.cpu_count()} CPUs, Python {sys.version.split()[0]}, repeat={args.repeat}")


if __name__ == "__main__":
    main()
