"""The annotation that says where a job's code came from, on every job made from notebook code."""

from __future__ import annotations

import json

import pytest

from dtrain_jupyter.errors import InvalidRequest
from dtrain_jupyter.code.job import CODE_ANNOTATION, FolderJob, FunctionJob, cell_job, notebook_path

from .conftest import notebook

NB = notebook("""
    def train(lr):
        return lr
    """)


def origin(spec) -> dict:
    text = spec.to_manifest()["metadata"]["annotations"][CODE_ANNOTATION]
    assert ": " not in text and ", " not in text  # compact JSON
    return json.loads(text)


def test_function_and_cell_jobs_name_their_notebook_from_the_kernels_session(monkeypatch) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", "work/fit.ipynb")
    assert origin(FunctionJob(NB["train"], args={"lr": 0.1})) == {
        "from": "function", "function": "train", "notebook": "work/fit.ipynb"}
    assert origin(cell_job("x = 1\nx", NB)) == {"from": "cell", "notebook": "work/fit.ipynb"}
    monkeypatch.delenv("JPY_SESSION_NAME")
    assert notebook_path() == "" and origin(FunctionJob(NB["train"], args={"lr": 1}))["notebook"] == ""


def test_the_annotation_survives_edits_of_the_spec(tmp_path) -> None:
    (tmp_path / "train.py").write_text("print(1)\n")
    spec = FolderJob("train.py", tmp_path, args=["--lr", "0.1"])
    edited = spec.copy()
    edited.name, edited.image = "renamed", "python:3.12"
    found = origin(edited)
    assert found == {"from": "folder", "folder": str(tmp_path.resolve()), "entry": "train.py", "files": 1,
                     "bytes": len(spec.code.data), "sha256": spec.code.sha256}
    assert edited.code == spec.code


@pytest.mark.parametrize("args", ["--lr 0.1", ("--lr", 1), {"lr": "0.1"}])
def test_script_arguments_are_a_list_of_strings(tmp_path, args) -> None:
    (tmp_path / "train.py").write_text("")
    with pytest.raises(InvalidRequest) as info:
        FolderJob("train.py", tmp_path, args=args)
    assert info.value.fields["names"][0].startswith("args")
