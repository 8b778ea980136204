"""A script folder's job on the real control plane: the real kube-apiserver accepts the code's
ConfigMap and the job that mounts it, and the real garbage collector deletes the ConfigMap with
the job it is owned by."""

from __future__ import annotations

import base64

from dtrain_jupyter.code.job import FolderJob
from dtrain_jupyter.model.code_archive import CONFIGMAP_KEY, configmap_name
from tests.cluster.fixtures import unique

from .conftest import eventually


async def test_the_apiserver_takes_the_code_and_the_collector_removes_it_with_the_job(backend, cluster, tmp_path):
    (tmp_path / "train.py").write_text("import helper\n")
    (tmp_path / "helper.py").write_text("VALUE = 1\n")
    spec = FolderJob("train.py", tmp_path, name=unique(), workers=1)
    job = await backend.create(spec.to_manifest(), code=spec.code)
    path = f"/api/v1/namespaces/default/configmaps/{configmap_name(job.name)}"
    stored = cluster.api("GET", path)
    assert base64.b64decode(stored["binaryData"][CONFIGMAP_KEY]) == spec.code.data
    assert [(o["kind"], o["name"], o["uid"]) for o in stored["metadata"]["ownerReferences"]] == [
        ("PyTorchJob", job.name, job.uid)]

    await backend.delete("PyTorchJob", job.name, "default")
    await eventually(lambda: cluster.api("GET", path, ok=(200, 404)).get("code") == 404, 60)
