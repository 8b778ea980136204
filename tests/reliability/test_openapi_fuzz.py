"""schemathesis against the served OpenAPI document (dtrain/api/openapi.json) of a live server.

Every operation the document declares is called with generated inputs, valid and invalid; the
answers must never be a 5xx (`not_a_server_error`) and every 4xx must be our JSON error with a
message. Long-polls are kept short (`timeout=0`, `wait=0`) so the run stays quick.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from .fuzzing import COUNTS

# The panel's kernel session. A valid body would start a real kernel (a second or more with its
# shutdown, for each of a hundred examples): here every body names a spec the server lacks, so the
# fuzz covers what is checked before the start (path, name, kernel), and
# tests/server/test_panel_session.py starts real kernels.
PANEL_SESSION = "/panel-session"
NO_SUCH_SPEC = "dtrain-fuzz-no-such-spec"


@pytest.fixture(scope="module")
def api_schema(live):
    r = httpx.get(live.url + "dtrain/api/openapi.json", headers=live.headers, timeout=30)
    r.raise_for_status()
    document = r.json()
    # The document's paths are relative to its server entry; point it at this live server.
    document["servers"] = [{"url": live.url.rstrip("/") + "/dtrain/api"}]
    loaded = schemathesis.openapi.from_dict(document)
    loaded.config.update(base_url=live.url.rstrip("/") + "/dtrain/api")
    return loaded


def _check(case, live) -> None:
    # A long-poll that waits only slows the run down: the changes' `timeout`, the notifications'
    # `wait` (up to 55 s each, which could run the test past its time limit).
    for wait in ("timeout", "wait"):
        if case.query and wait in case.query:
            case.query[wait] = 0
    if case.query and "follow" in case.query:
        case.query["follow"] = "false"
    if case.path == PANEL_SESSION and isinstance(case.body, dict):
        case.body["kernel"] = NO_SUCH_SPEC
    COUNTS["schemathesis"] += 1
    response = case.call(headers=live.headers, timeout=60)
    if case.path == PANEL_SESSION and response.status_code in (200, 201):
        # A kernel started after all: shut it down, so none piles up.
        httpx.delete(f"{live.url}api/sessions/{response.json()['id']}", headers=live.headers, timeout=60)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if response.status_code >= 400:
        body = response.json()
        assert body.get("error") and body.get("message"), body


def test_every_operation_answers_without_a_server_error(api_schema, live) -> None:
    # schemathesis' pytest plugin cannot take a fixture-made schema under this pytest, so each
    # operation's hypothesis strategy is driven here, one inner property test per operation.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def property_test(case) -> None:
            _check(case, live)

        property_test()
