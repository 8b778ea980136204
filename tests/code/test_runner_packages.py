"""runner.py's packages: pip installs a job's requirements once into a cache folder that goes first
on the replica's path; replicas starting together install it once; pip's failure is the report.

Every replica here is the manifest's own command in a fresh Python whose pip sees only a folder of
wheels written by the test (PIP_NO_INDEX, PIP_FIND_LINKS), so nothing reaches the network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from dtrain_jupyter.code import runner
from dtrain_jupyter.code.job import FunctionJob

from .conftest import notebook, offline_pip_env, write_wheel
from .test_runner import container, markers

NB = notebook(
    """
    def use_demo(tag):
        import dtrain_demo_pkg
        print("code started", flush=True)
        return {"tag": tag, "value": dtrain_demo_pkg.VALUE, "file": dtrain_demo_pkg.__file__}
    def no_packages():
        return 1
    """)

INSTALLING = "dtrain: installing "


@pytest.fixture()
def wheelhouse(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    write_wheel(folder, "dtrain-demo-pkg", "1.0", "VALUE = 42\n")
    return folder


def start(manifest: dict[str, Any], env: dict[str, str]) -> subprocess.Popen:
    """The manifest's command as a replica runs it (pip needs the site-packages it lives in)."""
    c = container(manifest)
    argv = [sys.executable, *c["command"][1:], *c["args"]]
    return subprocess.Popen(argv, env={"PATH": os.environ.get("PATH", ""), **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def replica(manifest: dict[str, Any], env: dict[str, str]) -> tuple[int, str, str]:
    process = start(manifest, env)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_packages_are_installed_once_and_come_first_on_the_path(tmp_path: Path, wheelhouse: Path) -> None:
    cache = tmp_path / "cache"
    env = {**offline_pip_env(wheelhouse, cache), "HOME": str(tmp_path / "home")}
    manifest = FunctionJob(NB["use_demo"], args={"tag": "a"}, packages=["dtrain-demo-pkg==1.0"]).to_manifest()
    code, out, err = replica(manifest, env)
    assert code == 0, err
    [report] = markers(out, runner.RESULT_MARKER)
    [folder] = [p for p in cache.iterdir() if p.is_dir()]
    assert report["value"]["value"] == 42 and report["value"]["file"].startswith(str(folder) + os.sep)
    # pip ran and said so in the log, before the code started.
    lines = out.splitlines()
    assert lines.index(f"{INSTALLING}dtrain-demo-pkg==1.0 into {folder}") < lines.index("code started")
    assert "Successfully installed dtrain-demo-pkg-1.0" in out
    record = json.loads((folder / runner.PACKAGES_RECORD).read_text())
    assert record["requirements"] == ["dtrain-demo-pkg==1.0"]
    before = (folder.stat().st_ino, (folder / runner.PACKAGES_RECORD).read_text())

    # Again, as another job would: nothing is installed, the same folder is used.
    again = FunctionJob(NB["use_demo"], args={"tag": "b"}, packages=["dtrain-demo-pkg==1.0"]).to_manifest()
    code, out, err = replica(again, env)
    assert code == 0, err
    assert f"dtrain: packages dtrain-demo-pkg==1.0 already installed in {folder}" in out.splitlines()
    assert INSTALLING not in out and "Successfully installed" not in out
    assert (folder.stat().st_ino, (folder / runner.PACKAGES_RECORD).read_text()) == before
    assert markers(out, runner.RESULT_MARKER)[0]["value"]["tag"] == "b"
    # Only the folder, its lock file and nothing half-made are left in the cache.
    assert sorted(p.name for p in cache.iterdir()) == [folder.name, folder.name + ".lock"]


def test_replicas_starting_together_install_once(tmp_path: Path, wheelhouse: Path) -> None:
    cache = tmp_path / "cache"
    manifest = FunctionJob(NB["use_demo"], args={"tag": "x"}, packages=["dtrain-demo-pkg"]).to_manifest()
    processes = [start(manifest, {**offline_pip_env(wheelhouse, cache), "RANK": str(rank), "WORLD_SIZE": "4"})
                 for rank in range(4)]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], [err for _, err in outputs]
    installed = [out for out, _ in outputs if "Successfully installed dtrain-demo-pkg-1.0" in out]
    assert len(installed) == 1
    assert sum(out.count(INSTALLING) for out, _ in outputs) == 1
    assert all("code started" in out for out, _ in outputs)
    assert not [p.name for p in cache.iterdir() if ".staging-" in p.name]


def test_an_uninstallable_package_is_reported_in_pips_words(tmp_path: Path, wheelhouse: Path) -> None:
    cache = tmp_path / "cache"
    manifest = FunctionJob(NB["use_demo"], args={"tag": "x"}, packages=["dtrain-demo-pkg", "dtrain-absent==9"],
                           name="fails").to_manifest()
    code, out, err = replica(manifest, {**offline_pip_env(wheelhouse, cache), "RANK": "1", "WORLD_SIZE": "2",
                                        "DTRAIN_REPLICA": "fails-worker-0"})
    assert code == 1 and "code started" not in out
    [report] = markers(out, runner.ERROR_MARKER)
    assert (report["rank"], report["pod"], report["stage"], report["type"]) == (
        1, "fails-worker-0", "packages", "PackageInstallError")
    assert report["message"].startswith("pip could not install 'dtrain-demo-pkg', 'dtrain-absent==9': ERROR: ")
    assert "No matching distribution found for dtrain-absent==9" in report["message"]
    assert "dtrain-absent==9" in report["traceback"]  # pip's last lines
    # Nothing half-installed stays behind; the failure is kept only for replicas that waited on it.
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith((".lock", ".failed"))) == []


