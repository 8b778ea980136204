"""The installed package: prebuilt labextension and auto-enabled server extension.

Checks what `pip install` (through the hatch-jupyter-builder hook and the shared-data table in
pyproject.toml) left in this environment, the way a user would: `jupyter labextension list` and
`jupyter server extension list` must show both parts OK, with no JupyterLab rebuild. The Jupyter
commands run with per-user folders moved to a tmp dir, so only the environment's own
share/ and etc/ count.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
NPM_NAME = "dtrain-jupyter"
PKG = "dtrain_jupyter"
INSTALLED_EXT = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / NPM_NAME
INSTALLED_SERVER_CONFIG = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / f"{PKG}.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# The prebuilt bundle holds only our shell: JupyterLab and ipywidgets packages come from the
# shared scope. Anything near this size would mean a dependency got bundled by mistake.
MAX_STATIC_BYTES = 512 * 1024


def jupyter(tmp_path: Path, *args: str) -> str:
    """Run `jupyter <args>` from this environment with isolated per-user folders; return its output."""
    env = dict(os.environ)
    for name in ("config", "data", "runtime"):
        (tmp_path / name).mkdir(exist_ok=True)
    env.update(JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    for name in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "jupyter", *args], env=env, capture_output=True,
                          text=True, timeout=120)
    output = ANSI.sub("", done.stdout + done.stderr)
    assert done.returncode == 0, output
    return output


def source_package_json() -> dict:
    return json.loads((REPO / "labextension" / "package.json").read_text())


def test_labextension_is_listed_enabled_and_ok(tmp_path: Path) -> None:
    output = jupyter(tmp_path, "labextension", "list")
    ours = [line.strip() for line in output.splitlines() if NPM_NAME in line]
    assert ours == [f"{NPM_NAME} v{source_package_json()['version']} enabled OK (python, {PKG})"], output
    # A prebuilt extension needs no JupyterLab rebuild.
    assert "rebuild" not in output.lower(), output


def test_server_extension_is_listed_enabled_and_ok(tmp_path: Path) -> None:
    output = jupyter(tmp_path, "server", "extension", "list")
    lines = [line.strip() for line in output.splitlines()]
    assert f"{PKG} enabled" in lines, output
    assert f"{PKG} {version(PKG)} OK" in lines, output


def test_server_config_enables_the_extension_on_install() -> None:
    shipped = json.loads((REPO / "jupyter-config" / "server-config" / f"{PKG}.json").read_text())
    assert shipped == {"ServerApp": {"jpserver_extensions": {PKG: True}}}
    assert json.loads(INSTALLED_SERVER_CONFIG.read_text()) == shipped


def test_installed_labextension_is_built_from_these_sources() -> None:
    source = source_package_json()
    built = json.loads((INSTALLED_EXT / "package.json").read_text())
    for key in ("name", "version", "dependencies", "jupyterlab"):
        if key == "jupyterlab":
            # The builder adds `_build` (the entry points) to the block; the rest is copied.
            assert {k: v for k, v in built[key].items() if k != "_build"} == source[key]
        else:
            assert built[key] == source[key], key
    assert (INSTALLED_EXT / built["jupyterlab"]["_build"]["load"]).is_file()
    assert json.loads((INSTALLED_EXT / "install.json").read_text())["packageName"] == PKG


def test_installed_settings_schema_is_the_sources_one() -> None:
    # JupyterLab finds the extension's settings (warmKernel) in schemas/<package>/plugin.json.
    installed = INSTALLED_EXT / "schemas" / NPM_NAME / "plugin.json"
    source = REPO / "labextension" / "schema" / "plugin.json"
    assert json.loads(installed.read_text()) == json.loads(source.read_text())
    assert json.loads(installed.read_text())["properties"]["warmKernel"]["default"] is True


def test_prebuilt_bundle_is_thin_and_shares_ipywidgets() -> None:
    static = INSTALLED_EXT / "static"
    size = sum(f.stat().st_size for f in static.rglob("*") if f.is_file())
    assert 0 < size < MAX_STATIC_BYTES, f"{size} bytes in {static}"
    shared = source_package_json()["jupyterlab"]["sharedPackages"]
    # One widget registry for the whole page: a bundled copy of the manager would see no
    # widget libraries, and panel views would stay at "Loading widget...".
    for name in ("@jupyter-widgets/base", "@jupyter-widgets/jupyterlab-manager"):
        assert shared[name] == {"bundled": False, "singleton": True}


@pytest.mark.parametrize("path", ["dtrain_jupyter/labextension", "install.json", "jupyter-config/server-config"])
def test_pyproject_shared_data_sources_exist(path: str) -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    shared = config["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    assert path in shared
    assert (REPO / path).exists()
