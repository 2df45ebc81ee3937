"""The HTTP API over real HTTP (uvicorn on loopback), on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

import httpx
import pytest

from parcelguard.domain.ledger import merkle
from parcelguard.domain.ledger.canonical import dumps
from parcelguard.domain.ledger.checkpoint import parse_body, parse_note
from parcelguard.domain.tenancy import Role
from tests.conftest import BOTH_MODES, Server, writer_of
from tests.factories import event_json, shipment_json

pytestmark = BOTH_MODES  # the same tests on an embedded server and through the bus

TN = "SF1400000001"


@pytest.fixture
def acme(server: Server) -> httpx.Client:
    client = server.client(Role.MERCHANT)
    assert client.post("/v1/shipments", json=shipment_json(TN, devices=["LOG-1"])).status_code == 201
    return client


def test_registering_answers_created_then_same_then_conflict(acme: httpx.Client) -> None:
    again = acme.post("/v1/shipments", json=shipment_json(TN, devices=["LOG-1"]))
    assert again.status_code == 200
    assert again.json()["recipient"] == {"name": "张**", "phone": "138********",
                                         "address": "北京市****", "email": None,
                                         "masked": True}  # an e-mail only in clear
    changed = acme.post("/v1/shipments", json=shipment_json(TN, order_ref="other"))
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "conflict"


def test_bad_fields_are_named_with_what_is_expected(acme: httpx.Client) -> None:
    r = acme.post("/v1/shipments", json=shipment_json("S2", origin={"city": "x", "lat": 91, "lon": 0}))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "tracking_no"
    r = acme.post("/v1/shipments", json=shipment_json("SF1400000002",
                                                      origin={"city": "x", "lat": 91, "lon": 0}))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "origin.lat")
    r = acme.post("/v1/events", json=event_json(TN, occurred_at="2026-11-20T08:00:00"))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "occurred_at")
    assert "offset" in r.json()["error"]["message"]
    r = acme.post("/v1/events", json={**event_json(TN), "colour": "red"})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "colour")
    r = acme.post("/v1/events", content=b'{"tracking_no": ')
    assert (r.status_code, r.json()["error"]["code"]) == (400, "unparsable")


def test_a_batch_answers_per_item_after_commit(acme: httpx.Client) -> None:
    batch = [event_json(TN, 1, "picked_up", event_id="ev-1"), event_json(TN, 2, event_id="ev-2"),
             event_json(TN, 3, status="flying"), event_json("SF9999999999", 4),
             event_json(TN, 1, "picked_up", event_id="ev-1"),
             event_json(TN, 1000, event_id="ev-future")]
    r = acme.post("/v1/events", json=batch)
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("received", "accepted", "duplicate", "quarantined", "rejected")} == {
        "received": 6, "accepted": 2, "duplicate": 1, "quarantined": 1, "rejected": 2}
    assert [(i["index"], i["result"], i["field"]) for i in body["items"]] == [
        (2, "rejected", "status"), (3, "rejected", "tracking_no"), (4, "duplicate", None),
        (5, "quarantined", None)]
    timeline = acme.get(f"/v1/shipments/{TN}/timeline").json()
    assert [e["event_id"] for e in timeline["events"]] == ["ev-1", "ev-2"]
    assert [q["event_id"] for q in timeline["quarantined"]] == ["ev-future"]


def test_late_events_slot_into_the_timeline_and_regressions_are_flagged(acme: httpx.Client) -> None:
    acme.post("/v1/events", json=[event_json(TN, 5, "out_for_delivery", event_id="ofd"),
                                  event_json(TN, 6, "in_transit", event_id="back")])
    acme.post("/v1/events", json=event_json(TN, 1, "picked_up", event_id="late"))
    tl = acme.get(f"/v1/shipments/{TN}/timeline").json()
    assert [(e["event_id"], e["effect"]) for e in tl["events"]] == [
        ("late", "applied"), ("ofd", "applied"), ("back", "regression")]
    assert tl["status"] == "out_for_delivery"
    assert tl["regressions"] == ["back"]
    assert acme.get(f"/v1/shipments/{TN}").json()["status"] == "out_for_delivery"


def test_custody_entries_carry_inclusion_proofs_that_verify(server: Server, acme: httpx.Client) -> None:
    acme.post("/v1/events", json=[event_json(TN, h) for h in range(1, 6)])
    writer_of(server.system).ingestor.ledger.every = 1  # the next batch signs a checkpoint
    acme.post("/v1/events", json=event_json(TN, 7))
    custody = acme.get(f"/v1/shipments/{TN}/custody").json()
    body, sigs = parse_note(custody["checkpoint"]["note"])
    cp = parse_body(body)
    from parcelguard.crypto.keys import Ed25519Check

    assert Ed25519Check(custody["verifier_key"])(body, sigs)
    assert len(custody["entries"]) == 8  # registration, device binding, six scans
    for e in custody["entries"]:
        leaf = merkle.leaf_hash(dumps(e["entry"]))
        assert leaf.hex() == e["leaf_hash"]
        proof = [bytes.fromhex(h) for h in e["proof"]["hashes"]]
        merkle.verify_inclusion(e["index"], cp.size, leaf, proof, cp.root)


def test_readings_of_the_box_sensor_come_back_as_the_parcels_series(server: Server,
                                                                     acme: httpx.Client) -> None:
    gateway = server.client(Role.DEVICE_GATEWAY)
    readings = [{"device_id": "LOG-1", "ts": f"2026-11-20T0{m}:00:00+08:00", "seq": m,
                 "temperature_c": 4.0 + m} for m in range(1, 4)]
    assert gateway.post("/v1/telemetry", json=readings).json()["accepted"] == 3
    series = acme.get(f"/v1/shipments/{TN}/telemetry").json()["points"]
    assert [(p["source"], p["temperature_c"]) for p in series] == [
        ("device:LOG-1", 5.0), ("device:LOG-1", 6.0), ("device:LOG-1", 7.0)]


SHIPMENT_ROUTES = ["", "/timeline", "/telemetry", "/custody"]


@pytest.mark.parametrize("route", SHIPMENT_ROUTES)
def test_another_tenants_shipment_answers_404_on_every_route(
    server: Server, acme: httpx.Client, route: str
) -> None:
    for role in (Role.MERCHANT, Role.ADMIN, Role.OPERATOR, Role.CARRIER):
        r = server.client(role, tenant="other").get(f"/v1/shipments/{TN}{route}")
        assert r.status_code == 404, (role, r.text)
        assert r.json() == {"error": {"code": "not_found", "message": f"no shipment '{TN}'"}}


def test_another_tenant_can_neither_list_nor_write_to_the_shipment(
    server: Server, acme: httpx.Client
) -> None:
    other = server.client(Role.ADMIN, tenant="other")
    assert other.get("/v1/shipments").json()["items"] == []
    r = other.post("/v1/events", json=event_json(TN, 1))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "tracking_no")
    assert acme.get(f"/v1/shipments/{TN}").json()["event_count"] == 0


def test_keys_are_required_and_roles_are_enforced(server: Server, acme: httpx.Client) -> None:
    anonymous = server.anonymous()
    assert anonymous.get("/v1/shipments").status_code == 401
    bad = server.anonymous({"Authorization": "Bearer pgk_abc_def"})
    assert bad.get("/v1/shipments").status_code == 401
    assert server.client(Role.DEVICE_GATEWAY).get("/v1/shipments").status_code == 403
    assert server.client(Role.CARRIER).post("/v1/shipments", json=shipment_json("SF7")).status_code == 403
    assert server.client(Role.MERCHANT).post("/v1/telemetry", json=[]).status_code == 403
    clear = server.client(Role.CARRIER).get(f"/v1/shipments/{TN}", params={"include": "recipient"})
    assert clear.status_code == 403
    merchant = acme.get(f"/v1/shipments/{TN}", params={"include": "recipient"}).json()
    assert merchant["recipient"]["phone"] == "13812345678"


def test_bodies_over_one_mebibyte_and_batches_over_1000_are_refused(acme: httpx.Client) -> None:
    big = json.dumps([event_json(TN, 1, description="x" * 1900)] * 600).encode()
    assert len(big) > 1024 * 1024
    r = acme.post("/v1/events", content=big, headers={"content-type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "too_large")
    r = acme.post("/v1/events", json=[event_json(TN, i / 100) for i in range(1001)])
    assert r.status_code == 413


def test_health_metrics_and_offline_docs(server: Server, acme: httpx.Client) -> None:
    anonymous = server.anonymous()
    assert anonymous.get("/healthz").json() == {"status": "ok"}
    assert anonymous.get("/readyz").json()["status"] == "ready"
    answer = acme.post("/v1/events", json=[event_json(TN, 1), event_json(TN, 1)]).json()
    assert (answer["accepted"], answer["duplicate"]) == (1, 1)
    metrics = anonymous.get("/metrics").text
    if server.system.bus_node:  # the worker counts what it applies, the API node its partitions
        # (both copies travel in one message: the worker stores the first, and the second is
        # a duplicate of it, as in one process)
        stats = writer_of(server.system).stats.outcomes
        assert (stats[("event", "accepted")], stats[("event", "duplicate")]) == (1, 1)
        assert 'parcelguard_bus_partition_owned{partition="0"} 1.0' in metrics
    else:
        assert 'parcelguard_ingest_items_total{kind="event",result="accepted"} 1.0' in metrics
        assert 'parcelguard_ingest_items_total{kind="event",result="duplicate"} 1.0' in metrics
    assert 'route="/v1/events"' in metrics
    spec = anonymous.get("/openapi.json").json()
    assert "WireEvent" in spec["components"]["schemas"]
    docs = anonymous.get("/docs")
    assert docs.status_code == 200
    assert "/static/swagger/swagger-ui-bundle.js" in docs.text
    assert anonymous.get("/static/swagger/swagger-ui-bundle.js").status_code == 200
