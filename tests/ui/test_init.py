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
