"""dtrain-jupyter runner: runs code carried from a notebook on this replica (Python standard library only).

    python -u -c "<this program>" SOURCE CALL

SOURCE is the carried code: imports, constants, helper functions and classes, then the function
(or the notebook cell) itself. CALL is JSON: {"function": NAME, "args": {...}} calls NAME(**args);
{"cell": true, "cell_line": L, "last_expression": true} runs SOURCE as a script whose last
expression is the result; the cell's text starts at line L, and tracebacks number its lines from 1.
"every_rank": true reports every rank's result, not only rank 0's. "packages": [REQUIREMENT, ...]
(PEP 508 strings) are installed before the code is read: `python -m pip install --target DIR`, never
into this Python's own site-packages, then DIR goes first on sys.path (and PYTHONPATH, for the
code's own subprocesses). DIR is a cache folder named by a hash of the sorted requirements, the
Python version and the platform, under $DTRAIN_PACKAGE_CACHE, else ~/.cache/dtrain-jupyter/packages,
else (HOME unset or read-only, as in many images) the temp dir: a re-run installs nothing. Replicas
sharing the folder install it once: pip writes into a staging folder that is renamed into place
under an fcntl lock, so no replica sees a half-installed folder. If pip fails, the replica prints
`DTRAIN_ERROR {"stage": "packages", "type": "PackageInstallError", "message": "pip could not
install ...", ...}` with pip's last lines and exits with 1; the code does not run.

The replica's rank comes from the environment the Kubeflow operators give it: OMPI_COMM_WORLD_RANK,
PMIX_RANK or PMI_RANK (MPI), RANK (PyTorch), TF_CONFIG (TensorFlow: chief, then workers); else 0.
A reporting rank prints one line `DTRAIN_RESULT {"rank": R, "size": N, "value": V, ...}` when done.
If the code raises, every rank prints the usual traceback to stderr and one line
`DTRAIN_ERROR {"rank": R, "type": ..., "message": ..., "traceback": ...}`, then exits with 1.
"""

import ast
import collections
import fcntl
import glob
import hashlib
import json
import linecache
import os
import platform
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
import traceback
import types

RESULT_MARKER = "DTRAIN_RESULT "
ERROR_MARKER = "DTRAIN_ERROR "
# The file names tracebacks show for the carried code and for a cell's own text; their lines are
# registered with linecache, so tracebacks quote them.
CODE_FILE = "<dtrain code>"
CELL_FILE = "<cell>"
# A result that is not JSON comes back as its repr, cut to this many characters.
REPR_LIMIT = 10000
# Each package folder holds this file: what was installed there, for whoever looks in the cache.
PACKAGES_RECORD = ".dtrain-packages.json"
# pip's last lines kept for a failure's report (its whole output is in the replica's log).
PIP_TAIL_LINES = 40


def rank_and_size(env):
    """(rank, world size) of this replica; rank is None for a TF task outside chief and workers."""
    for rank_key, size_key in (("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"), ("PMIX_RANK", "PMIX_SIZE"),
                               ("PMI_RANK", "PMI_SIZE"), ("RANK", "WORLD_SIZE")):
        # MPI first: a rank that mpirun started may have inherited a RANK meant for something else.
        if env.get(rank_key, "").strip().isdigit():
            size = env.get(size_key, "").strip()
            return int(env[rank_key]), int(size) if size.isdigit() else 1
    if env.get("TF_CONFIG"):
        config = json.loads(env["TF_CONFIG"])
        cluster, task = config.get("cluster") or {}, config.get("task") or {}
        # TensorFlow's own numbering: the chief (or master) is task 0, workers follow.
        leaders = len(cluster.get("chief") or []) + len(cluster.get("master") or [])
        size = leaders + len(cluster.get("worker") or [])
        kind, index = str(task.get("type", "")).lower(), int(task.get("index", 0))
        if kind in ("chief", "master"):
            return index, size
        if kind == "worker":
            return leaders + index, size
        return None, size
    return 0, 1


class PackageInstallError(Exception):
    """pip could not install the requirements; `output` holds pip's last lines."""

    def __init__(self, message, output=""):
        super().__init__(message)
        self.output = output


def packages_key(requirements):
    """The name of the requirements' cache folder: the same for the same set, in any order."""
    identity = {"requirements": sorted(set(requirements)),
                "python": [platform.python_implementation(), platform.python_version(), getattr(sys, "abiflags", "")],
                "platform": sysconfig.get_platform()}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:24]


