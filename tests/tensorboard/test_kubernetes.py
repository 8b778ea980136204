"""On Kubernetes (the API double), TensorBoard reads a job's outputs where this server mounts its claim
(c.DTrain.output_mounts), as the Output view does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kube_double.fixtures import kube_double  # noqa: F401  (the fixture itself)
from tests.server.conftest import api, jp_server_config  # noqa: F401  (the fixtures themselves)

from .test_scalars import write

pytest.importorskip("torch.utils.tensorboard")


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    return tmp_path / "claim"


@pytest.fixture
def dtrain_config(tmp_path: Path, kube_double: Any, mount: Path) -> dict[str, Any]:  # noqa: F811
    return {"backend": "kubernetes", "state_dir": str(tmp_path / "state"), "kubeconfig": str(kube_double.kubeconfig_path),
            "kube_context": "double", "output_mounts": {"results": str(mount)}}


def manifest(name: str, claim: str) -> dict[str, Any]:
    container = {"name": "pytorch", "image": "python:3.11", "command": ["python", "train.py"],
                 "env": [{"name": "DTRAIN_OUTPUT_DIR", "value": f"/mnt/out/{name}"}],
                 "volumeMounts": [{"name": "out", "mountPath": "/mnt/out", "subPath": "runs"}]}
    pod = {"containers": [container], "volumes": [{"name": "out", "persistentVolumeClaim": {"claimName": claim}}]}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "restartPolicy": "Never",
                                                        "template": {"spec": pod}}}}}


def job(name: str) -> dict[str, str]:
    return {"backend": "kubernetes", "namespace": "default", "kind": "PyTorchJob", "name": name}


async def test_the_claim_mount_is_the_logdir(api: Any, jp_fetch: Any, mount: Path) -> None:  # noqa: F811
    write(mount / "runs" / "kt1" / "train", "loss", {1: 0.9, 2: 0.4})
    for name, claim in (("kt1", "results"), ("kt-elsewhere", "other-claim")):
        code, body, _ = await api("jobs", method="POST", body={"manifest": manifest(name, claim)})
        assert code == 201, body
    try:
        code, body, _ = await api("tensorboard", method="POST", body={"jobs": [job("kt1")]})
        assert code == 200, body
        assert body["logdirs"] == {"kt1": str(mount / "runs" / "kt1")}
        # Under this server's base URL, which needs quoting (pytest-jupyter's is /a%40b/).
        assert body["url"].endswith("/dtrain/tensorboard/") and "%40" in body["url"]
        r = await jp_fetch("dtrain", "tensorboard", "data", "runs", raise_error=False)
        assert r.code == 200, r.body[:300]
    finally:
        assert (await api("tensorboard", method="DELETE"))[0] == 204
    code, body, _ = await api("tensorboard", method="POST", body={"jobs": [job("kt-elsewhere")]})
    assert code == 404 and "'other-claim'" in body["message"] and "not mounted" in body["message"], body
    (mount / "runs" / "kt-empty").mkdir(parents=True)
    code, body, _ = await api("jobs", method="POST", body={"manifest": manifest("kt-empty", "results")})
    code, body, _ = await api("tensorboard", method="POST", body={"jobs": [job("kt-empty")]})
    assert code == 404 and "no TensorBoard event files" in body["message"] and body["field"] == "jobs[0]", body
