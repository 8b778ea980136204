"""schemathesis against the served OpenAPI document (dtrain/api/openapi.json) of a live server.

Every operation the document declares is called with generated inputs, valid and invalid; the
answers must never be a 5xx (`not_a_server_error`) and every 4xx must be our JSON error with a
message. Long-polls are kept short (`timeout=0`) so the run stays quick.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from .fuzzing import COUNTS


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
    if case.query and "timeout" in case.query:
        case.query["timeout"] = 0  # a long-poll that waits only slows the run down
    if case.query and "follow" in case.query:
        case.query["follow"] = "false"
    COUNTS["schemathesis"] += 1
    response = case.call(headers=live.headers, timeout=60)
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
