"""dtrain-jupyter: distributed training jobs from inside Jupyter, locally or on Kubernetes.

The public API is `__all__`; names are resolved on first use (module `__getattr__`), so
`import dtrain_jupyter` inside the Jupyter server costs nothing and never pulls in ipywidgets,
httpx or the kubernetes client.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Client": "dtrain_jupyter.client",
    "JobSpec": "dtrain_jupyter.model.spec",
    "PyTorchJob": "dtrain_jupyter.model.builders",
    "TFJob": "dtrain_jupyter.model.builders",
    "MPIJob": "dtrain_jupyter.model.builders",
    "FunctionJob": "dtrain_jupyter.code.job",
    "FolderJob": "dtrain_jupyter.code.job",
    "Job": "dtrain_jupyter.model.job",
    "Phase": "dtrain_jupyter.model.status",
    "ValidationIssue": "dtrain_jupyter.errors",
    "DTrainError": "dtrain_jupyter.errors",
    "InvalidJob": "dtrain_jupyter.errors",
    "InvalidRequest": "dtrain_jupyter.errors",
    "RequestTooLarge": "dtrain_jupyter.errors",
    "JobNotFound": "dtrain_jupyter.errors",
    "NotFound": "dtrain_jupyter.errors",
    "JobExists": "dtrain_jupyter.errors",
    "Forbidden": "dtrain_jupyter.errors",
    "ClusterError": "dtrain_jupyter.errors",
    "BackendUnavailable": "dtrain_jupyter.errors",
    "RemoteError": "dtrain_jupyter.errors",
    "report": "dtrain_jupyter.reporting",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dtrain_jupyter' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell jupyter_server where the extension app lives (enabled by jupyter-config/)."""
    from .server.app import DTrainExtension

    return [{"module": "dtrain_jupyter.server.app", "app": DTrainExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """Where the built labextension lies (used by `jupyter labextension develop`)."""
    return [{"src": "labextension", "dest": "dtrain-jupyter"}]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext dtrain_jupyter`: register the %dtrain / %%dtrain magic."""
    from .magic import load_ipython_extension as load

    load(ipython)
