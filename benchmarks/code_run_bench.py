"""Run a notebook function as a job: Client.run on the local backend vs the Kubeflow SDK's local process backend.

The same function (`train_step` below: prints "step 0", "step 1", "step 2" half a second apart
and returns) runs

  * ours  `Client.run(train_step, kind="PyTorchJob", workers=2)` through a real `jupyter server`
          (local backend: a Master and 2 Workers), with the function's log followed by
          `Client.logs(follow=True)` while `Client.result` waits for its return value; without
          packages, then with `packages=[PACKAGE]`: once into an empty package cache (pip
          installs), then again (the cache holds them);
  * peer  the Kubeflow SDK (PyPI `kubeflow` 0.5.0, in a venv of its own under the benchmark's
          cache, made the first time this runs): `TrainerClient(backend_config=
          LocalProcessBackendConfig())`, runtime `torch-distributed`, `CustomTrainer(func=
          train_step, packages_to_install=[PACKAGE])` (it needs torch to start at all: it runs
          the function with `torchrun` from a venv it builds for every job), its log followed by
          `get_job_logs(follow=True)` and its status polled until Complete.

Measured from the call that submits: -> the function's first line ("step 0") as the API delivers
it (and, for the SDK, as its follow prints it on the console), -> result (ours: the return value;
the SDK returns none, so: the job Complete). Goals: ours <= 1 s to the first line; lines arrive
while the function runs; a re-run with the same packages within 1.2x of a run without packages.

    .venv/bin/python benchmarks/code_run_bench.py [--rounds 3] [--peer-rounds 2] [--package torch==2.13.0] [--no-peer]
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PY, JupyterServer, Result, Row, Stat, progress  # noqa: E402

PACKAGE = "torch==2.13.0"
SDK_REQUIREMENT = "kubeflow==0.5.0"
FIRST_LINE = "step 0"
# The benchmark's own cache: the SDK's venv and the package caches of our runs live here, never in .venv.
CACHE = Path(os.environ.get("DTRAIN_BENCH_CACHE") or Path.home() / ".cache" / "dtrain-jupyter" / "bench")
SDK_TIMEOUT = 1200  # seconds for one SDK job: it builds a venv and installs PACKAGE every time


def train_step(steps=3):
    import time

    for step in range(steps):
        print(f"step {step}", flush=True)
        time.sleep(0.5)
    return {"steps": steps}


# -- ours -------------------------------------------------------------------------------------

def ours_once(client: Any, packages: list[str] | None, env: dict[str, str] | None) -> tuple[float, float]:
    """(seconds to the function's first log line, seconds to its return value) of one `Client.run`."""
    first: dict[str, float] = {}
    t0 = time.perf_counter()
    job = client.run(train_step, kind="PyTorchJob", workers=2, packages=packages, env=env)

    def follow() -> None:
        for line in client.logs(job.name, follow=True):
            if line.line.startswith(FIRST_LINE):
                first["at"] = time.perf_counter() - t0
                return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    try:
        value = client.result(job.name, timeout=SDK_TIMEOUT, progress=False)
        done = time.perf_counter() - t0
        follower.join(30)
    finally:
        client.delete(job.name)
    if value != {"steps": 3} or "at" not in first:
        raise RuntimeError(f"{job.name}: result {value!r}, first line {'seen' if first else 'never seen'}")
    return first["at"], done


# -- the peer: the Kubeflow SDK in a venv of its own ---------------------------------------------

_SDK_DRIVER = '''\
import json
import sys
import time

{function}

out = {{"error": None}}
marks = {{}}


class Console:
    """sys.stdout that notes when the function's first line is printed (the SDK's follow prints it)."""

    def __init__(self, inner):
        self.inner = inner

    def write(self, text):
        if {first!r} in text and "t0" in marks:
            marks.setdefault("console", time.perf_counter() - marks["t0"])
        return self.inner.write(text)

    def flush(self):
        self.inner.flush()


try:
    from kubeflow.trainer import CustomTrainer, LocalProcessBackendConfig, TrainerClient

    sys.stdout = Console(sys.stdout)
    client = TrainerClient(backend_config=LocalProcessBackendConfig())
    runtime = client.get_runtime("torch-distributed")
    marks["t0"] = time.perf_counter()
    name = client.train(runtime=runtime, trainer=CustomTrainer(func=train_step, packages_to_install=[{package!r}]))
    lines = []
    for line in client.get_job_logs(name, follow=True):
        if {first!r} in line:
            marks.setdefault("api", time.perf_counter() - marks["t0"])
        lines.append(line)
    while True:
        status = client.get_job(name).status
        if status in ("Complete", "Failed"):
            break
        time.sleep(0.05)
    out.update(status=status, done=time.perf_counter() - marks["t0"], first_line_api=marks.get("api"),
               first_line_console=marks.get("console"), log_tail=lines[-12:])
except Exception as e:  # the benchmark's row says what went wrong
    out["error"] = f"{{type(e).__name__}}: {{e}}"
with open(sys.argv[1], "w") as f:
    json.dump(out, f)
'''


def sdk_python() -> tuple[Path | None, str]:
    """The Python of the SDK's venv, made (once) under the benchmark's cache; or None and why not."""
    venv = CACHE / f"venv-{SDK_REQUIREMENT.replace('==', '-')}"
    python, ready = venv / "bin" / "python", venv / ".installed"
    if ready.exists():
        return python, ""
    shutil.rmtree(venv, ignore_errors=True)
    progress(f"peer: a venv for {SDK_REQUIREMENT} in {venv}")
    steps = ([PY, "-m", "venv", str(venv)],
             [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", SDK_REQUIREMENT])
    for argv in steps:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, f"`{' '.join(argv[1:4])} ...` did not finish: {e}"
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            return None, f"`{' '.join(argv[1:4])} ...` failed: {said[0][:200]}"
    ready.write_text(SDK_REQUIREMENT + "\n")
    return python, ""


def sdk_once(python: Path, package: str, work: Path) -> dict[str, Any]:
    """One SDK job, run by the driver above in the SDK's venv; its measures, or {"error": why}."""
    driver, out = work / "sdk_driver.py", work / "sdk_out.json"
    driver.write_text(_SDK_DRIVER.format(function=inspect.getsource(train_step), first=FIRST_LINE, package=package))
    out.unlink(missing_ok=True)
    # As a user who activated the SDK's venv: its `python` is the one the SDK builds job venvs from.
    env = {**os.environ, "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        done = subprocess.run([str(python), str(driver), str(out)], cwd=work, env=env, capture_output=True,
                              text=True, timeout=SDK_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"no end after {SDK_TIMEOUT} s"}
    if not out.exists():
        return {"error": f"the driver exited {done.returncode}: {(done.stderr or done.stdout).strip()[-300:]}"}
    result = json.loads(out.read_text())
    if not result.get("error") and result.get("status") != "Complete":
        result["error"] = f"the job ended {result.get('status')}: {' | '.join(result.get('log_tail') or [])[-300:]}"
    return result


# -- the measurement --------------------------------------------------------------------------

def measure(rounds: int, peer_rounds: int, package: str) -> dict[str, Any]:
    """Every sample: ours without packages, ours with them (cold, then cached), the SDK (alternating)."""
    m: dict[str, Any] = {"plain": [], "cached": [], "cold": None, "sdk": [], "sdk_error": "", "package": package}
    CACHE.mkdir(parents=True, exist_ok=True)
    python, why = sdk_python() if peer_rounds else (None, "not asked for (--no-peer)")
    m["sdk_error"] = why
    with tempfile.TemporaryDirectory(prefix="code-run-", dir=CACHE) as tmp:
        work = Path(tmp)
        # An empty package cache of this run's own, so the first run with packages really installs.
        env = {"DTRAIN_PACKAGE_CACHE": str(work / "packages")}
        with JupyterServer(work / "server") as server, server.client() as client:
            progress("ours: warm-up run")
            ours_once(client, None, None)
            if python is not None:
                # The SDK first: if pip's download cache is cold, this run pays the download (noted).
                progress(f"peer: SDK job 1 of {peer_rounds} (a venv and {package} per job)")
                m["sdk"].append(sdk_once(python, package, work))
            progress(f"ours: packages=[{package!r}] into an empty cache")
            m["cold"] = ours_once(client, [package], env)
            for r in range(rounds):
                progress(f"ours: round {r + 1} of {rounds}, without packages and with them cached")
                m["plain"].append(ours_once(client, None, None))
                m["cached"].append(ours_once(client, [package], env))
                if python is not None and len(m["sdk"]) < peer_rounds and not m["sdk"][0].get("error"):
                    progress(f"peer: SDK job {len(m['sdk']) + 1} of {peer_rounds}")
                    m["sdk"].append(sdk_once(python, package, work))
    failed = [s["error"] for s in m["sdk"] if s.get("error")]
    if failed:
        m["sdk_error"] = failed[0]
        m["sdk"] = [s for s in m["sdk"] if not s.get("error")]
    return m


def _faster(ours: float, peer: float) -> str:
    return f"{peer / ours:.1f}x faster" if ours < peer else f"{ours / peer:.2f}x slower"


def rows_for(m: dict[str, Any]) -> list[Row]:
    package = m["package"]
    plain_first, plain_done = (Stat([s[i] for s in m["plain"]], "s") for i in (0, 1))
    cached_first, cached_done = (Stat([s[i] for s in m["cached"]], "s") for i in (0, 1))
    sdk = m["sdk"]
    peer_note = f"not run: {m['sdk_error']}" if not sdk else ""
    sdk_first = Stat([s["first_line_api"] for s in sdk if s.get("first_line_api") is not None], "s")
    sdk_console = Stat([s["first_line_console"] for s in sdk if s.get("first_line_console") is not None], "s")
    sdk_done = Stat([s["done"] for s in sdk], "s")
    rows = [
        Row("run(fn) -> the function's first log line (ours: PyTorchJob, 2 workers, local backend, no packages; "
            f"SDK: get_job_logs(follow=True), packages_to_install=[{package!r}])",
            plain_first.text(), peer_note or sdk_first.text(),
            _faster(plain_first.median, sdk_first.median) if sdk_first.samples else "-",
            "ours <= 1 s", plain_first.median <= 1.0),
        Row("run(fn) -> result (ours: Client.result's value; SDK: job Complete, it returns no value)",
            plain_done.text(), peer_note or sdk_done.text(),
            _faster(plain_done.median, sdk_done.median) if sdk_done.samples else "-"),
    ]
    if sdk_console.samples:
        rows.append(Row("SDK only: the first line printed on the console by its follow (context)", "-",
                        sdk_console.text()))
    cold_first, cold_done = m["cold"]
    rows.append(Row(f"run(fn, packages=[{package!r}]) into an empty cache: -> first line, -> result "
                    "(pip installs once; the SDK installs on every job)",
                    f"{cold_first:.1f} s, {cold_done:.1f} s", peer_note or f"{sdk_first.text()}, {sdk_done.text()}",
                    _faster(cold_done, sdk_done.median) if sdk_done.samples else "-"))
    ratio = cached_done.median / plain_done.median
    rows.append(Row(f"re-run with the same packages (cached) vs without: -> result (first line {cached_first.text()})",
                    cached_done.text(), f"without: {plain_done.text()}", f"{ratio:.2f} (cached/without)",
                    "<= 1.2", ratio <= 1.2))
    # Live: the function prints its first line, then runs 1 s more; a follower that got the line
    # more than half a second before the end got it while the function ran.
    ours_live = all(done - first > 0.5 for first, done in m["plain"])
    if sdk_first.samples:
        peer_live = all(s["done"] - s["first_line_api"] > 0.5 for s in sdk if s.get("first_line_api") is not None)
        peer_text = f"{'yes' if peer_live else 'no'} ({sdk_first.median:.1f} s of {sdk_done.median:.1f} s)"
    else:
        peer_text = peer_note or "no line came"
    rows.append(Row("lines arrive while the function runs (first line > 0.5 s before the end, every run)",
                    f"{'yes' if ours_live else 'no'} ({plain_first.median:.2f} s of {plain_done.median:.2f} s)",
                    peer_text, goal="yes", met=ours_live))
    return rows


def run(size: str = "full") -> Result:
    rounds, peer_rounds = (5, 3) if size == "full" else (3, 1)
    m = measure(rounds, peer_rounds, PACKAGE)
    res = Result("code_run", rows_for(m))
    res.notes.append(
        "code_run: the same function (prints 3 lines 0.5 s apart, returns) through Client.run on the local backend "
        f"(PyTorchJob, a Master and 2 Workers) and through kubeflow 0.5.0's TrainerClient with "
        f"LocalProcessBackendConfig (runtime torch-distributed, packages_to_install=[{PACKAGE!r}]; its local "
        "process backend runs one process, `torchrun` with one process per node, whatever num_nodes says, from a "
        "venv it builds, pip-installs into and deletes for every job; its get_job_logs(follow=True) prints the "
        "lines on the console as they come and hands them to the caller when the job has ended). Ours with "
        "packages: pip --target into a cache folder keyed by the requirements, once; the re-run rows use it. "
        "The first SDK job runs before our first install, so whichever pays pip's download (when pip's cache is "
        f"cold) is the SDK. The SDK's venv lives in {CACHE}; remove it to measure its installation again.")
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="runs of ours without and with cached packages (default 3)")
    parser.add_argument("--peer-rounds", type=int, default=2, help="SDK jobs (default 2; each installs the package)")
    parser.add_argument("--package", default=PACKAGE, help=f"the requirement both sides install (default {PACKAGE})")
    parser.add_argument("--no-peer", action="store_true", help="ours only")
    args = parser.parse_args()
    m = measure(args.rounds, 0 if args.no_peer else args.peer_rounds, args.package)
    Result("code_run", rows_for(m)).print()
    print(textwrap.fill(f"SDK: {m['sdk_error'] or 'ran'}; samples: {json.dumps(m, default=str)[:2000]}", 120))


if __name__ == "__main__":
    main()
