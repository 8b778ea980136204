"""The list+watch cache: resume after a dropped stream, re-list after 410, survive a server that is down."""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.kubernetes.api import Api
from dtrain_jupyter.backends.kubernetes.cache import Informer, Source
from dtrain_jupyter.backends.kubernetes.config import load_cluster_config
from dtrain_jupyter.errors import BackendUnavailable

from .conftest import FAST, FAST_WATCH, eventually
from .test_backend import pytorch


def list_calls(kd, plural="pytorchjobs"):
    return [q for m, p, q in kd.request_log if m == "GET" and p.endswith(f"/{plural}") and q.get("watch") is None]


def watch_calls(kd, plural="pytorchjobs"):
    return [q for m, p, q in kd.request_log if m == "GET" and p.endswith(f"/{plural}") and q.get("watch")]


async def names(backend, namespace="default"):
    return {j.name for j in await backend.list(namespace)}


async def test_dropped_watch_resumes_from_its_resource_version(backend, kube_double):
    await backend.create(pytorch("before"))
    await eventually(lambda: _has(backend, "before"))
    lists = len(list_calls(kube_double))
    kube_double.drop_watches()
    await backend.create(pytorch("after"))
    await eventually(lambda: _has(backend, "after"))
    assert len(list_calls(kube_double)) == lists  # resumed, not re-listed
    resumed = watch_calls(kube_double)[-1]
    assert resumed.get("resourceVersion") not in (None, "", "0")


async def _has(backend, name, namespace="default"):
    return name in await names(backend, namespace)


async def test_gone_after_compaction_relists_and_reports_missed_deletes(kube_double, make_backend):
    kube_double.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    b = make_backend(kube_double)
    await b.start()
    seen = []
    b.subscribe(lambda change, job: seen.append((change, job.name)))
    await b.create(pytorch("keep"))
    await b.create(pytorch("doomed"))
    await eventually(lambda: _has(b, "doomed"))
    kube_double.set_down(True)          # the backend misses what happens next
    kube_double.store.delete(("kubeflow.org", "pytorchjobs"), "default", "doomed")
    kube_double.compact()
    kube_double.set_down(False)
    lists = len(list_calls(kube_double))
    await eventually(lambda: len(list_calls(kube_double)) > lists, timeout=15)
    await eventually(lambda: not _sync_has(b, "doomed"), timeout=15)
    assert ("DELETED", "doomed") in seen
    assert "keep" in await names(b)


def _sync_has(backend, name):
    return any(e.job.name == name for inf in backend._watches.jobs() for e in inf.values())


async def test_api_server_down_at_start_is_picked_up_later(kube_double, make_backend):
    kube_double.set_down(True)
    b = make_backend(kube_double, start_wait=0.5)
    await b.start()  # returns: the Jupyter server keeps running
    d = b.describe()
    assert d["ready"] is False and kube_double.url in d["message"]
    with pytest.raises(BackendUnavailable):
        await b.list()
    kube_double.set_down(False)
    await eventually(lambda: b.describe()["ready"], timeout=15)
    await b.create(pytorch("late"))
    await eventually(lambda: _has(b, "late"))


async def test_server_going_away_keeps_the_cache_and_recovers(backend, kube_double):
    await backend.create(pytorch("stay"))
    await eventually(lambda: _has(backend, "stay"))
    kube_double.set_down(True)
    await eventually(lambda: not backend.describe()["ready"], timeout=15)
    assert "stay" in await names(backend)  # last known state, not an error
    kube_double.set_down(False)
    await eventually(lambda: backend.describe()["ready"], timeout=15)
    await backend.create(pytorch("back"))
    await eventually(lambda: _has(backend, "back"))


async def test_bookmarks_advance_the_resource_version(kube_double):
    api = Api(load_cluster_config(kubeconfig=kube_double.kubeconfig_path), FAST)
    inf = Informer(api, Source("kubeflow.org", "v1", "tfjobs"), tuning=FAST_WATCH)
    inf.start()
    try:
        assert inf.wait_synced(10)
        # A change to another kind moves the global resourceVersion; only a bookmark tells this watch,
        # so a later resume does not replay (or lose) history.
        other = kube_double.put_raw("kubeflow.org/v1", "pytorchjobs", "default", pytorch("elsewhere"))
        target = int(other["metadata"]["resourceVersion"])
        await eventually(lambda: int(inf.resource_version or 0) >= target, timeout=10)
        assert inf.values() == []
        assert all(q.get("allowWatchBookmarks") == "true" for q in watch_calls(kube_double, "tfjobs"))
    finally:
        inf.stop()
        api.close()


