"""dtrain-jupyter runner: runs code carried from a notebook on this replica (Python standard library only).

    python -u -c "<this program>" SOURCE CALL

SOURCE is the carried code: imports, constants, helper functions and classes, then the function
(or the notebook cell) itself. CALL is JSON: {"function": NAME, "args": {...}} calls NAME(**args);
{"cell": true, "cell_line": L, "last_expression": true} runs SOURCE as a script whose last
expression is the result; the cell's text starts at line L, and tracebacks number its lines from 1.
"every_rank": true reports every rank's result, not only rank 0's.

The replica's rank comes from the environment the Kubeflow operators give it: OMPI_COMM_WORLD_RANK,
PMIX_RANK or PMI_RANK (MPI), RANK (PyTorch), TF_CONFIG (TensorFlow: chief, then workers); else 0.
A reporting rank prints one line `DTRAIN_RESULT {"rank": R, "size": N, "value": V, ...}` when done.
If the code raises, every rank prints the usual traceback to stderr and one line
`DTRAIN_ERROR {"rank": R, "type": ..., "message": ..., "traceback": ...}`, then exits with 1.
"""

import ast
import json
import linecache
import os
import sys
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
