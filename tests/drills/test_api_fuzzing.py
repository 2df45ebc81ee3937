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
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
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


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_operation_answers_5xx_or_off_its_schema(server: Server) -> None:
    """Each operation in turn, its cases drawn by hypothesis from the operation's schema (not
    schemathesis' pytest plugin: it follows pytest's internals, which move)."""
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    headers = {"Authorization": f"Bearer {server.keys.acme[Role.MERCHANT]}"}
    failures: list[str] = []
    operations = 0
    for found in schema.get_all_operations():
        assert isinstance(found, Ok), found  # the document itself must be readable
        operation = found.ok()
        operations += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:  # type: ignore[type-arg]
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            call()
        except Exception as exc:  # every operation is tried; the failures are reported together
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 50
    assert failures == [], "\n\n".join(failures)
    print(f"\napi fuzzing drill: {operations} operations x up to {EXAMPLES} examples, "
          "no 5xx, every answer as documented")
