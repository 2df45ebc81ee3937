"""Carrier push receivers over real HTTP, on SQLite and PostgreSQL, with the golden cases; the
tests whose pushes reach the writer also run through the bus (an API node, JetStream and a
worker: signatures, unreadable pushes and endpoints are the API node's alone).

Each format's documented example goes to ``/v1/hooks/<format>/<endpoint>`` signed with the
endpoint's secret: it is answered as the carrier expects and its scans land on the timeline;
the same push again adds nothing; a bad or missing signature is 401 and writes nothing; an
unreadable push is 400 and kept for inspection; an unknown code is stored as ``unknown`` and
counted on /metrics.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from parcelguard.domain import times
from parcelguard.domain.tenancy import Role
from parcelguard.ingest.carriers import FORMATS
from parcelguard.ingest.hooks import Remembered
from parcelguard.services.clock import ManualClock
from tests.conftest import BOTH_MODES, Server, writer_of
from tests.factories import shipment_json
from tests.unit.carriers.helpers import DATA, Case, load_case, signed

ALL = sorted(FORMATS)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 1, tzinfo=UTC))  # before every case's own clock


def case(fmt: str, name: str) -> Case:
    return load_case(DATA / fmt / f"{name}.http")


def expected(c: Case) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(c.expected_path.read_text())
    return loaded


def endpoint(server: Server, fmt: str, secret: str, **extra: Any) -> str:
    r = server.client().post("/v1/carrier-endpoints",
                             json={"format": fmt, "secret": secret, "name": f"{fmt} account",
                                   **extra})
    assert r.status_code == 201, r.text
    path: str = r.json()["path"]
    assert path == f"/v1/hooks/{fmt}/{r.json()['endpoint_id']}"
    return path


def register(server: Server, c: Case) -> list[str]:
    """The shipments the case's scans belong to (a carrier pushes for registered parcels)."""
    numbers = {e["tracking_no"]: e["carrier"] for e in expected(c)["events"]}
    for tn, carrier in numbers.items():
        r = server.client().post("/v1/shipments", json=shipment_json(tn, carrier=carrier))
        assert r.status_code == 201, r.text
    return sorted(numbers)


def send(server: Server, path: str, c: Case, clock: ManualClock) -> httpx.Response:
    """Post the case when the server's clock is at the case's own, or after its last scan (a
    golden case's clock only stamps the reply; its scans may be later)."""
    clock.advance_to(c.now)
    if expected(c).get("events"):
        clock.advance_to(max(datetime.fromisoformat(e["occurred_at"])
                             for e in expected(c)["events"]))
    return server.anonymous().post(path, content=c.body, headers=c.headers)


