"""state.py: atomic records in namespace folders; names that could escape are refused."""

from __future__ import annotations

import pytest

from dtrain_jupyter.backends.local.state import StateStore, check_namespace
from dtrain_jupyter.errors import InvalidRequest


def test_save_load_remove(tmp_path):
    store = StateStore(tmp_path)
    record = {"namespace": "team-a", "plural": "tfjobs", "name": "j1", "replicas": []}
    store.save(record)
    assert store.exists("team-a", "tfjobs", "j1")
    [(folder, loaded)] = list(store.load_all())
    assert folder == tmp_path / "team-a" / "tfjobs" / "j1" and loaded == record
    (tmp_path / "team-a" / "tfjobs" / "broken").mkdir()
    (tmp_path / "team-a" / "tfjobs" / "broken" / "job.json").write_text("{not json")
    assert [r for _, r in store.load_all()] == [None, record]
    store.remove("team-a", "tfjobs", "j1")
    assert not store.exists("team-a", "tfjobs", "j1")


@pytest.mark.parametrize("bad", ["..", "a/b", "", "UPPER", "-x", "x" * 64])
def test_namespace_names_are_checked(bad):
    with pytest.raises(InvalidRequest):
        check_namespace(bad)


def test_one_backend_at_a_time_per_state_dir(tmp_path):
    from dtrain_jupyter.errors import BackendUnavailable
    store = StateStore(tmp_path)
    lock = store.acquire()
    with pytest.raises(BackendUnavailable):
        StateStore(tmp_path).acquire()
    lock.close()
    StateStore(tmp_path).acquire().close()
