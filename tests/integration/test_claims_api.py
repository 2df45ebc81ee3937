"""Claims over real HTTP, on SQLite and PostgreSQL: the whole life of a claim, the evidence it
carries, the refusals, and two reviewers acting at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from parcelguard.domain import times
from parcelguard.domain.claims import Claimant, ClaimState, Step
from parcelguard.domain.errors import Conflict
from parcelguard.domain.tenancy import Role
from parcelguard.services.clock import ManualClock
from tests.conftest import BOTH_MODES, Server
from tests.factories import shipment_json
from tests.integration.test_liability_api import TN, knocked_in_transit

CLAIM = {"kind": "damage", "description": "屏幕碎了 the screen arrived cracked",
         "amount": 129900}


def _open(api: httpx.Client, tn: str = TN, **extra: object) -> dict:
    r = api.post(f"/v1/shipments/{tn}/claims", json={**CLAIM, **extra})
    assert r.status_code == 201, r.text
    return r.json()


@BOTH_MODES  # embedded and through the bus
def test_a_damage_claim_goes_from_open_to_settled_carrying_the_analysis(server: Server) -> None:
    api = knocked_in_transit(server)
    merchant = server.client(Role.MERCHANT)
    opened = _open(merchant)
    assert (opened["state"], opened["claimant"], opened["kind"]) == ("open", "merchant", "damage")
    assert opened["description"] == CLAIM["description"]
    assert (opened["amount_claimed"], opened["currency"]) == (129900, "CNY")
    # the finding: the shock on vehicle 沪A1 (sensor evidence, 0.9) over the damage noted at B
    f = opened["finding"]
    assert (f["incident"], f["segment"], f["party"]["kind"], f["party"]["id"],
            f["confidence"]) == ("shock", 2, "vehicle", "沪A1", 0.9)
    analysis = opened["analysis"]
    assert analysis == api.get(f"/v1/shipments/{TN}/liability").json()
    assert set(f["ledger"]) <= {e["index"] for e in analysis["entries"]}
    assert [s["action"] for s in opened["timeline"]] == ["opened"]
    cid = opened["claim_id"]

    reviewed = merchant.post(f"/v1/claims/{cid}/review", json={"note": "photos asked for"})
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["state"] == "under_review"
    accepted = merchant.post(f"/v1/claims/{cid}/accept", json={"amount": 100000})
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert (body["state"], body["amount_approved"]) == ("accepted", 100000)
    assert (body["liable"]["kind"], body["liable"]["id"]) == ("vehicle", "沪A1")
    assert body["decided_at"] is not None
    settled = merchant.post(f"/v1/claims/{cid}/settle", json={"reference": "PAY-7781"})
    assert settled.status_code == 200, settled.text
    body = settled.json()
    assert (body["state"], body["amount_paid"], body["payment_ref"]) == (
        "settled", 100000, "PAY-7781")
    key_id = server.keys.acme[Role.MERCHANT].split("_")[1]
    steps = [(s["action"], s["state"], s["note"], s["actor"]) for s in body["timeline"]]
    assert steps == [("opened", "open", None, key_id),
                     ("review", "under_review", "photos asked for", key_id),
                     ("accept", "accepted", None, key_id), ("settle", "settled", None, key_id)]
    assert body["timeline"][0]["data"]["finding"] == f  # the basis it was filed on
    assert body["timeline"][3]["data"] == {"amount": 100000, "reference": "PAY-7781"}
    # settled: a new claim of the same kind may be opened again
    assert _open(merchant)["state"] == "open"


@BOTH_MODES  # embedded and through the bus
def test_steps_out_of_order_are_conflicts_that_name_the_state_needed(server: Server) -> None:
    knocked_in_transit(server)
    api = server.client(Role.MERCHANT)
    cid = _open(api)["claim_id"]
    r = api.post(f"/v1/claims/{cid}/accept", json={"amount": 1})
    assert r.status_code == 409
    assert "is open; accept needs it under_review" in r.json()["error"]["message"]
    assert api.post(f"/v1/claims/{cid}/settle").status_code == 409
    assert api.post(f"/v1/claims/{cid}/review").status_code == 200
    assert api.post(f"/v1/claims/{cid}/review").status_code == 409
    # a reject needs a reason; an accept an amount no larger than the claim
    r = api.post(f"/v1/claims/{cid}/reject", json={})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "note")
    assert api.get("/v1/claims", params={"cursor": "²:x"}).status_code == 422
    r = api.post(f"/v1/claims/{cid}/accept", json={})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "amount")
    r = api.post(f"/v1/claims/{cid}/accept", json={"amount": 129901})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "amount_approved")
    assert api.post(f"/v1/claims/{cid}/reject", json={"note": "packed badly by the sender"}
                    ).status_code == 200
    r = api.post(f"/v1/claims/{cid}/settle", json={"amount": 5})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "amount_paid")
    done = api.post(f"/v1/claims/{cid}/settle").json()
    assert (done["state"], done["amount_paid"], done["amount_approved"]) == ("settled", 0, 0)
    # nothing of the refused steps reached the timeline
    assert [s["action"] for s in done["timeline"]] == ["opened", "review", "reject", "settle"]


@BOTH_MODES  # embedded and through the bus
def test_bad_claims_are_refused_naming_the_field(server: Server) -> None:
    knocked_in_transit(server)
    api = server.client(Role.MERCHANT)
    for body, field in (({**CLAIM, "kind": "theft"}, "kind"),
                        ({**CLAIM, "amount": -1}, "amount"),
                        ({**CLAIM, "amount": 0}, "amount"),
                        ({**CLAIM, "currency": "yuan"}, "currency"),
                        ({**CLAIM, "currency": "USD"}, "currency"),
                        ({k: v for k, v in CLAIM.items() if k != "description"}, "description")):
        r = api.post(f"/v1/shipments/{TN}/claims", json=body)
        assert r.status_code == 422, r.text
        assert field in r.json()["error"]["field"]
    assert api.post("/v1/shipments/SF0000000000/claims", json=CLAIM).status_code == 404
    cid = _open(api)["claim_id"]
    second = api.post(f"/v1/shipments/{TN}/claims", json=CLAIM)
    assert second.status_code == 409
    assert cid in second.json()["error"]["message"]
    # another kind on the same parcel is a claim of its own
    assert _open(api, kind="loss")["finding"] is None  # nothing on record says it is lost
    assert api.post("/v1/claims/clm-nope/review").status_code == 404
    r = api.post(f"/v1/claims/{cid}/review", content=b"{not json",
                 headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    assert api.get(f"/v1/claims/{cid}").json()["state"] == "open"


@BOTH_MODES  # embedded and through the bus
def test_an_accept_without_a_finding_needs_a_named_party(server: Server) -> None:
    api = server.client(Role.MERCHANT)
    assert api.post("/v1/shipments", json=shipment_json("SF1400000002")).status_code == 201
    cid = _open(api, "SF1400000002", kind="loss")["claim_id"]
    api.post(f"/v1/claims/{cid}/review")
    r = api.post(f"/v1/claims/{cid}/accept", json={"amount": 10})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "liable")
    r = api.post(f"/v1/claims/{cid}/accept", json={"amount": 10, "liable": {"kind": "x",
                                                                              "id": "y"}})
    assert r.status_code == 422
    r = api.post(f"/v1/claims/{cid}/accept", json={
        "amount": 10, "liable": {"kind": "carrier", "id": "sf", "carrier": "sf"}})
    assert r.status_code == 200, r.text
    assert r.json()["liable"]["id"] == "sf"


@BOTH_MODES  # embedded and through the bus
def test_claims_are_listed_scoped_and_need_the_right(server: Server) -> None:
    knocked_in_transit(server)
    api = server.client(Role.MERCHANT)
    first = _open(api)["claim_id"]
    clock = server.system.clock
    assert isinstance(clock, ManualClock)
    clock.advance_to(clock.now() + timedelta(minutes=1))
    second = _open(api, kind="spoilage")["claim_id"]
    api.post(f"/v1/claims/{first}/review")
    page = api.get("/v1/claims", params={"limit": 1}).json()
    assert [c["claim_id"] for c in page["items"]] == [second]
    rest = api.get("/v1/claims", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert ([c["claim_id"] for c in rest["items"]], rest["next_cursor"]) == ([first], None)
    assert [c["claim_id"] for c in api.get("/v1/claims", params={
        "state": "under_review"}).json()["items"]] == [first]
    assert len(api.get("/v1/claims", params={"active": "true", "tracking_no": TN}
                       ).json()["items"]) == 2
    assert api.get("/v1/claims", params={"cursor": "garbage"}).status_code == 422
    other = server.client(Role.MERCHANT, tenant="other")
    assert other.get(f"/v1/claims/{first}").status_code == 404
    assert other.get("/v1/claims").json()["items"] == []
    assert other.post(f"/v1/claims/{first}/review").status_code == 404
    assert other.post(f"/v1/shipments/{TN}/claims", json=CLAIM).status_code == 404
    operator = server.client(Role.OPERATOR)  # a merchant's matter, with what customers wrote
    assert operator.get(f"/v1/claims/{first}").status_code == 403
    assert operator.post(f"/v1/claims/{first}/accept", json={"amount": 1}).status_code == 403
    carrier = server.client(Role.CARRIER)
    assert carrier.get("/v1/claims").status_code == 403
    assert carrier.post(f"/v1/shipments/{TN}/claims", json=CLAIM).status_code == 403


@BOTH_MODES  # embedded and through the bus
def test_two_reviewers_at_once_decide_a_claim_once(server: Server) -> None:
    knocked_in_transit(server)
    api = server.client(Role.MERCHANT)
    cid = _open(api)["claim_id"]
    api.post(f"/v1/claims/{cid}/review")

    def decide(i: int) -> int:
        with server.client(Role.MERCHANT) as c:
            if i % 2:
                return c.post(f"/v1/claims/{cid}/accept", json={"amount": 100}).status_code
            return c.post(f"/v1/claims/{cid}/reject", json={"note": "no"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(decide, range(16)))
    assert sorted(codes).count(200) == 1
    assert set(codes) == {200, 409}
    timeline = api.get(f"/v1/claims/{cid}").json()["timeline"]
    assert [s["action"] for s in timeline][:2] == ["opened", "review"]
    assert len(timeline) == 3


@BOTH_MODES  # embedded and through the bus
def test_two_openings_at_once_make_one_claim(server: Server) -> None:
    knocked_in_transit(server)

    def open_one(_: int) -> int:
        with server.client(Role.MERCHANT) as c:
            return c.post(f"/v1/shipments/{TN}/claims", json=CLAIM).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(open_one, range(12)))
    assert codes.count(201) == 1
    assert set(codes) == {201, 409}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_what_people_write_in_a_claim_is_sealed_at_rest(server: Server) -> None:
    knocked_in_transit(server)
    api = server.client(Role.MERCHANT)
    cid = _open(api, description="请打13812345678联系我")["claim_id"]
    api.post(f"/v1/claims/{cid}/comments", json={"note": "回电 13812345678"})
    engine = sa.create_engine(server.system.settings.db_url)
    with engine.connect() as conn:
        rows = [str(tuple(r)) for table in ("claims", "claim_steps")
                for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    engine.dispose()
    assert rows
    assert not any("13812345678" in r for r in rows)
    detail = api.get(f"/v1/claims/{cid}").json()
    assert detail["description"] == "请打13812345678联系我"
    assert detail["timeline"][-1]["note"] == "回电 13812345678"


@BOTH_MODES  # embedded and through the bus
def test_the_store_refuses_a_second_unsettled_claim_of_a_kind_even_in_a_race(
    server: Server,
) -> None:
    """The unique index itself, past the desk's own check (two nodes opening at once)."""
    knocked_in_transit(server)
    cid = _open(server.client(Role.MERCHANT))["claim_id"]
    store = server.system.store
    with store.unit_of_work(write=False) as uow:
        first = uow.claims.get("acme", cid)
        shipment = uow.shipments.get("acme", TN)
    assert first is not None
    assert shipment is not None
    twin = replace(first, claim_id="clm-twin")
    consumers = replace(twin, claimant=Claimant.CONSUMER)  # another claimant: its own slot
    with store.unit_of_work() as uow:
        with pytest.raises(Conflict, match="unsettled damage claim"):
            uow.claims.add(twin, shipment.id, Step("clm-twin", 1, "k", "opened", ClaimState.OPEN))
        # the refusal left the transaction usable
        uow.claims.add(consumers, shipment.id, Step("clm-twin", 1, "consumer", "opened",
                                                    ClaimState.OPEN))
        uow.commit()
    assert len(server.client().get("/v1/claims").json()["items"]) == 2


@BOTH_MODES  # embedded and through the bus
def test_claim_counts_per_carrier_and_the_time_to_settle(server: Server) -> None:
    """Opened in the period, unsettled of those, settled in it (opened whenever), paid."""
    knocked_in_transit(server)
    clock = server.system.clock
    assert isinstance(clock, ManualClock)
    api = server.client(Role.MERCHANT)
    old = _open(api)["claim_id"]  # opened before the period
    clock.advance_to(clock.now() + timedelta(days=2))
    since = clock.now()
    api.post(f"/v1/claims/{old}/review")
    api.post(f"/v1/claims/{old}/accept", json={"amount": 5000})
    clock.advance_to(clock.now() + timedelta(hours=1))
    api.post(f"/v1/claims/{old}/settle")
    _open(api, kind="loss")  # opened in it, not settled
    with server.system.store.unit_of_work(write=False) as uow:
        (sf,) = uow.reports.claims("acme", times.to_us(since), times.to_us(clock.now()) + 1)
    assert (sf.carrier, sf.opened, sf.active, sf.settled, sf.paid) == ("sf", 1, 1, 1, 5000)
    assert sf.settle_us == int(timedelta(days=2, hours=1).total_seconds() * 1e6)
