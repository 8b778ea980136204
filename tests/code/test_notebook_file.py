"""A notebook file's function carried statically: what it reads comes along, what cannot is refused by name."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import nbformat
import pytest

from dtrain_jupyter.code.notebook_file import (capture_notebook_function, check_notebook_args, functions_in,
                                               notebooks_under)
from dtrain_jupyter.errors import InvalidRequest


def write_notebook(path: Path, *cells: str, markdown: str = "") -> Path:
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c).strip("\n")) for c in cells]
    if markdown:
        book.cells.insert(0, nbformat.v4.new_markdown_cell(markdown))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, str(path))
    return path


def run(source: str, function: str, **kwargs: object) -> object:
    """Run carried source as a replica would: a fresh module, then the call."""
    namespace: dict = {"__name__": "__main__"}
    exec(compile(source, "<carried>", "exec"), namespace)
    return namespace[function](**kwargs)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return write_notebook(
        tmp_path / "analysis.ipynb",
        """
        %matplotlib inline
        import math
        from collections import Counter as Tally
        import json
        """,
        """
        SCALE = 3
        WORDS = ["a", "b", "a"]
        LOG = open(__file__) if False else None
        """,
        """
        def helper(x):
            return math.sqrt(x) * SCALE
        """,
        """
        !pip install nothing-at-all
        class Running:
            start = SCALE
            def add(self, v):
                return self.start + helper(v)
        """,
        """
        def train(lr, epochs=2, *, seed=None):
            counts = Tally(WORDS)
            return Running().add(lr) * epochs + counts["a"]
        """,
        """
        %%bash
        echo this cell is not python
        """,
        markdown="# A notebook",
    )


def test_the_function_runs_with_its_helper_constant_class_and_imports(book: Path) -> None:
    carried = capture_notebook_function(book, "train")
    assert carried.function == "train"
    assert set(carried.names) == {"math", "Tally", "SCALE", "WORDS", "helper", "Running"}
    # Only what train() reads: not json, not LOG.
    assert "import json" not in carried.source and "LOG" not in carried.source
    assert "%matplotlib" not in carried.source and "pip install" not in carried.source
    assert run(carried.source, "train", lr=16.0, epochs=2) == (3 + 4.0 * 3) * 2 + 2


def test_the_last_binding_of_a_name_wins(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", "RATE = 1", "def f():\n    return RATE", "RATE = 2")
    assert run(capture_notebook_function(path, "f").source, "f") == 2


def test_decorators_and_defaults_are_carried_with_what_they_read(tmp_path: Path) -> None:
    path = write_notebook(
        tmp_path / "n.ipynb",
        "import functools",
        "DEFAULT = 5",
        "@functools.lru_cache(maxsize=None)\ndef f(n=DEFAULT):\n    return [n * k for k in range(FACTOR)]",
        "FACTOR = 2",
    )
    source = capture_notebook_function(path, "f").source
    assert "@functools.lru_cache" in source
    assert run(source, "f") == [0, 5]


@pytest.mark.parametrize("cells, names", [
    (["def f():\n    return missing + 1"], ["missing"]),
    (["for i in range(3):\n    pass", "def f():\n    return i"], ["i"]),
    (["with open('x') as handle:\n    pass", "def f():\n    return handle"], ["handle"]),
    (["TOTAL = 0", "TOTAL += 1", "def f():\n    return TOTAL"], ["TOTAL"]),
    (["D = {}", "D['k'] = 1", "def f():\n    return D"], ["D"]),
    (["N = 1", "N = N + 1", "def f():\n    return N"], ["N"]),
    (["def g():\n    return gone", "def f():\n    return g() + also_gone"], ["also_gone", "gone"]),
], ids=["undefined", "for-loop", "with", "augmented", "changed-in-place", "reads-itself", "transitive"])
def test_a_name_that_cannot_be_carried_is_refused_by_name(tmp_path: Path, cells: list[str], names: list[str]) -> None:
    path = write_notebook(tmp_path / "n.ipynb", *cells)
    with pytest.raises(InvalidRequest) as caught:
        capture_notebook_function(path, "f")
    assert sorted(caught.value.fields["names"]) == names
    message = str(caught.value)
    assert message.startswith(f"f() from {path} cannot be sent to a job")
    for name in names:
        assert repr(name) in message


def test_a_star_import_is_named_when_a_name_is_missing(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", "from math import *", "def f():\n    return sqrt(4)")
    with pytest.raises(InvalidRequest, match=r"'sqrt'.*from math import \*: import it by name"):
        capture_notebook_function(path, "f")


def test_builtins_need_nothing(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", "def f(xs=(3, 1)):\n    return sorted(len(str(x)) for x in xs)")
    carried = capture_notebook_function(path, "f")
    assert carried.names == ()
    assert run(carried.source, "f") == [1, 1]


def test_an_unknown_function_or_a_non_def_is_refused(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "n.ipynb", "f = print", "x = (", "async def g():\n    pass")
    with pytest.raises(InvalidRequest, match=r"defines no function 'nope'.*cell 2: line 1") as caught:
        capture_notebook_function(path, "nope")
    assert caught.value.fields["names"] == ["function"]
    with pytest.raises(InvalidRequest, match=r"'f' in .* is not a plain function"):
        capture_notebook_function(path, "f")
    with pytest.raises(InvalidRequest, match=r"'g' .*an async def"):
        capture_notebook_function(path, "g")


def test_a_file_that_is_not_a_notebook_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    with pytest.raises(InvalidRequest, match="cannot be read as a notebook"):
        functions_in(broken)
    with pytest.raises(InvalidRequest, match="there is no notebook"):
        functions_in(tmp_path / "absent.ipynb")


def test_functions_are_listed_with_their_parameters(book: Path) -> None:
    listed = [(f.name, f.parameters) for f in functions_in(book)]
    assert listed == [("helper", "x"), ("train", "lr, epochs=2, *, seed=None")]


def test_arguments_are_checked_against_the_parameters(book: Path) -> None:
    assert check_notebook_args(book, "train", {"lr": 0.1, "seed": 3}) == {"lr": 0.1, "seed": 3}
    with pytest.raises(InvalidRequest, match=r"args do not fit train\(lr, epochs=2, \*, seed=None\): .*'lr'"):
        check_notebook_args(book, "train", {"epochs": 3})
    with pytest.raises(InvalidRequest, match=r"unexpected keyword argument 'momentum'"):
        check_notebook_args(book, "train", {"lr": 1, "momentum": 0.9})
    with pytest.raises(InvalidRequest) as caught:
        check_notebook_args(book, "train", {"lr": (1, 2)})
    assert caught.value.fields["names"] == ["args['lr']"]


def test_notebooks_are_found_below_a_folder_skipping_checkpoints_and_hidden_ones(tmp_path: Path) -> None:
    for path in ("a.ipynb", "sub/b.ipynb", "sub/.ipynb_checkpoints/b-checkpoint.ipynb", ".hidden/c.ipynb",
                 "sub/deeper/d.ipynb", "notes.txt", ".e.ipynb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(json.dumps({}))
    assert notebooks_under(tmp_path) == ["a.ipynb", "sub/b.ipynb", "sub/deeper/d.ipynb"]
    assert len(notebooks_under(tmp_path, limit=2)) == 2


def test_the_job_calls_the_function_and_records_its_notebook(book: Path) -> None:
    from dtrain_jupyter.code.job import CODE_ANNOTATION
    from dtrain_jupyter.code.notebook_file import notebook_function_job

    spec = notebook_function_job(book, "train", name="nb-train", notebook="work/analysis.ipynb",
                                 args={"lr": 16.0}, packages=["einops"], kind="TFJob", workers=2)
    source, call = spec.args
    assert json.loads(call) == {"function": "train", "args": {"lr": 16.0}, "every_rank": False,
                                "packages": ["einops"]}
    assert run(source, "train", lr=16.0) == (3 + 4.0 * 3) * 2 + 2
    manifest = spec.to_manifest()
    assert json.loads(manifest["metadata"]["annotations"][CODE_ANNOTATION]) == {
        "from": "function", "function": "train", "notebook": "work/analysis.ipynb"}
    assert manifest["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
    with pytest.raises(InvalidRequest) as caught:
        notebook_function_job(book, "train", name="nb-train", args={"lr": 1}, packages=["not a requirement!"])
    assert caught.value.fields["names"] == ["packages[0]"]


def test_the_search_looks_into_the_nearest_folders_first_and_stops(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from dtrain_jupyter.code import notebook_file

    for path in ("z-top.ipynb", "a/deep/deeper/far.ipynb", "b/near.ipynb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}")
    monkeypatch.setattr(notebook_file, "MAX_FOLDERS", 3)  # the root, a and b: not a/deep
    assert notebooks_under(tmp_path) == ["b/near.ipynb", "z-top.ipynb"]


def test_what_only_the_symbol_table_refuses_is_named_not_raised(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "odd.ipynb", "def twice(a, a):\n    return a", "def fine():\n    return 1")
    assert [f.name for f in functions_in(path)] == ["fine"]
    assert run(capture_notebook_function(path, "fine").source, "fine") == 1


def test_a_line_ending_in_a_question_mark_is_python_unless_it_is_help(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "q.ipynb", "LR = 0.1  # too big?\nlen?", "def rate():\n    return LR")
    assert run(capture_notebook_function(path, "rate").source, "rate") == 0.1
