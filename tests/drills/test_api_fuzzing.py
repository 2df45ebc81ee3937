"""API fuzzing drill (issue 8, drill 7): schemathesis against our own OpenAPI document.

Every operation gets requests generated from its schema (valid ones and, with them, edge cases)
with a merchant's key, against a real server on SQLite: no answer may be a 5xx, and every answer
must match what the document says of it (status code declared, body matching its schema).
Bounded by examples per operation: ``make test`` a few, ``make drills`` many.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from parcelguard.domain.tenancy import Role
from tests.conftest import Server

FULL = os.environ.get("PARCELGUARD_DRILL") == "full"
EXAMPLES = 200 if FULL else 8
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture
def api_schema(server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx_or_off_its_schema(case: schemathesis.Case,  # type: ignore[type-arg]
                                                    server: Server) -> None:
    key = server.keys.acme[Role.MERCHANT]
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)

