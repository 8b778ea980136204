"""Kubernetes quantities: the grammar, units, and the reasons given for bad ones."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dtrain_jupyter.model.quantity import is_gpu_resource, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("2", Decimal(2)),
        ("4Gi", Decimal(4 * 2**30)),
        ("1e3", Decimal(1000)),
        ("1E-3", Decimal("0.001")),
        ("1.5", Decimal("1.5")),
        (".5", Decimal("0.5")),
        ("5.", Decimal(5)),
        ("+3k", Decimal(3000)),
        ("-1", Decimal(-1)),
        ("100n", Decimal("1e-7")),
        ("7u", Decimal("7e-6")),
        ("1Ki", Decimal(1024)),
        ("2Ei", Decimal(2 * 2**60)),
        ("3M", Decimal(3_000_000)),
        (" 2 ", Decimal(2)),
        (1, Decimal(1)),
        (0.25, Decimal("0.25")),
    ],
    ids=lambda v: repr(v),
)
def test_valid_quantities(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2x", "unknown unit 'x'"),
        ("abc", "must start with a number"),
        ("", "empty quantity"),
        ("1ki", "unknown unit 'ki'"),
        ("1e", "unknown unit 'e'"),
        ("1.5e1.5", "unknown unit"),
        ("--1", "must start with a number"),
        ("1 Gi", "unknown unit ' Gi'"),
        (True, "is not a quantity"),
        (None, "is not a quantity"),
        ([1], "is not a quantity"),
        (float("nan"), "finite"),
        ("9" * 70, "too long"),
        ("1e200", "exponent"),
        ("99999999999Ei", "too large"),
    ],
    ids=lambda v: repr(v)[:20],
)
def test_invalid_quantities_say_why(text, reason):
    with pytest.raises(ValueError) as info:
        parse_quantity(text)
    assert reason in str(info.value)


@pytest.mark.parametrize(
    ("name", "gpu"),
    [("nvidia.com/gpu", True), ("amd.com/gpu", True), ("gpu.intel.com/i915", True), ("cpu", False),
     ("memory", False), ("ephemeral-storage", False), (3, False)],
)
def test_gpu_resource_names(name, gpu):
    assert is_gpu_resource(name) is gpu
