"""Browser-test fixtures: a real `jupyter lab` server and Debian's Chromium driven by Playwright.

Use from a browser-test folder's own conftest.py with `from tests.browser_fixtures import *`.
Not from the root conftest's `pytest_plugins`: the module also replaces pytest-jupyter's
autouse `jp_asyncio_loop` and `jp_server_cleanup` (they cannot share a thread with
Playwright's sync API), and that must stay confined to browser-test folders. Fixtures:

- `lab_server` (module): JupyterLab started as a subprocess on 127.0.0.1 with a free port, a
  random token, `allow_root` when running as root, and its own root, config, data, runtime,
  settings and workspaces folders under pytest's tmp dir, so nothing leaks in or out. The
  installed extension (in the venv's share/ and etc/) is what it serves.
- `browser` (module): headless Chromium from /usr/bin/chromium (or $DTRAIN_CHROMIUM); no
  browser download ever happens. Module, not session: see the fixture.
- `lab_page` (function): a fresh browser context on a fresh JupyterLab workspace with the app
  loaded; at teardown it shuts down every kernel session the test left, so tests do not see
  each other's panels.
- `run_lab(base, *args)` and `open_lab(browser, server)`: the same, for a test that needs a
  server configured differently.
- `screenshot(page, name)`: saves test-artifacts/screens/<name>.png and returns its path.
- a failing test's report gets a section per page still open: its dialogs, notifications,
  focus, each panel's tabs and messages, page errors, a screenshot (failed-<test>-<n>.png),
  and the end of the server's log, since a browser test's failure is rarely explained by its
  timeout alone.

Only the loopback interface is used. Playwright's sync API is used, so the tests using these
fixtures are plain (non-async) functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parent.parent
SCREENS = REPO / "test-artifacts" / "screens"
CHROMIUM = Path(os.environ.get("DTRAIN_CHROMIUM", "/usr/bin/chromium"))
# Without the networking flags Chromium keeps dialling Google's hosts, which this closed network
# refuses; --no-sandbox because tests run as root in CI.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SERVER_START_TIMEOUT_S = 120
APP_LOAD_TIMEOUT_MS = 90_000

__all__ = ["LabServer", "run_lab", "open_lab", "lab_server", "browser", "lab_page", "screenshot",
           "jp_asyncio_loop", "jp_server_cleanup", "CHROMIUM_ARGS", "pytest_runtest_makereport"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running `jupyter lab` the tests own."""

    port: int
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def lab_url(self, workspace: str | None = None) -> str:
        """URL of the lab page (token included), in a named workspace when given."""
        path = f"lab/workspaces/{workspace}" if workspace else "lab"
        return f"{self.base_url}{path}?token={self.token}"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the server's REST API (path relative to the base URL) with the token."""
        headers = {"Authorization": f"token {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(method, self.base_url + path.lstrip("/"), headers=headers, timeout=30, **kwargs)

    def sessions(self) -> list[dict[str, Any]]:
        """The server's kernel sessions (path, kernel id, ...)."""
        response = self.api("GET", "api/sessions")
        response.raise_for_status()
        return response.json()

    def kernel_ids(self) -> set[str]:
        response = self.api("GET", "api/kernels")
        response.raise_for_status()
        return {k["id"] for k in response.json()}

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


def _lab_environment(base: Path) -> tuple[dict[str, str], Path]:
    """Environment with every per-user Jupyter folder moved under `base`; returns (env, root)."""
    dirs = {name: base / name for name in ("root", "config", "data", "runtime", "settings", "workspaces")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(dirs["config"]),
        JUPYTER_DATA_DIR=str(dirs["data"]),
        JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
        JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
        JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
        PYTHONUNBUFFERED="1",
    )
    # No "get notified about Jupyter news?" toast over the page under test.
    notification = dirs["settings"] / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text('{"fetchNews": "false"}')
    # The server must only find its own environment's config; stray overrides would leak in.
    for name in ("JUPYTER_PATH", "JUPYTER_CONFIG_PATH", "JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE"):
        env.pop(name, None)
    return env, dirs["root"]


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """Replaces pytest-jupyter's autouse loop fixture for browser tests.

    Playwright's sync API keeps its own event loop current (and, seen from the test,
    "running") in this thread; pytest-jupyter's fixture would pick that loop up and close it
    at teardown ("Cannot close a running event loop"). Browser tests use no jp_* server
    fixture, so a private loop that is never made current is all they need.
    """
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    """Replaces pytest-jupyter's autouse in-process server cleanup for browser tests.

    Browser tests run JupyterLab as a subprocess (`lab_server`), never an in-process
    ServerApp, so there is nothing to clean; the original could not run its coroutine beside
    Playwright's loop anyway.
    """
    yield


@contextmanager
def run_lab(base: Path, *extra_args: str) -> Iterator[LabServer]:
    """Run a token-protected JupyterLab on 127.0.0.1 with Jupyter folders under `base`.

    `extra_args` go to `jupyter lab` (e.g. a config override). The server and every kernel it
    started are stopped on exit.
    """
    env, root = _lab_environment(base)
    port, token = _free_port(), secrets.token_hex(24)
    cmd = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # No calls out of the machine: news and update checks off.
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        *extra_args,
    ]
    if os.geteuid() == 0:
        cmd.append("--ServerApp.allow_root=True")
    log_path = base / "jupyterlab.log"
    with log_path.open("wb") as log:
        # Own process group: stopping it stops the server and every kernel it started.
        process = subprocess.Popen(cmd, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        server = LabServer(port=port, token=token, root_dir=root, log_path=log_path, process=process)
        try:
            _wait_until_up(server)
            yield server
        finally:
            _stop(process)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """A token-protected JupyterLab on 127.0.0.1 with isolated Jupyter folders (per module)."""
    with run_lab(tmp_path_factory.mktemp("jupyterlab")) as server:
        yield server


# Pages open now (open_lab adds, page_on takes away), described in a failing test's report.
_OPEN_PAGES: list[tuple[Any, "LabServer"]] = []

# What a person would see on the page that a timeout does not say.
PAGE_STATE_JS = """
() => {
  const text = (el) => (el.innerText || el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 400);
  const shown = (el) => el.getClientRects().length > 0;
  const active = document.activeElement;
  return {
    dialogs: [...document.querySelectorAll('.jp-Dialog')].map(text),
    notifications: [...document.querySelectorAll('.jp-Notification-Toast, .Toastify__toast')].map(text),
    focus: active && active !== document.body ? active.outerHTML.slice(0, 300) : null,
    status_bar: text(document.querySelector('#jp-main-statusbar') || document.body).slice(0, 200),
    panels: [...document.querySelectorAll('.dtrain-panel')].map((panel) => ({
      where: panel.closest('#dtrain-main') ? 'main' : panel.closest('#dtrain-sidebar') ? 'sidebar' : 'notebook',
      tabs: [...panel.querySelectorAll('.lm-TabBar-tab')].map(
        (t) => (t.classList.contains('lm-mod-current') ? '*' : '') + text(t)),
      new_page: [...panel.querySelectorAll('.dtrain-new-page')].map((p) => `${p.children.length} children, `
        + `${p.querySelectorAll('*').length} elements, shown ${shown(p)}`),
      modes: [...panel.querySelectorAll('.dtrain-mode button')].map(text),
      messages: [...panel.querySelectorAll('.dtrain-error-line, .dtrain-status, .dtrain-banner')]
        .filter(shown).map(text),
    })),
  };
}
"""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Describe every open page in the report of a test that failed (see the module's docstring)."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when != "call" or not report.failed:
        return
    for number, (page, server) in enumerate(list(_OPEN_PAGES)):
        try:
            state: Any = page.evaluate(PAGE_STATE_JS)
            state["page_errors"] = list(getattr(page, "page_errors", []))[-10:]
            state["console_errors"] = list(getattr(page, "console_errors", []))[-10:]
            state["screenshot"] = str(screenshot(page, f"failed-{item.name}-{number}"))
            described = json.dumps(state, indent=1)
        except Exception as e:  # noqa: BLE001 - a closed or hung page: say so, keep the failure
            described = f"could not read the page: {e}"
        report.sections.append((f"browser page {number}", described))
        report.sections.append((f"server log (end), page {number}", server.log_tail(3000)))


def open_lab(browser: Any, server: LabServer) -> Any:
    """A new browser context with JupyterLab of `server` loaded in a fresh workspace.

    `page.page_errors` collects uncaught page exceptions and `page.console_errors` what was
    logged with console.error (Lumino reports an exception in a widget's message handler
    there), for the test to assert on; `page.workspace` is the workspace's name. Close
    `page.context` when done.
    """
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.page_errors = []  # type: ignore[attr-defined]
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    page.on("console", lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None)
    page.workspace = f"t{uuid.uuid4().hex[:12]}"  # type: ignore[attr-defined]
    page.goto(server.lab_url(workspace=page.workspace))
    page.wait_for_selector(".jp-Launcher", timeout=APP_LOAD_TIMEOUT_MS)
    return page


def _wait_until_up(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"jupyter lab exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            if server.api("GET", "api/status").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"jupyter lab did not answer within {SERVER_START_TIMEOUT_S}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (sync API), for one test module.

    Module scope on purpose: while Playwright's sync API is alive, its event loop counts as
    running in this thread, so every later `asyncio.run()` in the session (other folders'
    tests) would fail. Stopping it at the end of the module gives the thread back.
    """
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium "
                    "as root) or `apt-get install -y chromium`, or set DTRAIN_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@contextlib.contextmanager
def page_on(browser: Any, lab_server: LabServer) -> Iterator[Any]:
    """A page with JupyterLab loaded in a workspace of its own (see `open_lab`); on leaving, the
    page closes and every kernel session it left is shut down."""
    page = open_lab(browser, lab_server)
    _OPEN_PAGES.append((page, lab_server))
    try:
        yield page
    finally:
        _OPEN_PAGES.remove((page, lab_server))
        page.context.close()
        for session in lab_server.sessions():
            lab_server.api("DELETE", f"api/sessions/{session['id']}")


@pytest.fixture
def lab_page(browser: Any, lab_server: LabServer) -> Iterator[Any]:
    """A page on the shared JupyterLab (see `page_on`)."""
    with page_on(browser, lab_server) as page:
        yield page


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot to test-artifacts/screens/<name>.png and return its path."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

