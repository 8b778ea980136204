"""Live metric charts in a real JupyterLab + Debian Chromium: bqplot vs plotly's FigureWidget, raw and LTTB-thinned.

Issue 15 asks that adding one point to each of 10 curves of 10,000 points be one widget message and at
most 20 ms of browser work, longer series thinned before they are sent. This measures it.

JupyterLab runs on this machine; Playwright (sync API, /usr/bin/chromium, no download) opens a notebook
whose kernel runs one case per cell: a figure of 10 curves of 10,000 points each is shown, the page is
left to draw it, then one point is appended to every curve, `updates` times, one update per `spacing`
seconds. Cases:

  * bqplot, ONE `Lines` mark holding the 10 curves (ragged arrays, `hold_sync`: what ui/charts.py does);
  * bqplot, TEN `Lines` marks, one per curve (the obvious way, for context);
  * plotly `FigureWidget`, 10 `Scatter` traces (SVG lines), changed inside `batch_update()`.
    plotly 7's FigureWidget has no append message (its kernel -> browser messages are addTraces,
    restyle, relayout, update, animate, deleteTraces, moveTraces and the remove* pair; plotly.js's
    extendTraces is not reachable from Python), and bqplot has none either: every update resends the
    whole arrays. So each is measured sending the raw series (10,000+ points a curve) and the series
    thinned with `lttb` (dtrain_jupyter/model/downsample.py) to 5,000, 2,000, 1,000, 500 and 200 points.

Per update:

  * widget messages kernel -> browser: counted in the kernel (every `ipywidgets.Widget._send`, with
    the bytes of its JSON and binary buffers) and, as a check, in the page: the kernel websocket's
    `comm_msg` frames (CDP `Network.webSocketFrameReceived`) that arrived before the next update;
  * browser work: a Chrome trace (CDP `Tracing`, category disabled-by-default-devtools.timeline) of
    the page's renderer main thread (CrRendererMain). The update's work is the run of top-level tasks
    ("RunTask") from the arrival of its first comm_msg frame on, through gaps shorter than two frames
    (a wait for requestAnimationFrame is one), before the next update: decoding the message, the
    widget manager, the library's redraw, style, layout and paint. Its main-thread CPU time (the
    tasks' thread time, `tdur`) is what the goal is judged on: this machine is shared, and the wall
    time of a task also counts the time it waited for a core. The wall time is given beside it, and
    the same measures over a window as long as an update's before the first one (nothing sent) as
    the page's idle work;
  * arrival -> main thread done, and -> the last "Paint" of that run of tasks;
  * kernel time: the update's Python (thinning included) until its messages are handed to ipykernel.

Chrome's trace clock, CDP's Network timestamps and Python's time.monotonic() are all CLOCK_MONOTONIC
on Linux, so kernel send times, frame arrivals and trace events share one time line.

    .venv/bin/python benchmarks/plot_bench.py [--quick] [--updates 30] [--spacing 1.0] [--only CASE ...] [--json F]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import re
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, Row, Stat, progress  # noqa: E402
from panel_bench import msg_type  # noqa: E402
from tests.browser_fixtures import CHROMIUM, CHROMIUM_ARGS, run_lab, screenshot  # noqa: E402

CURVES = 10
BASE_POINTS = 10_000
THINNED_TO = (5_000, 2_000, 1_000, 500, 200)
# Issue 15's goal for one update of 10 curves.
GOAL_MESSAGES = 1
GOAL_BROWSER_MS = 20.0
# The page draws the first figure (100,000 points when raw) before the updates start.
SETTLE_S = 4.0
CASE_TIMEOUT_MS = 600_000
# Main-thread tasks closer than two frames belong to the same piece of work.
BURST_GAP_S = 0.034
TRACE_CATEGORIES = ["disabled-by-default-devtools.timeline", "devtools.timeline", "toplevel"]
KERNEL_FILE = "plot_bench_kernel.py"

# Runs in the notebook's kernel (`%run -i`); one `run_case` call per case.
KERNEL_CODE = r'''
import json
import time

import bqplot
import ipywidgets
import numpy as np
import plotly.graph_objects as go
from IPython.display import display

from dtrain_jupyter.model.downsample import lttb

_sent = []  # (JSON bytes, buffer bytes) of every widget message since the last reset
_original_send = ipywidgets.Widget._send


def _counting_send(self, msg, buffers=None):
    buffer_bytes = sum(memoryview(b).nbytes for b in (buffers or ()))
    _sent.append((len(json.dumps(msg, default=str)), buffer_bytes))
    return _original_send(self, msg, buffers)


ipywidgets.Widget._send = _counting_send


def _ragged(rows):
    # As ui/charts.py hands curves to one Lines mark: a 1-D object array of arrays.
    out = np.empty(len(rows), dtype=object)
    for i, row in enumerate(rows):
        out[i] = row
    return out


def _series(curves, points, seed):
    rng = np.random.default_rng(seed)
    xs = [np.arange(points, dtype=float) for _ in range(curves)]
    ys = [np.exp(-x / 3000.0) * (1 + k / 10) + 0.05 * rng.standard_normal(points) for k, x in enumerate(xs)]
    return xs, ys, rng


def _shown(xs, ys, points):
    if points is None:
        return xs, ys
    out_x, out_y = [], []
    for x, y in zip(xs, ys):
        tx, ty = lttb(x.tolist(), y.tolist(), points)
        out_x.append(np.asarray(tx, dtype=float))
        out_y.append(np.asarray(ty, dtype=float))
    return out_x, out_y


def _bqplot(layout, curves):
    sx, sy = bqplot.LinearScale(), bqplot.LinearScale()
    axes = [bqplot.Axis(scale=sx, label="step"), bqplot.Axis(scale=sy, orientation="vertical", label="loss")]
    size = ipywidgets.Layout(width="900px", height="400px")
    if layout == "one-mark":
        lines = bqplot.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": sx, "y": sy}, stroke_width=1.6)
        fig = bqplot.Figure(marks=[lines], axes=axes, animation_duration=0, layout=size)

        def push(xs, ys):
            with lines.hold_sync():
                # as ui/charts.py does: traittypes compares old and new object arrays element by
                # element and fails; an empty array between them is compared by shape only
                lines.x = lines.y = np.zeros(0)
                lines.x = _ragged(xs)
                lines.y = _ragged(ys)
        return fig, push
    marks = [bqplot.Lines(x=np.zeros(0), y=np.zeros(0), scales={"x": sx, "y": sy}, stroke_width=1.6)
             for _ in range(curves)]
    fig = bqplot.Figure(marks=marks, axes=axes, animation_duration=0, layout=size)

    def push(xs, ys):
        for mark, x, y in zip(marks, xs, ys):
            with mark.hold_sync():
                mark.x = x
                mark.y = y
    return fig, push


def _plotly(curves):
    fig = go.FigureWidget([go.Scatter(x=[], y=[], mode="lines") for _ in range(curves)],
                          layout={"width": 900, "height": 400, "showlegend": False,
                                  "margin": {"l": 50, "r": 10, "t": 10, "b": 40}})

    def push(xs, ys):
        with fig.batch_update():
            for trace, x, y in zip(fig.data, xs, ys):
                trace.x = x
                trace.y = y
    return fig, push


def run_case(case_id, library, points, updates, spacing, settle, out_path, curves=10, base=10_000):
    ipywidgets.Widget.close_all()  # the previous case's figure stops drawing
    xs, ys, rng = _series(curves, base, seed=len(case_id))
    fig, push = _plotly(curves) if library == "plotly" else _bqplot(library.split(":")[1], curves)
    push(*_shown(xs, ys, points))
    display(fig)
    time.sleep(settle)
    quiet = time.monotonic()
    time.sleep(spacing)
    records = []
    for _ in range(updates):
        n = len(xs[0])
        for k in range(curves):
            xs[k] = np.append(xs[k], float(n))
            ys[k] = np.append(ys[k], ys[k][-1] * 0.9999 + 0.05 * rng.standard_normal())
        del _sent[:]
        sent = time.monotonic()
        started = time.perf_counter()
        push(*_shown(xs, ys, points))
        kernel_ms = (time.perf_counter() - started) * 1000
        records.append({"sent": sent, "kernel_ms": kernel_ms, "messages": len(_sent),
                        "bytes": sum(a + b for a, b in _sent)})
        time.sleep(max(0.0, spacing - (time.monotonic() - sent)))
    with open(out_path, "w") as f:
        json.dump({"quiet": quiet, "updates": records, "points_last": len(_shown(xs, ys, points)[0][0])}, f)
    print(f"plot-bench case done <{case_id}>")


print("plot-bench kernel ready")
'''


@dataclass(frozen=True)
class Case:
    library: str          # "bqplot:one-mark", "bqplot:ten-marks" or "plotly"
    points: int | None    # points per curve sent; None: the raw series

    @property
    def ident(self) -> str:
        return f"{self.library.replace(':', '-')}-{self.points or 'raw'}"

    def label(self) -> str:
        what = {"bqplot:one-mark": "bqplot, one Lines mark for the 10 curves",
                "bqplot:ten-marks": "bqplot, 10 Lines marks",
                "plotly": "plotly FigureWidget, 10 Scatter traces"}[self.library]
        sent = f"raw ({BASE_POINTS:,}+ points each)" if self.points is None else f"lttb to {self.points:,} each"
        return f"{what}: {sent}"


def cases() -> list[Case]:
    out = []
    for library in ("bqplot:one-mark", "plotly"):
        out.append(Case(library, None))
        out.extend(Case(library, n) for n in THINNED_TO)
    out.append(Case("bqplot:ten-marks", None))
    return out


# -- the trace --------------------------------------------------------------------------------

@dataclass
class MainThread:
    """The page's renderer main thread in a trace, times in seconds on CLOCK_MONOTONIC."""

    spans: list[tuple[float, float]]        # top-level tasks, merged (wall clock)
    cpu: list[tuple[float, float, float]]   # (start, end, thread CPU seconds) of each "RunTask"
    paints: list[float]                     # end of each "Paint"

    def cpu_ms(self, t0: float, t1: float) -> float:
        """CPU time of the tasks in [t0, t1]; a task reaching over either end counts in proportion (a
        message that arrives while the previous update is still being drawn is handled in that task)."""
        total = 0.0
        for start, end, cpu in self.cpu:
            if end > t0 and start < t1:
                total += cpu * ((min(end, t1) - max(start, t0)) / (end - start) if end > start else 1.0)
        return 1000 * total


