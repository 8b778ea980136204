"""The history store: records kept by backend + uid, filters, keyset paging, retention, damage."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from dtrain_jupyter.history.store import (DATABASE_FILE, HistoryError, HistoryQuery, HistoryStore, Show,
                                          iter_all)
from dtrain_jupyter.model.job import Event, Job, JobStatus, Pod
from dtrain_jupyter.model.status import Phase


def job(name: str, *, uid: str | None = None, phase: Phase = Phase.RUNNING, created: str = "2026-12-01T10:00:00Z",
        kind: str = "PyTorchJob", backend: str = "local", namespace: str = "default") -> Job:
    return Job(backend=backend, kind=kind, api_version="kubeflow.org/v1", name=name, namespace=namespace,
               uid=uid or f"uid-{name}", created=created, manifest={"kind": kind, "metadata": {"name": name}},
               status=JobStatus(phase=phase, reason="r", message="m", conditions=[{"type": "Created"}]))


def pod(name: str, phase: str = "Running", exit_code: int | None = None) -> Pod:
    return Pod(name=name, namespace="default", job_name="a", replica_type="Worker", replica_index=0,
               phase=phase, exit_code=exit_code)


@pytest.fixture
def store(tmp_path):
    opened = HistoryStore(tmp_path / "history")
    yield opened
    opened.close()


def test_a_job_round_trips_with_its_pods_and_events(store):
    record_id = store.record_job(job("a"))
    store.record_pods(record_id, [pod("a-worker-0"), pod("a-master-0")])
    store.record_pods(record_id, [pod("a-worker-0", "Failed", 3)])
    store.record_events(record_id, [Event("Warning", "BackOff", "restarting", "Pod", "a-worker-0")])
    store.record_events(record_id, [Event("Warning", "BackOff", "restarting", "Pod", "a-worker-0", count=4)])
    record = store.record(record_id)
    assert record.job == job("a")
    # A pod missing from a later report (removed by cleanPodPolicy) keeps its last state.
    assert {(p.name, p.phase, p.exit_code) for p in record.pods} == {("a-worker-0", "Failed", 3),
                                                                      ("a-master-0", "Running", None)}
    assert [e.count for e in record.events] == [4]
    assert record.on_cluster and record.finished is None


def test_the_same_name_twice_is_two_records_newest_first(store):
    first = store.record_job(job("a", uid="1", created="2026-12-01T10:00:00Z", phase=Phase.FAILED))
    second = store.record_job(job("a", uid="2", created="2026-12-02T10:00:00Z"))
    assert [r.id for r in store.find("local", "default", "PyTorchJob", "a")] == [second, first]
    assert store.record_job(job("a", uid="2", created="2026-12-02T10:00:00Z", phase=Phase.SUCCEEDED)) == second
    assert store.count() == 2


def test_finished_time_is_when_it_was_first_seen_finished(store):
    record_id = store.record_job(job("a", phase=Phase.SUCCEEDED), now=100.0)
    store.record_job(job("a", phase=Phase.SUCCEEDED), now=200.0)
    assert store.record(record_id).finished == 100.0


def test_deleted_jobs_stay_and_come_back_if_seen_again(store):
    record_id = store.record_job(job("a"))
    assert store.mark_deleted("local", "uid-a", now=5.0)
    assert not store.mark_deleted("local", "uid-a")
    assert store.record(record_id).deleted == 5.0
    assert store.list(HistoryQuery(show=Show.LIVE)).records == []
    store.record_job(job("a"))
    assert store.record(record_id).on_cluster


def test_filters_live_finished_text_kind_and_dates(store):
    store.record_job(job("train-resnet", phase=Phase.RUNNING, created="2026-12-01T10:00:00Z"))
    store.record_job(job("train-bert", phase=Phase.FAILED, created="2026-12-02T10:00:00Z", kind="TFJob"))
    store.record_job(job("eval_50%", phase=Phase.SUCCEEDED, created="2026-12-03T10:00:00Z"))

    def names(**query):
        return [r.job.name for r in store.list(HistoryQuery(**query)).records]

    assert names() == ["eval_50%", "train-bert", "train-resnet"]
    assert names(show=Show.LIVE) == ["train-resnet"]
    assert names(show=Show.FINISHED) == ["eval_50%", "train-bert"]
    assert names(text="TRAIN") == ["train-bert", "train-resnet"]
    assert names(text="train failed") == ["train-bert"]
    assert names(text="tfjob") == ["train-bert"]
    # LIKE's own wildcards in the search are plain characters.
    assert names(text="_50%") == ["eval_50%"]
    assert names(text="l%5") == []
    assert names(kind="TFJob") == ["train-bert"]
    assert names(name="train-bert") == ["train-bert"] and names(name="train") == []
    assert names(created_from="2026-12-02", created_to="2026-12-02") == ["train-bert"]
    assert names(created_to="2026-12-01") == ["train-resnet"]
    assert store.count(HistoryQuery(show=Show.FINISHED)) == 2


def test_paging_visits_every_record_once_even_with_equal_times(store):
    for i in range(25):
        store.record_job(job(f"j{i}", created=f"2026-12-01T10:00:{i // 3:02d}Z"))
    seen = [r.job.name for r in iter_all(store, HistoryQuery(limit=4))]
    assert sorted(seen) == sorted(f"j{i}" for i in range(25))
    assert len(seen) == 25
    page = store.list(HistoryQuery(limit=25))
    assert page.next is None and len(page.records) == 25


@pytest.mark.parametrize("query, words", [
    (HistoryQuery(show="old"), "show must be one of"),
    (HistoryQuery(limit=0), "limit must be between 1 and 1000"),
    (HistoryQuery(after="nonsense"), "not a page cursor"),
])
def test_bad_queries_say_what_is_wrong(store, query, words):
    with pytest.raises(HistoryError, match=words):
        store.list(query)


def test_retention_forgets_oldest_ended_records_never_a_running_one(store):
    running = store.record_job(job("old-running", created="2026-01-01T00:00:00Z"), now=0.0)
    ended = [store.record_job(job(f"e{i}", phase=Phase.SUCCEEDED, created=f"2026-12-0{i + 1}T00:00:00Z"), now=1000.0 + i)
             for i in range(5)]
    store.add_log_bytes(ended[0], 600)
    store.add_log_bytes(ended[1], 300)
    assert store.over_retention(max_records=4, max_age_s=0, max_log_bytes=0) == ended[:2]
    assert store.over_retention(max_records=0, max_age_s=100, max_log_bytes=0, now=1103.5) == ended[:4]
    assert store.over_retention(max_records=0, max_age_s=0, max_log_bytes=500) == ended[:1]
    assert store.over_retention(max_records=0, max_age_s=0, max_log_bytes=200) == ended[:2]
    assert store.over_retention(max_records=0, max_age_s=0, max_log_bytes=1000) == []
    assert store.over_retention(max_records=1, max_age_s=0, max_log_bytes=0) == ended
    assert running not in store.over_retention(max_records=1, max_age_s=1, max_log_bytes=1, now=10**9)
    assert store.forget(ended[:2]) == 2
    assert store.count() == 4


def test_an_unreadable_row_is_left_out_of_listing_not_an_error(store, caplog):
    store.record_job(job("good"))
    bad = store.record_job(job("bad"))
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE jobs SET job='{not json' WHERE id=?", (bad,))
    assert [r.job.name for r in store.list(HistoryQuery()).records] == ["good"]
    assert "cannot be read" in caplog.text


def test_a_newer_layout_or_a_non_database_is_refused_in_words(tmp_path):
    folder = tmp_path / "h"
    HistoryStore(folder).close()
    with sqlite3.connect(folder / DATABASE_FILE) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(HistoryError, match="newer dtrain-jupyter"):
        HistoryStore(folder)
    other = tmp_path / "x"
    other.mkdir()
    (other / DATABASE_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match="cannot open the job history"):
        HistoryStore(other)


def test_two_stores_on_one_folder_see_each_others_writes(tmp_path):
    one, two = HistoryStore(tmp_path / "h"), HistoryStore(tmp_path / "h")
    try:
        one.record_job(job("a"))
        assert [r.job.name for r in two.list(HistoryQuery()).records] == ["a"]
        two.mark_deleted("local", "uid-a")
        assert one.find_uid("local", "uid-a").deleted is not None
    finally:
        one.close()
        two.close()


def test_writes_from_many_threads_all_land(store):
    def writer(n: int) -> None:
        for i in range(20):
            record_id = store.record_job(job(f"t{n}-{i}"))
            store.record_pods(record_id, [pod(f"t{n}-{i}-worker-0")])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 120
    assert all(len(r.pods) == 1 for r in iter_all(store, HistoryQuery(limit=50)))


def test_search_matches_the_backend_and_namespaces_bound_a_listing(store):
    store.record_job(job("a", namespace="team-a"))
    store.record_job(job("b", namespace="team-b", backend="kubernetes", uid="kb"))
    assert [r.job.name for r in store.list(HistoryQuery(text="kubernetes")).records] == ["b"]
    assert [r.job.name for r in store.list(HistoryQuery(namespaces=("team-a",))).records] == ["a"]
    assert store.count(HistoryQuery(namespaces=("team-a", "team-b"))) == 2


class FailingCommit:
    """The store's connection, whose next COMMIT fails as a full disk makes it fail."""

    def __init__(self, db):
        self.db, self.fail = db, True

    def execute(self, sql, *args):
        if sql == "COMMIT" and self.fail:
            self.fail = False
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_a_failed_commit_leaves_no_transaction_open(store):
    store._db = FailingCommit(store._db)
    with pytest.raises(sqlite3.OperationalError, match="full"):
        store.record_job(job("lost"))
    store.record_job(job("kept"))  # would be "cannot start a transaction within a transaction"
    assert [r.job.name for r in store.list(HistoryQuery()).records] == ["kept"]
