"""Shared helpers of the benchmarks: timing, statistics, report rows, a live Jupyter server, plots.

Every `*_bench.py` exposes `run(size) -> Result` with `size` "quick" or "full" (benchmarks/
run_all.py calls them in turn) and stays runnable alone (`python benchmarks/x_bench.py`).
A comparison always runs ours and the peer in the same run, alternating, several
repetitions; a `Stat` keeps every sample so the report can give median and spread.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:  # the Kubernetes API double lives in tests/
    sys.path.insert(0, str(REPO))
PY = sys.executable
SIZES = ("quick", "full")


def progress(text: str) -> None:
    """A timestamped line on stderr, so a long run shows where it is."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- statistics -------------------------------------------------------------------------------

@dataclass
class Stat:
    """Samples of one measure in one unit ("ms", "s", "MB/s", "MiB", ...)."""

    samples: list[float]
    unit: str

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def pct(self, q: float) -> float:
        """The q-quantile (nearest rank), q in [0, 1]."""
        values = sorted(self.samples)
        return values[min(len(values) - 1, int(q * len(values)))]

    def text(self, digits: int | None = None) -> str:
        """"median unit (min-max, n=N)"."""
        if not self.samples:
            return "-"
        if digits is None:
            digits = 0 if self.median >= 100 else 1 if self.median >= 10 else 2
        f = f"{{:.{digits}f}}"
        if len(self.samples) == 1:
            return f"{f.format(self.median)} {self.unit}"
        return (f"{f.format(self.median)} {self.unit} ({f.format(min(self.samples))}-"
                f"{f.format(max(self.samples))}, n={len(self.samples)})")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """(seconds, result) of one call."""
    t = time.perf_counter()
    result = fn()
    return time.perf_counter() - t, result


def alternate(fns: dict[str, Callable[[], Any]], repeat: int, warmup: bool = True) -> dict[str, list[float]]:
    """Seconds per call of each function, called round-robin `repeat` times (after one warm-up
    round), so machine noise hits every side alike. A function with a `prepare()` method has it
    called, untimed, before each timed call."""
    def call(fn: Callable[[], Any]) -> float:
        prepare = getattr(fn, "prepare", None)
        if prepare is not None:
            prepare()
        return timed(fn)[0]

    if warmup:
        for fn in fns.values():
            call(fn)
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            out[name].append(call(fn))
    return out


# -- report rows ------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the report table.

    `ratio` is a text like "12.3x faster" or "1.02 (ours/peer)"; `met` None means the row has
    no goal of its own (a context figure).
    """

    measure: str
    ours: str
    peer: str = "-"
    ratio: str = "-"
    goal: str = "-"
    met: bool | None = None


@dataclass
class Result:
    """What one benchmark hands to run_all: table rows, plot files, free-text notes."""

    name: str
    rows: list[Row] = field(default_factory=list)
    plots: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def print(self) -> None:
        print(markdown_table(self.rows))
        for note in self.notes:
            print(f"- {note}")
        for plot in self.plots:
            print(f"plot: {plot}")


def met_text(met: bool | None) -> str:
    return "-" if met is None else "yes" if met else "**NO**"


def markdown_table(rows: list[Row]) -> str:
    lines = ["| measure | ours | peer | ratio | goal | met? |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.measure} | {r.ours} | {r.peer} | {r.ratio} | {r.goal} | {met_text(r.met)} |")
    return "\n".join(lines)


# -- machine and versions ---------------------------------------------------------------------

def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _command_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    return out.splitlines()[0] if out else "?"


def machine() -> dict[str, str]:
    """The machine and the versions every figure depends on."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = _command_version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    return {
        "cpu": f"{cpu}, {psutil.cpu_count()} logical CPUs",
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "dtrain-jupyter": f"{_version('dtrain-jupyter')} (git {commit})",
        "jupyter_server": _version("jupyter_server"),
        "jupyterlab": _version("jupyterlab"),
        "ipywidgets": _version("ipywidgets"),
        "kubernetes (python client)": _version("kubernetes"),
        "kubeflow-training (SDK)": _version("kubeflow-training"),
        "torch": _version("torch"),
        "kubectl": _command_version(["kubectl", "version", "--client"]),
        "chromium": _command_version(["/usr/bin/chromium", "--version"]),
    }


@dataclass
class Settled:
    """How the machine was when a benchmark started (see `quiet_machine`)."""

    waited_s: float
    cpu_percent: float
    leftovers: list[str]

    def note(self) -> str:
        """A sentence for the report's notes, or "" when the machine was quiet at once."""
        words = []
        if self.waited_s >= 1:
            words.append(f"started after waiting {self.waited_s:.0f} s for a quiet machine "
                         f"(CPU {self.cpu_percent:.0f}% over the last {QUIET_WINDOW_S:g} s)")
        if self.leftovers:
            words.append("still running from the benchmarks before it: " + ", ".join(self.leftovers))
        text = "; ".join(words)
        return f"{text[0].upper()}{text[1:]}." if text else ""


# A benchmark starts once the whole machine's CPU use over QUIET_WINDOW_S is below QUIET_BELOW
# percent, or after QUIET_LIMIT_S: the one before it may leave a server shutting down, a page
# cache being written or a process it forgot, and the next figures would carry that.
QUIET_BELOW = 25.0
QUIET_WINDOW_S = 2.0
QUIET_LIMIT_S = 60.0