def stored(server: Server, numbers: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tn in numbers:
        r = server.client().get(f"/v1/shipments/{tn}/timeline")
        assert r.status_code == 200, r.text
        out += r.json()["events"]
    return out


def rejected(server: Server) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = server.client().get("/v1/rejected-payloads").json()["items"]
    return items


@BOTH_MODES  # the same on an embedded server and through the bus
@pytest.mark.parametrize("fmt", ALL)
def test_a_signed_push_is_answered_as_the_carrier_expects_and_its_scans_are_stored(
    server: Server, clock: ManualClock, fmt: str,
) -> None:
    happy = case(fmt, "happy")
    path = endpoint(server, fmt, happy.secret, zone=str(happy.zone))
    numbers = register(server, happy)
    r = send(server, path, happy, clock)
    assert r.status_code == 200, r.text
    assert r.content.decode() == expected(happy)["reply"]
    events = stored(server, numbers)
    assert sorted(e["event_id"] for e in events) == sorted(
        e["event_id"] for e in expected(happy)["events"])
    assert {e["source"] for e in events} == {fmt}
    # pushed newest first or not, the journey starts at the parcel's first scan (transit
    # times, the lane model and the KPIs count from it)
    with writer_of(server.system).store.unit_of_work(write=False) as uow:
        for tn in numbers:
            record = uow.shipments.get("acme", tn)
            assert record is not None
            first = min(datetime.fromisoformat(e["occurred_at"]) for e in expected(happy)["events"]
                        if e["tracking_no"] == tn and e["status"] not in ("info_received", "unknown"))
            assert record.state.picked_up_at_us == times.to_us(first)
    for tn in numbers:  # the carrier's own estimate, beside ours
        shown = server.client().get(f"/v1/shipments/{tn}").json()["carrier_etas"]
        estimate = expected(happy)["estimated_delivery"].get(tn)
        assert [(e["source"], e["estimate"]) for e in shown] == (
            [(fmt, estimate)] if estimate else [])

    again = send(server, path, case(fmt, "replay"), clock)  # the same scans pushed again
    assert again.status_code == 200, again.text
    assert len(stored(server, numbers)) == len(events)
    assert rejected(server) == []


def batches(server: Server) -> int:
    """The writer's committed batches so far, from /metrics."""
    found = re.search(r"^parcelguard_batch_commit_seconds_count (\S+)$",
                      server.anonymous().get("/metrics").text, re.M)
    assert found
    return int(float(found.group(1)))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("fmt", ALL)
def test_items_seen_committed_are_not_sent_to_the_writer_again(
    server: Server, clock: ManualClock, fmt: str,
) -> None:
    happy = case(fmt, "happy")
    path = endpoint(server, fmt, happy.secret, zone=str(happy.zone))
    numbers = register(server, happy)
    assert send(server, path, happy, clock).status_code == 200
    events = stored(server, numbers)
    before = batches(server)
    again = send(server, path, case(fmt, "replay"), clock)
    assert (again.status_code, again.content.decode()) == (200, expected(happy)["reply"])
    content_ids = fmt != "generic"  # the generic format's ids are the sender's own
    assert batches(server) == before + (0 if content_ids else 1)
    # after a restart the receiver remembers nothing: the writer's own check answers
    server.system.hooks.committed = Remembered(10)
    server.system.hooks.estimates = Remembered(10)
    assert send(server, path, case(fmt, "replay"), clock).status_code == 200
    assert batches(server) == before + (1 if content_ids else 2)
    assert len(stored(server, numbers)) == len(events)
    n = len(expected(happy)["events"])
    metrics = server.anonymous().get("/metrics").text
    assert f'parcelguard_carrier_items_total{{format="{fmt}",result="duplicate"}} {2 * n}.0' in (
        metrics)


def test_the_remembered_set_forgets_the_least_recently_seen() -> None:
    r = Remembered(2)
    r.put("a")
    r.put("b")
    assert r.get("a") is not None  # a is now the most recently seen
    r.put("c")
    assert (r.get("a") is not None, r.get("b"), r.get("c") is not None, len(r)) == (
        True, None, True, 2)


@pytest.mark.parametrize("fmt", ALL)
@pytest.mark.parametrize("name", ["bad_signature", "missing_signature"])
def test_a_push_without_the_right_signature_is_401_and_writes_nothing(
    server: Server, clock: ManualClock, fmt: str, name: str,
) -> None:
    happy = case(fmt, "happy")
    path = endpoint(server, fmt, happy.secret, zone=str(happy.zone))
    numbers = register(server, happy)
    r = send(server, path, case(fmt, name), clock)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    assert stored(server, numbers) == []
    assert rejected(server) == []


@pytest.mark.parametrize("fmt", ALL)
def test_an_unreadable_push_is_400_and_kept_for_inspection(
    server: Server, clock: ManualClock, fmt: str,
) -> None:
    happy = case(fmt, "happy")
    path = endpoint(server, fmt, happy.secret, zone=str(happy.zone))
    body, headers = signed(fmt, 'this is not json {', happy.secret, happy.now)
    clock.advance_to(happy.now)
    r = server.anonymous().post(path, content=body, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "unparsable"
    [kept] = rejected(server)
    assert kept["source"] == f"hooks/{fmt}"
    assert kept["ref"] == path.rsplit("/", 1)[1]
    assert kept["reason"] == r.json()["error"]["message"]
    assert kept["body"] == body.decode()
    assert kept["size"] == len(body)
    other = server.client(tenant="other").get("/v1/rejected-payloads").json()["items"]
    assert other == []  # another tenant does not see it


@BOTH_MODES  # the same on an embedded server and through the bus
@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"generic"}))
def test_an_unknown_code_is_stored_as_unknown_and_counted_on_metrics(
    server: Server, clock: ManualClock, fmt: str,
) -> None:
    c = case(fmt, "unknown_code")
    path = endpoint(server, fmt, c.secret, zone=str(c.zone))
    numbers = register(server, c)
    r = send(server, path, c, clock)
    assert r.status_code == 200, r.text
    unknown = [e for e in stored(server, numbers) if e["status"] == "unknown"]
    assert unknown
    assert all(e["carrier_code"] for e in unknown)
    metrics = server.anonymous().get("/metrics").text
    if server.system.bus_node:  # the worker counts what it stores, the API node the pushes
        assert writer_of(server.system).stats.unknown_status[fmt] == len(unknown)
    else:
        assert f'parcelguard_unknown_status_total{{source="{fmt}"}} {len(unknown)}.0' in metrics
    assert f'parcelguard_carrier_pushes_total{{format="{fmt}",result="accepted"}} 1.0' in metrics
    codes = re.search(rf'^parcelguard_carrier_notices_total{{format="{fmt}",notice="unknown_code"}}'
                      r" (\S+)$", metrics, re.M)
    assert codes is not None
    assert float(codes.group(1)) >= len(unknown)  # a subtag may also fall back to its parent


