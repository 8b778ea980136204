"""A script folder's job on the Kubernetes backend: its code goes into a ConfigMap owned by the job
(created before it, given the job as owner after, removed when the job cannot be created)."""

from __future__ import annotations

import base64

import pytest

from dtrain_jupyter.code.job import FolderJob
from dtrain_jupyter.errors import ClusterError, JobExists
from dtrain_jupyter.model.code_archive import (
    CODE_JOB_LABEL, CODE_MOUNT, CODE_SHA256_ANNOTATION, CODE_VOLUME, CONFIGMAP_KEY, configmap_name,
)

from .conftest import eventually


@pytest.fixture
def folder_job(tmp_path):
    (tmp_path / "train.py").write_text("import helper\nprint(helper.VALUE)\n")
    (tmp_path / "helper.py").write_text("VALUE = 1\n")
    return FolderJob("train.py", tmp_path, args=["--epochs", "2"], workers=1, image="python:3.12-slim")


def configmap(kube_double, job_name):
    return kube_double.get_object("v1", "configmaps", "default", configmap_name(job_name))


async def test_the_code_configmap_is_created_and_owned_by_the_job(backend, kube_double, folder_job):
    job = await backend.create(folder_job.to_manifest(), code=folder_job.code)
    stored = configmap(kube_double, job.name)
    assert base64.b64decode(stored["binaryData"][CONFIGMAP_KEY]) == folder_job.code.data
    assert stored["metadata"]["labels"] == {CODE_JOB_LABEL: job.name}
    assert stored["metadata"]["annotations"][CODE_SHA256_ANNOTATION] == folder_job.code.sha256
    assert stored["metadata"]["ownerReferences"] == [
        {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": job.name, "uid": job.uid,
         "controller": False, "blockOwnerDeletion": False}]
    # The ConfigMap is there before the job: created first, then the job, then the owner set.
    writes = [(m, p.rsplit("/", 1)[-1], q.get("dryRun")) for m, p, q in kube_double.request_log
              if m in ("POST", "PATCH")]
    assert writes == [("POST", "configmaps", "All"), ("POST", "pytorchjobs", "All"), ("POST", "configmaps", None),
                      ("POST", "pytorchjobs", None), ("PATCH", configmap_name(job.name), None)]
    pod = kube_double.get_object("kubeflow.org/v1", "pytorchjobs", "default", job.name)[
        "spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    assert {"name": CODE_VOLUME, "configMap": {"name": configmap_name(job.name)}} in pod["volumes"]
    assert {"name": CODE_VOLUME, "mountPath": CODE_MOUNT, "readOnly": True} in pod["containers"][0]["volumeMounts"]

    await backend.delete("PyTorchJob", job.name, "default")
    # The garbage collector follows the owner reference.
    await eventually(lambda: configmap(kube_double, job.name) is None)


async def test_a_job_that_cannot_be_created_leaves_no_configmap(backend, kube_double, folder_job):
    kube_double.fail_next("POST", r"/pytorchjobs$", status=500, skip=1)  # the dry run passes, the create fails
    with pytest.raises(ClusterError):
        await backend.create(folder_job.to_manifest(), code=folder_job.code)
    assert kube_double.get_object("kubeflow.org/v1", "pytorchjobs", "default", folder_job.name) is None
    assert configmap(kube_double, folder_job.name) is None
    assert ("DELETE", f"/api/v1/namespaces/default/configmaps/{configmap_name(folder_job.name)}") in [
        (m, p) for m, p, _ in kube_double.request_log]


async def test_dry_run_asks_for_both_and_creates_neither(backend, kube_double, folder_job):
    job = await backend.create(folder_job.to_manifest(), dry_run=True, code=folder_job.code)
    assert job.name == folder_job.name
    assert configmap(kube_double, job.name) is None
    assert kube_double.get_object("kubeflow.org/v1", "pytorchjobs", "default", job.name) is None
    posts = [(p.rsplit("/", 1)[-1], q.get("dryRun")) for m, p, q in kube_double.request_log if m == "POST"]
    assert posts == [("configmaps", "All"), ("pytorchjobs", "All")]


async def test_a_configmap_holding_other_code_is_refused_and_the_same_code_is_shared(
        backend, kube_double, folder_job, tmp_path):
    other = FolderJob("train.py", tmp_path, name=folder_job.name, args=["--epochs", "3"])
    (tmp_path / "helper.py").write_text("VALUE = 2\n")
    changed = FolderJob("train.py", tmp_path, name=folder_job.name)
    first = await backend.create(folder_job.to_manifest(), code=folder_job.code)
    with pytest.raises(JobExists) as info:
        await backend.create(_renamed(changed.to_manifest(), "second"), code=changed.code)
    assert configmap_name(folder_job.name) in info.value.message
    assert kube_double.get_object("kubeflow.org/v1", "pytorchjobs", "default", "second") is None
    # Different arguments, the same files: the ConfigMap serves both jobs and is owned by both.
    assert other.code.sha256 == folder_job.code.sha256
    third = await backend.create(_renamed(other.to_manifest(), "third"), code=other.code)
    owners = configmap(kube_double, folder_job.name)["metadata"]["ownerReferences"]
    assert [o["uid"] for o in owners] == [first.uid, third.uid]


def _renamed(manifest, name):
    """The manifest under another job name; its code volume still names the first job's ConfigMap."""
    return {**manifest, "metadata": {**manifest["metadata"], "name": name}}
