"""The extension template's auth check: a server with unauthenticated access disallowed must load
the dtrain extension without a single JupyterServerAuthWarning (an endpoint without
@web.authenticated would raise one).

Each check runs in a fresh interpreter so the ServerApp singleton and warning filters of the
test session stay untouched.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

CHECK = textwrap.dedent("""
    import sys, warnings
    from jupyter_server.serverapp import ServerApp
    from jupyter_server.utils import JupyterServerAuthWarning

    # Only endpoints of this project count; other installed extensions answer for their own.
    warnings.filterwarnings("error", message=r"(?s).*dtrain", category=JupyterServerAuthWarning)
    {extra}
    app = ServerApp()
    app.initialize([
        "--ServerApp.allow_unauthenticated_access=False", "--ServerApp.reraise_server_extension_failures=True",
        "--ServerApp.jpserver_extensions={{'dtrain_jupyter': True{more}}}",
        "--ServerApp.root_dir={root}", "--ServerApp.open_browser=False", "--ServerApp.port=0",
        "--DTrain.state_dir={root}/state",
    ], new_httpserver=False)
    loaded = [name for name, ext in app.extension_manager.extensions.items() if ext.enabled]
    assert "dtrain_jupyter" in loaded, loaded
    assert "dtrain_service" in app.web_app.settings
    print("auth check passed")
""")

# A deliberately unprotected extension endpoint, to prove the check can fail.
UNPROTECTED = textwrap.dedent("""
    import types
    from jupyter_server.base.handlers import APIHandler
    class Open(APIHandler):
        def get(self):
            self.finish("{{}}")
    mod = types.ModuleType("dtrain_open_probe")
    def _load(serverapp):
        serverapp.web_app.add_handlers(".*$", [("/dtrain-open-probe", Open)])
    mod._jupyter_server_extension_points = lambda: [{{"module": "dtrain_open_probe"}}]
    mod._load_jupyter_server_extension = _load
    sys.modules["dtrain_open_probe"] = mod
""")


def _check(tmp_path: Path, extra: str = "", more: str = "") -> subprocess.CompletedProcess:
    script = CHECK.format(extra=extra, more=more, root=tmp_path)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**__import__("os").environ, "JUPYTER_PLATFORM_DIRS": "1"})


def test_every_dtrain_endpoint_requires_authentication(tmp_path: Path) -> None:
    proc = _check(tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "auth check passed" in proc.stdout


def test_the_check_fails_on_an_unprotected_endpoint(tmp_path: Path) -> None:
    proc = _check(tmp_path, extra=UNPROTECTED.format(), more=", 'dtrain_open_probe': True")
    assert proc.returncode != 0
    assert "JupyterServerAuthWarning" in proc.stderr and "dtrain-open-probe" in proc.stderr
