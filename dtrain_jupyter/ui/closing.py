"""Closing a composite widget with every model it is made of.

ipywidgets' `Widget.close` closes one model: a box's children, each widget's Layout and Style,
a bqplot figure's marks, axes and scales stay open in the kernel (in `Widget.widgets`) and in
the browser's widget manager. A chart is about thirty models, so a view that replaced its
charts without this would leak them each time it showed another job (issue 15).
"""

from __future__ import annotations

from typing import Any, Iterator

import ipywidgets as widgets


def _held(value: Any) -> Iterator[widgets.Widget]:
    """The widgets one trait value holds: itself, or those in a list, tuple or dict (bqplot's `scales`)."""
    if isinstance(value, widgets.Widget):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _held(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _held(item)


def close_tree(root: widgets.Widget) -> None:
    """Close `root` and every widget its synced traits reach, depth first.

    Only for widgets whose parts are all their own: a Layout or Style shared with widgets that
    stay open must not be reachable from `root`. A part whose class has a `close` of its own
    (a view that stops a reader thread first) is closed by that method, which answers for its
    parts; the others are closed here, model by model.
    """
    seen: set[int] = set()
    stack: list[tuple[widgets.Widget, bool]] = [(root, True)]
    while stack:
        widget, is_root = stack.pop()
        if id(widget) in seen:
            continue
        seen.add(id(widget))
        if not is_root and type(widget).close is not widgets.Widget.close:
            widget.close()
            continue
        for name in widget.keys:
            for part in _held(getattr(widget, name, None)):
                stack.append((part, False))
        widgets.Widget.close(widget)
