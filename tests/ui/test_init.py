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
