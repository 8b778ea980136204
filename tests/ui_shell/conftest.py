"""The lab-server and browser fixtures, shared with other browser-test folders."""

from tests.browser_fixtures import *  # noqa: F401,F403  (fixtures are registered by name)
