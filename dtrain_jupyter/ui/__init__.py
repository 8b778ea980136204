"""The Distributed Training panel (ipywidgets): `show_panel()` builds it once per kernel and shows it.

The labextension runs `from dtrain_jupyter.ui import show_panel; show_panel(compact=...,
labextension=True)` in the panel's own kernel, so the panel may use the labextension's own widget
views; the `%dtrain` magic calls the same function in a notebook, whose front end may have none
(Notebook 7 without the extension, VS Code), so there the panel is core ipywidgets only. Running it again
(a page reload re-runs the bootstrap) shows the same app, so state and the feed survive.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

__all__ = ["show_panel", "get_panel", "warm_up", "warm_up_in_background"]

log = logging.getLogger("dtrain_jupyter.ui")

#: How long get_panel() waits for a warm-up still running before it goes on by itself.
WARM_UP_WAIT_S = 30.0

_APP: Any = None
_CLIENT: Any = None  # found by warm_up(), used by the first get_panel() that is given none
_FEED: Any = None  # a ChangeFeed of _CLIENT already reading the job list (warm_up(read_jobs=True))
_WARMING: threading.Thread | None = None  # warm_up_in_background()'s thread, joined by get_panel()


def get_panel(compact: bool = False, client: Any = None, labextension: bool = False) -> Any:
    """The kernel's one `DTrainApp`, built on first use (with `Client()` unless one is given).

    The first call's `compact` and `labextension` decide the layout and the widgets (see
    `DTrainApp`); a closed app is rebuilt. A warm-up still running is waited for: it is doing
    the same work, further along.

    Raises:
        BackendUnavailable: when no `client` is given and no dtrain server can be found.
    """
    global _APP
    if _APP is None or _APP.closed:
        if _WARMING is not None:
            # Bounded: a warm-up stuck on something the bootstrap would redo must not hold it.
            _WARMING.join(WARM_UP_WAIT_S)
        from ..client import Client  # the client pulls httpx; import it only when the panel is used

        if client is None:
            client = _CLIENT if _CLIENT is not None else Client()
        # The first job list is read while the widgets are imported and built: on the click that
        # starts the panel's kernel, those imports are ~100 ms the server's answer need not wait.
        feed = _reading_feed(client)
        try:
            from .app import DTrainApp
            from .iopub import keep_every_message

            # Its pages send hundreds of widget models at once; none may be dropped (see iopub.py).
            keep_every_message()
            _APP = DTrainApp(client, compact=compact, labextension=labextension, feed=feed)
        except BaseException:
            feed.stop()
            raise
    return _APP


def _reading_feed(client: Any) -> Any:
    """A ChangeFeed of `client` whose thread reads: the one warm_up started, else a new one."""
    global _FEED
    from .feed import ChangeFeed

    feed, _FEED = _FEED, None
    if feed is not None and feed.client is client and feed.running:
        return feed
    if feed is not None:
        feed.stop()  # read for another client (show_panel was given one), or stopped
    feed = ChangeFeed(client, None)
    feed.start_reading()
    return feed


def warm_up(read_jobs: bool = False) -> None:
    """Do the slow part of the first `show_panel()` ahead of it: import the panel, find the server.

    For a notebook that wants the `%dtrain` panel to open quickly later. No panel is built; with
    `read_jobs` the first job list is also read now, on the thread the panel will then take over
    (the panel's own kernel does that, see preload.py), else nothing polls the server. When no
    server can be found this does nothing (show_panel says why, later). The labextension's warm
    kernel goes further: it runs `show_panel()` itself, off screen (labextension/src/shell.ts,
    warm()).
    """
    global _CLIENT, _FEED
    from ..client import Client
    from ..errors import DTrainError

    if _CLIENT is None:
        try:
            _CLIENT = Client()
        except DTrainError:
            pass
    if read_jobs and _CLIENT is not None and _FEED is None and (_APP is None or _APP.closed):
        _FEED = _reading_feed(_CLIENT)
    from . import app  # noqa: F401 - importing is the work done here


def warm_up_in_background(read_jobs: bool = True) -> threading.Thread:
    """Run `warm_up(read_jobs)` on a thread; the next `get_panel()` waits for it to end.

    A failure is logged, not raised: the panel's own start does the same work again and reports.
    """
    global _WARMING

    def warm() -> None:
        try:
            warm_up(read_jobs=read_jobs)
        except Exception:  # noqa: BLE001 - get_panel() repeats the work and shows the failure
            log.debug("the panel's warm-up failed", exc_info=True)

    _WARMING = threading.Thread(target=warm, name="dtrain-warm-up", daemon=True)
    _WARMING.start()
    return _WARMING


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
