"""A notebook function or cell as one Python source text that runs the same on any replica.

`capture_function(train)` starts from the function's own source and follows the global names it
reads (through its code object, nested functions and comprehensions included, and the names its
decorators, default values and annotations use) in the namespace it was defined in:

- a module becomes an import line (`import numpy as np`); a function or class importable from a
  module becomes `from module import name`;
- a function or class defined in the notebook is carried as source, with what it needs in turn;
  a lambda is carried when its source holds that lambda alone (`square = lambda x: x * x`);
- a constant that Python can write as a literal (numbers, strings, bytes, None, and lists,
  tuples, sets and dicts of them) becomes an assignment; so do values a closure captured.

Anything else cannot travel in a manifest (an open file, a socket, a model instance, a lambda
without source) and is refused before submission, every offending name at once, as an
InvalidRequest whose `names` field lists them. `capture_cell` does the same for a cell's text:
the names it reads without assigning them come from the notebook's namespace.
"""

from __future__ import annotations

import ast
import dis
import functools
import inspect
import io
import linecache
import math
import socket
import sys
import textwrap
import types
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from ..errors import InvalidRequest

__all__ = ["Carried", "capture_function", "capture_cell"]

_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"})
_LITERAL_TYPES = (type(None), bool, int, str, bytes)


@dataclass(frozen=True)
class Carried:
    """What travels to the replicas.

    Attributes:
        source: one Python module: import lines, constants, definitions, then the cell's own
            text for a cell.
        function: the name `source` defines and the runner calls; None for a cell.
        names: the notebook names carried along besides the function, in source order.
        cell_line: for a cell, the line of `source` where the cell's own text starts.
    """

    source: str
    function: str | None
    names: tuple[str, ...]
    cell_line: int | None = None


def capture_function(function: Any) -> Carried:
    """The source that defines `function` and everything it reads from its notebook.

    Raises:
        InvalidRequest: `function` is not a plain function with source, or it reads names that
            cannot be carried; `fields["names"]` lists each offending name.
    """
    target = _plain_function(function)
    collector = _Collector(target.__globals__)
    name = collector.add_function(target, wanted_as=None)
    collector.finish(what=f"{name}()")
    return Carried(collector.text(), name, collector.carried_names(exclude=name))


def capture_cell(cell: str, namespace: Mapping[str, Any]) -> Carried:
    """The cell's text preceded by what it reads from the notebook's namespace.

    Raises:
        InvalidRequest: the cell is not Python (a syntax error, a %magic or !shell line: the
            message gives the line), or it reads names that cannot be carried.
    """
    try:
        code = compile(cell, "<cell>", "exec", dont_inherit=True)
    except SyntaxError as e:
        hint = " (magics and !shell lines cannot run in a job)" if (e.text or "").lstrip()[:1] in ("%", "!") else ""
        raise InvalidRequest(f"the cell is not Python: line {e.lineno}: {e.msg}{hint}", line=e.lineno) from None
    own = _assigned_names(code)
    collector = _Collector(namespace)
    for name in sorted(_global_reads(code) - own):
        collector.need(name, wanted_by="read by the cell")
    collector.finish(what="the cell")
    preamble = collector.text()
    source = preamble + ("\n\n" if preamble else "") + cell.rstrip("\n") + "\n"
    return Carried(source, None, collector.carried_names(), cell_line=preamble.count("\n") + 3 if preamble else 1)


def _plain_function(function: Any) -> types.FunctionType:
    """`function` unwrapped from its decorators, or a refusal saying what else it is."""
    if isinstance(function, functools.partial):
        raise _refuse("the function", "is a functools.partial: pass the function itself and its values in args")
    if inspect.ismethod(function):
        raise _refuse(function.__name__, f"is a method bound to a {type(function.__self__).__name__} object: "
                                         "pass a plain function (a live object cannot travel)")
    target = inspect.unwrap(function) if callable(function) else function
    if not isinstance(target, types.FunctionType):
        raise _refuse(getattr(function, "__name__", "the function"),
                      f"is a {_describe(function)}, not a function defined with def")
    if target.__name__ == "<lambda>":
        raise _refuse("<lambda>", "is a lambda: define the job's function with def (its name names the job)")
    return target