def test_replicas_waiting_on_a_failed_install_report_it_without_running_pip_again(tmp_path: Path,
                                                                                   wheelhouse: Path) -> None:
    cache = tmp_path / "cache"
    manifest = FunctionJob(NB["use_demo"], args={"tag": "x"}, packages=["dtrain-absent==9"]).to_manifest()
    processes = [start(manifest, {**offline_pip_env(wheelhouse, cache), "RANK": str(rank), "WORLD_SIZE": "3"})
                 for rank in range(3)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [p.returncode for p in processes] == [1, 1, 1]
    assert sum(out.count(INSTALLING) for out in outputs) == 1
    reports = [markers(out, runner.ERROR_MARKER)[0] for out in outputs]
    assert {r["rank"] for r in reports} == {0, 1, 2}
    assert all("No matching distribution found for dtrain-absent==9" in r["message"] for r in reports)
    # A later run tries again (the package may have been published since).
    code, out, _ = replica(manifest, offline_pip_env(wheelhouse, cache))
    assert code == 1 and out.count(INSTALLING) == 1


def test_without_packages_the_runner_installs_nothing(tmp_path: Path) -> None:
    code, out, err = replica(FunctionJob(NB["no_packages"]).to_manifest(),
                             {"DTRAIN_PACKAGE_CACHE": str(tmp_path / "cache")})
    assert code == 0 and "dtrain:" not in out and markers(out, runner.RESULT_MARKER)[0]["value"] == 1
    assert not (tmp_path / "cache").exists()


def test_the_cache_key_is_the_set_of_requirements() -> None:
    assert runner.packages_key(["b", "a==1"]) == runner.packages_key(["a==1", "b", "b"])
    assert runner.packages_key(["a==1"]) != runner.packages_key(["a==2"])


def test_the_cache_folder_falls_back_when_home_cannot_be_written(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert runner.package_cache_root({"DTRAIN_PACKAGE_CACHE": str(tmp_path / "chosen")}) == str(tmp_path / "chosen")
    assert runner.package_cache_root({"HOME": str(tmp_path)}) == str(tmp_path / ".cache" / "dtrain-jupyter" / "packages")
    # A HOME that cannot hold folders (here: a file; in an image, often "/" for a non-root user).
    (tmp_path / "file").write_text("")
    fallback = runner.package_cache_root({"HOME": str(tmp_path / "file")})
    assert fallback == str(tmp_path / "tmp" / f"dtrain-jupyter-packages-{os.getuid()}") and Path(fallback).is_dir()
    with pytest.raises(runner.PackageInstallError) as info:
        runner.package_cache_root({"DTRAIN_PACKAGE_CACHE": str(tmp_path / "file" / "cache")})
    assert "set DTRAIN_PACKAGE_CACHE to a writable folder" in str(info.value)
