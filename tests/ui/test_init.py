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