def package_cache_root(env):
    """The folder that holds the package folders: the first of $DTRAIN_PACKAGE_CACHE (alone when set),
    ~/.cache/dtrain-jupyter/packages and a folder in the temp dir that can be created and written."""
    if env.get("DTRAIN_PACKAGE_CACHE"):
        candidates = [env["DTRAIN_PACKAGE_CACHE"]]
    else:
        home = env.get("HOME") or os.path.expanduser("~")
        # Per user in the shared temp dir: another user's folder there would not be writable.
        candidates = [os.path.join(home, ".cache", "dtrain-jupyter", "packages"),
                      os.path.join(tempfile.gettempdir(), f"dtrain-jupyter-packages-{os.getuid()}")]
    for folder in candidates:
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    raise PackageInstallError(f"no folder for packages could be written (tried {', '.join(candidates)}): "
                              "set DTRAIN_PACKAGE_CACHE to a writable folder in the job's env")


def use_packages(requirements, env):
    """Install `requirements` into their cache folder unless they are there, then put it first on
    the path of this process and of its subprocesses; returns the folder.

    Raises:
        PackageInstallError: pip failed (here, or in the replica that installed while this one waited).
    """
    root = package_cache_root(env)
    key = packages_key(requirements)
    folder = os.path.join(root, key)
    if os.path.isdir(folder):
        print(f"dtrain: packages {', '.join(requirements)} already installed in {folder}", flush=True)
    else:
        _install_once(requirements, root, key, folder)
    sys.path.insert(0, folder)
    site.addsitedir(folder)  # runs the folder's .pth files; it is on sys.path already, so it stays first
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH")) if p)
    scripts = os.path.join(folder, "bin")
    if os.path.isdir(scripts):
        os.environ["PATH"] = os.pathsep.join(p for p in (scripts, os.environ.get("PATH")) if p)
    return folder


