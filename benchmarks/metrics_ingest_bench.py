"""Metric ingest: its cost on reading a large log through the API, and line -> /metrics latency.

    .venv/bin/python benchmarks/metrics_ingest_bench.py [--mb 1024] [--rounds 3] [--points 50]

Rows (issue 15):
  * full read of an N MB replica log (1 GB full, 128 MB quick; 100-byte lines, one in ten a
    `step N loss=...` line) via GET .../log?pod=P&format=text, on a server whose job history
    reads the same log's metrics while it is read (the read starts as the job ends, while the
    metric reader process is still recognising the log the recorder archived) vs the same server
    with `--DTrain.metrics=False` (history on, no recognition), and, for context, with
    `--DTrain.history=False`; the sides alternate within each round; goal: the rate with metrics
    >= 0.9 of the rate without ("metric recognition adds <= 10%"); and the server process's CPU
    seconds per GB for the same read, on vs off (the steadier figure on a shared machine, where
    wall-clock rates swing with the other load);
  * latency from a replica's `report()` (its line's own time) to the point's arrival at a client
    waiting on GET .../metrics?since=CURSOR&wait=20: p50 over `points` reports 0.2 s apart.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PY, JupyterServer, Result, Row, Stat, progress  # noqa: E402
from log_read_bench import api_read  # noqa: E402

from dtrain_jupyter.model.metric_series import MetricsPage  # noqa: E402

LINE_BYTES = 100
OF_PEER = 0.9
LATENCY_GOAL_MS = 500.0


def job(name: str, code: str) -> dict:
    container = {"name": "pytorch", "image": "bench:1", "command": [PY, "-c", code]}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "restartPolicy": "Never",
                                                        "template": {"spec": {"containers": [container]}}}}}}


def mixed_log_job(name: str, megabytes: int) -> dict:
    """`megabytes` MiB of LINE_BYTES-byte lines, one in ten a metric line."""
    code = (f"import sys\nplain = b'x' * {LINE_BYTES - 1} + b'\\n'\n"
            f"metric = (b'step 1 loss=0.25 ' + b'y' * {LINE_BYTES - 18})[:{LINE_BYTES - 1}] + b'\\n'\n"
            f"block = (plain * 9 + metric) * ({1_048_576 // LINE_BYTES} // 10)\n"
            f"for _ in range({megabytes}):\n    sys.stdout.buffer.write(block)\n")
    return job(name, code)


# The servers compared: metric recognition on, off (history on), and the history off altogether.
SIDES = {"metrics": (), "metrics-off": ("--DTrain.metrics=False",), "history-off": ("--DTrain.history=False",)}


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def measure_read(megabytes: int, rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Per side: the read rates (MB/s), and the server's own CPU seconds per GB read (its
    process: the event loop and its threads; the metric reader process is not counted)."""
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            # Each round starts with another side, so no side always runs first on a warm disk.
            order = list(SIDES)[r % len(SIDES):] + list(SIDES)[:r % len(SIDES)]
            for side in order:
                with JupyterServer(Path(tmp) / f"{side}-{r}", *SIDES[side]) as server:
                    client = server.client()
                    progress(f"round {r + 1}/{rounds}, {side}: writing a {megabytes} MiB log")
                    client.create(mixed_log_job("biglog", megabytes))
                    client.wait("biglog", timeout=900)
                    pod = "biglog-master-0"
                    process = psutil.Process(server.pid)
                    before = cpu_seconds(process)
                    secs, n, _ = api_read(server, "dtrain/api/local/namespaces/default/pytorchjobs/biglog/log",
                                          {"pod": pod, "format": "text"})
                    # Wall-clock rates on a shared machine swing with the other load; the server's
                    # CPU time for the same read is the steadier measure of what it costs.
                    cpu[side].append((cpu_seconds(process) - before) / (n / 1e9))
                    rates[side].append(n / 1e6 / secs)
                    client.close()
                shutil.rmtree(Path(tmp) / f"{side}-{r}", ignore_errors=True)
    return rates, cpu


def measure_latency(points: int) -> list[float]:
    code = ("import time\nfrom dtrain_jupyter import report\ntime.sleep(2)\n"
            f"for i in range({points}):\n    report(step=i, loss=1.0 / (i + 1))\n    time.sleep(0.2)\n")
    latencies = []
    with tempfile.TemporaryDirectory() as tmp, JupyterServer(Path(tmp)) as server:
        client = server.client()
        client.create(job("reporter", code))
        path = client.job_path("reporter", kind="PyTorchJob")
        held = MetricsPage(0, False, [], None, False)
        progress(f"latency: {points} reports")
        while not held.finished:
            page = client.metrics_at(path, since=held.cursor, wait=20)
            arrived = time.time()
            for series in page.series:
                latencies += [(arrived - t) * 1000 for t in series.time]
            held = held.merge(page)
        client.close()
    return latencies


def result_for(read: tuple[dict[str, list[float]], dict[str, list[float]]], latencies: list[float],
               megabytes: int) -> Result:
    rates, cpu = read
    res = Result("metrics_ingest")
    ours, peer = Stat(rates["metrics"], "MB/s"), Stat(rates["metrics-off"], "MB/s")
    ratio = ours.median / peer.median if peer.median else 0.0
    res.rows.append(Row(f"full read of a {megabytes} MiB log via the API, history on: metric recognition on vs off",
                        ours.text(), peer.text(), f"{ratio:.2f} (on/off)", f">= {OF_PEER:g}", ratio >= OF_PEER))
    cpu_on, cpu_off = Stat(cpu["metrics"], "s/GB"), Stat(cpu["metrics-off"], "s/GB")
    cpu_ratio = cpu_on.median / cpu_off.median if cpu_off.median else 0.0
    # Context, not a goal: at the quick size the read lasts a fraction of a second and the CPU
    # time moves in 10 ms ticks.
    res.rows.append(Row("(context) server CPU time for the same read (its own process), recognition on vs off",
                        cpu_on.text(), cpu_off.text(), f"{cpu_ratio:.2f} (on/off)"))
    bare = Stat(rates["history-off"], "MB/s")
    context = bare.median and peer.median / bare.median
    res.rows.append(Row("(context) the same read, history on without metrics vs history off", peer.text(),
                        bare.text(), f"{context:.2f} (history/off)"))
    latency = Stat(latencies, "ms")
    res.rows.append(Row("report() line -> point returned to a waiting /metrics?wait=, p50", latency.text(),
                        goal=f"<= {LATENCY_GOAL_MS:g} ms", met=latency.median <= LATENCY_GOAL_MS))
    res.notes.append("metrics ingest: each round starts a fresh server per side (metrics on: the metric reader "
                     "process still recognises the log the recorder archived while the API read runs).")
    return res


def run(size: str = "full") -> Result:
    megabytes, rounds, points = (1024, 3, 50) if size == "full" else (128, 2, 20)
    return result_for(measure_read(megabytes, rounds), measure_latency(points), megabytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--points", type=int, default=50)
    args = parser.parse_args()
    result_for(measure_read(args.mb, args.rounds), measure_latency(args.points), args.mb).print()


if __name__ == "__main__":
    main()
