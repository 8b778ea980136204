"""dtrain-jupyter runner: runs code carried from a notebook on this replica (Python standard library only).

    python -u -c "<this program>" SOURCE CALL

SOURCE is the carried code: imports, constants, helper functions and classes, then the function
(or the notebook cell) itself. CALL is JSON: {"function": NAME, "args": {...}} calls NAME(**args);
{"cell": true, "cell_line": L, "last_expression": true} runs SOURCE as a script whose last
expression is the result; the cell's text starts at line L, and tracebacks number its lines from 1.
{"script": PATH, "argv": [...], "archive": FILE, "sha256": HEX} runs a script folder: the tar.gz
FILE (checked against HEX) is unpacked, safely (no absolute paths, no "..", no links out of the
folder), into $DTRAIN_CODE_DIR when set (where the local backend has already unpacked it: a folder
that holds the same code is used as it is), else into a folder of the temp dir named by HEX; then
the replica chdirs there, puts it first on sys.path (and PYTHONPATH), sets sys.argv to
[PATH, *argv] and runs PATH as __main__, as `python PATH ARGS` would; SOURCE is then "". Its
result is None; an exit with a status other than 0 is its failure.
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
import io
import json
import linecache
import os
import platform
import runpy
import stat
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import traceback
import types
import zlib

RESULT_MARKER = "DTRAIN_RESULT "
# What an unpacked code archive may hold at most (code/folder.py refuses to pack more).
UNPACKED_LIMIT = 50 * 1000 * 1000
MEMBERS_LIMIT = 100000
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
# Each unpacked code folder holds this file, naming the archive it came from: a folder that has
# it, with the same hash, is complete (it is written last) and is used as it is.
CODE_RECORD = ".dtrain-code.json"


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


class CodeArchiveError(Exception):
    """The code archive is missing, is not the one the job names, or holds a path that would
    land outside the folder it is unpacked into."""


def unpack_code(data, sha256, folder):
    """Unpack the tar.gz bytes `data` into `folder`, unless it already holds them; returns `folder`.

    Replicas sharing a folder (mpirun's slots in one pod) may race: each unpacks into its own
    staging folder beside it and renames that into place; the one that loses uses the winner's.

    Raises:
        CodeArchiveError: the bytes' sha256 is not `sha256`, or a member is unsafe (see `_members`).
    """
    if _code_record(folder) == sha256:
        return folder
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise CodeArchiveError(f"the code archive's sha256 is {actual}, the job names {sha256}: "
                               "it is not this job's code (was the job's ConfigMap replaced?)")
    parent = os.path.dirname(os.path.abspath(folder))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".dtrain-code-staging-", dir=parent)
    try:
        try:
            _extract(data, staging)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            # zlib.error: damage inside a member's data (the headers were fine).
            raise CodeArchiveError(f"cannot unpack the code archive into {folder}: {e}") from None
        with open(os.path.join(staging, CODE_RECORD), "w", encoding="utf-8") as record:
            json.dump({"sha256": sha256}, record)
        os.chmod(staging, 0o755)
        try:
            os.rename(staging, folder)  # over a missing or empty folder
        except OSError:
            if _code_record(folder) != sha256:
                raise CodeArchiveError(f"cannot unpack the code into {folder}: the folder is not empty "
                                       "and holds other files") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _code_record(folder):
    record = _read_json(os.path.join(folder, CODE_RECORD))
    return record.get("sha256") if record else None


def _extract(data, folder):
    """Write the archive's files, folders and links under `folder`, refusing anything else."""
    root = os.path.realpath(folder)
    written, members = 0, 0
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            # A small archive may unpack into a great deal: what `folder.py` packs stays under these.
            written, members = written + max(member.size, 0), members + 1
            if written > UNPACKED_LIMIT or members > MEMBERS_LIMIT:
                raise CodeArchiveError(f"the code archive unpacks to more than {UNPACKED_LIMIT} bytes or "
                                       f"{MEMBERS_LIMIT} members: not a folder dtrain-jupyter packed")
            name = _member_path(member.name)
            target = os.path.join(root, name)
            landing_folder = os.path.realpath(os.path.dirname(target))
            if landing_folder != root and not landing_folder.startswith(root + os.sep):
                raise CodeArchiveError(f"code archive member {member.name!r} would be written through a link "
                                       "out of the code folder")
            if member.isdir():
                os.makedirs(target, exist_ok=True)
            elif member.issym():
                link = member.linkname
                landing = os.path.normpath(os.path.join(os.path.dirname(name), link))
                if os.path.isabs(link) or landing == ".." or landing.startswith(".." + os.sep):
                    raise CodeArchiveError(f"code archive member {member.name!r} links to {link!r}, outside "
                                           "the code folder")
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.symlink(link, target)
            elif member.isfile():
                os.makedirs(os.path.dirname(target), exist_ok=True)
                source = tar.extractfile(member)
                mode = 0o755 if member.mode & stat.S_IXUSR else 0o644
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
                with os.fdopen(descriptor, "wb") as out:
                    shutil.copyfileobj(source, out)
            else:
                raise CodeArchiveError(f"code archive member {member.name!r} is not a file, folder or link")


def _member_path(name):
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if name.startswith("/") or not parts or ".." in parts:
        raise CodeArchiveError(f"code archive member {name!r} is not a path inside the code folder")
    return os.path.join(*parts)


def code_folder(call, env):
    """Where the script folder of `call` is, unpacked from its archive unless it is there already."""
    sha256 = str(call.get("sha256") or "")
    folder = env.get("DTRAIN_CODE_DIR") or os.path.join(tempfile.gettempdir(), f"dtrain-code-{os.getuid()}",
                                                        sha256[:32] or "unnamed")
    if sha256 and _code_record(folder) == sha256:
        return folder
    archive = call.get("archive")
    if not archive:
        raise CodeArchiveError(f"the job names no code archive and {folder} holds no code")
    try:
        with open(archive, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CodeArchiveError(f"cannot read the code archive {archive}: {e.strerror or e} (on Kubernetes it is "
                               "the job's ConfigMap, mounted there)") from None
    return unpack_code(data, sha256, folder)


def run_script(call, folder):
    """Run the call's script in `folder` (its unpacked code) as `python SCRIPT ARGV` would; returns None.

    Raises:
        SystemExit: the script exited with a status other than 0.
    """
    script = str(call["script"])
    path = os.path.join(folder, script)
    os.chdir(folder)
    # The folder first, so the script imports its own modules; a script in a subfolder also sees
    # that subfolder, as `python sub/train.py` would.
    for entry in reversed(dict.fromkeys([folder, os.path.dirname(path)])):
        sys.path.insert(0, entry)
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH")) if p)
    sys.argv = [script, *[str(a) for a in call.get("argv") or []]]
    try:
        # The relative path, as `python SCRIPT` in that folder: sys.argv[0] and tracebacks name it so.
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            raise
    return None


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


def _remote_traceback(error, code_dir=None):
    """The traceback from the first frame of the carried code (or of the script folder) on: the
    runner's frames are noise."""
    tb = error.__traceback__
    while tb is not None and not _is_code_frame(tb.tb_frame.f_code.co_filename, code_dir):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(error), error, tb or error.__traceback__))


