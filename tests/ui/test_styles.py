"""The CSS follows the JupyterLab theme: colours come from --jp-* variables, scoped to the panel."""

from __future__ import annotations

import re

from dtrain_jupyter.model.status import Phase
from dtrain_jupyter.ui.styles import CSS, PHASE_COLOURS, phase_class


def test_every_colour_is_a_theme_variable() -> None:
    for prop, value in re.findall(r"(?<![-\w])(color|background|border(?:-left|-bottom)?)\s*:\s*([^;]+);", CSS):
        assert "var(--jp-" in value, f"{prop}: {value} ignores the theme"


def test_every_rule_is_scoped_to_the_panel() -> None:
    selectors = [s.strip() for s in re.findall(r"([^{}]+)\{", CSS)]
    assert selectors and all(s.strip().startswith(".dtrain-panel") for sel in selectors for s in sel.split(","))


def test_each_phase_has_a_colour_class() -> None:
    assert set(PHASE_COLOURS) == {p.value for p in Phase}
    for phase, colour in PHASE_COLOURS.items():  # the colours of render.badge, one palette for every face
        assert f".dtrain-panel .dtrain-phase-{phase} {{ color: {colour}; font-weight: 600; }}" in CSS
    assert phase_class("Running") == "dtrain-phase-Running"
    assert phase_class("<script>") == "dtrain-phase-Unknown"
