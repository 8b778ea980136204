"""TensorBoard for dtrain jobs: scalars read from their event files, and one TensorBoard server per Jupyter server."""

from .launcher import TensorBoardLauncher
from .scalars import EventScalars, event_files, has_event_files

__all__ = ["EventScalars", "TensorBoardLauncher", "event_files", "has_event_files"]