class _Collector:
    """Walks from a function or cell to every notebook name it needs, and writes the source."""

    def __init__(self, namespace: Mapping[str, Any]) -> None:
        self.namespace = namespace
        self.module_name = namespace.get("__name__", "__main__")
        self.imports: dict[str, str] = {}
        self.constants: dict[str, str] = {}
        self.definitions: dict[str, str] = {}  # name -> source, dependencies first
        self.problems: dict[str, str] = {}
        self._seen: set[str] = set()

    # -- walking ----------------------------------------------------------------------------

    def need(self, name: str, wanted_by: str) -> None:
        """Carry the notebook's `name`, or record why it cannot travel; `wanted_by` says who reads
        it, for the message ("read by train()")."""
        if name in self._seen:
            return
        self._seen.add(name)
        if name not in self.namespace:
            return  # a builtin, or a name the code never reaches (it would fail the same way here)
        self.carry(name, self.namespace[name], wanted_by)

    def carry(self, name: str, value: Any, wanted_by: str) -> None:
        if isinstance(value, types.ModuleType):
            line = _import_line(name, value)
            if line is None:
                self.problems[name] = f"is the module {value.__name__!r}, which cannot be imported by name elsewhere"
            else:
                self.imports[name] = line
            return
        literal = _literal(value)
        if literal is not None:
            self.constants[name] = f"{name} = {literal}"
            return
        # A decorated notebook function (functools.wraps, lru_cache) is carried as its decorated def.
        target = inspect.unwrap(value) if callable(value) and hasattr(value, "__wrapped__") else value
        if isinstance(target, types.FunctionType) and target.__globals__ is self.namespace:
            if target.__name__ == "<lambda>":
                self.add_lambda(name, target)
            else:
                self.add_function(target, wanted_as=name)
            return
        if isinstance(value, type) and value.__module__ == self.module_name:
            self.add_class(name, value)
            return
        line = _importable(name, value)
        if line is not None:
            self.imports[name] = line
            return
        self.problems[name] = f"({wanted_by}) is {_describe(value)}: {_advice(value)}"

    def add_function(self, function: types.FunctionType, wanted_as: str | None) -> str:
        """Carry a notebook function's source and what it reads; returns the name its def binds."""
        self._seen.add(function.__name__)
        source = _source_of(function)
        if source is None:
            self.problems[wanted_as or function.__name__] = (
                "has no source to carry (defined with exec or in a deleted cell): define it in a cell")
            return function.__name__
        tree = _single_statement(source, (ast.FunctionDef, ast.AsyncFunctionDef))
        if tree is None:
            self.problems[wanted_as or function.__name__] = "has source that is not a plain def statement"
            return function.__name__
        defined = tree.name
        for name in sorted(_header_names(tree) | _global_reads(function.__code__)):
            if name != defined:
                self.need(name, wanted_by=f"read by {defined}()")
        self._closure(function, defined)
        self.definitions[defined] = source
        if wanted_as and wanted_as != defined:
            self.definitions[f"{wanted_as} (alias)"] = f"{wanted_as} = {defined}\n"
        return defined

    def add_lambda(self, name: str, function: types.FunctionType) -> None:
        segment = _lambda_source(function)
        if segment is None:
            self.problems[name] = ("is a lambda whose source is not a line of its own (or there is none): "
                                   "define it with def")
            return
        node = ast.parse(segment, mode="eval").body
        for needed in sorted(_header_names(node) | _global_reads(function.__code__)):
            self.need(needed, wanted_by=f"read by {name}")
        self._closure(function, name)
        self.definitions[name] = f"{name} = {segment}\n"

    def add_class(self, name: str, cls: type) -> None:
        source = _class_source(cls)
        if source is None:
            self.problems[name] = ("is a class whose source cannot be found (the notebook keeps it only for "
                                   "classes with a method): define it inside the function, or give it a method")
            return
        tree = _single_statement(source, (ast.ClassDef,))
        if tree is None:
            self.problems[name] = "has source that is not a plain class statement"
            return
        needed = _class_header_names(tree)
        for function in _methods(cls):
            needed |= _global_reads(function.__code__)
        for other in sorted(needed - {tree.name}):
            self.need(other, wanted_by=f"read by class {tree.name}")
        self.definitions[tree.name] = source
        if name != tree.name:
            self.definitions[f"{name} (alias)"] = f"{name} = {tree.name}\n"

    def _closure(self, function: types.FunctionType, defined: str) -> None:
        """Values a closure captured become module-level names of the carried source."""
        for var, cell in zip(function.__code__.co_freevars, function.__closure__ or ()):
            try:
                value = cell.cell_contents
            except ValueError:
                self.problems[var] = f"(captured by {defined}()) has no value yet: a closure over an empty cell"
                continue
            if var in self.namespace and self.namespace[var] is not value:
                self.problems[var] = (f"(captured by {defined}()) is also a different notebook global of that name: "
                                      "rename one of them")
                continue
            if var not in self._seen:
                self._seen.add(var)
                self.carry(var, value, wanted_by=f"captured by {defined}()")

    # -- result -----------------------------------------------------------------------------

    def finish(self, what: str) -> None:
        if not self.problems:
            return
        listed = "; ".join(f"{name!r} {reason}" for name, reason in self.problems.items())
        raise InvalidRequest(f"{what} cannot be sent to a job: {listed}", names=list(self.problems))

    def carried_names(self, exclude: str | None = None) -> tuple[str, ...]:
        names = [*self.imports, *self.constants, *(k.split(" ")[0] for k in self.definitions)]
        return tuple(n for n in names if n != exclude)

    def text(self) -> str:
        parts = []
        if self.imports:
            parts.append("\n".join(sorted(set(self.imports.values()))) + "\n")
        if self.constants:
            parts.append("\n".join(self.constants.values()) + "\n")
        parts += [source.rstrip("\n") + "\n" for source in self.definitions.values()]
        return "\n\n".join(parts)


