"""The "talking to" line and the one outage banner."""

from __future__ import annotations

from dtrain_jupyter.ui.banner import Banner


def test_where_line_names_backend_context_and_namespace() -> None:
    banner = Banner()
    assert "Connecting" in banner.where.value
    banner.backends = ({"backend": "kubernetes", "context": "kind-<x>", "namespace": "team-a", "ready": True},)
    assert "<b>kubernetes</b>" in banner.where.value
    assert "kind-&lt;x&gt; · team-a" in banner.where.value
    assert banner.showing == ""


def test_outage_wins_and_clears() -> None:
    banner = Banner()
    banner.backends = ({"backend": "kubernetes", "ready": False, "message": "Unauthorized"},)
    assert "kubernetes: Unauthorized" in banner.showing
    banner.outage = "cannot reach the dtrain server"
    assert "cannot reach the dtrain server" in banner.showing
    assert "Unauthorized" not in banner.showing
    banner.outage = ""
    banner.backends = ({"backend": "kubernetes", "ready": True},)
    assert banner.showing == "" and banner.alert.layout.display == "none"
