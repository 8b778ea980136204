"""A function of a notebook file as a job, read from the .ipynb without running it.

`capture.py` carries a function from the live namespace of the kernel that defined it. The
panel's wizard runs in its own kernel, which never ran the person's notebook, so here the same
`Carried` is built statically from the notebook's code cells, in notebook order:

- the function's own `def`, then, transitively, every top-level statement of the notebook that
  binds a name it reads: imports (`import numpy as np`), `def` and `class` statements and plain
  assignments (`LR = 0.1`, `SIZES = [8, 16]`); the last binding of a name wins, as it would
  after running every cell from the top;
- `%magic`, `!shell` and `name?` lines are left out, and so are `%%cell magic` cells: they are
  IPython, not Python, and cannot run on a replica;
- a name bound by anything else (a `for` loop, a `with` or `try` statement, `x += 1`,
  `d["k"] = v`: values that only running the notebook gives) is refused, as is a name no cell
  defines at top level that is not a builtin. Every refusal names the name and who reads it, all
  at once, as an InvalidRequest whose `names` field lists them.

Nothing of the notebook is executed here: a cell's code is only parsed (`ast`) and its names
looked up with `symtable`.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import os
import re
import symtable
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ..errors import InvalidRequest
from ..model.spec import JobSpec
from . import args as job_args
from .capture import Carried
from .packages import check_packages

__all__ = ["NotebookFunction", "notebooks_under", "functions_in", "capture_notebook_function",
           "check_notebook_args", "notebook_function_job", "walk_nearest_first", "MAX_NOTEBOOKS", "MAX_FOLDERS"]

# The wizard's notebook list: enough for a project folder, bounded for a home folder.
MAX_NOTEBOOKS = 300
# Folders that hold no notebooks a person would pick (and can be huge).
_SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages"})
# A working folder may be a home folder: the search stops after this many folders, so the
# wizard's list comes in a moment even there.
MAX_FOLDERS = 5000


@dataclass(frozen=True)
class NotebookFunction:
    """A top-level function of a notebook: its name and parameters as written (`lr, epochs=10`)."""

    name: str
    parameters: str


@dataclass
class _Binding:
    """What the last top-level statement binding a name says about it."""

    kind: str                 # "import", "def", "class", "assign" or "other"
    text: str                 # the statement's source ("" for "other")
    order: tuple[int, int]    # (cell, statement): where it stands in the notebook
    reads: set[str] = field(default_factory=set)
    how: str = ""             # for "other": what binds it, in words
    node: Any = None          # for "def": the ast.FunctionDef


@dataclass
class _Notebook:
    bindings: dict[str, _Binding]
    imports: dict[str, list[str]]          # name -> import lines binding it (`import a.b`, `import a.c`)
    star_imports: list[str]
    unreadable: list[str]                  # "cell 3: line 2: invalid syntax"


def notebooks_under(root: str | os.PathLike[str], limit: int = MAX_NOTEBOOKS) -> list[str]:
    """The .ipynb files under `root`, as paths relative to it, sorted; hidden folders,
    `.ipynb_checkpoints` and package caches are skipped, at most `limit` are listed and at most
    MAX_FOLDERS folders are looked into (nearest first)."""
    base = Path(root)
    found: list[str] = []
    for visited, (folder, folders, files) in enumerate(walk_nearest_first(base)):
        if visited >= MAX_FOLDERS:
            break
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f not in _SKIPPED_FOLDERS)
        for name in sorted(files):
            if name.endswith(".ipynb") and not name.startswith("."):
                found.append(Path(folder, name).relative_to(base).as_posix())
                if len(found) >= limit:
                    return sorted(found)
    return sorted(found)


def walk_nearest_first(base: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """(folder, subfolders, files) like os.walk, breadth first: a bound on folders then keeps the
    ones nearest the root. The caller may prune `subfolders` in place."""
    queue = deque([base])
    while queue:
        folder = queue.popleft()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue  # unreadable: nothing to list there
        folders = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        files = [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
        yield str(folder), folders, files
        queue.extend(folder / name for name in folders)


def functions_in(path: str | os.PathLike[str]) -> list[NotebookFunction]:
    """The functions the notebook defines at top level (plain `def`s), in notebook order.

    Raises:
        InvalidRequest: the file cannot be read as a notebook.
    """
    book = _read(path)
    defs = sorted((b for b in book.bindings.values() if b.kind == "def"), key=lambda b: b.order)
    return [NotebookFunction(b.node.name, ast.unparse(b.node.args)) for b in defs]


def capture_notebook_function(path: str | os.PathLike[str], function: str) -> Carried:
    """The source that defines `function` and everything it reads from the notebook.

    Raises:
        InvalidRequest: the notebook cannot be read, it defines no such function, or the
            function reads names that cannot be carried (`fields["names"]` lists them).
    """
    book = _read(path)
    _function_binding(book, path, function)
    needed: dict[str, _Binding] = {}
    problems: dict[str, str] = {}
    pending = [(function, "")]
    while pending:
        name, reader = pending.pop()
        if name in needed or name in problems:
            continue
        binding = book.bindings.get(name)
        if binding is None:
            if not hasattr(builtins, name):
                problems[name] = f"({reader}) {_undefined(book)}"
            continue
        if binding.kind == "other":
            problems[name] = (f"({reader}) is bound by {binding.how}, which only running the notebook gives a "
                              "value: assign it plainly at top level, or compute it inside the function")
            continue
        needed[name] = binding
        who = {"def": f"read by {name}()", "class": f"read by class {name}"}.get(binding.kind, f"read by {name}")
        pending.extend((other, who) for other in sorted(binding.reads - {name}, reverse=True))
    if problems:
        listed = "; ".join(f"{name!r} {reason}" for name, reason in problems.items())
        raise InvalidRequest(f"{function}() from {_shown(path)} cannot be sent to a job: {listed}",
                             names=list(problems))
    import_lines = sorted({line for name, b in needed.items() if b.kind == "import" for line in book.imports[name]})
    statements = sorted({(b.order, b.text) for b in needed.values() if b.kind != "import"})
    parts = ["\n".join(import_lines) + "\n"] if import_lines else []
    parts += [text.rstrip("\n") + "\n" for _order, text in statements]
    names = tuple(n for n in sorted(needed, key=lambda n: needed[n].order) if n != function)
    return Carried("\n\n".join(parts), function, names)


def check_notebook_args(path: str | os.PathLike[str], function: str, args: Any) -> dict[str, Any]:
    """`args` checked as `args.check_args` checks them: JSON values that fit the function's
    parameters, as the notebook writes them (the function itself is never run here).

    Raises:
        InvalidRequest: as `args.check_args`, or as `capture_notebook_function` for the function.
    """
    node = _function_binding(_read(path), path, function).node
    return job_args.check_args(args, _Signed(function, _signature(node.args)))


def notebook_function_job(path: str | os.PathLike[str], function: str, *, name: str,
                          notebook: str | None = None, args: Mapping[str, Any] | None = None,
                          packages: Iterable[str] | None = None, kind: str = "PyTorchJob",
                          workers: int | None = None, image: str | None = None,
                          cpu: str | int | float | None = None, memory: str | int | None = None,
                          gpu: int | None = None, env: Mapping[str, Any] | None = None,
                          namespace: str | None = None, mpi_version: str | None = None) -> JobSpec:
    """A job whose every replica calls the notebook's `function(**args)`, as `FunctionJob` makes
    one from a live function; the origin annotation names the function and `notebook` (default:
    `path` as given).

    Raises:
        InvalidRequest: the notebook, the function, a name it reads, an argument or a package
            cannot be sent to a job; InvalidJob: the job is one the operator would refuse.
    """
    from .job import job_from_carried  # the code layer's job writer; imported here, where it is used

    wanted = check_packages(packages)
    carried = capture_notebook_function(path, function)
    checked = check_notebook_args(path, function, args)
    call: dict[str, Any] = {"function": function, "args": checked, "every_rank": False}
    if wanted:
        call["packages"] = wanted
    origin = {"from": "function", "function": function, "notebook": str(path) if notebook is None else notebook}
    return job_from_carried(carried, call, origin=origin, kind=kind, workers=workers, name=name, image=image,
                            cpu=cpu, memory=memory, gpu=gpu, env=env, namespace=namespace,
                            mpi_version=mpi_version)


# -- reading the notebook ---------------------------------------------------------------------

def _read(path: str | os.PathLike[str]) -> _Notebook:
    import nbformat

    try:
        book = nbformat.read(os.fspath(path), as_version=4)
    except FileNotFoundError:
        raise InvalidRequest(f"there is no notebook {_shown(path)}", names=["notebook"]) from None
    except Exception as e:  # nbformat raises JSON, validation and OS errors alike
        raise InvalidRequest(f"{_shown(path)} cannot be read as a notebook: {e}"[:500], names=["notebook"]) from None
    out = _Notebook({}, {}, [], [])
    for index, cell in enumerate((c for c in book.cells if c.get("cell_type") == "code"), start=1):
        _read_cell(str(cell.get("source") or ""), index, out)
    return out


def _read_cell(text: str, index: int, out: _Notebook) -> None:
    lines = text.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        return  # a cell magic: the whole cell is another language
    # Line magics, shell lines and help lines become blank lines, so line numbers stay the cell's.
    python = "\n".join("" if _is_ipython_line(line) else line for line in lines)
    try:
        tree = ast.parse(python)
    except SyntaxError as e:
        out.unreadable.append(f"cell {index}: line {e.lineno}: {e.msg}")
        return
    try:
        for position, statement in enumerate(tree.body):
            _read_statement(python, statement, (index, position), out)
    except SyntaxError as e:
        # What `ast` accepts and the symbol table does not (`def f(a, a)`, a top-level nonlocal).
        out.unreadable.append(f"cell {index}: line {e.lineno}: {e.msg}")


# IPython's help lines: `name?`, `name??`, `obj.attr?` (a line that only ends in "?" is Python).
_HELP_LINE = re.compile(r"[\w.]+\?{1,2}")


def _is_ipython_line(line: str) -> bool:
    stripped = line.strip()
    return stripped.startswith(("%", "!")) or bool(_HELP_LINE.fullmatch(stripped))


def _read_statement(cell: str, statement: ast.stmt, order: tuple[int, int], out: _Notebook) -> None:
    where = f"cell {order[0]}"
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        for alias in statement.names:
            if alias.name == "*":
                out.star_imports.append(ast.unparse(statement))
                continue
            bound = alias.asname or alias.name.partition(".")[0]
            line = ast.unparse(type(statement)(**{**_fields(statement), "names": [alias]}))
            previous = out.bindings.get(bound)
            lines = out.imports.get(bound, []) if previous is not None and previous.kind == "import" else []
            out.imports[bound] = [*lines, line]
            out.bindings[bound] = _Binding("import", line, order)
        return
    text = _statement_source(cell, statement)
    if isinstance(statement, ast.FunctionDef):
        out.bindings[statement.name] = _Binding("def", text, order, _reads(text) - {statement.name}, node=statement)
        return
    if isinstance(statement, ast.ClassDef):
        out.bindings[statement.name] = _Binding("class", text, order, _reads(text) - {statement.name})
        return
    if isinstance(statement, (ast.Assign, ast.AnnAssign)) and _plain_targets(statement):
        targets = _plain_targets(statement)
        reads = _reads(text)
        if statement.value is not None and not reads & targets:
            for target in targets:
                out.bindings[target] = _Binding("assign", text, order, reads)
            return
    what = _statement_words(statement)
    for name in sorted(_bound_names(text) | _changed_names(statement)):
        out.bindings[name] = _Binding("other", "", order, how=f"{what} in {where}")


def _fields(node: ast.AST) -> dict[str, Any]:
    return {name: getattr(node, name) for name in node._fields}


def _statement_source(cell: str, statement: ast.stmt) -> str:
    """The statement's text; a decorated def or class from its first decorator."""
    decorators = getattr(statement, "decorator_list", [])
    if decorators:
        lines = cell.splitlines()
        first = min(d.lineno for d in decorators) - 1
        return "\n".join(lines[first:statement.end_lineno]) + "\n"
    return (ast.get_source_segment(cell, statement) or ast.unparse(statement)) + "\n"