async def test_list_retried_after_server_errors(kube_double, make_backend):
    kube_double.fail_next("GET", r"/apis/kubeflow.org/v1/pytorchjobs$", status=500, times=2)
    b = make_backend(kube_double)
    await b.start()
    assert b.describe()["ready"] is True
    assert len(list_calls(kube_double)) == 3  # two refused, the third answered



def test_an_index_keeps_store_keys_in_the_order_they_were_filed():
    # Buckets are tuples of store keys (a dict per bucket cost 250 bytes a job, issue 18); a value
    # stored again in the same bucket keeps its place, one filed elsewhere leaves its old bucket,
    # an empty bucket goes.
    by_group = {"group": lambda v: (v["metadata"]["labels"]["g"],)}
    inf = Informer(None, Source("", "v1", "things"), indexers=by_group)  # type: ignore[arg-type]  # never started

    def event(kind, name, group):
        obj = {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "1", "labels": {"g": group}}}
        inf._apply({"type": kind, "object": obj})

    def names(group):
        return [v["metadata"]["name"] for v in inf.by_index("group", group)]

    for name in ("a", "b", "c"):
        event("ADDED", name, "x")
    assert names("x") == ["a", "b", "c"] and isinstance(inf._indices["group"]["x"], tuple)
    key_of_b = inf._indices["group"]["x"][1]
    event("MODIFIED", "b", "x")
    assert names("x") == ["a", "b", "c"]
    assert inf._indices["group"]["x"][1] is key_of_b  # untouched: still the key object first filed
    event("MODIFIED", "a", "y")
    assert (names("x"), names("y")) == (["b", "c"], ["a"])
    event("DELETED", "c", "x")
    event("DELETED", "a", "y")
    assert (names("x"), names("y")) == (["b"], []) and "y" not in inf._indices["group"]
    # A list rebuilds every index from its store, in the store's order.
    assert inf._build_indices(inf._store) == {"group": {"x": (("ns", "b"),)}}


def test_a_large_bucket_files_and_removes_in_constant_time_and_reads_in_order():
    # Past a few keys a bucket is an ordered dict: a job of thousands of pods (or events) must not
    # cost a scan of its bucket per event (review of issue 18's slimmer cache: 4,000 pods, 665 µs an event).
    by_group = {"group": lambda v: (v["metadata"]["labels"]["g"],)}
    inf = Informer(None, Source("", "v1", "things"), indexers=by_group)  # type: ignore[arg-type]  # never started

    def event(kind, name, group):
        obj = {"metadata": {"name": name, "namespace": "ns", "resourceVersion": "1", "labels": {"g": group}}}
        inf._apply({"type": kind, "object": obj})

    names = [f"p{i}" for i in range(20)]
    for name in names:
        event("ADDED", name, "big")
    assert isinstance(inf._indices["group"]["big"], dict)
    assert [v["metadata"]["name"] for v in inf.by_index("group", "big")] == names
    event("MODIFIED", "p3", "big")
    event("MODIFIED", "p4", "other")
    event("DELETED", "p5", "big")
    assert [v["metadata"]["name"] for v in inf.by_index("group", "big")] == [n for n in names if n not in ("p4", "p5")]
    assert inf._build_indices(inf._store)["group"]["big"] == inf._indices["group"]["big"]
    for name in names:
        event("DELETED", name, "other" if name == "p4" else "big")
    assert inf._indices["group"] == {}


def test_a_key_the_store_lacks_is_skipped_by_an_index_read():
    # An indexer that failed midway can leave a key behind in an index: reads skip it, never KeyError.
    inf = Informer(None, Source("", "v1", "things"), indexers={"g": lambda v: ("x",)})  # type: ignore[arg-type]
    inf._apply({"type": "ADDED", "object": {"metadata": {"name": "a", "namespace": "ns", "resourceVersion": "1"}}})
    inf._indices["g"]["x"] = (("ns", "gone"), ("ns", "a"))
    assert [v["metadata"]["name"] for v in inf.by_index("g", "x")] == ["a"]
