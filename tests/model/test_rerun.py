"""Re-run names and manifests: the next free name, nothing of the old object, the code volume renamed."""

from __future__ import annotations

import pytest

from dtrain_jupyter.model.code_archive import CODE_VOLUME, code_configmap_of
from dtrain_jupyter.model.rerun import next_run_name, rerun_manifest
from dtrain_jupyter.model.validation import validate_manifest


@pytest.mark.parametrize("name, taken, expected", [
    ("train", [], "train-run2"),
    ("train", ["train-run2", "train-run3"], "train-run4"),
    ("train-run2", [], "train-run3"),
    ("train-run9", ["train-run10"], "train-run11"),
    ("resnet-50", [], "resnet-50-run2"),
    ("a" * 63, [], "a" * 58 + "-run2"),
    ("x" * 57 + "-abcde", [], "x" * 57 + "-run2"),
])
def test_next_run_name(name, taken, expected):
    got = next_run_name(name, taken)
    assert got == expected and len(got) <= 63


def manifest():
    volume = {"name": CODE_VOLUME, "configMap": {"name": "old-code"}}
    pod = {"containers": [{"name": "pytorch", "image": "python:3.11", "command": ["python", "train.py"]}],
           "volumes": [volume]}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": "old", "namespace": "team", "uid": "u", "resourceVersion": "7",
                         "labels": {"team": "a"},
                         "annotations": {"note": "keep", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"runPolicy": {"suspend": True, "cleanPodPolicy": "None"},
                     "pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": pod}}}},
            "status": {"conditions": []}}


def test_rerun_manifest_keeps_what_the_user_wrote_and_names_the_new_code():
    old = manifest()
    new = rerun_manifest(old, "old-run2")
    assert new["metadata"] == {"name": "old-run2", "namespace": "team", "labels": {"team": "a"},
                               "annotations": {"note": "keep"}}
    assert "status" not in new
    assert new["spec"]["runPolicy"] == {"cleanPodPolicy": "None"}
    assert code_configmap_of(new) == "old-run2-code"
    assert code_configmap_of(old) == "old-code" and old["metadata"]["name"] == "old"  # the old one untouched
    assert validate_manifest(new) == []
    assert rerun_manifest(old, "x", namespace="other")["metadata"]["namespace"] == "other"
