"""No input produces a 500: random JSON and random bytes at every write route."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelguard.domain.tenancy import Role
from tests.conftest import Server
from tests.factories import event_json, shipment_json

ROUTES = ["/v1/events", "/v1/telemetry", "/v1/shipments", "/v1/devices"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=6),
    max_leaves=20,
)


def mutated(base: dict[str, object]) -> st.SearchStrategy[dict[str, object]]:
    """A valid body with one field replaced by something random."""
    return st.tuples(st.sampled_from(sorted(base)), json_values).map(
        lambda kv: {**base, kv[0]: kv[1]})


bodies = (
    json_values
    | mutated(event_json("SF1400000001"))
    | mutated(shipment_json("SF1400000009"))
    | mutated({"device_id": "LOG-1", "ts": "2026-11-20T08:00:00+08:00", "temperature_c": 4.0})
    | st.lists(mutated(event_json("SF1400000001")), max_size=3)
)


@pytest.fixture
def admin(server: Server) -> httpx.Client:
    client = server.client(Role.ADMIN)
    client.post("/v1/shipments", json=shipment_json("SF1400000001", devices=["LOG-1"]))
    return client


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_random_json_never_gets_a_server_error(admin: httpx.Client, route: str, body: object) -> None:
    r = admin.post(route, content=json.dumps(body))
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        answer = r.json()  # an error, or for a batch with nothing accepted, the per-item answer
        assert set(answer.get("error", {})) >= {"code", "message"} or answer["rejected"] >= 1


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), raw=st.binary(max_size=200))
def test_random_bytes_never_get_a_server_error(admin: httpx.Client, route: str, raw: bytes) -> None:
    r = admin.post(route, content=raw, headers={"content-type": "application/json"})
    assert r.status_code in (400, 413, 422), r.text


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("route", ROUTES)
def test_deeply_nested_json_is_refused_not_a_crash(admin: httpx.Client, route: str) -> None:
    for body in (b"[" * 5000, b'{"a":' * 5000, b"[" + b'{"raw":' * 3000):
        r = admin.post(route, content=body, headers={"content-type": "application/json"})
        assert r.status_code in (400, 422), r.text
