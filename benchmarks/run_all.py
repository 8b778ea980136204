"""Every performance figure of dtrain-jupyter in one command: benchmarks/report.md plus PNG plots.

    .venv/bin/python benchmarks/run_all.py            # full sizes (about 40 min on 2 cores)
    .venv/bin/python benchmarks/run_all.py --quick    # smaller sizes (about 8 min)
    .venv/bin/python benchmarks/run_all.py --only log_read panel

Runs each benchmark module's `run(size)` in turn, each in a fresh process (the ones listed in
BENCHES, then any other benchmarks/*_bench.py) (each compares ours and the peer in the same
run, alternating, with several repetitions), then writes one table (measure, ours, peer, ratio,
goal, met?), the machine and versions, the notes, and links to the plots. Each benchmark starts
once the machine is quiet (common.quiet_machine, at most a minute); a wait, or a process the
ones before left running, is said in its notes. A benchmark that
fails is a row saying so; the others still run. Exit status 1 when any benchmark failed (a
goal missed is reported, not an error).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, Result, Row, machine, markdown_table, progress, quiet_machine  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36  # prctl option, <linux/prctl.h>

# (module, title) in report order; the order also spreads the heavy ones out.
BENCHES = (
    ("kube_list_bench", "List 5,000 jobs (3 kinds, 4 pods each) via the server"),
    ("kube_list_50k_bench", "List 50,000 jobs (3 kinds, 4 pods each) via the server, and the server's memory"),
    ("list_scaling_bench", "How list cost grows: 100 -> 1,000 -> 10,000 jobs"),
    ("real_cluster_bench", "Real kube-apiserver: list 5,000 jobs (ours vs kubectl vs SDK), watch cache sync"),
    ("log_follow_bench", "Log follow latency, replica write -> client"),
    ("log_read_bench", "Large log: tail and full read through the API"),
    ("metrics_ingest_bench", "Metric ingest: its cost on a large log read via the API; report() -> /metrics latency"),
    ("history_bench", "Job history: list 10,000 records via the server; archiving's cost on log follow and create"),
    ("local_bench", "Local backend: start-up of replicas, 2-process DDP"),
    ("code_run_bench", "Run a notebook function: Client.run vs the Kubeflow SDK's TrainerClient (local process)"),
    ("server_startup_bench", "Extension's cost at server start-up"),
    ("panel_bench", "Panel in Chromium with 1,000 jobs"),
    ("plot_bench", "Live charts in Chromium: 10 curves of 10,000 points, 1 more each; bqplot vs plotly, raw and LTTB"),
    ("metric_latency_bench", "Metric line written by a running job -> point drawn in the panel's Metrics view"),
    ("load_bench", "Load soak: 50, then 200 clients listing 1,000 jobs and following logs"),
)


def all_benches() -> list[tuple[str, str]]:
    """BENCHES, then every other benchmarks/*_bench.py (its docstring's first line as title)."""
    known = {m for m, _ in BENCHES}
    extra = []
    for path in sorted(HERE.glob("*_bench.py")):
        if path.stem not in known:
            text = path.read_text(encoding="utf-8", errors="replace")
            title = text.split('"""')[1].strip().splitlines()[0] if text.count('"""') >= 2 else path.stem
            extra.append((path.stem, title))
    return [*BENCHES, *extra]


NAMES = [m.removesuffix("_bench") for m, _ in all_benches()]


def run_one(module: str, size: str) -> tuple[Result, float, str | None]:
    """(result, seconds, error text or None) of one benchmark module, run in a process of its own.

    One process per benchmark: run in this one, a benchmark inherits every object the ones before
    left in the heap (the 50,000-job cache, a browser driver's state), which its garbage
    collections walk, and every thread they left, which share its interpreter lock.
    """
    t = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dtrain-bench-") as tmp:
        answer = Path(tmp) / "result.pickle"
        child = subprocess.run([sys.executable, "-c", CHILD, str(HERE), module, size, str(answer)], check=False)
        if answer.exists():
            result, error = pickle.loads(answer.read_bytes())
        else:
            result = Result(module.removesuffix("_bench"))
            error = f"the benchmark's process exited with code {child.returncode} before it sent its result"
    return result, time.monotonic() - t, error


# The benchmark's process: run one module, pickle (result, error) into the answer file. The file
# is opened only once the result is there: a process that dies mid-run leaves none behind.
CHILD = """
import pickle, sys
here, module, size, answer = sys.argv[1:]
sys.path.insert(0, here)
from run_all import _run_module
data = pickle.dumps(_run_module(module, size))
with open(answer, "wb") as out:
    out.write(data)
"""


def _run_module(module: str, size: str) -> tuple[Result, str | None]:
    try:
        mod = importlib.import_module(module)
        if not hasattr(mod, "run"):
            result = Result(module.removesuffix("_bench"))
            result.notes.append(f"not run here: benchmarks/{module}.py offers no run(size); run it alone "
                                f"(.venv/bin/python benchmarks/{module}.py).")
            return result, None
        return mod.run(size), None
    except Exception:  # one broken benchmark must not hide the others' figures
        return Result(module.removesuffix("_bench")), traceback.format_exc()


def _adopt_orphans() -> None:
    """Become the parent of every process a benchmark's process leaves behind (Linux), so
    quiet_machine still finds and names them after that process has exited."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: leftovers of a finished benchmark go unnamed
        pass


def _reap_orphans() -> None:
    """Collect the exit status of adopted processes that have ended (no zombies kept)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def render(size: str, info: dict[str, str], sections: list[tuple[str, Result, float, str | None]],
           total: float, out_dir: Path) -> str:
    rows: list[Row] = []
    for title, result, _, error in sections:
        if error:
            rows.append(Row(f"{title}: benchmark FAILED ({error.strip().splitlines()[-1][:150]})", "-", met=False))
        rows.extend(result.rows)
    missed = [r for r in rows if r.met is False]
    lines = [
        "# dtrain-jupyter performance report",
        "",
        f"Written by `benchmarks/run_all.py{' --quick' if size == 'quick' else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} in {total / 60:.1f} min ({size} sizes). "
        "Each comparison ran ours and the peer in the same run, alternating; figures are medians with "
        "(min-max, n=samples). The machine was shared with other work while this ran: read the spread.",
        "",
        f"Goals met: {sum(1 for r in rows if r.met)} of {sum(1 for r in rows if r.met is not None)}."
        + (" Missed: " + "; ".join(r.measure.strip() for r in missed) + "." if missed else ""),
        "",
        markdown_table(rows),
        "",
        "## Machine and versions",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "## Notes",
        "",
    ]
    for title, result, seconds, error in sections:
        lines.append(f"- **{title}** ({seconds:.0f} s). " + " ".join(result.notes))
        if error:
            lines += ["", "```", error.strip()[-3000:], "```", ""]
    plots = [p for _, result, _, _ in sections for p in result.plots]
    if plots:
        lines += ["", "## Plots", ""]
        for p in plots:
            rel = Path(p).resolve().relative_to(out_dir.resolve()) if Path(p).resolve().is_relative_to(out_dir.resolve()) else p
            lines += [f"![{Path(p).stem}]({rel})", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds (about 3 min)")
    parser.add_argument("--only", nargs="+", choices=NAMES, help="run only these benchmarks")
    parser.add_argument("--out", type=Path, help="report path (default benchmarks/report.md; with --only, "
                        "benchmarks/results/report-partial.md, so a partial run never replaces the full report)")
    args = parser.parse_args()
    if args.out is None:
        args.out = HERE / "results" / "report-partial.md" if args.only else HERE / "report.md"
        args.out.parent.mkdir(exist_ok=True)
    size = "quick" if args.quick else "full"
    info = machine()
    try:  # the real control plane's release (tests/cluster), for real_cluster_bench's figures
        from tests.cluster.control_plane import kubernetes_version

        info["kube-apiserver (real control plane)"] = kubernetes_version()
    except Exception:  # noqa: BLE001 - a report without it is still a report
        pass
    _adopt_orphans()
    start = time.monotonic()
    sections = []
    for module, title in all_benches():
        if args.only and module.removesuffix("_bench") not in args.only:
            continue
        _reap_orphans()
        settled = quiet_machine()
        progress(f"=== {module} ({size}) " + (settled.note() or "on a quiet machine"))
        result, seconds, error = run_one(module, size)
        if settled.note():
            result.notes.append(settled.note())
        if error:
            progress(f"!!! {module} failed:\n{error}")
        else:
            result.print()
        sections.append((title, result, seconds, error))
    total = time.monotonic() - start
    report = render(size, info, sections, total, args.out.parent)
    args.out.write_text(report, encoding="utf-8")
    print(report)
    progress(f"wrote {args.out} ({total / 60:.1f} min)")
    return 1 if any(error for *_, error in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