def _plain_targets(statement: ast.Assign | ast.AnnAssign) -> set[str]:
    """The names a `NAME = ...` / `A, B = ...` assignment binds; empty when a target is anything else."""
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    names: set[str] = set()
    for target in targets:
        elements = target.elts if isinstance(target, (ast.Tuple, ast.List)) else [target]
        for element in elements:
            if not isinstance(element, ast.Name):
                return set()
            names.add(element.id)
    return names


def _changed_names(statement: ast.stmt) -> set[str]:
    """Top-level names a statement changes in place: `x += 1`, `d["k"] = v`, `obj.attr = v`."""
    targets: list[ast.AST] = []
    if isinstance(statement, ast.Assign):
        targets = list(statement.targets)
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        targets = [statement.target]
    names = set()
    for target in targets:
        while isinstance(target, (ast.Subscript, ast.Attribute)):
            target = target.value
        if isinstance(target, ast.Name):
            names.add(target.id)
    return names


def _statement_words(statement: ast.stmt) -> str:
    words = {ast.For: "a for loop", ast.AsyncFor: "a for loop", ast.While: "a while loop", ast.With: "a with statement",
             ast.AsyncWith: "a with statement", ast.If: "an if statement", ast.Try: "a try statement",
             ast.AugAssign: "an augmented assignment (+= and the like)", ast.AsyncFunctionDef: "an async def",
             ast.Delete: "a del statement"}
    for kind, said in words.items():
        if isinstance(statement, kind):
            return said
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        return "an assignment that changes a value in place or reads its own earlier value"
    return "a statement that is not a plain assignment"


