"""Streams and server control over real HTTP: watch framing, bookmarks, 410, drops, down/up, pod logs."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.kube_double.conftest import PT, pytorch_job


def _watch(http, path: str, params: dict, stop_after: int) -> list[dict]:
    """Read watch events until `stop_after` events or the stream ends."""
    events = []
    with http.stream("GET", path, params={"watch": "1", **params}) as r:
        assert r.headers["Content-Type"] == "application/json"
        for line in r.iter_lines():
            if line:
                events.append(json.loads(line))
            if len(events) >= stop_after:
                break
    return events


def test_watch_replays_from_a_resource_version_then_streams(http, kd):
    rv = http.get(PT).json()["metadata"]["resourceVersion"]
    http.post(PT, json=pytorch_job("w1"))
    http.patch(f"{PT}/w1", json={"metadata": {"labels": {"x": "1"}}},
               headers={"Content-Type": "application/merge-patch+json"})
    threading.Timer(0.3, lambda: kd.store.delete(("kubeflow.org", "pytorchjobs"), "default", "w1")).start()

    events = _watch(http, PT, {"resourceVersion": rv}, stop_after=3)

    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1]["object"]["metadata"]["labels"]["x"] == "1"
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert rvs == sorted(rvs)


def test_watch_without_version_starts_with_current_objects(http):
    http.post(PT, json=pytorch_job("here"))
    events = _watch(http, PT, {}, stop_after=1)
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "here"


def test_watch_selector_turns_label_changes_into_added_and_deleted(http, kd):
    rv = http.get(PT).json()["metadata"]["resourceVersion"]
    http.post(PT, json=pytorch_job("sel"))
    for tier in ("gold", "silver"):
        http.patch(f"{PT}/sel", json={"metadata": {"labels": {"tier": tier}}},
                   headers={"Content-Type": "application/merge-patch+json"})
    events = _watch(http, PT, {"resourceVersion": rv, "labelSelector": "tier=gold"}, stop_after=2)
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


def test_watch_from_a_compacted_version_is_an_error_event_410(http, kd):
    rv = http.get(PT).json()["metadata"]["resourceVersion"]
    http.post(PT, json=pytorch_job("c"))
    kd.compact()
    events = _watch(http, PT, {"resourceVersion": rv}, stop_after=1)
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


def test_bookmarks_and_timeout_end_the_stream(http, kd):
    kd.state.bookmark_interval = 0.1
    rv = http.get(PT).json()["metadata"]["resourceVersion"]
    events = _watch(http, PT, {"resourceVersion": rv, "allowWatchBookmarks": "true", "timeoutSeconds": "1"},
                    stop_after=100)
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["kind"] == "PyTorchJob"
    assert int(events[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)


def test_send_initial_events_ends_with_the_marker_bookmark(http):
    http.post(PT, json=pytorch_job("init"))
    events = _watch(http, PT, {"sendInitialEvents": "true", "allowWatchBookmarks": "true"}, stop_after=2)
    assert events[0]["type"] == "ADDED"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_drop_watches_cuts_open_streams(http, kd):
    seen = []

    def reader():
        try:
            with http.stream("GET", PT, params={"watch": "1"}) as r:
                for line in r.iter_lines():
                    seen.append(line)
        except httpx.HTTPError as e:
            seen.append(type(e).__name__)
        seen.append("ended")

    t = threading.Thread(target=reader)
    t.start()
    _wait_for(lambda: kd.state.streams)
    kd.drop_watches()
    t.join(10)
    assert not t.is_alive() and seen[-1] == "ended"


def test_down_refuses_connections_and_restart_keeps_data(http, kd):
    http.post(PT, json=pytorch_job("kept"))
    kd.set_down(True)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{kd.url}/version", verify=False)
    kd.set_down(False)
    kd.restart()
    assert http.get(f"{PT}/kept").status_code == 200


def test_latency_slows_answers(http, kd):
    kd.set_latency(0.2)
    r = http.get("/version")
    kd.set_latency(0)
    assert r.status_code == 200 and r.elapsed.total_seconds() >= 0.2


def _wait_for(predicate, timeout: float = 10.0):
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached")


LOG = "/api/v1/namespaces/default/pods/{}/log"


def _running_job(http, kd, name: str) -> None:
    kd.simulator.set_speed(ticks_to_run=1, ticks_to_finish=None)
    http.post(PT, json=pytorch_job(name))
    kd.simulator.step()
    kd.simulator.step()


def test_logs_tail_timestamps_and_container_errors(http, kd):
    _running_job(http, kd, "lg")
    for i in range(5):
        kd.simulator.write_log("lg-master-0", f"line {i}")

    tail = http.get(LOG.format("lg-master-0"), params={"tailLines": 2}).text
    stamped = http.get(LOG.format("lg-master-0"), params={"tailLines": 1, "timestamps": "true"}).text
    wrong = http.get(LOG.format("lg-master-0"), params={"container": "nope"})
    no_previous = http.get(LOG.format("lg-master-0"), params={"previous": "true"})

    assert tail == "line 3\nline 4\n"
    assert stamped.endswith("Z line 4\n") and stamped[:4].isdigit()
    assert (wrong.status_code, wrong.json()["message"]) == (400, "container nope is not valid for pod lg-master-0")
    assert no_previous.json()["message"] == 'previous terminated container "pytorch" in pod "lg-master-0" not found'


def test_follow_streams_new_lines_and_ends_with_the_container(http, kd):
    _running_job(http, kd, "fl")
    got = []

    def reader():
        with http.stream("GET", LOG.format("fl-master-0"), params={"follow": "true", "tailLines": 0}) as r:
            for line in r.iter_lines():
                got.append(line)

    t = threading.Thread(target=reader)
    t.start()
    _wait_for(lambda: kd.state.streams)
    kd.simulator.write_log("fl-master-0", "live line")
    kd.simulator.finish("fl")
    kd.simulator.step()
    t.join(10)
    assert not t.is_alive()
    assert got[0] == "live line"


def test_logs_of_a_pending_pod_say_why(http, kd):
    kd.simulator.set_speed(ticks_to_run=5, ticks_to_finish=None)
    http.post(PT, json=pytorch_job("pend"))
    kd.simulator.step()
    r = http.get(LOG.format("pend-master-0"))
    assert r.status_code == 400
    assert r.json()["message"] == 'container "pytorch" in pod "pend-master-0" is waiting to start: ContainerCreating'
