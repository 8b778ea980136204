"""The pod and event informers' indexes answer what a walk of every cached object answers.

A job's pods and events are looked up by index (issue 18: a walk of every cached pod per
request held 57% of the server loop under 50 clients). These tests move pods and events
through every path the informer keeps its store by (add, update, label change, delete, a
re-list after 410) and compare each lookup with the walk it replaces.
"""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.kubernetes.api import Api
from dtrain_jupyter.backends.kubernetes.backend import _from_index, _indexed_pods
from dtrain_jupyter.backends.kubernetes.cache import Informer, Source
from dtrain_jupyter.backends.kubernetes.config import load_cluster_config
from dtrain_jupyter.backends.kubernetes.events import (
    EVENT_BY_SUBJECT, EVENT_INDEXERS, job_event_keys, job_events, slim_event,
)
from dtrain_jupyter.backends.kubernetes.pods import POD_INDEXERS, belongs_to, slim_pod
from dtrain_jupyter.model.job import Job
from dtrain_jupyter.model.kinds import LABEL_JOB_NAME, LABEL_OPERATOR

from .conftest import FAST, FAST_WATCH, eventually
from .test_backend import pytorch

PODS = ("", "pods")


def job(name, uid, kind="PyTorchJob", namespace="default"):
    return Job(backend="kubernetes", kind=kind, api_version="kubeflow.org/v1", name=name, namespace=namespace,
               uid=uid, created="", manifest={})


# Jobs the pods below point at: by label, by owner, by both, or by neither. Their uids are those of
# objects stored in the double (`owners` fixture), since its garbage collector deletes orphans.
JOBS = [job("a", "uid-a"), job("b", "uid-b"), job("c", "uid-c"), job("a", "uid-tf-a", kind="TFJob"),
        job("a", "uid-other-a", namespace="team")]
OWNER_NAMES = ("uid-a", "uid-b", "uid-c", "uid-x")


@pytest.fixture
def owners(kube_double):
    """Stores an object per name in OWNER_NAMES and points JOBS' uids at them; undone after the test."""
    real = {name: kube_double.put_raw("v1", "configmaps", "default", {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})["metadata"]["uid"]
        for name in OWNER_NAMES}
    kept = [j.uid for j in JOBS]
    for j in JOBS:
        j.uid = real.get(j.uid, j.uid)
    OWNER_UIDS.update(real)
    yield real
    for j, uid in zip(JOBS, kept):
        j.uid = uid
    OWNER_UIDS.clear()


OWNER_UIDS: dict[str, str] = {}


def pod(name, *, job_label=None, operator="pytorchjob-controller", owners=(), namespace="default"):
    labels = {LABEL_JOB_NAME: job_label, LABEL_OPERATOR: operator} if job_label is not None else {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels,
                         "ownerReferences": [{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "x",
                                              "uid": OWNER_UIDS[uid], "controller": True} for uid in owners]},
            "spec": {"containers": [{"name": "pytorch", "image": "img"}]},
            "status": {"phase": "Running"}}


def walk(inf, j):
    return sorted(p["metadata"]["name"] for p in inf.values() if belongs_to(p, j))


def looked_up(inf, j):
    return sorted(p["metadata"]["name"] for p in _indexed_pods([inf], j))


def index_matches_walk(inf):
    """Every index value any stored pod is filed under, and every job's lookup, agree with a walk."""
    values = inf.values()
    for index, func in POD_INDEXERS.items():
        expected: dict = {}
        for p in values:
            for at in func(p):
                expected.setdefault(at, set()).add(id(p))
        for at, ids in expected.items():
            if {id(p) for p in inf.by_index(index, at)} != ids:
                return False
        # Nothing stale: a value no stored pod has any more finds nothing.
        for at in seen_values[index] - expected.keys():
            if inf.by_index(index, at):
                return False
        seen_values[index] |= expected.keys()
    return all(walk(inf, j) == looked_up(inf, j) for j in JOBS)


seen_values: dict = {}


@pytest.fixture
def pod_informer(kube_double, owners):
    """A pod informer as the backend makes it, but selecting every pod (label-less ones included)."""
    seen_values.clear()
    seen_values.update({index: set() for index in POD_INDEXERS})
    api = Api(load_cluster_config(kubeconfig=kube_double.kubeconfig_path), FAST)
    inf = Informer(api, Source("", "v1", "pods", None), transform=slim_pod, tuning=FAST_WATCH, indexers=POD_INDEXERS)
    inf.start()
    assert inf.wait_synced(10)
    yield inf
    inf.stop()
    api.close()