# -- reading code ---------------------------------------------------------------------------

def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _global_reads(code: types.CodeType) -> set[str]:
    """Names the code (and the functions, lambdas and comprehensions inside it) looks up globally.

    From the bytecode, not `co_names`: co_names also holds attribute names (`np.array` lists
    `array`), which would drag unrelated notebook globals along or refuse them.
    """
    return {ins.argval for c in _code_objects(code) for ins in dis.get_instructions(c)
            if ins.opname in _GLOBAL_OPS and isinstance(ins.argval, str)}


def _assigned_names(code: types.CodeType) -> set[str]:
    """Names a cell's top level binds (assignments, imports, def and class statements)."""
    return {ins.argval for ins in dis.get_instructions(code)
            if ins.opname in ("STORE_NAME", "STORE_GLOBAL", "DELETE_NAME") and isinstance(ins.argval, str)}


def _loads(nodes: Any) -> set[str]:
    out: set[str] = set()
    for node in nodes:
        if node is None:
            continue
        out |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return out


def _header_names(node: ast.AST) -> set[str]:
    """Names a def or lambda evaluates where it is defined: decorators, defaults, annotations."""
    args = node.args  # type: ignore[attr-defined]
    parts: list[Any] = [*getattr(node, "decorator_list", []), *args.defaults, *args.kw_defaults,
                        getattr(node, "returns", None)]
    for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
        if arg is not None:
            parts.append(arg.annotation)
    return _loads(parts)


def _class_header_names(tree: ast.ClassDef) -> set[str]:
    """Names a class statement evaluates when it runs: decorators, bases, keywords, the class
    body outside methods, and its methods' own headers (their bodies are read from bytecode)."""
    names = _loads([*tree.decorator_list, *tree.bases, *(k.value for k in tree.keywords)])
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names |= _header_names(statement)
        else:
            names |= _loads([statement])
    return names


def _single_statement(source: str, kinds: tuple[type, ...]) -> Any:
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return None
    return body[0] if len(body) == 1 and isinstance(body[0], kinds) else None


def _source_of(function: types.FunctionType) -> str | None:
    try:
        return textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return None


def _lambda_source(function: types.FunctionType) -> str | None:
    """The lambda's own text when its source lines hold exactly one lambda."""
    try:
        lines = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return None
    try:
        tree = ast.parse(lines)
    except SyntaxError:
        return None
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Lambda)]
    return ast.get_source_segment(lines, found[0]) if len(found) == 1 else None


