"""scripts/cluster.sh: `path` answers only for binaries that are there and built from the current sources.

Each test points the script at a cache folder of its own (DTRAIN_CLUSTER_CACHE), holding stand-ins
for the binaries and the stamp `build` writes, so nothing is built and the real cache is untouched.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cluster.control_plane import GO_SOURCES, kubernetes_version

REPO = Path(__file__).resolve().parent.parent.parent
SCRIPT = REPO / "scripts" / "cluster.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "training-operator", "mpi-operator")


def cluster_sh(cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DTRAIN_CLUSTER_CACHE": str(cache)}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def sources_stamp() -> str:
    """The stamp `build` writes: one hash over the Go sources (the script's definition of "current")."""
    done = subprocess.run("find . -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1",
                          shell=True, cwd=GO_SOURCES, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def built(cache: Path, *, stamp: str | None = None, leave_out: str = "") -> Path:
    """A cache that looks as `build` leaves it (stand-in binaries), with `stamp` and without `leave_out`."""
    out = cache / f"k8s-{kubernetes_version()}" / "bin"
    out.mkdir(parents=True)
    for name in BINARIES:
        if name != leave_out:
            (out / name).write_text("#!/bin/sh\n")
            (out / name).chmod(0o755)
    (out / ".sources-sha256").write_text((sources_stamp() if stamp is None else stamp) + "\n")
    return out


def test_path_prints_the_folder_of_built_binaries(tmp_path: Path) -> None:
    out = built(tmp_path)
    done = cluster_sh(tmp_path, "path")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{out}\n", "")


def test_path_fails_with_a_reason_when_nothing_is_built(tmp_path: Path) -> None:
    done = cluster_sh(tmp_path, "path")
    assert done.returncode == 1 and done.stdout == ""
    assert "not built" in done.stderr and "scripts/cluster.sh build" in done.stderr


def test_path_fails_for_a_missing_binary_or_binaries_of_other_sources(tmp_path: Path) -> None:
    built(tmp_path / "partial", leave_out="mpi-operator")
    built(tmp_path / "stale", stamp="0" * 64)
    for cache in (tmp_path / "partial", tmp_path / "stale"):
        done = cluster_sh(cache, "path")
        assert done.returncode == 1 and done.stdout == "" and "scripts/cluster.sh build" in done.stderr, cache


def test_without_a_command_the_usage_is_the_header_comment(tmp_path: Path) -> None:
    done = cluster_sh(tmp_path)
    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert lines[0].startswith("The real Kubernetes control plane") and any("cluster.sh path" in ln for ln in lines)
    assert not any(ln.startswith(("set ", "#")) for ln in lines)
