"""The packages a notebook function or cell needs on its replicas: PEP 508 requirements, checked here.

The runner installs them on every replica before the code starts (`runner.py`: pip --target into
a cache folder, never into the replica's own environment). This side only checks them, so a typo
is refused with its index before anything is created, and writes each in its canonical form
(`numpy >= 1.26` becomes `numpy>=1.26`), so the same requirements spelled differently share one
cache folder. A requirement cannot smuggle in a pip option: `--index-url ...` is not PEP 508.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from ..errors import InvalidRequest

__all__ = ["check_packages", "split_requirements"]

# A comma followed by one of these continues a version range (`numpy>=1.26,<2`), not a new requirement.
_SPECIFIER_STARTS = ("<", ">", "=", "!", "~")


def check_packages(packages: Any) -> list[str]:
    """The requirements in canonical form, in their order, each once.

    Args:
        packages: requirement strings (`["numpy>=1.26", "einops"]`); None: none.
    Raises:
        InvalidRequest: `packages` is not a list of strings, or an item is not a PEP 508
            requirement; `fields["names"]` lists each offender as `packages[i]`.
    """
    if packages is None:
        return []
    if isinstance(packages, (str, bytes)) or not isinstance(packages, Iterable):
        raise InvalidRequest(f"packages must be a list of requirement strings, e.g. ['numpy>=1.26', 'einops'], "
                             f"not {type(packages).__name__} {packages!r}"[:300], names=["packages"])
    problems: dict[str, str] = {}
    wanted: list[str] = []
    for i, text in enumerate(packages):
        path = f"packages[{i}]"
        if not isinstance(text, str):
            problems[path] = f"is not a requirement string but {type(text).__name__} {text!r}"[:200]
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as e:
            reason = str(e).splitlines()[0] if str(e).strip() else "not a requirement"
            problems[path] = f"{text!r} is not a PEP 508 requirement ({reason})"
            continue
        canonical = str(requirement)
        if canonical not in wanted:
            wanted.append(canonical)
    if problems:
        listed = "; ".join(f"{path} {reason}" for path, reason in problems.items())
        raise InvalidRequest(f"packages cannot be installed: {listed}", names=list(problems))
    return wanted


def split_requirements(text: str) -> list[str]:
    """`%%dtrain run --packages` text as requirements: `einops,numpy>=1.26,<2,torch[opt]` gives
    ['einops', 'numpy>=1.26,<2', 'torch[opt]'].

    A comma separates requirements except inside one: in a version range (the next text starts
    with a comparison), in brackets (extras) and in a quoted marker value. Empty pieces are dropped.
    """
    pieces: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0 and not text[i + 1:].lstrip().startswith(_SPECIFIER_STARTS):
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return [piece.strip() for piece in pieces if piece.strip()]
