"""Output files of a cluster job, read where its volume claim is mounted in the Jupyter server."""

from __future__ import annotations

import re

import pytest

from dtrain_jupyter.backends.kubernetes.outputs import list_outputs, output_location, output_root, read_output
from dtrain_jupyter.errors import InvalidRequest, NotFound
from dtrain_jupyter.model.job import Job, JobStatus
from dtrain_jupyter.model.kinds import lookup
from dtrain_jupyter.model.status import Phase

PT = lookup("kubeflow.org/v1", "PyTorchJob")


def job_with(env=None, mounts=None, volumes=None, phase=Phase.FAILED):
    container = {"name": "pytorch", "image": "x", "env": env or [], "volumeMounts": mounts or []}
    spec = {"pytorchReplicaSpecs": {"Master": {"template": {"spec": {"containers": [container], "volumes": volumes or []}}}}}
    return Job(backend="kubernetes", kind="PyTorchJob", api_version="kubeflow.org/v1", name="pt", namespace="default",
               uid="u", created="", manifest={"spec": spec},
               status=JobStatus(phase=phase, reason="PyTorchJobFailed", message="1 Master replica(s) failed."))


PVC = [{"name": "out", "persistentVolumeClaim": {"claimName": "results"}}]
ENV = [{"name": "DTRAIN_OUTPUT_DIR", "value": "/mnt/out/pt"}]


def test_root_follows_mount_path_and_sub_path(tmp_path):
    (tmp_path / "runs" / "pt").mkdir(parents=True)
    j = job_with(ENV, [{"name": "out", "mountPath": "/mnt/out", "subPath": "runs"}], PVC)
    assert output_root(j, PT, {"results": str(tmp_path)}) == tmp_path / "runs" / "pt"


@pytest.mark.parametrize(
    "env, mounts, volumes, mounted, words",
    [
        ([], [], [], {"results": "/x"}, "has no output location"),
        (ENV, [{"name": "scratch", "mountPath": "/mnt/out"}], [{"name": "scratch", "emptyDir": {}}], {"results": "/x"},
         "not on a PersistentVolumeClaim mount"),
        (ENV, [{"name": "out", "mountPath": "/mnt/out"}], PVC, {}, "'results' of PyTorchJob 'pt' is not mounted"),
        (ENV, [{"name": "out", "mountPath": "/mnt/out"}], PVC, {"results": "/nonexistent-dtrain"}, "does not exist yet"),
    ],
    ids=["no-env", "not-a-claim", "claim-not-mounted", "folder-missing"],
)
def test_no_readable_location_says_why_and_the_jobs_status(env, mounts, volumes, mounted, words):
    with pytest.raises(NotFound) as err:
        output_root(job_with(env, mounts, volumes), PT, mounted)
    assert words in err.value.message
    assert "the job is Failed (PyTorchJobFailed: 1 Master replica(s) failed.)" in err.value.message
    # A job with a location on a claim says where it is even when it cannot be read from here.
    on_claim = volumes is PVC
    assert err.value.fields.get("location") == ({"claim": "results", "path": "/pt"} if on_claim else None)


@pytest.mark.parametrize("value, mount, location", [
    ("/mnt/out/pt", {"mountPath": "/mnt/out"}, {"claim": "results", "path": "/pt"}),
    ("/mnt/out/pt", {"mountPath": "/mnt/out", "subPath": "runs"}, {"claim": "results", "path": "/runs/pt"}),
    ("/mnt/out", {"mountPath": "/mnt/out"}, {"claim": "results", "path": "/"}),
    ("/mnt/out/a/b", {"mountPath": "/mnt/out/a", "subPath": "x/y"}, {"claim": "results", "path": "/x/y/b"}),
], ids=["below-the-mount", "with-sub-path", "the-claim-root", "deep"])
def test_the_location_is_the_claim_and_the_folder_inside_it(value, mount, location):
    job = job_with([{"name": "DTRAIN_OUTPUT_DIR", "value": value}], [{"name": "out", **mount}], PVC)
    assert output_location(job, PT) == location


def test_a_job_without_a_claim_location_has_none():
    with pytest.raises(NotFound) as err:
        output_location(job_with(), PT)
    assert "has no output location" in err.value.message and "location" not in err.value.fields


def test_list_and_read_stay_inside_the_folder(tmp_path):
    root = tmp_path / "out"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("hello")
    (root / "sub" / "b.bin").write_bytes(b"\0" * 10)
    (tmp_path / "secret").write_text("no")
    (root / "link").symlink_to(tmp_path / "secret")
    listed = list_outputs(root)
    assert [(f.path, f.size) for f in listed] == [("a.txt", 5), ("sub/b.bin", 10)]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", f.mtime) for f in listed)
    assert read_output(root, "a.txt", 3) == b"hel"
    for bad, error in (("../secret", InvalidRequest), ("/etc/passwd", InvalidRequest), ("link", NotFound),
                       ("sub/../../secret", InvalidRequest), ("missing.txt", NotFound), ("sub", NotFound)):
        with pytest.raises(error):
            read_output(root, bad, 10)
    with pytest.raises(InvalidRequest):
        read_output(root, "a.txt", -1)
