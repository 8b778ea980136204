"""The change feed: changes arrive through the queue, an outage shows once and clears by itself."""

from __future__ import annotations

import queue

from dtrain_jupyter.ui.app import DTrainApp
from dtrain_jupyter.ui.feed import CHANGE, OUTAGE, RECOVERED, SNAPSHOT, ChangeFeed, FeedItem

from tests.server.live import LiveServer

from .conftest import finished, python_job, unique, until


def test_worker_thread_only_queues_and_drain_applies_in_one_batch(client) -> None:
    batches: list[list[FeedItem]] = []
    feed = ChangeFeed(client, batches.append, poll_timeout=1.0)
    feed.start()
    try:
        name = unique("q")
        deadline_items: list[FeedItem] = []

        def saw_snapshot() -> bool:
            feed.drain()
            deadline_items[:] = [i for b in batches for i in b]
            return any(i.kind == SNAPSHOT for i in deadline_items)

        _wait(saw_snapshot)
        client.create(python_job(name, "print(1)"))

        def saw_change() -> bool:
            feed.drain()
            return any(i.kind == CHANGE and i.payload.job.name == name for b in batches for i in b)

        _wait(saw_change)
        assert all(batches), "apply is never called with an empty batch"
    finally:
        feed.stop()
    client.delete(name, kind="PyTorchJob")


def test_a_pump_runs_on_every_drain_and_its_failure_is_reported(client) -> None:
    seen: list[BaseException] = []
    feed = ChangeFeed(client, lambda items: None)
    feed.on_error = seen.append
    calls = []
    feed.add_pump(lambda: calls.append(1))
    feed.add_pump(lambda: 1 / 0)
    feed.drain()
    feed.drain()
    assert len(calls) == 2
    assert len(seen) == 2 and isinstance(seen[0], ZeroDivisionError)
    assert isinstance(feed.queue, queue.Queue)


def test_outage_banner_appears_once_and_clears_when_the_server_returns(tmp_path) -> None:
    server = LiveServer(tmp_path)
    client = server.client()
    panel = DTrainApp(client, poll_timeout=1.0)
    try:
        until(panel, lambda: panel.banner.backends, what="first contact")
        name = unique("back")
        client.create(python_job(name, "print('survives')"))
        until(panel, lambda: finished(panel, name), what=name)
        server.stop()
        until(panel, lambda: panel.banner.showing, timeout=60, what="the outage banner")
        outages = [i for i in _drain_items(panel) if i.kind == OUTAGE]
        assert len(outages) <= 1, "one banner, not one per retry"
        server.start()  # same port, same state dir: the same jobs come back
        until(panel, lambda: not panel.banner.showing, timeout=60, what="the banner to clear")
        assert finished(panel, name) is not None
        assert panel.error == ""
        client.delete(name, kind="PyTorchJob")
    finally:
        panel.close()
        client.close()
        server.stop()


def test_recovered_item_clears_the_banner(app: DTrainApp) -> None:
    app.apply([FeedItem(OUTAGE, "cannot reach http://x: connection refused")])
    assert "connection refused" in app.banner.showing
    app.apply([FeedItem(RECOVERED)])
    assert app.banner.showing == ""


def _drain_items(panel: DTrainApp) -> list[FeedItem]:
    items = []
    while not panel.feed.queue.empty():
        items.append(panel.feed.queue.get_nowait())
    panel.apply(items)
    return items


def _wait(predicate, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_backend_trouble_is_one_banner_line_per_backend(app: DTrainApp) -> None:
    from dtrain_jupyter.ui.feed import BACKENDS, PROBLEMS

    app.apply([FeedItem(BACKENDS, [{"backend": "local", "ready": True},
                                   {"backend": "kubernetes", "context": "kind-x", "ready": False,
                                    "message": "connection refused <b>"}]),
               FeedItem(PROBLEMS, ["kubernetes: connection refused <b>", "other: no route"])])
    shown = app.banner.showing
    assert shown.count("kubernetes:") == 1 and "other: no route" in shown
    assert "&lt;b&gt;" in shown and "<b>" not in shown
    app.apply([FeedItem(BACKENDS, [{"backend": "kubernetes", "ready": True}]), FeedItem(PROBLEMS, [])])
    assert app.banner.showing == ""
