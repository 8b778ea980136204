"""The watch cache keeps slim, shared records (issue 18), yet answers every field a face shows.

Full API objects (managedFields, env, images, container IDs, IPs, every timestamp) go into the
API test double; what the backend answers from its cache (list, get, pods, the list's JSON, the
log reader's view of a pod) is compared field by field with what the parse functions make of the
full objects themselves.
"""

from __future__ import annotations

import copy
import json

import pytest

from dtrain_jupyter.backends.kubernetes.cache import Compactor, pack_uid, pack_version, unpack_uid, unpack_version
from dtrain_jupyter.backends.kubernetes.jobs import job_from_object
from dtrain_jupyter.backends.kubernetes.logs import has_log, pod_waiting_line
from dtrain_jupyter.backends.kubernetes.pods import default_container, job_pods, pod_requests, slim_pod
from dtrain_jupyter.model.kinds import lookup
from dtrain_jupyter.server.job_json import JobListEncoder

from .conftest import eventually

PT = lookup("kubeflow.org/v1", "PyTorchJob")
TF = lookup("kubeflow.org/v1", "TFJob")
MPI = lookup("kubeflow.org/v1", "MPIJob")
LEAVE_ALONE = {"kube-double/simulate": "false"}  # the double's simulator does not touch these


def template(container, *, gpus=None, command=("python", "train.py")):
    resources = {"limits": {"nvidia.com/gpu": gpus}} if gpus else {"requests": {"cpu": "1", "memory": "1Gi"}}
    return {"metadata": {"labels": {"app": "train"}, "annotations": {"sidecar.istio.io/inject": "false"}},
            "spec": {"containers": [{"name": container, "image": "registry.example/team/train:2024.1",
                                     "command": list(command), "env": [{"name": "EPOCHS", "value": "3"}],
                                     "resources": resources, "volumeMounts": [{"name": "out", "mountPath": "/out"}]}],
                     "volumes": [{"name": "out", "persistentVolumeClaim": {"claimName": "results"}}]}}