def _scope_globals(table: symtable.SymbolTable) -> set[str]:
    """Names the nested scopes (functions, classes, comprehensions) look up globally."""
    names = set()
    for child in table.get_children():
        names |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
        names |= _scope_globals(child)
    return names


def _reads(text: str) -> set[str]:
    """The global names a top-level statement reads: at top level (decorators, defaults, base
    classes, an assignment's value) and inside its functions, classes and comprehensions."""
    table = symtable.symtable(text, "<cell>", "exec")
    top = {s.get_name() for s in table.get_symbols() if s.is_referenced()}
    return top | _scope_globals(table)


def _bound_names(text: str) -> set[str]:
    table = symtable.symtable(text, "<cell>", "exec")
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}


# -- the function -----------------------------------------------------------------------------

def _function_binding(book: _Notebook, path: Any, function: str) -> _Binding:
    binding = book.bindings.get(function)
    if binding is None:
        raise InvalidRequest(f"{_shown(path)} defines no function {function!r} at the top level of a code cell"
                             + _unreadable_words(book), names=["function"])
    if binding.kind != "def":
        raise InvalidRequest(f"{function!r} in {_shown(path)} is not a plain function (its last binding is "
                             f"{binding.how or 'a ' + binding.kind + ' statement'}): a job runs a def",
                             names=["function"])
    return binding


