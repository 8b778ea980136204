"""Every verb of KubernetesBackend against the API test double (real kubernetes client, real HTTP)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import uuid

import pytest
import yaml

from dtrain_jupyter.backends.base import CAP_DRY_RUN, CAP_OUTPUTS, Backend
from dtrain_jupyter.errors import Forbidden, InvalidJob, InvalidRequest, JobExists, JobNotFound, NotFound
from dtrain_jupyter.model.status import Phase

from .conftest import eventually


def manifest(conformance_dir, file="pytorch_simple.yaml", name=None, namespace="default",
             folder="training-operator-v1.9"):
    m = yaml.safe_load((conformance_dir / folder / file).read_text())
    m["metadata"]["name"] = name or f"t-{uuid.uuid4().hex[:8]}"
    m["metadata"]["namespace"] = namespace
    return m


def pytorch(name, namespace="default", replicas=1):
    template = {"spec": {"containers": [{"name": "pytorch", "image": "example/train:1", "command": ["python", "t.py"]}]}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": name, "namespace": namespace, "labels": {"dtrain-test": "1"}},
            "spec": {"pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template},
                "Worker": {"replicas": replicas, "restartPolicy": "OnFailure", "template": copy.deepcopy(template)}}}}


async def test_is_a_backend_and_describes_where_it_points(backend, kube_double):
    assert isinstance(backend, Backend) and backend.name == "kubernetes"
    assert CAP_DRY_RUN in backend.capabilities and CAP_OUTPUTS not in backend.capabilities
    d = backend.describe()
    assert (d["backend"], d["context"], d["namespace"], d["server"], d["ready"]) == (
        "kubernetes", "double", "default", kube_double.url, True)
    assert d["kinds"]["PyTorchJob"] == ["kubeflow.org/v1"] and d["kinds"]["MPIJob"] == ["kubeflow.org/v1"]


async def test_create_runs_and_lists_with_the_context(backend, kube_double, conformance_dir):
    m = manifest(conformance_dir)
    job = await backend.create(m)
    assert (job.backend, job.kind, job.namespace, job.context) == ("kubernetes", "PyTorchJob", "default", "double")
    posts = [q for meth, path, q in kube_double.request_log if meth == "POST" and path.endswith("/pytorchjobs")]
    assert [q.get("dryRun") for q in posts] == ["All", None]  # the server was asked first
    done = await eventually(lambda: _phase(backend, m["metadata"]["name"], Phase.SUCCEEDED))
    assert done.uid == job.uid


async def _phase(backend, name, phase, namespace="default"):
    for j in await backend.list(namespace):
        if j.name == name and j.status.phase is phase:
            return j
    return None


async def test_dry_run_stores_nothing(backend, kube_double, conformance_dir):
    m = manifest(conformance_dir)
    job = await backend.create(m, dry_run=True)
    assert job.name == m["metadata"]["name"]
    assert kube_double.get_object("kubeflow.org/v1", "pytorchjobs", "default", job.name) is None


async def test_name_taken_is_job_exists(backend, conformance_dir):
    m = manifest(conformance_dir)
    await backend.create(m)
    with pytest.raises(JobExists) as err:
        await backend.create(m)
    assert err.value.fields["name"] == m["metadata"]["name"]


async def test_server_validation_maps_to_field_paths(backend, conformance_dir):
    m = manifest(conformance_dir)
    m["spec"]["pytorchReplicaSpecs"]["Master"]["replicas"] = "two"
    with pytest.raises(InvalidJob) as err:
        await backend.create(m)
    assert "spec.pytorchReplicaSpecs.Master.replicas" in [i.path for i in err.value.issues]


async def test_not_a_manifest_is_invalid(backend):
    with pytest.raises(InvalidJob) as err:
        await backend.create({"kind": "PyTorchJob"})
    assert {i.path for i in err.value.issues} == {"apiVersion", "metadata"}


async def test_mpijob_version_not_served_is_explained(kube_double_v2, make_backend, conformance_dir):
    b = make_backend(kube_double_v2)
    await b.start()
    assert b.describe()["kinds"]["MPIJob"] == ["kubeflow.org/v2beta1"]
    with pytest.raises(NotFound) as err:
        await b.create(manifest(conformance_dir, "mpi_tensorflow-mnist.yaml"))
    assert "kubeflow.org/v1" in err.value.message and "kubeflow.org/v2beta1" in err.value.message
    job = await b.create(manifest(conformance_dir, "pi_pi.yaml", folder="mpi-operator-v2beta1"))
    pods = await eventually(lambda: _pods_running(b, "MPIJob", job.name, 3))
    assert [p.replica_type for p in pods] == ["Launcher", "Worker", "Worker"]
    assert pods[0].name.startswith(f"{job.name}-launcher-")


async def _pods_running(backend, kind, name, n, namespace="default"):
    pods = await backend.pods(kind, name, namespace)
    return pods if len(pods) == n and all(p.phase in ("Running", "Succeeded") for p in pods) else None


async def test_list_one_namespace_all_namespaces_and_allowed(kube_double, make_backend):
    kube_double.simulator.set_speed(ticks_to_run=2, ticks_to_finish=None)
    b = make_backend(kube_double)
    await b.start()
    await b.create(pytorch("in-default"))
    await b.create(pytorch("in-team", namespace="team-a"))
    await eventually(lambda: _names(b, None, {"in-default", "in-team"}))
    assert {j.name for j in await b.list("default")} == {"in-default"}
    assert {j.name for j in await b.list("team-a")} == {"in-team"}
    only = make_backend(kube_double, allowed_namespaces=["team-a"])
    await only.start()
    assert only.namespace == "team-a"
    assert {j.name for j in await only.list()} == {"in-team"}
    with pytest.raises(Forbidden):
        await only.list("default")
    with pytest.raises(Forbidden):
        await only.get("PyTorchJob", "in-default", "default")


async def _names(backend, namespace, expected):
    return {j.name for j in await backend.list(namespace)} >= expected


async def test_get_from_cache_and_missing(backend, kube_double):
    await backend.create(pytorch("g1"))
    job = await backend.get("PyTorchJob", "g1", "default")
    assert job.name == "g1" and job.manifest["metadata"]["labels"] == {"dtrain-test": "1"}
    with pytest.raises(JobNotFound):
        await backend.get("PyTorchJob", "nope", "default")
    with pytest.raises(NotFound) as err:
        await backend.get("XJob", "x", "default")
    assert "XJob" in err.value.message
    with pytest.raises(InvalidRequest):
        await backend.get("PyTorchJob", "g1", "")


async def test_listing_reads_the_cache_not_the_api_server(backend, kube_double):
    await backend.create(pytorch("c1"))
    await eventually(lambda: _names(backend, "default", {"c1"}))
    before = len([r for r in kube_double.request_log if r[0] == "GET"])
    for _ in range(20):
        await backend.list()
        await backend.list("default")
        await backend.get("PyTorchJob", "c1", "default")
    assert len([r for r in kube_double.request_log if r[0] == "GET"]) == before


async def test_a_list_is_rebuilt_only_after_a_change_and_in_order(backend, kube_double):
    for name in ("s-b", "s-a", "s-c"):
        job = pytorch(name)
        job["metadata"]["annotations"] = {"kube-double/simulate": "false"}  # no status moves of its own
        await backend.create(job)
    await eventually(lambda: _names(backend, "default", {"s-a", "s-b", "s-c"}))
    first = [j for j in await backend.list("default") if j.name.startswith("s-")]
    assert [j.name for j in first] == ["s-a", "s-b", "s-c"]
    again = [j for j in await backend.list("default") if j.name.startswith("s-")]
    # Nothing changed: the same cached jobs, in a list of the caller's own.
    assert all(a is b for a, b in zip(first, again)) and again is not first
    await backend.delete("PyTorchJob", "s-b", "default")

    async def changed():
        jobs = {j.name: j for j in await backend.list("default") if j.name.startswith("s-")}
        return jobs if "s-b" not in jobs or jobs["s-b"] is not first[1] else None

    after = await eventually(changed)
    # The deleted job is gone or shown Deleting; the others are still the cache's same objects.
    assert after["s-a"] is first[0] and after["s-c"] is first[2]
    assert "s-b" not in after or after["s-b"].phase == Phase.DELETING
    # A namespace list and the all-namespaces list are kept apart.
    everywhere = await backend.list()
    assert {j.namespace for j in everywhere} >= {"default"}
    assert [j.name for j in await backend.list("default") if j.name.startswith("s-")] == sorted(after)


async def test_delete_leaves_no_pod(backend, kube_double):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    await backend.create(pytorch("d1", replicas=2))
    await eventually(lambda: _pods_running(backend, "PyTorchJob", "d1", 3))
    job = await backend.delete("PyTorchJob", "d1", "default")
    assert job.status.phase is Phase.DELETING
    deletes = [q for m, p, q in kube_double.request_log if m == "DELETE" and p.endswith("/pytorchjobs/d1")]
    assert len(deletes) == 1
    await eventually(lambda: _gone(backend, "d1"))
    for pod in ("d1-master-0", "d1-worker-0", "d1-worker-1"):
        assert kube_double.get_object("v1", "pods", "default", pod) is None
    with pytest.raises(JobNotFound):
        await backend.delete("PyTorchJob", "d1", "default")


async def _gone(backend, name):
    return name not in {j.name for j in await backend.list("default")}


async def test_listeners_hear_every_change(backend, kube_double):
    seen = []
    backend.subscribe(lambda change, job: seen.append((change, job.name, job.status.phase)))
    await backend.create(pytorch("s1"))
    await eventually(lambda: ("MODIFIED", "s1", Phase.SUCCEEDED) in seen)
    await backend.delete("PyTorchJob", "s1", "default")
    await eventually(lambda: ("DELETED", "s1") in [(c, n) for c, n, _ in seen])
    assert seen[0][:2] == ("ADDED", "s1")


async def test_pods_and_events_with_plain_reasons(backend, kube_double):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    m = pytorch("gpu", replicas=1)
    for spec in m["spec"]["pytorchReplicaSpecs"].values():
        spec["template"]["spec"]["containers"][0]["resources"] = {"limits": {"nvidia.com/gpu": "4"}}
    kube_double.simulator.fault("gpu", "Unschedulable")
    await backend.create(m)
    pods = await eventually(lambda: _pods_with(backend, "gpu", "Pending: "))
    assert [p.name for p in pods] == ["gpu-master-0", "gpu-worker-0"]
    assert pods[0].reason.startswith("Pending: 0/") and "4 free nvidia.com/gpu" in pods[0].reason
    events = await eventually(lambda: _events_with(backend, "gpu", "FailedScheduling"))
    failed = [e for e in events if e.reason == "FailedScheduling"]
    assert failed[0].object_kind == "Pod" and failed[0].message.startswith("Pending: 0/")
    assert any(e.object_kind == "PyTorchJob" for e in events)


async def _pods_with(backend, name, prefix):
    pods = await backend.pods("PyTorchJob", name, "default")
    return pods if pods and all(p.reason.startswith(prefix) for p in pods) else None


async def _events_with(backend, name, reason):
    events = await backend.events("PyTorchJob", name, "default")
    return events if any(e.reason == reason for e in events) else None


@pytest.mark.parametrize("fault, words", [("ImagePullBackOff", "waiting: ImagePullBackOff"), ("OOMKilled", "OOMKilled")])
async def test_pod_faults_read_plainly(backend, kube_double, fault, words):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    kube_double.simulator.fault("f-master-0", fault)
    await backend.create(pytorch("f"))
    pods = await eventually(lambda: _pod_reason(backend, "f", "f-master-0", words))
    assert pods


async def _pod_reason(backend, job, pod, words):
    return [p for p in await backend.pods("PyTorchJob", job, "default") if p.name == pod and words in p.reason]


async def test_malformed_object_does_not_break_the_list(backend, kube_double):
    await backend.create(pytorch("good"))
    kube_double.put_raw("kubeflow.org/v1", "pytorchjobs", "default", {
        "apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
        "metadata": {"name": "broken", "namespace": "default", "annotations": {"kube-double/simulate": "false"}},
        "spec": {"pytorchReplicaSpecs": "not a mapping"}})
    await eventually(lambda: _names(backend, "default", {"good", "broken"}))
    by_name = {j.name: j for j in await backend.list("default")}
    assert by_name["broken"].error and "pytorchReplicaSpecs" in by_name["broken"].error
    assert by_name["good"].error == ""


async def test_rbac_forbidden_create_names_verb_and_resource(backend, kube_double):
    kube_double.forbid("create", "pytorchjobs", "default")
    with pytest.raises(Forbidden) as err:
        await backend.create(pytorch("nope"))
    f = err.value.fields
    assert (f["verb"], f["resource"], f["namespace"]) == ("create", "pytorchjobs.kubeflow.org", "default")
    assert "403" in err.value.message and "create" in err.value.message


async def test_rbac_forbidden_list_in_one_namespace_only(kube_double, make_backend):
    kube_double.forbid("list", "pytorchjobs", "team-a")
    kube_double.forbid("watch", "pytorchjobs", "team-a")
    ok = make_backend(kube_double)
    await ok.start()
    await ok.create(pytorch("visible"))
    b = make_backend(kube_double, allowed_namespaces=["default", "team-a"])
    await b.start()
    await eventually(lambda: _names(b, None, {"visible"}))
    assert {j.name for j in await b.list()} == {"visible"}
    with pytest.raises(Forbidden) as err:
        await b.list("team-a")
    assert err.value.fields["namespace"] == "team-a"
    d = b.describe()
    assert d["ready"] is False and "team-a" in d["message"]


async def test_kubectl_and_backend_see_the_same_jobs(backend, kube_double, conformance_dir, tmp_path):
    env = {**os.environ, "KUBECONFIG": kube_double.kubeconfig_path}
    m = manifest(conformance_dir, "tensorflow_simple.yaml", name="from-kubectl")
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(m))
    subprocess.run(["kubectl", "apply", "-f", str(tmp_path / "job.yaml")], env=env, check=True,
                   capture_output=True, timeout=60)
    await eventually(lambda: _names(backend, "default", {"from-kubectl"}))
    assert (await backend.get("TFJob", "from-kubectl", "default")).kind == "TFJob"
    await backend.create(pytorch("from-backend"))
    out = subprocess.run(["kubectl", "get", "pytorchjobs,tfjobs", "-n", "default", "-o", "json"], env=env,
                         check=True, capture_output=True, timeout=60, text=True).stdout
    names = {item["metadata"]["name"] for item in json.loads(out)["items"]}
    assert {"from-kubectl", "from-backend"} <= names


async def test_outputs_read_where_the_claim_is_mounted(kube_double, make_backend, tmp_path):
    mount = tmp_path / "claim"
    (mount / "runs" / "o1" / "ckpt").mkdir(parents=True)
    (mount / "runs" / "o1" / "metrics.json").write_text('{"loss": 0.1}')
    (mount / "runs" / "o1" / "ckpt" / "model.pt").write_bytes(b"x" * 100)
    b = make_backend(kube_double, output_mounts={"results": str(mount)})
    await b.start()
    assert CAP_OUTPUTS in b.capabilities
    m = pytorch("o1")
    for spec in m["spec"]["pytorchReplicaSpecs"].values():
        pod = spec["template"]["spec"]
        pod["volumes"] = [{"name": "out", "persistentVolumeClaim": {"claimName": "results"}}]
        pod["containers"][0]["volumeMounts"] = [{"name": "out", "mountPath": "/mnt/out", "subPath": "runs"}]
        pod["containers"][0]["env"] = [{"name": "DTRAIN_OUTPUT_DIR", "value": "/mnt/out/o1"}]
    await b.create(m)
    files = await b.outputs("PyTorchJob", "o1", "default")
    assert [(f.path, f.size) for f in files] == [("ckpt/model.pt", 100), ("metrics.json", 13)]
    assert await b.read_output("PyTorchJob", "o1", "default", "metrics.json", limit=5) == b'{"los'
    await b.create(pytorch("no-output"))
    with pytest.raises(NotFound) as err:
        await b.outputs("PyTorchJob", "no-output", "default")
    assert "DTRAIN_OUTPUT_DIR" in err.value.message and "the job is" in err.value.message