def job_object(fw, name, *, running=True, restart_policy="OnFailure", extra_spec=None, labels=None):
    lead, worker = {"PyTorchJob": ("Master", "Worker"), "TFJob": ("Chief", "Worker"),
                    "MPIJob": ("Launcher", "Worker")}[fw.kind]
    conditions = [
        {"type": "Created", "status": "True", "reason": f"{fw.kind}Created", "message": f"{fw.kind} {name} is created.",
         "lastUpdateTime": "2024-05-01T10:00:00Z", "lastTransitionTime": "2024-05-01T10:00:00Z"},
        {"type": "Running" if running else "Succeeded", "status": "True",
         "reason": f"{fw.kind}{'Running' if running else 'Succeeded'}", "message": f"{fw.kind} {name} is running.",
         "lastUpdateTime": "2024-05-01T10:00:09Z", "lastTransitionTime": "2024-05-01T10:00:09Z"},
    ]
    counts = {"active": 1} if running else {"succeeded": 1}
    return {
        "apiVersion": fw.api_version, "kind": fw.kind,
        "metadata": {"name": name, "namespace": "default", "labels": {"team": "vision", **(labels or {})},
                     "annotations": {**LEAVE_ALONE, "kubectl.kubernetes.io/last-applied-configuration": "{\"big\": 1}"},
                     "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}], "generation": 1},
        "spec": {fw.replica_key: {
            lead: {"replicas": 1, "restartPolicy": restart_policy, "template": template(fw.default_container or "main")},
            worker: {"replicas": 3, "restartPolicy": restart_policy,
                     "template": template(fw.default_container or "main", gpus="4")}},
            "runPolicy": {"cleanPodPolicy": "None", "backoffLimit": 3}, **(extra_spec or {})},
        "status": {"conditions": conditions, "replicaStatuses": {lead: counts, worker: {**counts, "active": 3}
                                                                 if running else {"succeeded": 3}},
                   "startTime": "2024-05-01T10:00:02Z", **({} if running else {"completionTime": "2024-05-01T11:00:00Z"})},
    }


def pod_object(job, rtype, index, *, phase="Running", statuses=None, node="gpu-node-7", conditions=None,
               containers=None, status_extra=None, gpus=None):
    fw = lookup(job["apiVersion"], job["kind"])
    name = f"{job['metadata']['name']}-{rtype.lower()}-{index}"
    names = containers or [fw.default_container or "main"]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": "default", "generateName": f"{job['metadata']['name']}-",
            "labels": {"training.kubeflow.org/job-name": job["metadata"]["name"],
                       "training.kubeflow.org/operator-name": fw.operator_name,
                       "training.kubeflow.org/replica-type": rtype.lower(),
                       "training.kubeflow.org/replica-index": str(index), "app": "train"},
            "annotations": {"kubectl.kubernetes.io/default-container": names[-1]},
            "ownerReferences": [{"apiVersion": job["apiVersion"], "kind": job["kind"], "name": job["metadata"]["name"],
                                 "uid": job["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}],
            "managedFields": [{"manager": "training-operator", "fieldsV1": {"f:metadata": {}}}],
        },
        "spec": {"nodeName": node, "serviceAccountName": "default", "restartPolicy": "OnFailure",
                 "containers": [{"name": c, "image": "registry.example/team/train:2024.1",
                                 "env": [{"name": "RANK", "value": str(index)}],
                                 "resources": {"limits": {"nvidia.com/gpu": gpus}} if gpus else {}} for c in names],
                 "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
        "status": {"phase": phase, "podIP": f"10.1.{index}.7", "hostIP": "192.168.0.7", "qosClass": "Burstable",
                   "startTime": "2024-05-01T10:00:03Z", "conditions": conditions or [
                       {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-05-01T10:00:03Z"},
                       {"type": "Ready", "status": "True", "lastTransitionTime": "2024-05-01T10:00:08Z"}],
                   "containerStatuses": statuses or [], **(status_extra or {})},
    }


def running(name, restarts=0, last=None):
    s = {"name": name, "ready": True, "started": True, "restartCount": restarts, "image": "registry.example/t:1",
         "imageID": "registry.example/t@sha256:ab12", "containerID": "containerd://4f2a",
         "state": {"running": {"startedAt": "2024-05-01T10:00:07Z"}}}
    if last:
        s["lastState"] = {"terminated": {**last, "containerID": "containerd://91bc", "startedAt": "2024-05-01T10:00:04Z",
                                         "finishedAt": "2024-05-01T10:00:06Z"}}
    return s


def terminated(name, exit_code, reason, **more):
    return {"name": name, "ready": False, "restartCount": 0, "image": "registry.example/t:1",
            "imageID": "registry.example/t@sha256:ab12", "containerID": "containerd://77aa",
            "state": {"terminated": {"exitCode": exit_code, "reason": reason, "containerID": "containerd://77aa",
                                     "startedAt": "2024-05-01T10:00:07Z", "finishedAt": "2024-05-01T10:59:00Z", **more}}}


def waiting(name, reason, message=None, restarts=0, last=None):
    s = {"name": name, "ready": False, "restartCount": restarts, "image": "registry.example/t:1", "imageID": "",
         "state": {"waiting": {"reason": reason, **({"message": message} if message else {})}}}
    if last:
        s["lastState"] = {"terminated": {**last, "finishedAt": "2024-05-01T10:30:00Z", "containerID": "containerd://1"}}
    return s


def replicas_of(job):
    """Every kind of pod a person meets: running, restarted, crash-looping, OOMKilled, killed by a signal,
    unschedulable, evicted, image pull back-off, a sidecar listed first."""
    fw = lookup(job["apiVersion"], job["kind"])
    c = fw.default_container or "main"
    lead = {"PyTorchJob": "Master", "TFJob": "Chief", "MPIJob": "Launcher"}[job["kind"]]
    return [
        pod_object(job, lead, 0, statuses=[running(c)]),
        pod_object(job, "Worker", 0, statuses=[running(c, 2, {"exitCode": 137, "reason": "OOMKilled"})], gpus="4"),
        pod_object(job, "Worker", 1, statuses=[waiting(c, "CrashLoopBackOff", "back-off 5m0s restarting", 5,
                                                       {"exitCode": 1, "reason": "Error"})]),
        pod_object(job, "Worker", 2, phase="Failed", statuses=[terminated(c, 137, "OOMKilled")]),
        pod_object(job, "Worker", 3, phase="Failed", statuses=[terminated(c, 143, "Error", signal=15)]),
        pod_object(job, "Worker", 4, phase="Succeeded", statuses=[terminated(c, 0, "Completed")]),
        pod_object(job, "Worker", 5, phase="Pending", node=None, gpus="8", statuses=[], conditions=[
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
             "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
             "lastProbeTime": None, "lastTransitionTime": "2024-05-01T10:00:03Z"}]),
        pod_object(job, "Worker", 6, phase="Failed", statuses=[terminated(c, 137, "Error")],
                   status_extra={"reason": "Evicted", "message": "The node was low on resource: memory."}),
        pod_object(job, "Worker", 7, phase="Pending", statuses=[waiting(c, "ImagePullBackOff", "Back-off pulling")]),
        pod_object(job, "Worker", 8, containers=["istio-proxy", c],
                   statuses=[running("istio-proxy"), terminated(c, 2, "Error")]),
    ]


@pytest.fixture
def seeded(kube_double):
    """(jobs by name, pods by job name): three kinds, the same templates, every pod state, in the double."""
    jobs, pods = {}, {}
    for fw, name, kw in [(PT, "pt-a", {}), (PT, "pt-b", {"running": False}), (TF, "tf-a", {}), (MPI, "mpi-a", {}),
                         # equal but for a 1 / 1.0 / true: must not share a part with the others
                         (PT, "pt-one", {"extra_spec": {"note": 1}}), (PT, "pt-float", {"extra_spec": {"note": 1.0}}),
                         (PT, "pt-true", {"extra_spec": {"note": True}})]:
        stored = kube_double.put_raw(fw.api_version, fw.plural, "default", job_object(fw, name, **kw))
        jobs[name] = stored
        pods[name] = [kube_double.put_raw("v1", "pods", "default", p) for p in replicas_of(stored)]
    return jobs, pods


def expected_job(raw):
    """The Job the parse function makes of the full object, alone (nothing shared with anything)."""
    return job_from_object(copy.deepcopy(raw), lookup(raw["apiVersion"], raw["kind"]), "double")


async def test_list_get_and_the_list_json_answer_what_the_full_objects_say(backend, seeded):
    jobs, _ = seeded
    await eventually(lambda: _names(backend, set(jobs)))
    listed = {j.name: j for j in await backend.list("default") if j.name in jobs}
    for name, raw in jobs.items():
        want = expected_job(raw)
        assert listed[name].to_dict() == want.to_dict(), name
        got = await backend.get(raw["kind"], name, "default")
        assert got.to_dict() == want.to_dict(), name
        # Field by field against the full object, not only against the parse function.
        assert json.dumps(got.manifest["spec"]) == json.dumps(raw["spec"])
        assert got.manifest["metadata"] == {"name": name, "namespace": "default",
                                            "labels": raw["metadata"]["labels"],
                                            "annotations": LEAVE_ALONE}
        assert got.status.conditions == raw["status"]["conditions"]
        assert got.status.start_time == raw["status"]["startTime"]
        assert (got.uid, got.created) == (raw["metadata"]["uid"], raw["metadata"]["creationTimestamp"])
    # What the API sends: the encoded list is byte for byte the full objects' jobs, encoded.
    ordered = [listed[n] for n in sorted(jobs, key=lambda n: (jobs[n]["kind"], n))]
    body = bytes(JobListEncoder().encode(ordered, []))
    assert body == json.dumps({"items": [expected_job(jobs[j.name]).to_dict() for j in ordered],
                               "problems": []}).encode()


async def test_pods_answer_every_field_the_full_pods_give(backend, seeded):
    jobs, pods = seeded
    await eventually(lambda: _names(backend, set(jobs)))
    for name, raw in jobs.items():
        fw = lookup(raw["apiVersion"], raw["kind"])
        want = [p.to_dict() for p in job_pods(expected_job(raw), pods[name], fw)]
        got = await eventually(lambda: _pods_when(backend, raw, len(want)))
        assert [p.to_dict() for p in got] == want, name
    # Spot checks, so a wrong reference could not hide a wrong answer.
    got = {p.name: p for p in await backend.pods("PyTorchJob", "pt-a", "default")}
    crash = got["pt-a-worker-1"]
    assert (crash.exit_code, crash.restarts, crash.node, crash.started) == (1, 5, "gpu-node-7", "2024-05-01T10:00:03Z")
    assert crash.reason.startswith("waiting: CrashLoopBackOff") and crash.reason.endswith("(last exit: exit code 1)")
    assert got["pt-a-worker-0"].reason == "Running, restarted 2× (last exit: OOMKilled)"
    assert (got["pt-a-worker-3"].reason, got["pt-a-worker-3"].finished) == ("killed by signal 15", "2024-05-01T10:59:00Z")
    assert got["pt-a-worker-5"].reason == "Pending: 0/3 nodes have 8 free nvidia.com/gpu"
    assert got["pt-a-worker-6"].reason == "Evicted: The node was low on resource: memory."
    assert got["pt-a-worker-8"].containers == ["istio-proxy", "pytorch"] and got["pt-a-worker-8"].exit_code == 2


async def test_what_the_log_reader_and_events_read_of_a_cached_pod_is_the_full_pods(backend, seeded):
    jobs, pods = seeded
    await eventually(lambda: _names(backend, set(jobs)))
    raw_job = jobs["tf-a"]
    await eventually(lambda: _pods_when(backend, raw_job, len(pods["tf-a"])))
    cached = {p["metadata"]["name"]: p for inf in backend._watches.pods("default") for p in inf.values()}
    for full in pods["tf-a"]:
        slim = cached[full["metadata"]["name"]]
        for previous in (False, True):
            assert has_log(slim, previous) == has_log(full, previous)
        assert default_container(slim, TF) == default_container(full, TF)
        assert pod_waiting_line(slim, "tf-a", TF) == pod_waiting_line(full, "tf-a", TF)
        assert pod_requests(slim) == pod_requests(full)
        assert (slim["metadata"]["uid"], slim["metadata"]["resourceVersion"]) == (
            full["metadata"]["uid"], full["metadata"]["resourceVersion"])


async def test_a_watched_change_is_answered_from_the_new_object(backend, kube_double, seeded):
    jobs, pods = seeded
    raw = jobs["pt-a"]
    await eventually(lambda: _pods_when(backend, raw, len(pods["pt-a"])))

    def finish(pod):
        pod["status"]["phase"] = "Failed"
        pod["status"]["containerStatuses"] = [terminated("pytorch", 3, "Error")]

    new = kube_double.store.mutate(("", "pods"), "default", "pt-a-master-0", finish)
    fresh = [new if p["metadata"]["name"] == "pt-a-master-0" else p for p in pods["pt-a"]]
    want = [p.to_dict() for p in job_pods(expected_job(raw), fresh, PT)]
    await eventually(lambda: _pods_equal(backend, raw, want))
    master = next(p for p in await backend.pods("PyTorchJob", "pt-a", "default") if p.name == "pt-a-master-0")
    assert (master.phase, master.exit_code, master.reason) == ("Failed", 3, "exit code 3")


async def test_pods_the_cache_cannot_see_are_read_whole_and_answer_alike(backend, kube_double):
    """An old operator's pods lack the label the pod watch selects on: read once from the API server."""
    raw = kube_double.put_raw(PT.api_version, PT.plural, "default", job_object(PT, "old-op"))
    full = []
    for p in replicas_of(raw)[:3]:
        p["metadata"]["labels"] = {"job-name": "old-op", "group-name": "kubeflow.org"}
        full.append(kube_double.put_raw("v1", "pods", "default", p))
    await eventually(lambda: _names(backend, {"old-op"}))
    want = [p.to_dict() for p in job_pods(expected_job(raw), full, PT)]
    assert [p.to_dict() for p in await backend.pods("PyTorchJob", "old-op", "default")] == want


def test_equal_parts_are_held_once_and_read_back_equal():
    shared = Compactor()
    a = shared.share({"spec": {"containers": [{"name": "pytorch", "image": "x:1"}]}, "n": 1})
    b = shared.share({"spec": {"containers": [{"name": "pytorch", "image": "x:1"}]}, "n": 1})
    assert a is b and a == {"spec": {"containers": [{"name": "pytorch", "image": "x:1"}]}, "n": 1}
    c = shared.share({"spec": {"containers": [{"name": "pytorch", "image": "x:1"}]}, "n": 2})
    assert c is not a and c["spec"] is a["spec"]  # the equal part is shared, the whole is not
    # Equal as Python values, different as JSON: never one object.
    one, fl, true = (shared.share({"n": v}) for v in (1, 1.0, True))
    assert [json.dumps(x) for x in (one, fl, true)] == ['{"n": 1}', '{"n": 1.0}', '{"n": true}']
    # Key order is part of the value (the JSON a person reads keeps it).
    assert list(shared.share({"b": 1, "a": 2})) == ["b", "a"] and list(shared.share({"a": 2, "b": 1})) == ["a", "b"]
    # An empty list and an empty dict stay what they were.
    assert shared.share([]) == [] and type(shared.share({})) is dict


def test_the_table_of_parts_stays_bounded():
    shared = Compactor(size=8)
    for i in range(100):
        assert shared.share({"i": i, "tag": "x"}) == {"i": i, "tag": "x"}
    assert len(shared._young) + len(shared._old) <= 16
    # A part that dropped out is built again, equal, and shared from then on.
    again = shared.share({"i": 0, "tag": "x"})
    assert again == {"i": 0, "tag": "x"} and shared.share({"i": 0, "tag": "x"}) is again


def test_slim_pod_keeps_no_copy_of_what_no_face_reads():
    job = job_object(PT, "pt")
    job["metadata"]["uid"] = "u-1"
    slim = slim_pod(replicas_of(job)[1])
    text = json.dumps({**slim, "metadata": {**slim["metadata"], "labels": dict(slim["metadata"]["labels"])}})
    # The terminated state's startedAt (10:00:04) goes; the running state's (10:00:07) says it runs.
    for gone in ("managedFields", "env", "image", "containerID", "podIP", "tolerations", "generateName",
                 "2024-05-01T10:00:04Z"):
        assert gone not in text, gone
    assert slim["status"]["containerStatuses"] == [{
        "name": "pytorch", "restartCount": 2, "state": {"running": {"startedAt": "2024-05-01T10:00:07Z"}},
        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2024-05-01T10:00:06Z"}}}]


async def _names(backend, names):
    return names <= {j.name for j in await backend.list("default")}


async def _pods_when(backend, raw, count):
    got = await backend.pods(raw["kind"], raw["metadata"]["name"], "default")
    return got if len(got) == count else None


async def _pods_equal(backend, raw, want):
    got = await backend.pods(raw["kind"], raw["metadata"]["name"], "default")
    return [p.to_dict() for p in got] == want


def test_pod_labels_read_as_the_api_dict_and_share_their_keys():
    # A pod's labels keep the API's keys in order and its values, read as the dict is; pods
    # labelled with the same keys hold one tuple of them.
    job = job_object(PT, "pt")
    job["metadata"]["uid"] = "u-1"
    raw = [replicas_of(job)[i] for i in (0, 1)]
    shared = Compactor()
    first, second = (slim_pod(p, shared)["metadata"]["labels"] for p in raw)
    for labels, pod in zip((first, second), raw):
        want = pod["metadata"]["labels"]
        assert labels == want and want == labels and dict(labels) == want
        assert list(labels) == list(want) and list(labels.items()) == list(want.items()) and len(labels) == len(want)
        assert all(labels[k] == v and labels.get(k) == v and k in labels for k, v in want.items())
        assert labels.get("absent") is None and labels.get("absent", "x") == "x" and "absent" not in labels
        with pytest.raises(KeyError):
            labels["absent"]
    assert first != second and first._keys is second._keys
    # Labels that are not all strings (not what the API sends) are kept as a dict, and no labels as none.
    odd = {**raw[0], "metadata": {**raw[0]["metadata"], "labels": {"n": 1}}}
    assert slim_pod(odd, shared)["metadata"]["labels"] == {"n": 1}
    bare = {**raw[0], "metadata": {k: v for k, v in raw[0]["metadata"].items() if k != "labels"}}
    assert "labels" not in slim_pod(bare, shared)["metadata"]


@pytest.mark.parametrize("uid", ["0f8a2c1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", "00000000-0000-0000-0000-000000000000",
                                 "0F8A2C1E-3B4D-4E5F-8A9B-0C1D2E3F4A5B", "0f8a2c1e3b4d4e5f8a9b0c1d2e3f4a5b",
                                 "0x8a2c1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b", " f8a2c1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
                                 "u-1", "", None, 7, True, (1,)])
def test_a_uid_packs_to_a_number_only_when_it_reads_back_the_same(uid):
    # A number where the uid is a UUID as the API writes it; anything else is kept as it came.
    packed = pack_uid(uid)
    assert unpack_uid(packed) == uid and type(unpack_uid(packed)) is type(uid)
    canonical = isinstance(uid, str) and len(uid) == 36 and uid == uid.lower() and uid[0] not in " x" \
        and uid[1] != "x"
    assert isinstance(packed, int) == canonical


@pytest.mark.parametrize("version", ["0", "7", "123456", "98765432109876543210", "007", "", "12a", "\u00b2", "-1",
                                     " 5", None, 7, True, (1,), "1" * 21, "1" * 4301])
def test_a_resource_version_packs_to_a_number_only_when_it_reads_back_the_same(version):
    packed = pack_version(version)
    assert unpack_version(packed) == version and type(unpack_version(packed)) is type(version)
    assert isinstance(packed, int) == (version in ("0", "7", "123456", "98765432109876543210"))


def test_a_slim_pods_uid_and_version_read_as_the_api_wrote_them():
    # Kept as numbers (44 and 28 bytes, not 85 and about 55), read back as the API's strings:
    # the log reader compares a pod's uid to tell a recreated pod, the informer its resourceVersion.
    job = job_object(PT, "pt")
    job["metadata"]["uid"] = "u-1"
    raw = replicas_of(job)[0]
    raw["metadata"].update(uid="5b7e0a8c-1f2d-4c3b-9a8e-7d6c5b4a3f2e", resourceVersion="48213")
    slim = slim_pod(raw)
    assert slim["metadata"]["uid"] == slim.uid == "5b7e0a8c-1f2d-4c3b-9a8e-7d6c5b4a3f2e"
    assert slim["metadata"]["resourceVersion"] == slim.resource_version == "48213"
    assert isinstance(slim._uid, int) and isinstance(slim._version, int)
    raw["metadata"].update(uid="pod-1", resourceVersion="v2")
    assert (slim_pod(raw).uid, slim_pod(raw).resource_version) == ("pod-1", "v2")
    del raw["metadata"]["uid"], raw["metadata"]["resourceVersion"]
    assert {"uid", "resourceVersion"}.isdisjoint(slim_pod(raw)["metadata"])
