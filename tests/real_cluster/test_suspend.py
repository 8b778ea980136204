"""Suspend and resume on the real control plane: the real training-operator acts on runPolicy.suspend."""

from __future__ import annotations

from dtrain_jupyter.model.status import Phase
from tests.cluster.fixtures import unique

from .conftest import eventually
from .test_backend import pods_in, pytorch


def condition(job, ctype: str) -> dict:
    return next((c for c in job.status.conditions if c["type"] == ctype), {})


async def test_the_operator_suspends_and_resumes_a_pytorchjob(backend, cluster):
    name = unique("susp")
    await backend.create(pytorch(name))  # runs until told
    await eventually(lambda: pods_in(backend, name, 2), 60)

    patched = await backend.suspend("PyTorchJob", name, "default")
    assert patched.manifest["spec"]["runPolicy"]["suspend"] is True

    async def suspended():
        job = await backend.get("PyTorchJob", name, "default")
        gone = not await backend.pods("PyTorchJob", name, "default")
        return job if job.status.phase is Phase.SUSPENDED and gone else None
    job = await eventually(suspended, 60)
    # The operator's own condition and reason, and Running flipped to False.
    assert (condition(job, "Suspended")["status"], condition(job, "Suspended")["reason"]) == ("True", "PyTorchJobSuspended")
    assert condition(job, "Running").get("status") != "True"

    await backend.resume("PyTorchJob", name, "default")

    async def running_again():
        job = await backend.get("PyTorchJob", name, "default")
        ready = await pods_in(backend, name, 2)
        return job if job.status.phase is Phase.RUNNING and ready else None
    job = await eventually(running_again, 60)
    assert (condition(job, "Suspended")["status"], condition(job, "Suspended")["reason"]) == ("False", "PyTorchJobResumed")
    await backend.delete("PyTorchJob", name, "default")
