"""Fixtures for the fidelity tests: module-scoped doubles and a kubectl runner bound to one."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest

from tests.kube_double import KubeDouble

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


class Kubectl:
    """Runs the real kubectl against one double, with its own HOME (discovery cache) per module."""

    def __init__(self, kd: KubeDouble, home: Path) -> None:
        self.kd = kd
        self.env = {**os.environ, "KUBECONFIG": kd.kubeconfig_path, "HOME": str(home)}

    def __call__(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run([KUBECTL, *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([KUBECTL, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


@pytest.fixture(scope="module")
def double_v1(conformance_dir) -> Iterator[KubeDouble]:
    with KubeDouble(mpi_version="v1", crd_dir=conformance_dir / "crds", tick=0.05) as kd:
        yield kd


@pytest.fixture(scope="module")
def double_v2(conformance_dir) -> Iterator[KubeDouble]:
    with KubeDouble(mpi_version="v2beta1", crd_dir=conformance_dir / "crds", tick=0.05) as kd:
        yield kd


@pytest.fixture(scope="module")
def kubectl(double_v1, tmp_path_factory) -> Kubectl:
    if not Path(KUBECTL).exists():
        pytest.fail("kubectl not found (expected /usr/bin/kubectl)")
    return Kubectl(double_v1, tmp_path_factory.mktemp("kubectl-home"))


@pytest.fixture(scope="module")
def kubectl_v2(double_v2, tmp_path_factory) -> Kubectl:
    return Kubectl(double_v2, tmp_path_factory.mktemp("kubectl-home-v2"))
