"""Where a job's code came from: the annotation read back tolerantly and said in one line."""

from __future__ import annotations

import json

import pytest

from dtrain_jupyter.code.origin import ANNOTATION, CodeOrigin, code_origin, describe, size_words
from dtrain_jupyter.model.builders import PyTorchJob
from dtrain_jupyter.model.job import Job


def _manifest(value: object) -> dict:
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": "j", "annotations": {ANNOTATION: value}}, "spec": {}}


FOLDER = {"from": "folder", "folder": "/home/u/proj", "entry": "train.py", "files": 12, "bytes": 3456,
          "sha256": "ab" * 32}


@pytest.mark.parametrize("data, words", [
    ({"from": "function", "function": "train", "notebook": "work/analysis.ipynb"},
     "function train() from analysis.ipynb"),
    ({"from": "function", "function": "train", "notebook": ""}, "function train()"),
    ({"from": "cell", "notebook": "analysis.ipynb"}, "a notebook cell from analysis.ipynb"),
    ({"from": "cell"}, "a notebook cell"),
    (FOLDER, "train.py from /home/u/proj (12 files, 3.4 KiB)"),
    ({"from": "folder", "folder": "/p", "entry": "run.py", "files": 1}, "run.py from /p (1 file)"),
    ({"from": "folder", "folder": "/p", "entry": "run.py"}, "run.py from /p"),
], ids=["function", "function-no-notebook", "cell", "cell-no-notebook", "folder", "one-file", "no-counts"])
def test_each_origin_is_said_in_one_line(data: dict, words: str) -> None:
    origin = code_origin(_manifest(json.dumps(data, separators=(",", ":"))))
    assert origin is not None
    assert describe(origin) == words


def test_the_folder_origin_keeps_its_counts_and_digest() -> None:
    origin = code_origin(_manifest(json.dumps(FOLDER)))
    assert origin == CodeOrigin("folder", folder="/home/u/proj", entry="train.py", files=12, size=3456,
                                sha256="ab" * 32)


@pytest.mark.parametrize("value", [
    None, "", "not json", "[1, 2]", '"text"', "{}", '{"from": "magic"}', '{"from": "function"}',
    '{"from": "function", "function": 3}', '{"from": "folder", "folder": "/p"}', 17,
    '{"from": "folder", "folder": "/p", "entry": "a.py", "files": "many", "bytes": -3}',
    "{" * 100_000,
], ids=lambda v: repr(v)[:24])
def test_a_malformed_annotation_is_no_origin_or_drops_the_bad_part(value: object) -> None:
    origin = code_origin(_manifest(value))
    if origin is not None:  # only the last but one: a folder whose counts do not read
        assert origin.files is None and origin.size is None
        assert describe(origin) == "a.py from /p"


@pytest.mark.parametrize("manifest", [
    {}, {"metadata": None}, {"metadata": {"annotations": ["x"]}}, {"metadata": {"annotations": {}}}, "text", None,
], ids=lambda v: repr(v)[:20])
def test_a_manifest_without_the_annotation_has_no_origin(manifest: object) -> None:
    assert code_origin(manifest) is None


def test_a_newline_in_an_edited_annotation_does_not_break_the_line() -> None:
    edited = json.dumps({"from": "function", "function": "train\nx", "notebook": "a\nb.ipynb"})
    assert describe(code_origin(_manifest(edited))) == "function train x() from a b.ipynb"


def test_jobs_and_specs_are_read_too() -> None:
    text = json.dumps({"from": "cell", "notebook": "n.ipynb"})
    job = Job(backend="local", kind="PyTorchJob", api_version="kubeflow.org/v1", name="j", namespace="default",
              uid="u", created="", manifest=_manifest(text))
    assert code_origin(job) == CodeOrigin("cell", notebook="n.ipynb")
    spec = PyTorchJob("j", command=["python", "-c", "pass"])
    assert code_origin(spec) is None
    manifest = spec.to_manifest()
    manifest["metadata"]["annotations"] = {ANNOTATION: text}
    assert code_origin(type(spec).from_manifest(manifest)) == CodeOrigin("cell", notebook="n.ipynb")
    assert code_origin(object()) is None


@pytest.mark.parametrize("size, words", [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (3456, "3.4 KiB"),
                                         (1024 ** 2, "1.0 MiB"), (5 * 1024 ** 3, "5.0 GiB")])
def test_sizes_in_binary_units(size: int, words: str) -> None:
    assert size_words(size) == words
