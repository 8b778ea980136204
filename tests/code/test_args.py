"""args.py: arguments travel as JSON, so only JSON values are accepted, each refusal with its path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dtrain_jupyter.code.args import check_args
from dtrain_jupyter.errors import InvalidRequest


class Tensorish:
    def tolist(self) -> list:
        return [1]


class Number(float):
    """Stands for a NumPy float: a float subclass whose repr is not a plain number."""


def train(lr: float, opt: dict | None = None, *, steps: int = 1) -> None:
    pass


def test_json_values_pass_unchanged() -> None:
    args = {"lr": 0.1, "opt": {"name": "sgd", "betas": [0.9, 0.99], "nesterov": True, "decay": None},
            "steps": 10 ** 30}
    assert check_args(args, train) == args
    assert json.loads(json.dumps(check_args(args, train))) == args  # as the manifest carries them
    assert check_args(None) == {}


@pytest.mark.parametrize(("args", "paths"), [
    ({"lr": (0.1, 0.2)}, ["args['lr']"]),
    ({"lr": 0.1, "opt": {"betas": [0.9, Number(0.99)]}}, ["args['opt']['betas'][1]"]),
    ({"lr": 0.1, "opt": {1: "a", "x": Tensorish()}}, ["args['opt'][1]", "args['opt']['x']"]),
    ({"lr": {0.5}}, ["args['lr']"]),
    ({"lr": 0.1, "opt": {"f": open}}, ["args['opt']['f']"]),
], ids=["tuple", "float-subclass", "int-key-and-object", "set", "function"])
def test_values_that_are_not_json_are_refused_by_path(args: dict, paths: list[str]) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_args(args, train)
    assert info.value.fields["names"] == paths
    for path in paths:
        assert path in info.value.message


def test_refusals_say_what_to_pass_instead() -> None:
    with pytest.raises(InvalidRequest) as info:
        check_args({"a": (1,), "b": Number(1), "c": Tensorish()})
    text = info.value.message
    assert "pass a list" in text and "x.item()" in text and "x.tolist()" in text


def test_a_value_that_contains_itself_is_refused() -> None:
    loop: list[Any] = [1]
    loop.append(loop)
    with pytest.raises(InvalidRequest) as info:
        check_args({"lr": loop})
    assert info.value.fields["names"] == ["args['lr'][1]"]


@pytest.mark.parametrize("args", [[0.1], {"": 1}, {"not a name": 1}, {3: 1}], ids=str)
def test_args_must_be_keyword_arguments(args: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_args(args)
    assert info.value.fields["names"]


@pytest.mark.parametrize("args", [{"rate": 0.1}, {}, {"lr": 1, "steps": 1, "extra": 2}], ids=str)
def test_args_must_fit_the_signature(args: dict) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_args(args, train)
    assert info.value.fields["names"] == ["args"] and "train(lr, opt=None, *, steps=1)" in info.value.message