def _undefined(book: _Notebook) -> str:
    said = "is defined by no top-level statement of the notebook's code cells and is not a builtin"
    if book.star_imports:
        said += f" (it may come from {'; '.join(book.star_imports)}: import it by name)"
    return said + _unreadable_words(book)


def _unreadable_words(book: _Notebook) -> str:
    return f" (cells that are not Python were skipped: {'; '.join(book.unreadable)})" if book.unreadable else ""


def _shown(path: Any) -> str:
    return os.fspath(path)


class _Source:
    """A default value shown as the notebook writes it (`epochs=10`), never evaluated."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(arguments: ast.arguments) -> inspect.Signature:
    """The parameters a def declares, with defaults as their source text."""
    P = inspect.Parameter
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[Any] = [P.empty] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    params = [P(a.arg, P.POSITIONAL_ONLY if i < len(arguments.posonlyargs) else P.POSITIONAL_OR_KEYWORD,
                default=P.empty if d is P.empty else _Source(ast.unparse(d)))
              for i, (a, d) in enumerate(zip(positional, defaults))]
    if arguments.vararg is not None:
        params.append(P(arguments.vararg.arg, P.VAR_POSITIONAL))
    for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults):
        params.append(P(a.arg, P.KEYWORD_ONLY, default=P.empty if d is None else _Source(ast.unparse(d))))
    if arguments.kwarg is not None:
        params.append(P(arguments.kwarg.arg, P.VAR_KEYWORD))
    return inspect.Signature(params)


class _Signed:
    """Stands for the notebook's function where only its signature is needed (`args.check_args`
    reads `__signature__` and `__name__`); it is never called."""

    def __init__(self, name: str, signature: inspect.Signature) -> None:
        self.__name__ = name
        self.__signature__ = signature

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{self.__name__}() is a notebook function read from its file; it runs on a job only")