def _methods(cls: type) -> list[types.FunctionType]:
    """The functions written in the class body (staticmethods, classmethods, properties unwrapped)."""
    out = []
    for value in vars(cls).values():
        parts = [value.fget, value.fset, value.fdel] if isinstance(value, property) else [
            getattr(value, "__func__", getattr(value, "func", value))]
        for part in parts:
            part = inspect.unwrap(part) if callable(part) else part
            if isinstance(part, types.FunctionType) and part.__qualname__.startswith(cls.__qualname__ + "."):
                out.append(part)
    return out


def _class_source(cls: type) -> str | None:
    """A notebook class's source: found through its methods' cells (IPython keeps no class files)."""
    try:
        return textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        pass
    for method in _methods(cls):
        filename, line = method.__code__.co_filename, method.__code__.co_firstlineno
        lines = linecache.getlines(filename)
        try:
            tree = ast.parse("".join(lines))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == cls.__name__ and node.lineno <= line <= (node.end_lineno or 0):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                return "".join(lines[first - 1:node.end_lineno])
    return None


# -- values ---------------------------------------------------------------------------------

def _literal(value: Any, _depth: int = 0) -> str | None:
    """Python source that rebuilds `value` exactly, for plain data only (exact builtin types)."""
    if _depth > 50:
        return None
    kind = type(value)
    if kind in _LITERAL_TYPES:
        return repr(value)
    if kind is float:
        return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
    if kind is complex:
        return repr(value) if math.isfinite(value.real) and math.isfinite(value.imag) else None
    if kind in (list, tuple, set):
        items = [_literal(v, _depth + 1) for v in value]
        if any(i is None for i in items):
            return None
        if kind is list:
            return "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
        if kind is tuple:
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"  # type: ignore[arg-type]
        return "{" + ", ".join(sorted(items)) + "}" if items else "set()"  # type: ignore[arg-type]
    if kind is dict:
        pairs = [(_literal(k, _depth + 1), _literal(v, _depth + 1)) for k, v in value.items()]
        if any(k is None or v is None for k, v in pairs):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    return None


def _import_line(name: str, module: types.ModuleType) -> str | None:
    real = module.__name__
    if real == "__main__" or getattr(module, "__spec__", None) is None or sys.modules.get(real) is not module:
        return None
    if real == name:
        return f"import {real}"
    package, _, last = real.rpartition(".")
    return f"from {package} import {last}" if package and last == name else f"import {real} as {name}"


def _importable(name: str, value: Any) -> str | None:
    """`from module import qualname [as name]` when that import gives back this very object."""
    module_name = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "." in qualname or "<" in qualname:
        return None
    # Only modules already loaded: finding out must not import anything new into the kernel.
    module = sys.modules.get(module_name)
    if module_name in ("__main__", "builtins") or module is None or getattr(module, qualname, None) is not value:
        return None
    return f"from {module_name} import {qualname}" + (f" as {name}" if name != qualname else "")


def _describe(value: Any) -> str:
    if isinstance(value, io.IOBase):
        return f"an open file ({type(value).__name__})"
    if isinstance(value, socket.socket):
        return "a socket"
    if isinstance(value, types.FunctionType) and value.__name__ == "<lambda>":
        return "a lambda"
    if isinstance(value, (types.GeneratorType, types.CoroutineType)):
        return f"a running {type(value).__name__}"
    if isinstance(value, type):
        return f"the class {value.__qualname__} from {value.__module__}"
    if callable(value) and hasattr(value, "__name__"):
        return f"a {type(value).__name__} ({getattr(value, '__module__', None) or 'no module'}.{value.__name__})"
    module = type(value).__module__
    prefix = "" if module in ("builtins", "__main__") else module + "."
    return f"a {prefix}{type(value).__qualname__} object"


def _advice(value: Any) -> str:
    if isinstance(value, (io.IOBase, socket.socket)):
        return "open it inside the function"
    if callable(value):
        return "import or define it inside the function"
    return "a live object cannot travel: create it inside the function, or pass plain values in args"


def _refuse(name: str, reason: str) -> InvalidRequest:
    return InvalidRequest(f"{name!r} cannot be sent to a job: it {reason}", names=[name])

