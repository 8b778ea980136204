"""An IPython extension for the panel's own kernel: read ahead while the kernel waits for its page.

The server starts the labextension's panel kernel with `--ext=dtrain_jupyter.ui.preload`
(server/panel_session.py). Between the kernel's start and the panel's bootstrap, the kernel is
idle for ~0.1 s while jupyter_server and the browser connect to it. This extension starts
`warm_up_in_background()` there: the panel's imports, the client, and the first read of the job
list, so the bootstrap finds most of its work done (it waits for what is left).

The thread starts once the kernel's event loop runs, not while the extension loads: the kernel
is not ready until its start is over, and nothing should slow that down.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

#: The module httpx imports its command-line tool from, whenever rich, click and pygments are
#: installed (~35 ms of imports). A None in sys.modules makes that import fail, and httpx then
#: defines a stub `main` instead, as it does where those are not installed. This kernel only
#: runs the panel, never httpx's command line.
HTTPX_CLI = "httpx._main"


def load_ipython_extension(ipython: Any) -> None:
    from . import warm_up_in_background

    if "httpx" not in sys.modules:
        sys.modules.setdefault(HTTPX_CLI, None)  # type: ignore[arg-type]
    try:
        # The loop the kernel is about to run (ipykernel's IOLoop wraps this thread's asyncio loop).
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        warm_up_in_background()  # no loop to wait for (an unusual kernel): start now
        return
    loop.call_soon(warm_up_in_background)
