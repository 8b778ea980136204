"""valid_manifest: one validation, whichever way a manifest reaches a backend."""

from __future__ import annotations

import copy
import json

import pytest

from dtrain_jupyter.errors import InvalidJob
from dtrain_jupyter.model import valid_manifest as module
from dtrain_jupyter.model.kinds import lookup
from dtrain_jupyter.model.valid_manifest import ValidManifest, valid_manifest


def manifest() -> dict:
    container = {"name": "pytorch", "image": "x:1", "command": ["python", "t.py"]}
    spec = {"replicas": 1, "template": {"spec": {"containers": [container]}}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": "pt"},
            "spec": {"pytorchReplicaSpecs": {"Master": spec}}}


def test_a_plain_manifest_is_validated_and_carries_its_framework():
    valid = valid_manifest(manifest())
    assert isinstance(valid, ValidManifest) and valid == manifest()
    assert valid.framework is lookup("kubeflow.org/v1", "PyTorchJob")


def test_an_invalid_one_raises_every_issue_with_its_path():
    bad = manifest()
    bad["metadata"]["name"] = "Bad_Name"
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = 2
    with pytest.raises(InvalidJob) as err:
        valid_manifest(bad)
    assert [i.path for i in err.value.issues] == ["metadata.name", "spec.pytorchReplicaSpecs.Master.replicas"]
    with pytest.raises(InvalidJob):
        valid_manifest("kind: PyTorchJob")  # text is not a manifest here: the service parses text


def test_a_valid_manifest_is_not_checked_again(monkeypatch: pytest.MonkeyPatch):
    valid = valid_manifest(manifest())

    def no_second_check(_: object) -> list:
        raise AssertionError("validated twice")

    monkeypatch.setattr(module, "validate_manifest", no_second_check)
    assert valid_manifest(valid) is valid


def test_it_stays_a_plain_mapping_for_copies_and_json():
    valid = valid_manifest(manifest())
    again = copy.deepcopy(valid)
    assert isinstance(again, ValidManifest) and again.framework is valid.framework
    assert json.loads(json.dumps(again)) == manifest()


def _container(bad: dict) -> dict:
    """A manifest whose one container has `bad` merged in."""
    changed = manifest()
    changed["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0].update(bad)
    return changed


def _labelled(labels: dict) -> dict:
    changed = manifest()
    changed["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["metadata"] = {"labels": labels}
    return changed


_MASTER = "spec.pytorchReplicaSpecs.Master.template"
_C0 = _MASTER + ".spec.containers[0]"


# The guarantees this module's docstring adds to validation's older ones: a backend may rely on each.
@pytest.mark.parametrize("bad, path", [
    (_container({"resources": {"limits": {"nvidia.com/gpu": -1}}}), _C0 + '.resources.limits["nvidia.com/gpu"]'),
    (_container({"resources": {"limits": {"nvidia.com/gpu": "\u0661"}}}), _C0 + '.resources.limits["nvidia.com/gpu"]'),
    (_labelled({"team": 7}), _MASTER + ".metadata.labels.team"),
    (_container({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"},
                                                      "configMapKeyRef": {"name": "c", "key": "k"}}}]}),
     _C0 + ".env[0].valueFrom"),
    (_container({"envFrom": [{"configMapRef": {"name": "c"}, "secretRef": {"name": "s"}}]}), _C0 + ".envFrom[0]"),
], ids=["negative-gpu", "non-ascii-gpu", "label-not-a-string", "two-value-sources", "two-envfrom-sources"])
def test_the_guarantees_the_docstring_names_are_refused_at_their_path(bad: dict, path: str):
    with pytest.raises(InvalidJob) as err:
        valid_manifest(bad)
    assert [i.path for i in err.value.issues] == [path]
