"""Field paths: dotted text and tuples convert both ways without loss."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtrain_jupyter.model.paths import format_path, parse_path


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("metadata", "name"), "metadata.name"),
        (("spec", "pytorchReplicaSpecs", "Master", "template", "spec", "containers", 0, "image"),
         "spec.pytorchReplicaSpecs.Master.template.spec.containers[0].image"),
        (("resources", "limits", "nvidia.com/gpu"), 'resources.limits["nvidia.com/gpu"]'),
        (("a", "7"), 'a["7"]'),
        (("a", ""), 'a[""]'),
        ((0, "x"), "[0].x"),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_format_and_parse(path, text):
    assert format_path(path) == text
    assert parse_path(text) == path


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.integers(min_value=0, max_value=10**6), st.text(max_size=12)), max_size=8))
def test_parse_undoes_format(parts):
    assert parse_path(format_path(tuple(parts))) == tuple(parts)


def test_parse_tolerates_foreign_syntax():
    assert parse_path("a..b[") == ("a", "b[")