async def settle(inf, names):
    await eventually(lambda: _has(inf, names), timeout=10)
    assert index_matches_walk(inf)


async def _has(inf, names):
    return sorted(p["metadata"]["name"] for p in inf.values()) == sorted(names)


async def test_index_follows_adds_updates_label_changes_and_deletes(pod_informer, kube_double):
    inf = pod_informer
    put = lambda p: kube_double.put_raw("v1", "pods", p["metadata"]["namespace"], p)  # noqa: E731
    put(pod("a-worker-0", job_label="a"))
    put(pod("a-worker-1", job_label="a", owners=["uid-a"]))
    put(pod("old-0", owners=["uid-a"]))                            # no labels: its owner decides
    put(pod("b-worker-0", job_label="b", owners=["uid-c"]))        # filed under b's label and c's uid
    put(pod("a-tf-0", job_label="a", operator="tfjob-controller"))  # same name, another kind
    put(pod("a-worker-0", job_label="a", namespace="team"))        # same name, another namespace
    put(pod("stray", owners=["uid-x", "uid-b"]))                   # two owners
    await settle(inf, ["a-worker-0", "a-worker-1", "old-0", "b-worker-0", "a-tf-0", "a-worker-0", "stray"])
    assert looked_up(inf, JOBS[0]) == ["a-worker-0", "a-worker-1", "old-0"]
    assert looked_up(inf, JOBS[2]) == ["b-worker-0"]
    assert looked_up(inf, JOBS[3]) == ["a-tf-0"] and looked_up(inf, JOBS[4]) == ["a-worker-0"]

    def relabel(p, label, owners):
        p["metadata"]["labels"] = {LABEL_JOB_NAME: label, LABEL_OPERATOR: "pytorchjob-controller"} if label else {}
        p["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": u,
                                             "uid": OWNER_UIDS[u], "controller": True} for u in owners]

    kube_double.store.mutate(PODS, "default", "a-worker-0", lambda p: relabel(p, "b", []))
    kube_double.store.mutate(PODS, "default", "old-0", lambda p: relabel(p, None, ["uid-b"]))
    kube_double.store.mutate(PODS, "default", "stray", lambda p: relabel(p, "c", []))
    await eventually(lambda: _moved(inf), timeout=10)
    assert index_matches_walk(inf)
    assert looked_up(inf, JOBS[0]) == ["a-worker-1"]
    assert looked_up(inf, JOBS[1]) == ["a-worker-0", "b-worker-0", "old-0"]

    kube_double.store.delete(PODS, "default", "a-worker-1")
    kube_double.store.delete(PODS, "default", "b-worker-0")
    await settle(inf, ["a-worker-0", "old-0", "a-tf-0", "a-worker-0", "stray"])
    assert looked_up(inf, JOBS[0]) == [] and looked_up(inf, JOBS[2]) == ["stray"]


async def _moved(inf):
    old = next(p for p in inf.values() if p["metadata"]["name"] == "old-0")
    stray = next(p for p in inf.values() if p["metadata"]["name"] == "stray")
    return old["metadata"]["ownerReferences"] == [{"uid": OWNER_UIDS["uid-b"]}] and stray["metadata"]["labels"]


async def test_index_is_rebuilt_by_a_relist_after_410(pod_informer, kube_double):
    inf = pod_informer
    for p in (pod("a-worker-0", job_label="a"), pod("a-worker-1", job_label="a"), pod("c-0", owners=["uid-c"])):
        kube_double.put_raw("v1", "pods", "default", p)
    await settle(inf, ["a-worker-0", "a-worker-1", "c-0"])
    lists = inf.generation
    kube_double.set_down(True)  # the informer misses these: only a re-list tells it
    kube_double.store.delete(PODS, "default", "a-worker-1")
    kube_double.store.mutate(PODS, "default", "c-0", lambda p: p["metadata"].update(
        labels={LABEL_JOB_NAME: "a", LABEL_OPERATOR: "pytorchjob-controller"}, ownerReferences=[]))
    kube_double.put_raw("v1", "pods", "default", pod("b-worker-0", job_label="b", owners=["uid-b"]))
    kube_double.compact()
    kube_double.set_down(False)
    await eventually(lambda: _has(inf, ["a-worker-0", "c-0", "b-worker-0"]), timeout=15)
    assert inf.generation > lists and index_matches_walk(inf)
    assert looked_up(inf, JOBS[0]) == ["a-worker-0", "c-0"] and looked_up(inf, JOBS[2]) == []


