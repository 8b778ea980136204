"""capture.py: a notebook function or cell becomes one source text that behaves the same elsewhere,
and what cannot travel is refused before submission, naming each offending name."""

from __future__ import annotations

import io
import socket
import types
from typing import Any

import pytest

from dtrain_jupyter.code.capture import capture_cell, capture_function
from dtrain_jupyter.errors import InvalidRequest

from .conftest import cell_source, notebook


def run_carried(source: str, function: str, **kwargs: Any) -> Any:
    """Execute carried source in a fresh namespace, as the runner does, and call the function."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(compile(source, "<carried>", "exec"), namespace)
    return namespace[function](**kwargs)


def refused(function: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as info:
        capture_function(function)
    return info.value


def test_helpers_constants_and_imports_travel_and_behave_the_same() -> None:
    nb = notebook(
        """
        import math
        import collections as col
        from os import path
        from math import sqrt
        SCALE = 10
        NAMES = ("a", "b")
        LIMITS = {"low": -1.5, "high": float("inf"), 3: [None, True, b"x"]}
        UNUSED = open(__file__) if False else 1
        def helper(x):
            return x * SCALE
        def twice(x):
            return helper(helper(x))
        """,
        """
        def train(lr, steps=SCALE):
            counts = col.Counter(NAMES)
            return [twice(lr), steps, sqrt(16), math.pi > 3, path.basename("/a/b"), counts["a"],
                    LIMITS["high"] > 1e308, LIMITS[3]]
        """,
    )
    carried = capture_function(nb["train"])
    assert carried.function == "train"
    assert set(carried.names) == {"math", "col", "path", "sqrt", "SCALE", "NAMES", "LIMITS", "helper", "twice"}
    assert "UNUSED" not in carried.source
    assert "import collections as col" in carried.source and "from math import sqrt" in carried.source
    expected = nb["train"](0.5)
    assert run_carried(carried.source, "train", lr=0.5) == expected == [50.0, 10, 4.0, True, "b", 1, True,
                                                                        [None, True, b"x"]]


def test_attribute_names_are_not_taken_for_globals() -> None:
    # `model.data` and `np.array` name attributes, not the notebook's `data` and `array`.
    nb = notebook(
        """
        import io
        data = io.StringIO("not carried")
        array = object()
        def shape(model):
            return (model.data, model.array)
        """)
    carried = capture_function(nb["shape"])
    assert carried.names == ()
    assert run_carried(carried.source, "shape", model=types.SimpleNamespace(data=1, array=2)) == (1, 2)


def test_decorators_defaults_and_annotations_bring_their_names() -> None:
    nb = notebook(
        """
        import functools
        import fractions
        BASE = 3
        def logged(fn):
            @functools.wraps(fn)
            def wrapper(*a, **k):
                return ("logged", fn(*a, **k))
            return wrapper
        @logged
        def step(x: fractions.Fraction, base=BASE) -> int:
            return x + base
        """)
    carried = capture_function(nb["step"])
    assert carried.function == "step"
    assert {"logged", "BASE", "fractions", "functools"} <= set(carried.names)
    assert carried.source.index("def logged") < carried.source.index("@logged")
    assert run_carried(carried.source, "step", x=1) == nb["step"](1) == ("logged", 4)


def test_recursion_and_mutual_recursion() -> None:
    nb = notebook(
        """
        def is_even(n):
            return True if n == 0 else is_odd(n - 1)
        def is_odd(n):
            return False if n == 0 else is_even(n - 1)
        def fact(n):
            return 1 if n <= 1 else n * fact(n - 1)
        """)
    assert run_carried(capture_function(nb["is_even"]).source, "is_even", n=7) is False
    assert run_carried(capture_function(nb["fact"]).source, "fact", n=5) == 120


def test_a_closure_carries_what_it_captured() -> None:
    nb = notebook(
        """
        def make_trainer(lr, layers):
            def trainer(steps):
                return [lr * steps, layers]
            return trainer
        train = make_trainer(0.5, ["a", "b"])
        """)
    carried = capture_function(nb["train"])
    assert carried.function == "trainer" and "lr = 0.5" in carried.source
    assert run_carried(carried.source, "trainer", steps=4) == [2.0, ["a", "b"]]


def test_a_notebook_class_travels_with_its_dependencies() -> None:
    nb = notebook(
        """
        import statistics
        WIDTH = 4
        def relu(x):
            return max(x, 0)
        class Scaler:
            factor = WIDTH
            def __init__(self, offset):
                self.offset = offset
            @staticmethod
            def clip(values):
                return [relu(v) for v in values]
            @property
            def mean_factor(self):
                return statistics.mean([self.factor, self.offset])
        def fit(values):
            s = Scaler(2)
            return [v * s.factor for v in s.clip(values)] + [s.mean_factor]
        """)
    carried = capture_function(nb["fit"])
    assert {"Scaler", "relu", "WIDTH", "statistics"} <= set(carried.names)
    assert run_carried(carried.source, "fit", values=[-1, 2]) == nb["fit"]([-1, 2]) == [0, 8, 3]


def test_a_lambda_on_its_own_line_travels() -> None:
    nb = notebook(
        """
        OFFSET = 1
        square = lambda x: x * x + OFFSET
        def use(v):
            return square(v)
        """)
    carried = capture_function(nb["use"])
    assert "square = lambda x: x * x + OFFSET" in carried.source
    assert run_carried(carried.source, "use", v=3) == 10


# -- refusals ---------------------------------------------------------------------------------

def test_live_objects_are_refused_with_every_name_at_once(tmp_path) -> None:
    nb = notebook(
        """
        class Net:
            def forward(self, x):
                return x
        model = Net()
        """)
    nb["log_file"] = open(tmp_path / "log.txt", "w")
    nb["conn"] = socket.socket()
    try:
        cell_source(
            """
            def train():
                log_file.write("x")
                conn.send(b"x")
                return model.forward(1)
            """, nb)
        err = refused(nb["train"])
    finally:
        nb["log_file"].close()
        nb["conn"].close()
    assert sorted(err.fields["names"]) == ["conn", "log_file", "model"]
    assert "'log_file' (read by train()) is an open file" in err.message
    assert "'conn' (read by train()) is a socket" in err.message
    assert "'model' (read by train()) is a Net object" in err.message


@pytest.mark.parametrize(("setup", "name", "words"), [
    ("import functools\ndef f(a, b): return a\ntarget = functools.partial(f, 1)", "the function", "functools.partial"),
    ("class A:\n    def go(self): return 1\ntarget = A().go", "go", "method bound to a A object"),
    ("target = lambda: 1", "<lambda>", "is a lambda"),
    ("target = print", "print", "not a function defined with def"),
    ("class target:\n    def m(self): pass", "target", "not a function defined with def"),
], ids=["partial", "bound-method", "lambda", "builtin", "class"])
def test_what_is_not_a_plain_function_is_refused(setup: str, name: str, words: str) -> None:
    err = refused(notebook(setup)["target"])
    assert err.fields["names"] == [name] and words in err.message


def test_a_function_without_source_is_refused() -> None:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec("def made():\n    return 1\n", namespace)  # no linecache entry: like exec() in a cell
    err = refused(namespace["made"])
    assert err.fields["names"] == ["made"] and "no source" in err.message


def test_helpers_that_cannot_travel_are_refused_by_name() -> None:
    nb = notebook(
        """
        import types
        pair = lambda: 1, lambda: 2
        first = pair[0]
        dynamic = types.ModuleType("dynamic")
        gen = (i for i in range(3))
        class Config:
            lr = 0.1
        def train():
            return first(), dynamic, next(gen), Config.lr
        """)
    err = refused(nb["train"])
    assert sorted(err.fields["names"]) == ["Config", "dynamic", "first", "gen"]
    assert "'first' is a lambda whose source is not a line of its own" in err.message
    assert "'Config' is a class whose source cannot be found" in err.message
    assert "'gen' (read by train()) is a running generator" in err.message


def test_closures_over_what_cannot_travel_are_refused(tmp_path) -> None:
    nb = notebook(
        """
        def make(handle):
            def write():
                return handle.write("x")
            return write
        def early():
            def inner():
                return later
            return inner
            later = 1
        """)
    with open(tmp_path / "x.txt", "w") as handle:
        err = refused(nb["make"](handle))
    assert err.fields["names"] == ["handle"] and "captured by write" in err.message
    err = refused(nb["early"]())
    assert err.fields["names"] == ["later"] and "empty cell" in err.message


def test_a_closure_value_that_clashes_with_a_notebook_global_is_refused() -> None:
    nb = notebook(
        """
        lr = 1.0
        def make(lr):
            def inner():
                return lr
            return inner
        """)
    err = refused(nb["make"](0.5))
    assert err.fields["names"] == ["lr"] and "different notebook global" in err.message


def test_partial_helpers_are_refused_not_silently_dropped() -> None:
    nb = notebook("import functools\ndef add(a, b): return a + b\ninc = functools.partial(add, 1)\n"
                  "def use(): return inc(1)\n")
    err = refused(nb["use"])
    assert err.fields["names"] == ["inc"] and "functools.partial" in err.message


# -- cells ------------------------------------------------------------------------------------

def test_a_cell_carries_what_it_reads_and_not_what_it_assigns() -> None:
    nb = notebook(
        """
        import json
        SCALE = 3
        def helper(x):
            return x * SCALE
        total = io_handle = None
        """)
    nb["io_handle"] = io.StringIO()  # assigned by the cell below, so never looked up
    cell = "io_handle = 2\nvalues = [helper(v) for v in range(io_handle)]\njson.dumps(values)\n"
    carried = capture_cell(cell, nb)
    assert carried.function is None and set(carried.names) == {"json", "helper", "SCALE"}
    assert carried.source.endswith(cell)
    namespace: dict[str, Any] = {}
    exec(carried.source, namespace)
    assert namespace["values"] == [0, 3]


@pytest.mark.parametrize(("cell", "line"), [
    ("x = 1\n%time y = 2\n", 2),
    ("!pip install x\n", 1),
    ("def f(:\n", 1),
], ids=["magic", "shell", "syntax"])
def test_a_cell_that_is_not_python_is_refused_with_its_line(cell: str, line: int) -> None:
    with pytest.raises(InvalidRequest) as info:
        capture_cell(cell, {})
    assert info.value.fields["line"] == line and f"line {line}" in info.value.message


def test_a_cell_that_reads_a_live_object_is_refused() -> None:
    nb = notebook("class Net:\n    def f(self): pass\nnet = Net()\n")
    with pytest.raises(InvalidRequest) as info:
        capture_cell("net.f()\n", nb)
    assert info.value.fields["names"] == ["net"] and "read by the cell" in info.value.message


def test_functools_wrapped_helper_is_carried_as_its_decorated_def() -> None:
    nb = notebook(
        """
        import functools
        @functools.lru_cache(maxsize=None)
        def fib(n):
            return n if n < 2 else fib(n - 1) + fib(n - 2)
        def use(n):
            return fib(n)
        """)
    carried = capture_function(nb["use"])
    assert "@functools.lru_cache" in carried.source
    assert run_carried(carried.source, "use", n=20) == 6765
