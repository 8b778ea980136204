"""Browser-test fixtures: the shared JupyterLab server and Debian Chromium (tests/browser_fixtures.py)."""

from tests.browser_fixtures import *  # noqa: F401,F403  (fixtures are registered by name)
