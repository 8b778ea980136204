"""docs/config.md's table of `c.DTrain.*` settings names every configurable trait of `server/app.py`
(and nothing else), with the trait's own default."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dtrain_jupyter.server.app import DTrain

DOC = Path(__file__).resolve().parent.parent.parent / "docs" / "config.md"
HISTORY_DOC = DOC.with_name("history.md")


def documented() -> dict[str, str]:
    """Setting -> its Default cell, from the table under "## Server extension"."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Server extension", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1]
    return rows


def traits() -> dict:
    return DTrain.class_traits(config=True)


def test_every_setting_has_a_row_and_nothing_else_does() -> None:
    assert sorted(documented()) == sorted(traits())


@pytest.mark.parametrize("name", sorted(traits()))
def test_each_row_states_the_default(name: str) -> None:
    cell = documented()[name]
    literal = re.match(r"`([^`]*)`", cell)
    assert literal, f"{name}: the Default cell {cell!r} has no `value`"
    try:
        value = ast.literal_eval(literal.group(1))
    except (ValueError, SyntaxError):
        # A path computed at start-up (`<jupyter data dir>/...`): the trait's static default is empty
        # and an @default method fills it.
        assert traits()[name].default() == "" and hasattr(DTrain, f"_default_{name}"), name
        return
    assert value == traits()[name].default(), name


def test_the_history_page_states_the_same_retention_defaults() -> None:
    text = HISTORY_DOC.read_text(encoding="utf-8")
    for name in ("history_max_records", "history_max_age_days", "history_max_log_bytes", "history_max_follows"):
        row = re.search(rf"\| `c\.DTrain\.{name}` \| `([^`]*)`", text)
        assert row and ast.literal_eval(row.group(1)) == traits()[name].default(), name