def event(name, kind, subject, namespace="default"):
    return slim_event({"metadata": {"name": name, "namespace": namespace},
                       "involvedObject": {"kind": kind, "name": subject, "namespace": namespace},
                       "reason": "Started", "message": name, "lastTimestamp": f"2024-05-01T10:00:{len(name):02d}Z"})


def test_event_index_finds_what_a_walk_of_every_event_finds():
    events = [
        event("e1", "PyTorchJob", "a"), event("e2", "Pod", "a-worker-0"), event("e3", "Pod", "a-worker-7"),
        event("e4", "Pod", "a-launcher"), event("e5", "Pod", "a-launcher-x7k2p"), event("e6", "Pod", "a-b-worker-0"),
        event("e7", "Pod", "odd-name"), event("e8", "TFJob", "a"), event("e9", "Pod", "a-worker-0", "team"),
        event("e10", "Pod", "a-launcher-12345"), event("e11", "PyTorchJob", "a-b"), event("e12", "Pod", "a"),
    ]
    index: dict = {}
    for ev in events:
        for at in EVENT_INDEXERS[EVENT_BY_SUBJECT](ev):
            index.setdefault(at, []).append(ev)
    # Live pods are found by name (odd-name has no job's shape), deleted ones by the job their name points to.
    cases = [("PyTorchJob", "a", "default", ["a-worker-0", "odd-name"]), ("TFJob", "a", "default", []),
             ("PyTorchJob", "a-b", "default", []), ("PyTorchJob", "a", "team", []),
             ("MPIJob", "a", "default", ["a-launcher-x7k2p"]), ("PyTorchJob", "zzz", "default", ["odd-name"])]
    counts = []
    for kind, name, namespace, pods in cases:
        keys = job_event_keys(name, namespace, pods)
        found = {id(ev): ev for key in keys for ev in index.get(key, [])}
        want = job_events(kind, name, namespace, pods, events)
        assert job_events(kind, name, namespace, pods, found.values()) == want, (kind, name, namespace)
        counts.append(len(want))
    assert counts == [7, 6, 2, 1, 5, 1]  # every case finds something, so the comparison above is not empty



async def test_before_the_watches_sync_only_this_jobs_pods_and_events_are_asked_for(kube_double, make_backend):
    """Issue 18: while the pod watch had not synced, every pods() call listed the whole namespace."""
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    for plural in ("pods", "events"):  # the informers' lists (across namespaces) never answer
        kube_double.fail_next("GET", rf"^/api/v1/{plural}$", status=500, times=10 ** 6)
    kube_double.put_raw("v1", "pods", "default", pod("someone-else-0", job_label="someone-else"))
    b = make_backend(kube_double)
    await b.start()
    await b.create(pytorch("early", replicas=1))
    pods = await eventually(lambda: _pods_of(b, "early", 2))
    assert [p.name for p in pods] == ["early-master-0", "early-worker-0"]
    events = await eventually(lambda: b.events("PyTorchJob", "early", "default"))
    assert {e.object_name for e in events} <= {"early", "early-master-0", "early-worker-0"}
    asked = [(p, q) for m, p, q in kube_double.request_log
             if m == "GET" and p.startswith("/api/v1/namespaces/default/")]
    assert {p for p, _ in asked} == {"/api/v1/namespaces/default/pods", "/api/v1/namespaces/default/events"}
    for path, query in asked:
        if path.endswith("/pods"):
            assert query.get("labelSelector") == f"{LABEL_JOB_NAME}=early", query
        else:
            subjects = ("early", *[p.name for p in pods])
            assert query.get("fieldSelector") in {f"involvedObject.name={n}" for n in subjects}


async def _pods_of(backend, name, n):
    pods = await backend.pods("PyTorchJob", name, "default")
    return pods if len(pods) == n else None
