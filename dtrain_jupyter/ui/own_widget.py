"""The base of the panel's widgets whose views come with the labextension (labextension/src/own_widgets.ts).

Such a model names the labextension's widget module and asks for a version range this package
is compatible with; a front end without the labextension has no view for it, so each user of
`OwnWidget` says what happens there (code_editor.py falls back to a text box; row_line.py is
only built where the labextension opened the panel).
"""

from __future__ import annotations

import ipywidgets as widgets
from traitlets import HasTraits, Unicode

from .. import __version__

#: The labextension's npm name, which registers the views (`_model_module`, `_view_module`).
MODULE_NAME = "dtrain-jupyter"
#: Any labextension release compatible with this package's version draws the views.
MODULE_VERSION = f"^{__version__}"


class OwnModule(HasTraits):
    """The module traits of a model the labextension registers: put before the widget class it
    mixes into (job_row.DrawnJobRow is an HBox whose model is the labextension's)."""

    _model_module = Unicode(MODULE_NAME).tag(sync=True)
    _view_module = Unicode(MODULE_NAME).tag(sync=True)
    _model_module_version = Unicode(MODULE_VERSION).tag(sync=True)
    _view_module_version = Unicode(MODULE_VERSION).tag(sync=True)


class OwnWidget(OwnModule, widgets.DOMWidget):
    """A DOMWidget whose model and view the labextension registers; subclasses name them."""
