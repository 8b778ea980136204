"""The public API is exactly `__all__`, resolves lazily, and `import dtrain_jupyter` stays light."""

from __future__ import annotations

import subprocess
import sys

import dtrain_jupyter

PUBLIC = {
    "Client", "JobSpec", "PyTorchJob", "TFJob", "MPIJob", "FunctionJob", "FolderJob", "Job", "Phase", "ValidationIssue",
    "DTrainError", "InvalidJob", "InvalidRequest", "RequestTooLarge", "JobNotFound", "NotFound",
    "JobExists", "Forbidden", "ClusterError", "BackendUnavailable", "RemoteError", "report", "__version__",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(dtrain_jupyter.__all__) == PUBLIC


def test_every_public_name_resolves() -> None:
    for name in dtrain_jupyter.__all__:
        assert getattr(dtrain_jupyter, name) is not None, name


def test_errors_are_the_errors_module_types() -> None:
    from dtrain_jupyter import errors

    for name in ("DTrainError", "InvalidJob", "JobNotFound", "Forbidden", "BackendUnavailable", "RemoteError"):
        assert getattr(dtrain_jupyter, name) is getattr(errors, name)


def test_unknown_names_raise_attribute_error() -> None:
    try:
        dtrain_jupyter.NoSuchThing  # noqa: B018
    except AttributeError as e:
        assert "NoSuchThing" in str(e)
    else:
        raise AssertionError("NoSuchThing resolved")


def test_import_is_lazy() -> None:
    code = ("import sys, dtrain_jupyter\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'kubernetes', 'httpx', 'IPython')]\n"
            "print(heavy); assert not heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_server_finds_the_extension_app() -> None:
    [point] = dtrain_jupyter._jupyter_server_extension_points()
    assert point["module"] == "dtrain_jupyter.server.app" and point["app"].name == "dtrain"


def test_the_labextension_path_names_the_npm_package() -> None:
    import json
    from pathlib import Path

    [entry] = dtrain_jupyter._jupyter_labextension_paths()
    package = Path(dtrain_jupyter.__file__).resolve().parent.parent / "labextension" / "package.json"
    assert entry == {"src": "labextension", "dest": json.loads(package.read_text())["name"]}