def _install_once(requirements, root, key, folder):
    """Install into `folder` while holding its lock, unless another process did while this one waited."""
    names = ", ".join(requirements)
    waiting_since = time.time()
    failure_file = os.path.join(root, key + ".failed")
    with open(os.path.join(root, key + ".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"dtrain: another replica is installing {names} into {folder}; waiting for it", flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isdir(folder):
            print(f"dtrain: packages {names} installed by another replica in {folder}", flush=True)
            return
        failed = _read_json(failure_file)
        if failed and float(failed.get("time") or 0) >= waiting_since:
            # It failed while this replica waited: trying again at once would fail the same way.
            raise PackageInstallError(str(failed.get("message")), str(failed.get("output") or ""))
        for abandoned in glob.glob(os.path.join(root, f".{key}.staging-*")):
            shutil.rmtree(abandoned, ignore_errors=True)  # left by a replica killed while installing
        staging = tempfile.mkdtemp(prefix=f".{key}.staging-", dir=root)
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the folder from other users of a shared cache
        print(f"dtrain: installing {names} into {folder}", flush=True)
        started = time.monotonic()
        try:
            _pip_install(requirements, staging)
            with open(os.path.join(staging, PACKAGES_RECORD), "w", encoding="utf-8") as record:
                json.dump({"requirements": requirements, "python": sys.version.split()[0],
                           "platform": sysconfig.get_platform(), "installed": time.time()}, record)
            os.rename(staging, folder)
        except PackageInstallError as e:
            shutil.rmtree(staging, ignore_errors=True)
            with open(failure_file, "w", encoding="utf-8") as f:
                json.dump({"time": time.time(), "message": str(e), "output": e.output}, f)
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if os.path.exists(failure_file):
            os.remove(failure_file)
        print(f"dtrain: installed {names} in {time.monotonic() - started:.1f} s", flush=True)


def _pip_install(requirements, target):
    """`pip install --target`, its output passed through to this replica's log as it comes."""
    argv = [sys.executable, "-m", "pip", "install", "--target", target, "--no-input", "--progress-bar", "off",
            "--disable-pip-version-check", "--no-warn-script-location", "--", *requirements]
    what = ", ".join(repr(r) for r in requirements)
    tail = collections.deque(maxlen=PIP_TAIL_LINES)
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    except OSError as e:
        raise PackageInstallError(f"pip could not install {what}: {sys.executable} did not start: {e}") from None
    with process.stdout:
        for raw in process.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            print(line, flush=True)
            if line.strip():
                tail.append(line)
    if process.wait() == 0:
        return
    output = "\n".join(tail)
    errors = [line for line in tail if line.startswith("ERROR:")] or list(tail)[-5:]
    words = "\n".join(errors) or f"pip exited with {process.returncode} and said nothing"
    if "No module named pip" in output:
        words += f"\n(this image's Python, {sys.executable}, has no pip: use an image with pip, or one with the packages)"
    raise PackageInstallError(f"pip could not install {what}: {words}", output)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def execute(source, call):
    """Run the carried code as this process's __main__ module; returns the function's (or cell's) result."""
    lines = source.splitlines(True)
    # Lines from `first` on are the cell's own (all of them when a hand-written CALL does not say).
    first = int(call.get("cell_line") or 1) if call.get("cell") else len(lines) + 1
    linecache.cache[CODE_FILE] = (len(source), None, lines, CODE_FILE)
    linecache.cache[CELL_FILE] = (len(source), None, lines[first - 1:], CELL_FILE)
    tree = ast.parse(source, CODE_FILE)
    cell = ast.Module([s for s in tree.body if s.lineno >= first], [])
    tree.body = [s for s in tree.body if s.lineno < first]
    ast.increment_lineno(cell, 1 - first)
    # A module registered as __main__, so pickle finds the classes the code defines (as in a notebook).
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    last = None
    if call.get("last_expression") and cell.body and isinstance(cell.body[-1], ast.Expr):
        last = ast.Expression(cell.body.pop().value)
    exec(compile(tree, CODE_FILE, "exec"), module.__dict__)
    if call.get("cell"):
        exec(compile(cell, CELL_FILE, "exec"), module.__dict__)
        value = eval(compile(last, CELL_FILE, "eval"), module.__dict__) if last is not None else None
    else:
        value = module.__dict__[call["function"]](**call.get("args", {}))
    if isinstance(value, types.CoroutineType):
        import asyncio

        value = asyncio.run(value)
    return value


def encode(value):
    """The result fields of a marker: {"value": V} when V is JSON, else its type and repr."""
    try:
        return {"value": json.loads(json.dumps(value))}
    except (TypeError, ValueError, RecursionError):
        try:
            text = repr(value)
        except Exception as e:  # a broken __repr__ must not hide the result's type
            text = f"<{type(value).__qualname__} whose repr raised {type(e).__name__}>"
        return {"type": f"{type(value).__module__}.{type(value).__qualname__}", "repr": text[:REPR_LIMIT]}


def _remote_traceback(error):
    """The traceback from the first frame of the carried code on (the runner's frames are noise)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename not in (CODE_FILE, CELL_FILE):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb or error.__traceback__))


def _say(marker, fields):
    sys.stdout.flush()
    sys.stderr.flush()
    sys.__stdout__.write(marker + json.dumps(fields) + "\n")
    sys.__stdout__.flush()


def main(argv, env):
    source, call = argv[1], json.loads(argv[2])
    rank, size = rank_and_size(env)
    what = "the cell" if call.get("cell") else call["function"]
    pod = env.get("DTRAIN_REPLICA") or env.get("HOSTNAME", "")
    if call.get("packages"):
        try:
            use_packages([str(r) for r in call["packages"]], env)
        except PackageInstallError as e:
            sys.stderr.write(f"dtrain: {e}\n")
            _say(ERROR_MARKER, {"rank": rank, "size": size, "where": what, "pod": pod, "time": time.time(),
                                "stage": "packages", "type": "PackageInstallError", "message": str(e),
                                "traceback": e.output})
            return 1
    try:
        value = execute(source, call)
    except Exception as e:
        text = _remote_traceback(e)
        sys.stderr.write(text)
        module = type(e).__module__
        kind = type(e).__qualname__ if module == "builtins" else f"{module}.{type(e).__qualname__}"
        _say(ERROR_MARKER, {"rank": rank, "size": size, "where": what, "pod": pod, "time": time.time(),
                            "type": kind, "message": str(e), "traceback": text})
        return 1
    if rank is not None and (rank == 0 or call.get("every_rank")):
        _say(RESULT_MARKER, {"rank": rank, "size": size, "where": what, "pod": pod,
                             "every_rank": bool(call.get("every_rank")), **encode(value)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
