"""listeners.Listeners: the one fan-out of change callbacks (service, both backends, informers)."""

from __future__ import annotations

import logging
import threading

import pytest

from dtrain_jupyter.backends.listeners import Listeners

log = logging.getLogger("tests.listeners")


def test_every_listener_hears_each_change_in_the_order_added():
    heard: list[tuple[str, str, int]] = []
    listeners: Listeners = Listeners(log, "test listener")
    listeners.add(lambda change, n: heard.append(("a", change, n)))
    listeners.add(lambda change, n: heard.append(("b", change, n)))
    listeners.notify("ADDED", 1)
    listeners.notify("DELETED", n=2)
    assert heard == [("a", "ADDED", 1), ("b", "ADDED", 1), ("a", "DELETED", 2), ("b", "DELETED", 2)]
    assert len(listeners) == 2


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture):
    heard: list[str] = []

    def broken(change: str) -> None:
        raise RuntimeError("listener bug")

    listeners: Listeners = Listeners(log, "test listener")
    listeners.add(heard.append)
    listeners.add(broken)
    listeners.add(lambda change: heard.append(change.lower()))
    with caplog.at_level(logging.ERROR, logger="tests.listeners"):
        listeners.notify("MODIFIED")  # does not raise
    assert heard == ["MODIFIED", "modified"]
    [record] = caplog.records
    assert record.message.startswith("test listener") and "listener bug" in record.exc_text


class Feed:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def publish(self, change: str) -> None:
        self.seen.append(change)


def test_remove_stops_one_listener_and_ignores_strangers():
    feed = Feed()
    listeners: Listeners = Listeners(log, "test listener")
    listeners.add(feed.publish)
    listeners.add(feed.publish)  # added twice: heard twice
    listeners.notify("A")
    listeners.remove(feed.publish)  # a bound method made again compares equal: one addition goes
    listeners.notify("B")
    listeners.remove(feed.publish)
    listeners.remove(feed.publish)  # no longer there: ignored
    listeners.notify("C")
    assert feed.seen == ["A", "A", "B"] and len(listeners) == 0


def test_a_listener_removed_while_changes_go_out_still_gets_that_one():
    heard: list[tuple[str, str]] = []
    listeners: Listeners = Listeners(log, "test listener")

    def once(change: str) -> None:
        heard.append(("once", change))
        listeners.remove(once)

    listeners.add(once)
    listeners.add(lambda change: heard.append(("always", change)))
    listeners.notify("1")
    listeners.notify("2")
    assert heard == [("once", "1"), ("always", "1"), ("always", "2")]


def test_listeners_come_and_go_from_other_threads_while_changes_are_sent():
    counts = [0]
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def count(change: int) -> None:
        with lock:
            counts[0] += 1

    listeners: Listeners = Listeners(log, "test listener")
    listeners.add(count)

    def churn() -> None:
        try:
            while not stop.is_set():
                extra = lambda change: None  # noqa: E731 - a fresh listener each time
                listeners.add(extra)
                listeners.remove(extra)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=churn) for _ in range(3)]
    for t in threads:
        t.start()
    for n in range(2000):
        listeners.notify(n)
    stop.set()
    for t in threads:
        t.join()
    # The steady listener heard every change; the churning ones never broke a notification.
    assert errors == [] and counts[0] == 2000 and len(listeners) == 1
