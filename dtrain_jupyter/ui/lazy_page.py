"""A tab page built the first time someone opens it.

The panel's first render is what a person waits for after clicking "Distributed Training". The
New, Log and Output pages hold about four of every five of the panel's widget models (the wizard
alone has some three hundred), and each model is a message the kernel sends and the browser
builds before anything shows. A `LazyPage` puts an empty box in the tab instead and fills it
on first use, so opening the panel only pays for the job list.
"""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

import ipywidgets as widgets

Part = TypeVar("Part", bound=widgets.Widget)


class LazyPage(Generic[Part]):
    """An empty box for a tab, and the part that goes in it once `get()` is first called.

    Args:
        build: makes the part (called at most once).
        css: class name put on the box, so tests and custom CSS find the page before it is built.
        layout: the box's Layout (a shared one saves a widget model); 100% wide when not given.
    """

    def __init__(self, build: Callable[[], Part], css: str = "", layout: widgets.Layout | None = None) -> None:
        self._build = build
        self._part: Part | None = None
        self.box = widgets.VBox(layout=layout or widgets.Layout(width="100%"), _dom_classes=(css,) if css else ())

    @property
    def built(self) -> bool:
        return self._part is not None

    @property
    def part(self) -> Part | None:
        """The part when it was built, else None (nothing is built by asking)."""
        return self._part

    def get(self) -> Part:
        """The part, building it (and putting it in the box) on the first call."""
        if self._part is None:
            self._part = self._build()
            self.box.children = (self._part,)
        return self._part

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"LazyPage(built={self.built})"
