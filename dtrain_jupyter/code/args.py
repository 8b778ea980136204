"""The arguments of a notebook function sent to a job: plain JSON values, checked before submission.

Arguments travel in the manifest as JSON, so the function receives exactly the values it was
given only when they are JSON already: None, bool, int, float, str, lists and dicts with string
keys. Anything else (a tuple, which would arrive as a list; a NumPy number; a tensor; a dict with
int keys) is refused with its path, e.g. `args['opt']['betas']`, before anything is created.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, Callable

from ..errors import InvalidRequest

__all__ = ["check_args"]

_SCALARS = (type(None), bool, int, float, str)


def check_args(args: Any, function: Callable[..., Any] | None = None) -> dict[str, Any]:
    """`args` as a plain dict of keyword arguments, after checking every value is JSON.

    Args:
        args: keyword arguments for the function (None: none).
        function: when given, the arguments must also fit its signature.
    Raises:
        InvalidRequest: a value is not JSON (`fields["names"]` lists each path), or the
            arguments do not fit the signature.
    """
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise InvalidRequest(f"args must be a dict of keyword arguments, not {_type(args)}", names=["args"])
    problems: dict[str, str] = {}
    for key in args:
        if not isinstance(key, str) or not key.isidentifier():
            problems[f"args[{key!r}]"] = "is not a keyword argument name"
    for key, value in args.items():
        if isinstance(key, str):
            _walk(value, f"args[{key!r}]", problems, set())
    if problems:
        listed = "; ".join(f"{path} {reason}" for path, reason in problems.items())
        raise InvalidRequest(f"args cannot be sent to a job (they travel as JSON): {listed}", names=list(problems))
    if function is not None:
        try:
            signature = inspect.signature(function)
        except ValueError:
            return dict(args)  # no signature to check against (some builtins)
        try:
            signature.bind(**args)
        except TypeError as e:
            raise InvalidRequest(f"args do not fit {getattr(function, '__name__', 'the function')}"
                                 f"{_bare(signature)}: {e}", names=["args"]) from None
    return dict(args)


def _bare(signature: inspect.Signature) -> inspect.Signature:
    """The signature without annotations: names and defaults are what a person needs here."""
    return signature.replace(parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
                             return_annotation=signature.empty)


def _walk(value: Any, path: str, problems: dict[str, str], open_containers: set[int]) -> None:
    kind = type(value)
    if kind in _SCALARS:
        return
    if kind not in (list, dict):
        problems[path] = f"is {_type(value)}: {_hint(value)}"
        return
    if id(value) in open_containers:
        problems[path] = "contains itself"
        return
    open_containers.add(id(value))
    if kind is list:
        for i, item in enumerate(value):
            _walk(item, f"{path}[{i}]", problems, open_containers)
    else:
        for key, item in value.items():
            if not isinstance(key, str):
                problems[f"{path}[{key!r}]"] = f"has the key {key!r} ({_type(key)}): JSON keys are strings"
                continue
            _walk(item, f"{path}[{key!r}]", problems, open_containers)
    open_containers.discard(id(value))


def _type(value: Any) -> str:
    module = type(value).__module__
    prefix = "" if module in ("builtins", "__main__") else module + "."
    return f"a {prefix}{type(value).__qualname__}"


def _hint(value: Any) -> str:
    if isinstance(value, tuple):
        return "pass a list (a tuple would arrive as a list)"
    if isinstance(value, (int, float, str)):
        return "pass a plain int, float or str (e.g. float(x), or x.item() for a NumPy number)"
    if hasattr(value, "tolist"):
        return "pass plain numbers (x.tolist()), or create it inside the function"
    return "pass plain values (numbers, strings, lists, dicts) and build it inside the function"
