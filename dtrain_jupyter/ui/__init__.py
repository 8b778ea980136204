"""The Distributed Training panel (ipywidgets): `show_panel()` builds it once per kernel and shows it.

The labextension runs `from dtrain_jupyter.ui import show_panel; show_panel(compact=...,
labextension=True)` in the panel's own kernel, so the panel may use the labextension's own widget
views; the `%dtrain` magic calls the same function in a notebook, whose front end may have none
(Notebook 7 without the extension, VS Code), so there the panel is core ipywidgets only. Running it again
(a page reload re-runs the bootstrap) shows the same app, so state and the feed survive.
"""

from __future__ import annotations

from typing import Any

__all__ = ["show_panel", "get_panel", "warm_up"]

_APP: Any = None
_CLIENT: Any = None  # found by warm_up(), used by the first get_panel() that is given none


def get_panel(compact: bool = False, client: Any = None, labextension: bool = False) -> Any:
    """The kernel's one `DTrainApp`, built on first use (with `Client()` unless one is given).

    The first call's `compact` and `labextension` decide the layout and the widgets (see
    `DTrainApp`); a closed app is rebuilt.

    Raises:
        BackendUnavailable: when no `client` is given and no dtrain server can be found.
    """
    global _APP
    if _APP is None or _APP.closed:
        from ..client import Client  # the client pulls httpx; import it only when the panel is used
        from .app import DTrainApp
        from .iopub import keep_every_message

        if client is None:
            client = _CLIENT if _CLIENT is not None else Client()
        # Its pages send hundreds of widget models at once; none may be dropped (see iopub.py).
        keep_every_message()
        _APP = DTrainApp(client, compact=compact, labextension=labextension)
    return _APP


def warm_up() -> None:
    """Do the slow part of the first `show_panel()` ahead of it: import the panel, find the server.

    For a notebook that wants the `%dtrain` panel to open quickly later. No panel is built and
    nothing polls the server; when no server can be found this does nothing (show_panel says
    why, later). The labextension's warm kernel goes further: it runs `show_panel()` itself,
    off screen (labextension/src/shell.ts, warm()).
    """
    global _CLIENT
    from ..client import Client
    from ..errors import DTrainError
    from . import app  # noqa: F401 - importing is the work done here

    if _CLIENT is None:
        try:
            _CLIENT = Client()
        except DTrainError:
            pass


def show_panel(compact: bool = False, client: Any = None, labextension: bool = False) -> Any:
    """Build (once) and display the panel; returns the app so a notebook can hold on to it.

    `labextension=True` says the front end has dtrain-jupyter's labextension (the panel's own
    kernel, started by it, says so): the job rows then take fewer widget models.

    When no dtrain server can be found, a sentence saying so is displayed instead of a
    traceback, and None is returned; running it again once the server is up shows the panel.
    """
    from IPython.display import HTML, display

    from ..errors import DTrainError

    try:
        app = get_panel(compact=compact, client=client, labextension=labextension)
    except DTrainError as e:
        from html import escape

        display(HTML(f"<div class='dtrain-panel dtrain-error'>The Distributed Training panel cannot start: "
                     f"{escape(e.message)}</div>"))
        return None
    display(app)
    return app