def main_thread(events: list[dict]) -> MainThread:
    """The busiest renderer main thread (CrRendererMain) of the trace."""
    threads = {(e["pid"], e["tid"]) for e in events
               if e.get("ph") == "M" and e.get("name") == "thread_name"
               and e.get("args", {}).get("name") == "CrRendererMain"}
    tasks: dict[tuple[int, int], list[tuple[float, float]]] = {t: [] for t in threads}
    paints: dict[tuple[int, int], list[float]] = {t: [] for t in threads}
    cpu: dict[tuple[int, int], list[tuple[float, float, float]]] = {t: [] for t in threads}
    for e in events:
        key = (e.get("pid"), e.get("tid"))
        if key not in tasks or e.get("ph") != "X":
            continue
        start, end = e["ts"] / 1e6, (e["ts"] + e.get("dur", 0)) / 1e6
        if e["name"] in ("RunTask", "ThreadControllerImpl::RunTask"):
            tasks[key].append((start, end))
        if e["name"] == "RunTask":
            # tdur: the thread's CPU time in the task, which a busy machine's preemption does not inflate
            cpu[key].append((start, end, e.get("tdur", e.get("dur", 0)) / 1e6))
        elif e["name"] == "Paint":
            paints[key].append(end)
    if not tasks:
        raise RuntimeError("the trace holds no renderer main thread (CrRendererMain)")
    merged = {key: merge(spans) for key, spans in tasks.items()}
    busiest = max(merged, key=lambda key: sum(b - a for a, b in merged[key]))
    return MainThread(merged[busiest], sorted(cpu[busiest]), sorted(paints[busiest]))