@BOTH_MODES  # the same on an embedded server and through the bus
def test_scans_of_parcels_nobody_registered_are_counted_not_stored(
    server: Server, clock: ManualClock,
) -> None:
    happy = case("kdniao", "happy")
    path = endpoint(server, "kdniao", happy.secret)
    r = send(server, path, happy, clock)
    assert r.status_code == 200, r.text  # the carrier cannot do anything about it
    n = len(expected(happy)["events"])
    assert f'parcelguard_carrier_items_total{{format="kdniao",result="rejected"}} {n}.0' in (
        server.anonymous().get("/metrics").text)


def test_an_unknown_disabled_or_other_format_endpoint_is_404(
    server: Server, clock: ManualClock,
) -> None:
    happy = case("kdniao", "happy")
    path = endpoint(server, "kdniao", happy.secret)
    register(server, happy)
    anyone = server.anonymous()
    assert anyone.post("/v1/hooks/kdniao/ep_nope", content=happy.body,
                       headers=happy.headers).status_code == 404
    assert anyone.post(path.replace("kdniao", "aftership"), content=happy.body,
                       headers=happy.headers).status_code == 404
    assert anyone.post("/v1/hooks/nope/x", content=b"").status_code == 404
    endpoint_id = path.rsplit("/", 1)[1]
    off = server.client().post(f"/v1/carrier-endpoints/{endpoint_id}/disable")
    assert off.json()["enabled"] is False
    assert send(server, path, happy, clock).status_code == 404
    server.client().post(f"/v1/carrier-endpoints/{endpoint_id}/enable")
    assert send(server, path, happy, clock).status_code == 200


def test_endpoints_are_managed_per_tenant_with_their_secrets_checked(server: Server) -> None:
    merchant = server.client(Role.MERCHANT)
    missing = merchant.post("/v1/carrier-endpoints", json={"format": "kdniao"})
    assert (missing.status_code, missing.json()["error"]["field"]) == (422, "secret")
    wrong = merchant.post("/v1/carrier-endpoints", json={"format": "fedex", "secret": "k"})
    assert (wrong.status_code, wrong.json()["error"]["field"]) == (422, "format")
    zone = merchant.post("/v1/carrier-endpoints",
                         json={"format": "kuaidi100", "secret": "s", "zone": "Mars/Olympus"})
    assert (zone.status_code, zone.json()["error"]["field"]) == (422, "zone")
    made = merchant.post("/v1/carrier-endpoints", json={"format": "generic"})
    assert made.status_code == 201
    assert made.json()["secret"].startswith("whsec_")
    assert made.json()["zone"] == "Asia/Shanghai"
    listed = merchant.get("/v1/carrier-endpoints").json()
    assert [e["endpoint_id"] for e in listed] == [made.json()["endpoint_id"]]
    assert "secret" not in listed[0]
    other = server.client(tenant="other")
    assert other.get("/v1/carrier-endpoints").json() == []
    endpoint_id = made.json()["endpoint_id"]
    assert other.post(f"/v1/carrier-endpoints/{endpoint_id}/disable").status_code == 404
    assert server.client(Role.CARRIER).get("/v1/carrier-endpoints").status_code == 403


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"generic"}))
def test_a_carriers_error_push_is_acknowledged_and_its_notices_counted(
    server: Server, clock: ManualClock, fmt: str,
) -> None:
    c = case(fmt, "error")
    path = endpoint(server, fmt, c.secret, zone=str(c.zone))
    notes = {("stopped", tn): why for tn, why in expected(c)["stopped"].items()}
    notes |= {("failed", tn): why for tn, why in expected(c)["problems"].items()}
    merchant = server.client(Role.MERCHANT)
    for tn in sorted({tn for _, tn in notes}):
        assert merchant.post("/v1/shipments", json=shipment_json(tn)).status_code == 201
    r = send(server, path, c, clock)
    assert r.status_code == 200, r.text
    assert r.content.decode() == expected(c)["reply"]
    metrics = server.anonymous().get("/metrics").text
    for notice, key in (("stopped", "stopped"), ("problem", "problems")):
        n = len(expected(c)[key])
        line = f'parcelguard_carrier_notices_total{{format="{fmt}",notice="{notice}"}} {n}.0'
        assert (line in metrics) is (n > 0), line
    assert rejected(server) == []
    # someone has to find those parcels: one carrier_exception alert per note, once
    send(server, path, c, clock)
    raised = {(a["evidence"]["tracking"], a["tracking_no"]): a["evidence"]["reason"]
              for a in merchant.get("/v1/alerts", params={"kind": "carrier_exception"})
              .json()["items"]}
    assert raised == notes
    alerts = merchant.get("/v1/alerts", params={"kind": "carrier_exception"}).json()["items"]
    assert [a["repeats"] for a in alerts] == [0] * len(notes)
