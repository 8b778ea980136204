"""Which kinds a cluster serves; a kind that is not served is explained, never a bare 404."""

from __future__ import annotations

import shutil

import pytest

from dtrain_jupyter.backends.kubernetes.api import Api
from dtrain_jupyter.backends.kubernetes.config import load_cluster_config
from dtrain_jupyter.backends.kubernetes.discovery import discover
from dtrain_jupyter.errors import NotFound
from tests.kube_double import KubeDouble

from .conftest import FAST


def served_by(kd):
    api = Api(load_cluster_config(kubeconfig=kd.kubeconfig_path), FAST)
    try:
        return discover(api)
    finally:
        api.close()


def test_mpijob_v1_cluster(kube_double):
    served = served_by(kube_double)
    assert served.describe()["MPIJob"] == ["kubeflow.org/v1"]
    assert {"PyTorchJob", "TFJob", "MPIJob"} <= set(served.kinds)
    assert served.for_manifest("kubeflow.org/v1", "PyTorchJob").plural == "pytorchjobs"


def test_mpijob_v2beta1_cluster_explains_a_v1_manifest(kube_double_v2):
    served = served_by(kube_double_v2)
    assert served.describe()["MPIJob"] == ["kubeflow.org/v2beta1"]
    assert served.for_kind("MPIJob")[0].operator_name == "mpi-operator"
    with pytest.raises(NotFound) as err:
        served.for_manifest("kubeflow.org/v1", "MPIJob")
    assert err.value.message.startswith("MPIJob kubeflow.org/v1 is not served by this cluster (no kubeflow.org/v1 mpijobs)")


def test_kind_not_installed(conformance_dir, tmp_path):
    crds = tmp_path / "crds"
    crds.mkdir()
    for f in (conformance_dir / "crds").glob("*.yaml"):
        if "pytorchjobs" not in f.name:
            shutil.copy(f, crds)
    with KubeDouble(crd_dir=crds, simulate=False) as kd:
        served = served_by(kd)
    assert "PyTorchJob" not in served.kinds
    with pytest.raises(NotFound) as err:
        served.for_kind("PyTorchJob")
    assert err.value.message == "PyTorchJob is not installed on this cluster (no kubeflow.org/v1 pytorchjobs)"
    with pytest.raises(NotFound) as err:
        served.for_manifest("kubeflow.org/v1", "PyTorchJob")
    assert err.value.message == "PyTorchJob is not installed on this cluster (no kubeflow.org/v1 pytorchjobs)"


def test_unknown_kind_lists_the_known_ones(kube_double):
    with pytest.raises(NotFound) as err:
        served_by(kube_double).for_kind("SparkJob")
    assert "SparkJob" in err.value.message and "PyTorchJob" in err.value.message
