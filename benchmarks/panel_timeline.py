"""Where the panel's first render goes: a timeline of one opening, and the browser's busiest work.

The profiling aid behind the panel figures of report.md (not part of `make bench`). JupyterLab
with the Kubernetes backend on the API double (N jobs), Debian Chromium under Playwright; per
opening it prints, from the click on the launcher card: the kernel messages in both directions
(first of each type: execute_request, comm_open, display_data, ...) and when the first page of
rows was painted (on the page's own clock, page_clock.py; frames are on Playwright's, a few ms
later than the page saw them). With --trace it also records a Chrome trace of the opening and prints the
renderer's events by total time (EvaluateScript there means code loaded on the click). With
--profile it records the page's JavaScript CPU profile of the opening (CDP Profiler) and prints
the functions by inclusive time (with the warm kernel the click sends the kernel nothing, so
what is left is there: Lumino attaching the tab, style and layout).

    .venv/bin/python benchmarks/panel_timeline.py [--jobs 1000] [--openings 3] [--cold] [--trace] [--profile]
        [--requests]

--requests marks each HTTP request of the page (a script chunk fetched on the click, say).

--cold turns the warm kernel off (the click starts the kernel). Pair it with cProfile in the
kernel (python -m cProfile) or py-spy on the kernel's pid for the Python side.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from page_clock import PageClock  # noqa: E402
from panel_bench import KINDS, PANEL, SETTLE_S, lab_ready, msg_type  # noqa: E402
from tests.browser_fixtures import CHROMIUM, CHROMIUM_ARGS, run_lab  # noqa: E402
from tests.kube_double import KubeDouble  # noqa: E402

from dtrain_jupyter.ui.job_list import PAGE_SIZE  # noqa: E402


def opening(browser: Any, server: Any, n_jobs: int, warm: bool, trace: Path | None,
            profile: list[dict] | None = None, requests: bool = False) -> list[tuple[float, str]]:
    """The opening's marks, (seconds after the click, what); `profile` receives the CPU profile;
    `requests` marks when each HTTP request of the page started and ended."""
    marks: list[tuple[float, str]] = []
    seen: set[tuple[str, str]] = set()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()

    def frame(direction: str, payload: Any) -> None:
        kind = msg_type(payload)
        if kind and (direction, kind) not in seen:
            seen.add((direction, kind))
            marks.append((time.time(), f"{direction} first {kind}"))

    def on_ws(ws: Any) -> None:
        if "/api/kernels/" in ws.url:
            ws.on("framereceived", lambda p: frame("kernel ->", p))
            ws.on("framesent", lambda p: frame("-> kernel", p))

    def request(what: str, req: Any) -> None:
        marks.append((time.time(), f"{what} {req.method} {req.url.split('?')[0].rsplit('/', 2)[-2:]}"))

    page.on("websocket", on_ws)
    if requests:
        page.on("request", lambda req: request("request", req))
        # When the answer's head arrived, with its status.
        page.on("response", lambda res: request(f"  answered {res.status}", res.request))
    try:
        page.goto(server.lab_url(workspace=f"p{uuid.uuid4().hex[:10]}"))
        page.wait_for_selector(".jp-Launcher", timeout=180_000)
        page.wait_for_function(f"document.body.dataset.dtrainWarm === '{'ready' if warm else 'off'}'",
                               timeout=180_000)
        time.sleep(SETTLE_S)
        if trace:
            browser.start_tracing(page=page, path=str(trace), categories=["devtools.timeline", "v8.execute", "toplevel", "disabled-by-default-devtools.timeline"])
        cdp = context.new_cdp_session(page) if profile is not None else None
        if cdp:
            cdp.send("Profiler.enable")
            cdp.send("Profiler.setSamplingInterval", {"interval": 200})  # microseconds
            cdp.send("Profiler.start")
        clock = PageClock(page)
        clock.watch("panel", f"{PANEL} .dtrain-job-list")
        clock.watch("rows", f"{PANEL} .dtrain-job", count=min(n_jobs, PAGE_SIZE))
        seen.clear()
        clock.click(page.locator(".jp-LauncherCard", has_text="Distributed Training"))
        # Every mark is on the wall clock, which the page's own (timeOrigin + performance.now())
        # shares: zero is the click event itself, not the start of Playwright's click, which first
        # checks the card for ~50-130 ms. Painted: on the page's clock from the click event
        # (Playwright's waits would round up to its 500 ms polling; see page_clock.py).
        clicked = clock.clicked()
        t0 = (page.evaluate("performance.timeOrigin") + clicked) / 1000
        marks.append((t0, "click"))
        marks.append((t0 + (clock.wait("panel") - clicked) / 1000, "panel's first widget painted"))
        marks.append((t0 + (clock.wait("rows") - clicked) / 1000, f"first {PAGE_SIZE} rows painted"))
        if trace:
            browser.stop_tracing()
        if cdp and profile is not None:
            profile.append(cdp.send("Profiler.stop")["profile"])
        return [(t - t0, what) for t, what in sorted(marks) if t >= t0 - 0.001]
    finally:
        context.close()
        for session in server.sessions():
            server.api("DELETE", f"api/sessions/{session['id']}")


def busiest(trace: Path, top: int = 15) -> list[tuple[str, float, int]]:
    data = json.loads(trace.read_text())
    events = data["traceEvents"] if isinstance(data, dict) else data
    total: collections.Counter = collections.Counter()
    count: collections.Counter = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            total[e["name"]] += e["dur"]
            count[e["name"]] += 1
    return [(name, us / 1000, count[name]) for name, us in total.most_common(top)]


def hottest(profile: dict, top: int = 25) -> list[tuple[str, float]]:
    """Functions of a CDP CPU profile by inclusive time (ms), each counted once per sample."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {child: n["id"] for n in profile["nodes"] for child in n.get("children", ())}
    total: collections.Counter = collections.Counter()
    for sample, us in zip(profile["samples"], profile["timeDeltas"]):
        names, node = set(), sample
        while node is not None:
            frame = nodes[node]["callFrame"]
            names.add(f"{frame['functionName'] or '(anonymous)'} {frame['url'].rsplit('/', 1)[-1]}:"
                      f"{frame['lineNumber']}")
            node = parent.get(node)
        for name in names:
            total[name] += us
    return [(name, us / 1000) for name, us in total.most_common(top)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--openings", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="warmKernel off: the click starts the kernel")
    parser.add_argument("--trace", action="store_true", help="record and summarise a Chrome trace per opening")
    parser.add_argument("--profile", action="store_true", help="record and summarise a JavaScript CPU profile")
    parser.add_argument("--requests", action="store_true", help="mark each HTTP request the page makes")
    args = parser.parse_args()
    logging.getLogger("tornado").setLevel(logging.CRITICAL)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, KubeDouble(simulate=False) as kd:
        kd.bulk_load(args.jobs, kinds=KINDS, pods_per_job=4)
        base = Path(tmp) / "lab"
        if args.cold:
            settings = base / "settings" / "dtrain-jupyter" / "plugin.jupyterlab-settings"
            settings.parent.mkdir(parents=True)
            settings.write_text('{"warmKernel": false}')
        with run_lab(base, "--DTrain.backend=kubernetes", f"--DTrain.kubeconfig={kd.kubeconfig_path}") as server:
            lab_ready(server)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
                try:
                    for i in range(args.openings):
                        trace = Path(tmp) / f"trace-{i}.json" if args.trace else None
                        print(f"--- opening {i + 1} ({'cold' if args.cold else 'warm'} kernel, {args.jobs} jobs)")
                        profiles: list[dict] | None = [] if args.profile else None
                        for t, what in opening(browser, server, args.jobs, not args.cold, trace, profiles,
                                                   args.requests):
                            print(f"{t * 1000:8.0f} ms  {what}")
                        for profile in profiles or ():
                            for name, ms in hottest(profile):
                                print(f"    {ms:8.1f} ms  {name}")
                        if trace:
                            for name, ms, n in busiest(trace):
                                print(f"    {ms:8.1f} ms {n:6d}x  {name}")
                finally:
                    browser.close()


if __name__ == "__main__":
    main()
