"""No stray horizontal scrollbars: the panel fits its box in every place it is shown (issue 17, B5).

The panel is opened where a person meets it -- the main tab (1400x900 window), the sidebar at
its default width, the inline `%dtrain` panel in a notebook, and the Jobs page with the delete
confirmation showing -- in the light theme and the dark one. In each, every element from the
host's root down through the panel whose `overflow-x` would show a bar (auto or scroll) must
have scrollWidth <= clientWidth: content even a few pixels too wide leaves a permanent bar.
A screenshot of each view goes to test-artifacts/screens/no-overflow-*.png.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser_fixtures import LabServer, screenshot
from tests.e2e.panel_helpers import (THEMES, assert_no_horizontal_overflow, each_theme, open_main,
                                     open_notebook_panel, open_sidebar, set_theme)

pytestmark = pytest.mark.browser

JOB_TIMEOUT_MS = 150_000


def _local_job(lab_server: LabServer, prefix: str) -> str:
    """Create a short local TFJob through the REST API; return its name."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    manifest = {
        "apiVersion": "kubeflow.org/v1", "kind": "TFJob",
        "metadata": {"name": name},
        "spec": {"tfReplicaSpecs": {"Worker": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {
            "containers": [{"name": "tensorflow", "image": "python:3.11",
                            "command": ["python", "-c", "print('fits')"]}]}}}}},
    }
    created = lab_server.api("POST", "dtrain/api/jobs", json={"manifest": manifest})
    assert created.status_code == 201, created.text
    return name


def _delete_job(lab_server: LabServer, name: str) -> None:
    lab_server.api("DELETE", f"dtrain/api/local/namespaces/default/tfjobs/{name}")


def test_main_tab_fits(lab_page: Any) -> None:
    page = lab_page
    open_main(page)
    for theme in each_theme(page):
        assert_no_horizontal_overflow(page, "#dtrain-main")
        screenshot(page, f"no-overflow-main-{theme}")
    assert page.page_errors == []


def test_delete_confirmation_fits(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    name = _local_job(lab_server, "fit")
    try:
        panel = open_main(page)
        row = page.locator(f"{panel} .dtrain-job", has=page.locator(".dtrain-name", has_text=name))
        row.wait_for(timeout=JOB_TIMEOUT_MS)
        row.locator(".dtrain-select input").check()
        page.locator(f"{panel} button.dtrain-delete").click()
        confirm = page.locator(f"{panel} .dtrain-confirm")
        confirm.wait_for()
        assert name in confirm.inner_text()
        for theme in each_theme(page):
            assert confirm.is_visible()
            assert_no_horizontal_overflow(page, "#dtrain-main")
            screenshot(page, f"no-overflow-delete-confirm-{theme}")
        page.locator(f"{panel} button.dtrain-confirm-no").click()
        assert page.page_errors == []
    finally:
        _delete_job(lab_server, name)


def test_sidebar_fits_at_its_default_width(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    name = _local_job(lab_server, "side-fit")
    try:
        panel = open_sidebar(page)
        page.locator(f"{panel} .dtrain-job", has=page.locator(".dtrain-name", has_text=name)).wait_for(
            timeout=JOB_TIMEOUT_MS)
        for theme in each_theme(page):
            assert_no_horizontal_overflow(page, "#dtrain-sidebar")
            screenshot(page, f"no-overflow-sidebar-{theme}")
        assert page.page_errors == []
    finally:
        _delete_job(lab_server, name)


def test_inline_notebook_panel_fits(lab_page: Any, lab_server: LabServer) -> None:
    page = lab_page
    set_theme(page, THEMES[0])
    panel = open_notebook_panel(page, lab_server)
    for theme in each_theme(page):
        assert_no_horizontal_overflow(page, panel, top=".jp-NotebookPanel")
        screenshot(page, f"no-overflow-notebook-{theme}")
    assert page.page_errors == []
