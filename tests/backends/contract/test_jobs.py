"""Jobs on every backend: create (checked, dry run, name taken), list, get, the change feed, pods,
events and delete (running, finished, twice), each refusal with its error type."""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.base import CAPABILITIES, CAP_EVENTS, Backend
from dtrain_jupyter.errors import InvalidJob, JobExists, JobNotFound
from dtrain_jupyter.model.status import Phase

from .harness import KIND, NAMESPACE, wait_until


async def test_a_backend_names_itself_and_only_known_capabilities(harness) -> None:
    backend = harness.backend
    assert isinstance(backend, Backend)
    assert set(backend.capabilities) <= set(CAPABILITIES)
    described = backend.describe()
    assert described["backend"] == backend.name and described["ready"] is True, described


async def test_create_answers_the_job_and_get_and_list_find_it(harness) -> None:
    name = await harness.shared_job("running")
    backend = harness.backend
    job = await backend.get(KIND, name, NAMESPACE)
    assert (job.backend, job.kind, job.name, job.namespace) == (backend.name, KIND, name, NAMESPACE)
    assert job.uid and job.created and job.status.phase is Phase.RUNNING
    async def listed() -> bool:
        return name in {j.name for j in await backend.list(NAMESPACE)}
    await wait_until(listed, what=f"{name} in the list of {NAMESPACE}")
    everywhere = {(j.namespace, j.name): j for j in await backend.list(None)}
    assert everywhere[(NAMESPACE, name)].uid == job.uid
    assert name not in {j.name for j in await backend.list("team-a")}


async def test_dry_run_answers_the_job_and_stores_nothing(harness) -> None:
    name = harness.unique("dry")
    job = await harness.backend.create(harness.manifest(name), dry_run=True)
    assert (job.kind, job.name, job.namespace) == (KIND, name, NAMESPACE)
    with pytest.raises(JobNotFound):
        await harness.backend.get(KIND, name, NAMESPACE)
    assert name not in {j.name for j in await harness.backend.list(NAMESPACE)}


async def test_a_taken_name_is_job_exists(harness) -> None:
    name = await harness.shared_job("running")
    for dry_run in (False, True):
        with pytest.raises(JobExists) as err:
            await harness.backend.create(harness.manifest(name), dry_run=dry_run)
        assert err.value.fields["name"] == name
        # Which backend refused is part of the error, as for JobNotFound: a panel with several
        # backends says where the name is taken.
        assert err.value.fields["backend"] == harness.backend.name
        assert f"on the {harness.backend.name} backend" in err.value.message


@pytest.mark.parametrize("dry_run", [False, True], ids=["create", "dry-run"])
async def test_an_invalid_manifest_is_invalid_job_with_the_field_path(harness, dry_run) -> None:
    name = harness.unique("bad")
    manifest = harness.manifest(name)
    manifest["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = "two"
    with pytest.raises(InvalidJob) as err:
        await harness.backend.create(manifest, dry_run=dry_run)
    assert "spec.pytorchReplicaSpecs.Worker.replicas" in {i.path for i in err.value.issues}, err.value.issues
    with pytest.raises(JobNotFound):
        await harness.backend.get(KIND, name, NAMESPACE)


async def test_pods_in_role_order_with_their_phase(harness) -> None:
    name = await harness.shared_job("running")
    pods = await harness.backend.pods(KIND, name, NAMESPACE)
    assert [(p.name, p.replica_type, p.replica_index, p.phase) for p in pods] == [
        (f"{name}-master-0", "Master", 0, "Running"), (f"{name}-worker-0", "Worker", 0, "Running")]
    assert all(p.job_name == name and p.namespace == NAMESPACE and p.restarts == 0 for p in pods)


async def test_events_name_the_job_and_every_pod_oldest_first(harness) -> None:
    name = await harness.shared_job("finished")
    backend = harness.backend
    if CAP_EVENTS not in backend.capabilities:
        pytest.skip(f"{harness.label} records no events")  # the service answers an empty list for it
    pods = {f"{name}-master-0", f"{name}-worker-0"}

    async def complete() -> list:
        events = await backend.events(KIND, name, NAMESPACE)
        started = {e.object_name for e in events if e.object_kind == "Pod" and e.reason == "Started"}
        about_job = [e for e in events if e.object_kind == KIND and e.object_name == name]
        return events if pods <= started and about_job else []
    events = await wait_until(complete, what=f"events about {name} and a Started event for each pod")
    assert {e.object_name for e in events} <= pods | {name}
    times = [e.first_time or e.last_time for e in events]
    assert all(times) and times == sorted(times), times


async def test_the_change_feed_sees_a_job_added_changed_and_deleted(harness) -> None:
    seen: list[tuple[str, str, Phase]] = []
    harness.backend.subscribe(lambda change, job: seen.append((change, job.name, job.status.phase)))
    name = harness.unique("feed")
    await harness.create(name, ends=True)
    await harness.finished(name)
    await wait_until(_async(lambda: ("MODIFIED", name, Phase.SUCCEEDED) in seen), what=f"{name} Succeeded in the feed")
    assert ("ADDED", name) in {(c, n) for c, n, _ in seen}
    await harness.backend.delete(KIND, name, NAMESPACE)
    await wait_until(_async(lambda: ("DELETED", name) in {(c, n) for c, n, _ in seen}), what=f"{name} DELETED in the feed")
    assert [c for c, n, _ in seen if n == name][-1] == "DELETED"


@pytest.mark.parametrize("state", ["running", "finished"])
async def test_delete_removes_the_job_and_a_second_delete_is_job_not_found(harness, state) -> None:
    name = harness.unique(f"del-{state[:3]}")
    await harness.create(name, ends=state == "finished")
    await (harness.finished(name) if state == "finished" else harness.running(name))
    backend = harness.backend
    gone = await backend.delete(KIND, name, NAMESPACE)
    assert (gone.name, gone.status.phase) == (name, Phase.DELETING)

    async def absent() -> bool:
        try:
            await backend.get(KIND, name, NAMESPACE)
        except JobNotFound:
            return name not in {j.name for j in await backend.list(NAMESPACE)}
        return False
    await wait_until(absent, what=f"{name} gone")
    for verb in (backend.get, backend.pods, backend.events, backend.outputs, backend.delete):
        with pytest.raises(JobNotFound):
            await verb(KIND, name, NAMESPACE)


async def test_every_verb_on_a_missing_job_is_job_not_found(harness) -> None:
    backend = harness.backend
    for verb in (backend.get, backend.pods, backend.events, backend.outputs, backend.delete):
        with pytest.raises(JobNotFound):
            await verb(KIND, "ghost", NAMESPACE)
    with pytest.raises(JobNotFound):
        await backend.read_output(KIND, "ghost", NAMESPACE, "a.txt", limit=1)
    # Same name, other kind: another job, which does not exist.
    name = await harness.shared_job("running")
    with pytest.raises(JobNotFound):
        await backend.get("TFJob", name, NAMESPACE)


def _async(predicate):
    async def check():
        return predicate()
    return check
