"""Suspend and resume on KubernetesBackend against the API test double: the patch sent, and the refusals.

The double now acts on the patch as the operators do (pods and services deleted, `Suspended` and
`Resumed` conditions and events: tests/kube_double/suspension.py, and the contract suite's
tests/backends/contract/test_suspend.py); the real operator is tested on the real control plane
(tests/real_cluster/test_suspend.py).
"""

from __future__ import annotations

import shutil
import uuid

import pytest
import yaml

from dtrain_jupyter.backends.base import CAP_SUSPEND
from dtrain_jupyter.errors import InvalidRequest
from dtrain_jupyter.model.kinds import FRAMEWORKS
from dtrain_jupyter.model.status import Phase
from tests.kube_double import KubeDouble

from .conftest import eventually
from .test_backend import pytorch

JOB_PATH = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs/{name}"


def patches(double: KubeDouble, name: str) -> list[tuple[str, str, dict]]:
    return [r for r in double.request_log if r[0] == "PATCH" and r[1] == JOB_PATH.format(name=name)]


async def running(backend, name: str):
    job = await backend.get("PyTorchJob", name, "default")
    return job if job.status.phase is Phase.RUNNING else None


@pytest.fixture
def held(kube_double):
    """The double's jobs run until told to finish."""
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    return kube_double


async def test_suspend_and_resume_merge_patch_run_policy_suspend(backend, held):
    assert CAP_SUSPEND in backend.capabilities
    name = f"s-{uuid.uuid4().hex[:8]}"
    manifest = pytorch(name)
    manifest["spec"]["runPolicy"] = {"cleanPodPolicy": "All", "backoffLimit": 3}
    await backend.create(manifest)
    await eventually(lambda: running(backend, name))

    job = await backend.suspend("PyTorchJob", name, "default")

    assert job.manifest["spec"]["runPolicy"]["suspend"] is True
    stored = held.get_object("kubeflow.org/v1", "pytorchjobs", "default", name)
    # A merge patch: the other runPolicy fields stay as they were.
    assert stored["spec"]["runPolicy"] == {"cleanPodPolicy": "All", "backoffLimit": 3, "suspend": True}
    assert len(patches(held, name)) == 1
    cached = await eventually(lambda: _suspend_seen(backend, name, True))
    with pytest.raises(InvalidRequest, match="is suspended already"):
        await backend.suspend("PyTorchJob", name, "default")
    assert cached.name == name and len(patches(held, name)) == 1

    job = await backend.resume("PyTorchJob", name, "default")

    assert job.manifest["spec"]["runPolicy"]["suspend"] is False
    stored = held.get_object("kubeflow.org/v1", "pytorchjobs", "default", name)
    assert stored["spec"]["runPolicy"] == {"cleanPodPolicy": "All", "backoffLimit": 3, "suspend": False}
    assert len(patches(held, name)) == 2


async def _suspend_seen(backend, name: str, value: bool):
    job = await backend.get("PyTorchJob", name, "default")
    return job if (job.manifest["spec"].get("runPolicy") or {}).get("suspend") is value else None


async def test_a_finished_job_or_one_not_suspended_is_refused_before_any_patch(backend, held):
    name = f"s-{uuid.uuid4().hex[:8]}"
    await backend.create(pytorch(name))
    await eventually(lambda: running(backend, name))
    with pytest.raises(InvalidRequest, match="is not suspended") as err:
        await backend.resume("PyTorchJob", name, "default")
    assert err.value.fields["phase"] == "Running"
    held.simulator.finish(name)

    async def succeeded():
        job = await backend.get("PyTorchJob", name, "default")
        return job.status.phase is Phase.SUCCEEDED
    await eventually(succeeded)
    with pytest.raises(InvalidRequest, match="has succeeded: a finished job cannot be suspended"):
        await backend.suspend("PyTorchJob", name, "default")
    assert patches(held, name) == []


async def test_a_crd_without_the_field_is_refused_in_words(conformance_dir, tmp_path, make_backend):
    """An operator older than v1.7: its CRD's schema has no runPolicy.suspend, so the server prunes the patch."""
    crds = tmp_path / "crds"
    shutil.copytree(conformance_dir / "crds", crds)
    path = crds / "kubeflow.org_pytorchjobs_v1.yaml"
    crd = yaml.safe_load(path.read_text())
    for version in crd["spec"]["versions"]:
        del version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["runPolicy"]["properties"]["suspend"]
    path.write_text(yaml.safe_dump(crd))
    with KubeDouble(crd_dir=crds, tick=0.05) as old:
        old.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
        backend = make_backend(old)
        await backend.start()
        name = f"s-{uuid.uuid4().hex[:8]}"
        await backend.create(pytorch(name))
        await eventually(lambda: running(backend, name))
        with pytest.raises(InvalidRequest) as err:
            await backend.suspend("PyTorchJob", name, "default")
        assert err.value.fields["field"] == "spec.runPolicy.suspend"
        assert "has no spec.runPolicy.suspend" in err.value.message and "v1.7" in err.value.message
        stored = old.get_object("kubeflow.org/v1", "pytorchjobs", "default", name)
        assert "suspend" not in (stored["spec"].get("runPolicy") or {})


@pytest.mark.parametrize("fw", FRAMEWORKS, ids=lambda fw: f"{fw.kind}-{fw.version}")
def test_every_kind_s_crd_has_run_policy_suspend(fw, conformance_dir):
    """Every kind this project knows can be suspended on the operators of shared/conformance (TO v1.9, MPI
    Operator v2beta1): the field the patch sets is in each CRD's schema."""
    crd = yaml.safe_load((conformance_dir / "crds" / f"kubeflow.org_{fw.plural}_{fw.version}.yaml").read_text())
    [version] = [v for v in crd["spec"]["versions"] if v["name"] == fw.version]
    run_policy = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["runPolicy"]
    assert run_policy["properties"]["suspend"]["type"] == "boolean"
