"""The kind table agrees with the CRDs the operators ship."""

from __future__ import annotations

import pytest
import yaml

from dtrain_jupyter.model import kinds


def crd_versions(conformance_dir):
    found = {}
    for path in sorted((conformance_dir / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            props = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
            found[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = (spec["names"]["plural"], props)
    return found


def test_every_crd_has_a_framework_with_matching_plural_and_replica_key(conformance_dir):
    crds = crd_versions(conformance_dir)
    assert len(crds) == 7
    for (api_version, kind), (plural, spec_props) in crds.items():
        framework = kinds.lookup(api_version, kind)
        assert framework is not None, (api_version, kind)
        assert framework.plural == plural
        assert framework.replica_key in spec_props


@pytest.mark.parametrize("name, expected", [("ps", "PS"), ("WORKER", "Worker"), ("chief", "Chief"), ("launcher", None)])
def test_replica_types_match_case_insensitively(name, expected):
    assert kinds.lookup("kubeflow.org/v1", "TFJob").canonical_replica_type(name) == expected


def test_defaults_follow_the_operators():
    mpi2 = kinds.lookup("kubeflow.org/v2beta1", "MPIJob")
    assert mpi2.default_restart_for("Launcher") == "OnFailure"
    assert mpi2.default_restart_for("Worker") == "Never"
    assert mpi2.default_replicas("Worker") == 0
    assert kinds.lookup("kubeflow.org/v1", "PyTorchJob").default_replicas("Worker") == 1
    assert [f.version for f in kinds.versions_of("MPIJob")] == ["v1", "v2beta1"]
    assert kinds.by_plural("tfjobs").kind == "TFJob"
    assert kinds.lookup("kubeflow.org/v1", "Pod") is None
