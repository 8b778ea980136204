"""The store directly: resourceVersions, no-op writes, garbage collection by propagation policy."""

from __future__ import annotations

import pytest

from tests.kube_double.store import Store, StoreError

JOBS = ("kubeflow.org", "pytorchjobs")
PODS = ("", "pods")


def _job(store: Store, name: str = "j") -> dict:
    return store.create(JOBS, "default", {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                                          "metadata": {"name": name}, "spec": {"a": 1}})


def _pod(store: Store, name: str, owner: dict, block: bool = True) -> dict:
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": block}
    return store.create(PODS, "default", {"apiVersion": "v1", "kind": "Pod",
                                          "metadata": {"name": name, "ownerReferences": [ref]}, "spec": {}})


def test_every_write_gets_a_higher_resource_version_and_noops_do_not():
    store = Store()
    job = _job(store)
    same = store.update(JOBS, "default", job)
    job["spec"] = {"a": 2}
    changed = store.update(JOBS, "default", job)
    assert same["metadata"]["resourceVersion"] == job["metadata"]["resourceVersion"]
    assert int(changed["metadata"]["resourceVersion"]) > int(job["metadata"]["resourceVersion"])
    assert changed["metadata"]["generation"] == 2


def test_background_deletes_owner_then_dependents():
    store = Store()
    job = _job(store)
    _pod(store, "j-master-0", job)
    events = []
    store.watch(PODS, None, store.rv, lambda t, o, old, rv: events.append((t, o["metadata"]["name"])))

    obj, gone = store.delete(JOBS, "default", "j")

    assert gone and store.get(JOBS, "default", "j") is None
    assert store.get(PODS, "default", "j-master-0") is None
    assert events == [("DELETED", "j-master-0")]


def test_foreground_keeps_owner_until_dependents_are_gone():
    collected = []
    store = Store()
    store.schedule = collected.append  # run the collector by hand, like a slow GC
    job = _job(store)
    _pod(store, "j-master-0", job)

    obj, gone = store.delete(JOBS, "default", "j", propagation="Foreground")

    held = store.get(JOBS, "default", "j")
    assert not gone and held["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert held["metadata"]["deletionTimestamp"]
    collected.pop()()
    assert store.get(PODS, "default", "j-master-0") is None
    assert store.get(JOBS, "default", "j") is None


def test_orphan_strips_owner_references():
    store = Store()
    job = _job(store)
    _pod(store, "j-master-0", job)
    store.delete(JOBS, "default", "j", propagation="Orphan")
    pod = store.get(PODS, "default", "j-master-0")
    assert pod is not None and pod["metadata"]["ownerReferences"] == []


def test_other_finalizers_hold_the_object_until_cleared():
    store = Store()
    job = store.create(JOBS, "default", {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
                                         "metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    _, gone = store.delete(JOBS, "default", "f")
    held = store.get(JOBS, "default", "f")
    held["metadata"]["finalizers"] = []
    store.update(JOBS, "default", held)
    assert not gone and store.get(JOBS, "default", "f") is None
    assert job["metadata"]["uid"]


def test_watch_from_before_compaction_raises_410():
    store = Store()
    rv = store.rv
    _job(store)
    store.compact()
    with pytest.raises(StoreError) as e:
        store.watch(JOBS, None, rv, lambda *a: None)
    assert (e.value.code, e.value.reason) == (410, "Expired")
