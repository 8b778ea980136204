"""The panel's kernel: an IPython kernel built without a debugger.

The server starts the labextension's panel kernel with
`--IPKernelApp.kernel_class=dtrain_jupyter.ui.panel_kernel.PanelKernel`
(server/panel_session.py). When ipykernel builds its kernel, it imports debugpy: the kernel's
`debugger_class` trait names `ipykernel.debugger.Debugger`, and traitlets imports that module as
it sets up the new instance, before `__init__` runs. Without it the kernel is ready ~36 ms
sooner (587 -> 551 ms, 10 starts each), and the click that opens the panel waits for that start.
This kernel runs the panel, never code that a person steps through in JupyterLab's debugger. A
None in sys.modules makes the import fail, and ipykernel then builds the kernel without a
debugger, as it does where debugpy is not installed (its kernel_info says `"debugger": false`,
so JupyterLab offers none).
"""

from __future__ import annotations

import sys
from typing import Any

from ipykernel.ipkernel import IPythonKernel

#: The debugger ipykernel would import.
DEBUGGER_MODULE = "debugpy"


class PanelKernel(IPythonKernel):
    """IPythonKernel without debugpy (see the module)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> PanelKernel:
        # In __new__: traitlets resolves `debugger_class` (importing ipykernel.debugger) in its
        # own __new__, before any __init__.
        if DEBUGGER_MODULE not in sys.modules:  # imported already: nothing to save, keep it working
            sys.modules[DEBUGGER_MODULE] = None  # type: ignore[assignment]
        return super().__new__(cls, *args, **kwargs)
