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


def test_a_stopped_history_archive_is_said_beside_other_news_not_as_retrying() -> None:
    banner = Banner()
    banner.history_problem = "log archive stopped: the job history's disk is full (<No space>)"
    assert "Job history: log archive stopped" in banner.showing and "&lt;No space&gt;" in banner.showing
    assert "retrying" not in banner.showing and "Running jobs are not affected" in banner.showing
    banner.backends = ({"backend": "kubernetes", "ready": False, "message": "Unauthorized"},)
    assert "Unauthorized" in banner.showing and "disk is full" in banner.showing
    banner.outage = "cannot reach the dtrain server"
    assert "disk is full" not in banner.showing  # the server itself is away: that is the news
    banner.outage = ""
    banner.backends = ()
    banner.history_problem = ""
    assert banner.showing == ""
