"""`c.DTrain.*` configuration reaches the service: namespaces, limits, backends; start-up stays lazy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from traitlets import TraitError

from dtrain_jupyter.server.app import DTrain, DTrainExtension

from .conftest import pytorch_manifest, unique


@pytest.fixture
def dtrain_config(tmp_path: Path) -> dict[str, Any]:
    return {"backend": "local", "state_dir": str(tmp_path / "state"), "namespace": "team-a",
            "allowed_namespaces": ["team-a", "team-b"], "max_request_bytes": 4096,
            "output_read_limit": 4, "grace_seconds": 1.0}


def test_config_section_is_DTrain_and_DTrainExtension_reads_it() -> None:
    from traitlets.config import Config

    app = DTrainExtension(config=Config({"DTrain": {"backend": "local,kubernetes", "kube_context": "kind-x"}}))
    assert app.backend_names == ["local", "kubernetes"] and app.kube_context == "kind-x"
    assert "DTrain" in DTrainExtension.section_names()
    # The class's own section works too (the later section wins, as traitlets merges them).
    app = DTrainExtension(config=Config({"DTrainExtension": {"namespace": "team-x"}}))
    assert app.namespace == "team-x"


def test_the_extension_point_names_the_extension_app() -> None:
    import dtrain_jupyter

    assert dtrain_jupyter._jupyter_server_extension_points() == [
        {"module": "dtrain_jupyter.server.app", "app": DTrainExtension}]
    assert DTrainExtension.name == "dtrain"  # the settings key and the log name stay as they were


@pytest.mark.parametrize("value", ["", "docker", "local,slurm"])
def test_unknown_backends_are_refused(value: str) -> None:
    with pytest.raises(TraitError):
        DTrain(backend=value)


def test_limits_must_be_positive() -> None:
    with pytest.raises(TraitError):
        DTrain(max_request_bytes=0)


async def test_configured_namespace_limits_and_allowed_namespaces(api, jp_serverapp: Any) -> None:
    app = jp_serverapp.web_app.settings["dtrain"]
    assert app.state_dir.endswith("state") and app.namespace == "team-a"

    # The default namespace comes from c.DTrain.namespace.
    code, job, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(unique())})
    assert code == 201 and job["namespace"] == "team-a"
    # Outside allowed_namespaces: 403 Forbidden, for reads and writes alike.
    code, err, _ = await api("local", "namespaces", "kube-system", "pytorchjobs")
    assert (code, err["error"], err["namespace"]) == (403, "Forbidden", "kube-system")
    code, err, _ = await api("jobs", method="POST", body={"manifest": pytorch_manifest(unique(), namespace="prod")})
    assert (code, err["error"]) == (403, "Forbidden")
    # max_request_bytes is this server's body limit.
    code, err, _ = await api("validate", method="POST", body={"yaml": "x" * 5000})
    assert (code, err["limit"]) == (413, 4096)
    # output_read_limit caps what one read may ask for.
    path = ("local", "namespaces", "team-a", "pytorchjobs", job["name"], "outputs", "rank-0.txt")
    code, err, _ = await api(*path, params={"limit": "100"})
    assert code == 400 and err["error"] == "InvalidRequest"
    await api(*path[:-2], method="DELETE")


def test_server_start_up_imports_no_heavy_module() -> None:
    # Loading the extension (as jupyter_server does) must not pull in the kubernetes client,
    # ipywidgets, the backends themselves, or the TensorBoard proxy (jupyter-server-proxy and its
    # aiohttp: 120 ms of start-up): they come on first use.
    code = (
        "import sys, dtrain_jupyter\n"
        "points = dtrain_jupyter._jupyter_server_extension_points()\n"
        "app = points[0]['app'](); app.backend = 'local,kubernetes'\n"
        "from dtrain_jupyter.service import JobService\n"
        "JobService(app.backend_factories())\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'ipywidgets', 'httpx',\n"
        "                                                    'jupyter_server_proxy', 'aiohttp')\n"
        "       or m.startswith('dtrain_jupyter.backends.local') or m.startswith('dtrain_jupyter.backends.kubernetes')]\n"
        "print(bad); assert not bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