def merge(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The union of intervals (the two task event names nest: a task counts once)."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def burst_end(spans: list[tuple[float, float]], t0: float, t1: float) -> float:
    """When the main thread's work that began at t0 ended: the end of the last task reached from t0
    through gaps shorter than BURST_GAP_S (a frame's wait for requestAnimationFrame is one), before t1."""
    end = t0
    for a, b in spans:
        if b <= end:
            continue
        if a >= t1 or a - end > BURST_GAP_S:
            break
        end = min(b, t1)
    return end


def busy_ms(spans: list[tuple[float, float]], t0: float, t1: float) -> float:
    return 1000 * sum(max(0.0, min(b, t1) - max(a, t0)) for a, b in spans)


# -- the page ---------------------------------------------------------------------------------

class Frames:
    """Every comm_msg frame the page received from the kernel: (arrival, bytes), arrival on CLOCK_MONOTONIC."""

    def __init__(self, page: Any) -> None:
        self.comm_msgs: list[tuple[float, int]] = []
        self.session = page.context.new_cdp_session(page)
        self.session.on("Network.webSocketFrameReceived", self._frame)
        self.session.send("Network.enable")

    def _frame(self, params: dict) -> None:
        response = params.get("response", {})
        text = response.get("payloadData", "")
        # opcode 2: a binary frame (JupyterLab's v1 kernel protocol), base64 in CDP.
        payload: Any = base64.b64decode(text) if response.get("opcode") == 2 else text
        if msg_type(payload) == "comm_msg":
            self.comm_msgs.append((params["timestamp"], len(payload)))

    def between(self, t0: float, t1: float) -> list[tuple[float, int]]:
        return [f for f in self.comm_msgs if t0 <= f[0] < t1]


def run_cell(page: Any, code: str) -> None:
    """Type `code` into the notebook's active cell and run it; a new empty cell below becomes active."""
    page.keyboard.press("Enter")  # the active cell, in edit mode
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")
    # Command mode: no caret blinking (and painting) in the new cell while the figure is measured.
    page.keyboard.press("Escape")


def wait_for_output(page: Any, text: str) -> None:
    """Until a cell output says `text`; a traceback in the notebook ends the wait with its words."""
    done = page.locator(".jp-OutputArea-output", has_text=text)
    error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    done.or_(error).first.wait_for(timeout=CASE_TIMEOUT_MS)
    if not done.count():
        raise RuntimeError(f"the benchmark's cell failed: {error.first.inner_text()[-2000:]}")


def open_notebook(page: Any, server: Any) -> None:
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click()
    editor = page.locator(".jp-NotebookPanel .jp-Cell").first.locator(".cm-content")
    editor.wait_for(timeout=CASE_TIMEOUT_MS)
    deadline = time.monotonic() + 180
    while not any(s["path"].endswith(".ipynb") and (s.get("kernel") or {}).get("execution_state") == "idle"
                  for s in server.sessions()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the notebook's kernel never became idle: {server.sessions()}")
        time.sleep(0.25)
    # A cell run before the page is connected to the kernel is dropped without a word.
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\| Idle$")).wait_for(timeout=CASE_TIMEOUT_MS)
    editor.click()
    page.keyboard.press("Escape")  # command mode, as run_cell expects


def one_case(browser: Any, page: Any, frames: Frames, root: Path, case: Case, updates: int,
             spacing: float) -> dict[str, Any]:
    out_path = root / f"{case.ident}.json"
    points = "None" if case.points is None else str(case.points)
    code = (f"run_case({case.ident!r}, {case.library!r}, {points}, {updates}, {spacing}, {SETTLE_S}, "
            f"{str(out_path)!r}, curves={CURVES}, base={BASE_POINTS})")
    browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
    try:
        run_cell(page, code)
        # <...>: the 500-point case's words are not a prefix of the 5,000-point case's
        wait_for_output(page, f"plot-bench case done <{case.ident}>")
    finally:
        trace = json.loads(browser.stop_tracing())
    screenshot(page, f"plot-bench-{case.ident}")
    kernel = json.loads(out_path.read_text())
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    main = main_thread(events)
    tasks = main.spans
    sends = [u["sent"] for u in kernel["updates"]]
    window_ends = [*sends[1:], sends[-1] + spacing]
    per_update = []
    for u, end in zip(kernel["updates"], window_ends):
        arrived = frames.between(u["sent"], end)
        if not arrived:
            per_update.append({**u, "frames": 0, "frame_bytes": 0, "busy_ms": None, "cpu_ms": None,
                               "window_ms": None, "done_ms": None, "painted_ms": None})
            continue
        first = arrived[0][0]
        done = burst_end(tasks, first, end)
        painted = [p for p in main.paints if first <= p <= done]
        per_update.append({**u, "frames": len(arrived), "frame_bytes": sum(b for _, b in arrived),
                           "busy_ms": busy_ms(tasks, first, done), "cpu_ms": main.cpu_ms(first, done),
                           "window_ms": busy_ms(tasks, first, end),
                           "done_ms": (done - first) * 1000,
                           "painted_ms": (painted[-1] - first) * 1000 if painted else None})
    quiet_ms = busy_ms(tasks, kernel["quiet"], kernel["quiet"] + spacing)
    quiet_cpu_ms = main.cpu_ms(kernel["quiet"], kernel["quiet"] + spacing)
    return {"case": case, "updates": per_update, "quiet_ms": quiet_ms, "quiet_cpu_ms": quiet_cpu_ms,
            "points_last": kernel["points_last"]}


def measure(updates: int, spacing: float, only: list[Case] | None = None) -> list[dict[str, Any]]:
    logging.getLogger("tornado").setLevel(logging.CRITICAL)
    from playwright.sync_api import sync_playwright

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "lab"
        # Every cell drawn as it is, not virtualised: an output scrolled away must not skip its paint.
        tracker = base / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
        tracker.parent.mkdir(parents=True)
        tracker.write_text('{"windowingMode": "none"}')
        with run_lab(base) as server, sync_playwright() as pw:
            (server.root_dir / KERNEL_FILE).write_text(KERNEL_CODE)
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                page.set_default_timeout(CASE_TIMEOUT_MS)
                frames = Frames(page)
                page.goto(server.lab_url(workspace=f"p{uuid.uuid4().hex[:10]}"))
                page.wait_for_selector(".jp-Launcher", timeout=180_000)
                open_notebook(page, server)
                run_cell(page, f"%run -i {KERNEL_FILE}")
                wait_for_output(page, "plot-bench kernel ready")
                for case in only or cases():
                    progress(f"plot: {case.label()} ({updates} updates, one per {spacing} s)")
                    results.append(one_case(browser, page, frames, server.root_dir, case, updates, spacing))
            finally:
                browser.close()
    return results


# -- the report -------------------------------------------------------------------------------

def stats(result: dict[str, Any], key: str, unit: str) -> Stat:
    return Stat([float(u[key]) for u in result["updates"] if u[key] is not None], unit)


def meets_goal(result: dict[str, Any]) -> bool:
    """One message and at most GOAL_BROWSER_MS of main-thread CPU time per update (medians). CPU time,
    not wall time: on a shared machine the wall time of a task also counts the time it waited for a core."""
    work = stats(result, "cpu_ms", "ms")
    return (bool(work.samples) and work.median <= GOAL_BROWSER_MS
            and stats(result, "messages", "msgs").median <= GOAL_MESSAGES)


def threshold(results: list[dict[str, Any]], library: str) -> int | None:
    """The most points per curve, among those measured, whose update met the goal for `library`."""
    met = [r["points_last"] for r in results if r["case"].library == library and meets_goal(r)]
    return max(met) if met else None


def rows_for(results: list[dict[str, Any]]) -> list[Row]:
    rows = []
    for r in results:
        msgs = stats(r, "messages", "msgs")
        rows.append(Row(f"plot: {r['case'].label()}: browser main-thread CPU time per update",
                        stats(r, "cpu_ms", "ms").text(), f"idle page: {r['quiet_cpu_ms']:.1f} ms per "
                        "window", goal=f"1 message, <= {GOAL_BROWSER_MS:.0f} ms", met=meets_goal(r)))
        rows.append(Row("  the same as wall time of the main thread's tasks", stats(r, "busy_ms", "ms").text(),
                        f"idle page: {r['quiet_ms']:.1f} ms per window"))
        rows.append(Row("  widget messages kernel -> browser per update (kernel count; comm_msg frames seen)",
                        f"{msgs.text(0)}; {stats(r, 'frames', 'frames').text(0)}"))
        rows.append(Row("  bytes per update (message JSON + buffers)",
                        Stat([u["bytes"] / 1024 for u in r["updates"]], "KiB").text()))
        rows.append(Row("  arrival -> main thread done; -> its last paint",
                        f"{stats(r, 'done_ms', 'ms').text()}; {stats(r, 'painted_ms', 'ms').text()}"))
        rows.append(Row("  main-thread work in the whole window to the next update (anything the page did)",
                        stats(r, "window_ms", "ms").text()))
        rows.append(Row("  kernel time per update (thinning included)", stats(r, "kernel_ms", "ms").text()))
    for library in ("bqplot:one-mark", "plotly"):
        if any(r["case"].library == library for r in results):
            most = threshold(results, library)
            rows.append(Row(f"plot: {library}: most points per curve (of {BASE_POINTS:,}+, "
                            f"{', '.join(f'{n:,}' for n in THINNED_TO)}) within the goal with {CURVES} curves",
                            f"{most:,}" if most else "none measured"))
    return rows


def run(size: str = "full") -> Result:
    updates, spacing = (30, 1.0) if size == "full" else (8, 0.8)
    res = Result("plot", rows_for(measure(updates, spacing)))
    res.notes.append(f"plot: JupyterLab + Debian Chromium (headless, software rendering); one notebook kernel; "
                     f"{CURVES} curves of {BASE_POINTS:,} points, one point appended to each per update, "
                     f"{updates} updates per case, one per {spacing} s. Browser work: the union of the renderer "
                     "main thread's top-level tasks in a Chrome trace, from the update's first comm_msg frame to "
                     "the next update; kernel messages counted at ipywidgets.Widget._send. See "
                     "benchmarks/findings/plotting.md.")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 updates per case, one per 0.8 s")
    parser.add_argument("--updates", type=int, help="updates per case (default 30, --quick 8)")
    parser.add_argument("--spacing", type=float, help="seconds between updates (default 1.0, --quick 0.8)")
    parser.add_argument("--only", nargs="+", metavar="CASE",
                        help=f"run only these cases: {', '.join(c.ident for c in cases())}")
    parser.add_argument("--json", type=Path, help="also write every sample to this file")
    args = parser.parse_args()
    updates = args.updates or (8 if args.quick else 30)
    spacing = args.spacing or (0.8 if args.quick else 1.0)
    chosen = [c for c in cases() if not args.only or c.ident in args.only]
    if not chosen:
        parser.error(f"no case named {args.only}; the cases: {', '.join(c.ident for c in cases())}")
    results = measure(updates, spacing, chosen)
    if args.json:
        args.json.write_text(json.dumps([{**r, "case": r["case"].ident} for r in results], indent=1))
    Result("plot", rows_for(results)).print()


if __name__ == "__main__":
    main()
