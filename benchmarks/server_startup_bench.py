"""What the dtrain extension costs at Jupyter server start-up, beside a peer extension.

Each sample is a fresh interpreter that builds a `ServerApp` with every installed server
extension switched off except the one measured, then times `initialize()` (imports, config,
handlers, settings) plus `start_all_extensions()` (our `_start_jupyter_server_extension`).
Samples alternate between configurations so drift hits them alike; the report gives medians
and the cost over the bare server. The goal for dtrain is <= 100 ms over bare.

    .venv/bin/python benchmarks/server_startup_bench.py [--runs 9] [--json out.json]

The peer is jupyter_server_terminals, a small extension every JupyterLab install loads.
Results go to stdout (and to --json); benchmarks/results/ is ignored by git.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Result, Row, Stat  # noqa: E402

SAMPLE = textwrap.dedent("""
    import asyncio, json, sys, time, warnings
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager
    from jupyter_server.serverapp import ServerApp
    t_import = time.perf_counter()
    measured = sys.argv[1]
    installed = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    switches = {name: False for name in installed}
    switches.update({"dtrain_jupyter": False, "jupyter_server_terminals": False})
    if measured != "bare":
        switches[measured] = True
    app = ServerApp()
    start = time.perf_counter()
    app.initialize([f"--ServerApp.jpserver_extensions={switches!r}", "--ServerApp.port=0",
                    f"--ServerApp.root_dir={sys.argv[2]}", f"--DTrain.state_dir={sys.argv[2]}/state",
                    "--ServerApp.log_level=50"], new_httpserver=False)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(app.extension_manager.start_all_extensions())
    ready = time.perf_counter()
    loaded = sorted(n for n, e in app.extension_manager.extensions.items() if e.enabled)
    loop.run_until_complete(app.extension_manager.stop_all_extensions())
    print(json.dumps({"startup_ms": (ready - start) * 1000, "loaded": loaded}))
""")

CONFIGS = ("bare", "dtrain_jupyter", "jupyter_server_terminals")


def sample(config: str, root: str) -> dict:
    # Bytecode is cached (in a private prefix) as an installed package's would be, even where
    # the environment sets PYTHONDONTWRITEBYTECODE; the first, warm-up sample fills the cache.
    env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1", "PYTHONPYCACHEPREFIX": os.path.join(root, "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run([sys.executable, "-c", SAMPLE, config, root], capture_output=True, text=True,
                          timeout=300, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{config}: sample failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(runs: int) -> dict[str, dict]:
    """Per configuration: start-up samples (ms) and the extensions it loaded; alternating."""
    times: dict[str, list[float]] = {c: [] for c in CONFIGS}
    loaded: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as root:
        for config in CONFIGS:
            sample(config, root)  # warm-up: bytecode cache and file-system cache
        for _ in range(runs):
            for config in CONFIGS:
                result = sample(config, root)
                times[config].append(result["startup_ms"])
                loaded[config] = result["loaded"]
    bare = statistics.median(times["bare"])
    return {config: {"median_ms": round(statistics.median(times[config]), 1),
                     "over_bare_ms": round(statistics.median(times[config]) - bare, 1),
                     "samples_ms": [round(t, 1) for t in times[config]], "loaded": loaded[config]}
            for config in CONFIGS}


def rows_for(report: dict[str, dict]) -> list[Row]:
    bare, ours, peer = (Stat(report[c]["samples_ms"], "ms") for c in CONFIGS)
    cost = report["dtrain_jupyter"]["over_bare_ms"]
    return [
        Row("server start-up: bare jupyter server / + dtrain / + terminals (peer ext.)",
            f"{ours.text()} with dtrain", f"{bare.text()} bare; {peer.text()} with terminals",
            f"+{cost:.1f} ms over bare (terminals +{report['jupyter_server_terminals']['over_bare_ms']:.1f} ms)",
            "<= 100 ms over bare", cost <= 100),
    ]


def run(size: str = "full") -> Result:
    res = Result("server_startup", rows_for(measure(7 if size == "full" else 3)))
    res.notes.append("start-up: each sample a fresh interpreter timing ServerApp.initialize() + "
                     "start_all_extensions() with only the measured extension on; configurations alternate.")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="samples per configuration (default 9)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    report = measure(args.runs)
    print(f"{'configuration':28} {'median ms':>10} {'over bare':>10}   extensions loaded")
    for config in CONFIGS:
        r = report[config]
        print(f"{config:28} {r['median_ms']:10.1f} {r['over_bare_ms']:10.1f}   {', '.join(r['loaded']) or '-'}")
    cost = report["dtrain_jupyter"]["over_bare_ms"]
    print(f"\ndtrain start-up cost: {cost:.1f} ms over bare (goal <= 100 ms): {'OK' if cost <= 100 else 'OVER'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"python": sys.version.split()[0], "runs": args.runs, "results": report}, f, indent=2)


if __name__ == "__main__":
    main()
