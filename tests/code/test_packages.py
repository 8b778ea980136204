"""packages.py: requirements are checked on the client, by index, and the magic's comma list is split."""

from __future__ import annotations

from typing import Any

import pytest

from dtrain_jupyter import InvalidRequest
from dtrain_jupyter.code.packages import check_packages, split_requirements


@pytest.mark.parametrize(("given", "wanted"), [
    (None, []),
    ([], []),
    (["einops"], ["einops"]),
    (("numpy >= 1.26, < 2", "einops"), ["numpy<2,>=1.26", "einops"]),
    (["Torch[opt] ==2.13.0 ; python_version >= '3.10'"], ['Torch[opt]==2.13.0; python_version >= "3.10"']),
    (["demo@https://example.org/demo-1.0-py3-none-any.whl"], ["demo @ https://example.org/demo-1.0-py3-none-any.whl"]),
    (["a==1", "a == 1", "b"], ["a==1", "b"]),
], ids=["none", "empty", "one", "canonical", "extras-and-marker", "url", "duplicates"])
def test_requirements_come_back_canonical_and_once(given: Any, wanted: list[str]) -> None:
    assert check_packages(given) == wanted


@pytest.mark.parametrize(("given", "names"), [
    ("numpy", ["packages"]),
    (42, ["packages"]),
    (["einops", "numpy>="], ["packages[1]"]),
    (["--index-url https://evil.example/simple", "ok"], ["packages[0]"]),
    (["", "x y", 3], ["packages[0]", "packages[1]", "packages[2]"]),
], ids=["a-string", "a-number", "bad-specifier", "pip-option", "several"])
def test_a_bad_requirement_is_refused_with_its_index_and_text(given: Any, names: list[str]) -> None:
    with pytest.raises(InvalidRequest) as info:
        check_packages(given)
    assert info.value.fields["names"] == names
    for name in names:
        assert name in info.value.message
    if isinstance(given, list):
        assert all(repr(given[int(n[len("packages["):-1])]) in info.value.message for n in names)


@pytest.mark.parametrize(("text", "requirements"), [
    ("einops", ["einops"]),
    ("einops,numpy>=1.26,<2", ["einops", "numpy>=1.26,<2"]),
    ("numpy >=1.26, !=1.27.0, torch", ["numpy >=1.26, !=1.27.0", "torch"]),
    ("torch[opt,cuda],einops", ["torch[opt,cuda]", "einops"]),
    ("a; os_name == 'a,b',c", ["a; os_name == 'a,b'", "c"]),
    ("a,,b,", ["a", "b"]),
], ids=["one", "range", "spaces", "extras", "quoted-marker", "empty-pieces"])
def test_the_magics_comma_list_splits_between_requirements_only(text: str, requirements: list[str]) -> None:
    assert split_requirements(text) == requirements