def _is_code_frame(filename, code_dir):
    if filename in (CODE_FILE, CELL_FILE):
        return True
    return bool(code_dir) and os.path.abspath(filename).startswith(os.path.join(code_dir, ""))


def _say(marker, fields):
    sys.stdout.flush()
    sys.stderr.flush()
    sys.__stdout__.write(marker + json.dumps(fields) + "\n")
    sys.__stdout__.flush()


def main(argv, env):
    source, call = argv[1], json.loads(argv[2])
    rank, size = rank_and_size(env)
    what = "the cell" if call.get("cell") else call["script"] if call.get("script") else call["function"]
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
    code_dir = None
    # A report names a script as a script (no call parentheses) when the client words an error.
    script = {"script": True} if call.get("script") else {}
    try:
        if call.get("script"):
            code_dir = os.path.realpath(code_folder(call, env))
            value = run_script(call, code_dir)
        else:
            value = execute(source, call)
    except CodeArchiveError as e:
        sys.stderr.write(f"dtrain: {e}\n")
        _say(ERROR_MARKER, {"rank": rank, "size": size, "where": what, "pod": pod, "time": time.time(),
                            "stage": "code", "type": "CodeArchiveError", "message": str(e), "traceback": "", **script})
        return 1
    except SystemExit as e:
        # Only a script's exit with a status other than 0 gets here (run_script).
        status = e.code if isinstance(e.code, int) else 1
        message = f"{what} exited with status {e.code}" if isinstance(e.code, int) else str(e.code)
        text = _remote_traceback(e, code_dir)
        sys.stderr.write(text)
        _say(ERROR_MARKER, {"rank": rank, "size": size, "where": what, "pod": pod, "time": time.time(),
                            "type": "SystemExit", "message": message, "traceback": text, **script})
        return status
    except Exception as e:
        text = _remote_traceback(e, code_dir)
        sys.stderr.write(text)
        module = type(e).__module__
        kind = type(e).__qualname__ if module == "builtins" else f"{module}.{type(e).__qualname__}"
        _say(ERROR_MARKER, {"rank": rank, "size": size, "where": what, "pod": pod, "time": time.time(),
                            "type": kind, "message": str(e), "traceback": text, **script})
        return 1
    if rank is not None and (rank == 0 or call.get("every_rank")):
        _say(RESULT_MARKER, {"rank": rank, "size": size, "where": what, "pod": pod,
                             "every_rank": bool(call.get("every_rank")), **encode(value)})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, os.environ))