def quiet_machine(limit_s: float = QUIET_LIMIT_S) -> Settled:
    """Wait until the machine is quiet (at most `limit_s`); says how long, and what was left running.

    The leftovers are this process's own children still alive: a benchmark should stop every
    process it started, so each one named is worth a look.
    """
    start = time.monotonic()
    cpu = psutil.cpu_percent(interval=QUIET_WINDOW_S)
    while cpu >= QUIET_BELOW and time.monotonic() - start < limit_s:
        cpu = psutil.cpu_percent(interval=QUIET_WINDOW_S)
    leftovers = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:  # ended, its exit status not yet collected
                leftovers.append(f"{child.name()} (pid {child.pid})")
        except psutil.Error:
            pass
    # The first window is the measure of "quiet", not a wait.
    return Settled(max(0.0, time.monotonic() - start - QUIET_WINDOW_S), cpu, leftovers)


# -- a live Jupyter server --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """`jupyter server` (or `jupyter lab` with `lab=True`) with the dtrain extension, as a subprocess.

    Token-protected, on 127.0.0.1, with every Jupyter folder under `root`; `extra_args` are
    more command-line options (e.g. `--DTrain.backend=kubernetes`). Use as a context manager.
    """

    def __init__(self, root: Path, *extra_args: str, lab: bool = False, env: dict[str, str] | None = None) -> None:
        self.root = Path(root)
        self.token = secrets.token_hex(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        for name in ("work", "runtime", "data", "config", "settings", "workspaces"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.root / "runtime"),
                    "JUPYTER_DATA_DIR": str(self.root / "data"), "JUPYTER_CONFIG_DIR": str(self.root / "config"),
                    "JUPYTERLAB_SETTINGS_DIR": str(self.root / "settings"),
                    "JUPYTERLAB_WORKSPACES_DIR": str(self.root / "workspaces"),
                    "DTRAIN_URL": "", "DTRAIN_TOKEN": "", "PYTHONUNBUFFERED": "1", **(env or {})}
        for name in ("JPY_PARENT_PID", "JUPYTER_TOKEN", "JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
            self.env.pop(name, None)
        self.argv = [PY, "-m", "jupyterlab" if lab else "jupyter_server", "--no-browser", "--allow-root",
                     f"--port={self.port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
                     f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root / 'work'}",
                     f"--DTrain.state_dir={self.root / 'state'}", "--DTrain.grace_seconds=1",
                     "--ServerApp.log_level=WARN", *extra_args]
        if lab:
            self.argv += ["--LabApp.news_url=None",
                          "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        self.proc: subprocess.Popen | None = None
        self.log_path = self.root / "server.log"
        # One connection pool for every request, as a user's Client keeps one: a fresh httpx
        # client per request costs tens of milliseconds (TLS context set-up) of its own.
        self.http = httpx.Client(headers=self.headers, timeout=600)

    def __enter__(self) -> "JupyterServer":
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.root, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if self.get("api/status").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not answer:\n{self.log_tail()}")

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.log.close()
        self.http.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(self.url + path.lstrip("/"), **kwargs)

    def client(self) -> Any:
        from dtrain_jupyter.client import Client

        return Client(self.url, self.token, timeout=600)

    def wait_backend_ready(self, name: str, timeout: float = 600) -> dict:
        """Poll /dtrain/api/backends until backend `name` says ready (its first sync is done)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                items = self.get("dtrain/api/backends").json()["items"]
                last = next((b for b in items if b.get("backend") == name), items)
                if isinstance(last, dict) and last.get("ready"):
                    return last
            except (httpx.TransportError, ValueError, KeyError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"backend {name} not ready: {last}\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


# -- memory -----------------------------------------------------------------------------------

@contextmanager
def peak_rss(pid: int, every: float = 0.005) -> Iterator[dict[str, float]]:
    """Samples a process's resident memory while the block runs; yields a dict that gets
    `base` and `peak` (bytes) and `growth_mib` at exit."""
    proc = psutil.Process(pid)
    out = {"base": float(proc.memory_info().rss)}
    out["peak"] = out["base"]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                out["peak"] = max(out["peak"], proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(every)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    try:
        yield out
    finally:
        stop.set()
        t.join()
        out["growth_mib"] = (out["peak"] - out["base"]) / 2**20


# -- plots ------------------------------------------------------------------------------------

def _pyplot(path: Path) -> Any:
    """matplotlib's pyplot on the file-only backend, or None (said once per plot) without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        progress("matplotlib not installed: no plot " + path.name)
        return None
    return plt


def plot_lines(path: Path, title: str, xlabel: str, ylabel: str, series: dict[str, tuple[list[float], list[float]]],
               logx: bool = False, logy: bool = False) -> Path | None:
    """A line plot (one line per series name: (xs, ys)) saved as PNG; None without matplotlib."""
    plt = _pyplot(path)
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, marker="o", label=name)
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_cdf(path: Path, title: str, xlabel: str, series: dict[str, list[float]]) -> Path | None:
    """Cumulative distribution of samples per series, saved as PNG; None without matplotlib."""
    plt = _pyplot(path)
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for name, values in series.items():
        values = sorted(values)
        if values:
            ax.plot(values, [(i + 1) / len(values) for i in range(len(values))], label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of lines")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def which(name: str) -> str:
    """Path of a program, from the venv first (torchrun, mpirun), else PATH."""
    local = Path(PY).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)
