"""show_panel builds one app per kernel and shows it again on later calls."""

from __future__ import annotations

import dtrain_jupyter.ui as ui


def test_one_app_per_kernel(client, monkeypatch) -> None:
    monkeypatch.setattr(ui, "_APP", None)
    first = ui.show_panel(client=client)
    try:
        assert ui.show_panel(client=client) is first
        assert "dtrain-panel" in first._dom_classes
        first.close()
        second = ui.get_panel(client=client)
        assert second is not first
        second.close()
    finally:
        first.close()


def test_no_server_is_a_sentence_not_a_traceback(monkeypatch, capsys) -> None:
    monkeypatch.setattr(ui, "_APP", None)
    monkeypatch.setenv("DTRAIN_URL", "")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", "/nonexistent-dtrain-runtime")
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    assert ui.show_panel() is None
    assert ui._APP is None


def test_warm_up_finds_the_server_builds_nothing_and_the_panel_uses_its_client(
        dtrain_server, monkeypatch) -> None:
    import comm

    monkeypatch.setattr(ui, "_APP", None)
    monkeypatch.setattr(ui, "_CLIENT", None)
    monkeypatch.setenv("DTRAIN_URL", dtrain_server.url)
    monkeypatch.setenv("DTRAIN_TOKEN", dtrain_server.token)
    opened: list[object] = []
    real = comm.create_comm
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: opened.append(a) or real(*a, **k))
    ui.warm_up()
    assert opened == [], "warm_up must not build widgets"
    found = ui._CLIENT
    assert found is not None and found.url.rstrip("/") == dtrain_server.url.rstrip("/")
    app = ui.get_panel()
    try:
        assert app.client is found
    finally:
        app.close()
        found.close()


def test_warm_up_without_a_server_does_nothing(monkeypatch) -> None:
    monkeypatch.setattr(ui, "_CLIENT", None)
    monkeypatch.setenv("DTRAIN_URL", "")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", "/nonexistent-dtrain-runtime")
    monkeypatch.delenv("JPY_PARENT_PID", raising=False)
    ui.warm_up()
    assert ui._CLIENT is None


def _served_by(dtrain_server, monkeypatch) -> None:
    monkeypatch.setattr(ui, "_APP", None)
    monkeypatch.setattr(ui, "_CLIENT", None)
    monkeypatch.setattr(ui, "_FEED", None)
    monkeypatch.setattr(ui, "_WARMING", None)
    monkeypatch.setenv("DTRAIN_URL", dtrain_server.url)
    monkeypatch.setenv("DTRAIN_TOKEN", dtrain_server.token)


def test_a_warm_up_reading_jobs_hands_its_feed_and_first_list_to_the_panel(dtrain_server, monkeypatch) -> None:
    _served_by(dtrain_server, monkeypatch)
    ui.warm_up_in_background(read_jobs=True).join(60)
    feed = ui._FEED
    assert feed is not None and feed.running and feed.client is ui._CLIENT
    assert feed._first_answer.wait(30), "the warm-up's feed never read the job list"
    app = ui.get_panel()
    try:
        assert app.feed is feed and ui._FEED is None
        assert feed.apply == app.apply  # what it read went to the panel, not elsewhere
    finally:
        app.close()
        ui._CLIENT.close()
    assert not feed.running


def test_a_panel_given_its_own_client_stops_the_warm_up_feed(dtrain_server, client, monkeypatch) -> None:
    _served_by(dtrain_server, monkeypatch)
    ui.warm_up(read_jobs=True)
    stale = ui._FEED
    app = ui.get_panel(client=client)
    try:
        assert app.feed is not stale and app.feed.client is client
        assert not stale.running and ui._FEED is None
    finally:
        app.close()
        ui._CLIENT.close()


def test_a_warm_up_still_running_is_waited_for(dtrain_server, monkeypatch) -> None:
    import threading

    _served_by(dtrain_server, monkeypatch)
    release = threading.Event()
    real = ui.warm_up
    monkeypatch.setattr(ui, "warm_up", lambda read_jobs=False: release.wait(30) and real(read_jobs=read_jobs))
    warming = ui.warm_up_in_background(read_jobs=True)
    threading.Timer(0.2, release.set).start()
    app = ui.get_panel()
    try:
        # get_panel waited for the warm-up and took its client and feed rather than making its own.
        assert not warming.is_alive()
        assert app.client is ui._CLIENT and ui._FEED is None
    finally:
        app.close()
        ui._CLIENT.close()


def test_a_warm_up_that_fails_leaves_the_panel_to_start_by_itself(client, monkeypatch) -> None:
    monkeypatch.setattr(ui, "_APP", None)
    monkeypatch.setattr(ui, "_WARMING", None)

    def broken(read_jobs: bool = False) -> None:
        raise RuntimeError("warm-up broke")

    monkeypatch.setattr(ui, "warm_up", broken)
    ui.warm_up_in_background().join(30)
    app = ui.get_panel(client=client)
    try:
        assert app.client is client
    finally:
        app.close()
