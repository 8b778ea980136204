"""Fixtures of the reliability suite: a real `jupyter server` subprocess shared by a module, and helpers.

The fuzzing, schemathesis and security tests talk to one live server over plain HTTP (httpx),
so hypothesis drives ordinary synchronous tests and every answer crossed a real socket. The
fault tests that need the Kubernetes API test double run the server in-process (pytest-jupyter's
`jp_fetch`), see `test_faults_kube.py`.
"""

from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from tests.server.live import LiveServer

# Namespaces the shared live server allows; anything else must answer 403.
ALLOWED = ("default", "team-a")


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One `jupyter server` with dtrain on the local backend, allowed namespaces `ALLOWED`.

    Shared by the whole folder (a start costs seconds); tests give their jobs unique names."""
    root = tmp_path_factory.mktemp("live")
    args = tuple(f"--DTrain.allowed_namespaces={ns}" for ns in ALLOWED)
    server = LiveServer(root, extra_args=args)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def http(live: LiveServer) -> Iterator[httpx.Client]:
    """An authenticated httpx client whose base URL is the server's dtrain API."""
    with httpx.Client(base_url=live.url + "dtrain/api/", headers=live.headers, timeout=60) as client:
        yield client


def assert_clean_answer(response: httpx.Response, context: Any = "") -> None:
    """The contract every answer keeps: no 5xx, and any 4xx is JSON `{error, message}` without a traceback."""
    where = f"{response.request.method} {response.request.url} ({context!r:.300})"
    assert response.status_code < 500, f"{where} -> {response.status_code}: {response.text[:500]}"
    assert "Traceback" not in response.text, f"{where} leaked a traceback: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and body.get("error") and body.get("message"), f"{where}: {body}"
        assert "internal error" not in body["message"], f"{where}: {body}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many fuzzed inputs each face was sent (the issue asks for the figure)."""
    from .fuzzing import COUNTS

    if COUNTS:
        counts = ", ".join(f"{face} {n}" for face, n in sorted(COUNTS.items()))
        terminalreporter.write_line(f"dtrain reliability: inputs tried: {counts} (total {sum(COUNTS.values())})")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "forbid(verb, resource, namespace): an RBAC refusal the Kubernetes "
                            "test double applies before the server starts (test_faults_kube.py)")
