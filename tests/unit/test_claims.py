"""The claim's life and its finding, as pure functions; the desk on the in-memory store."""

from __future__ import annotations

from typing import Any

import pytest

from parcelguard import bootstrap
from parcelguard.domain import claims
from parcelguard.domain.claims import Claim, Claimant, ClaimKind, ClaimState
from parcelguard.domain.errors import Conflict, InvalidInput
from parcelguard.services.claims import Decision
from parcelguard.services.ports import ClaimFilter
from tests.unit.test_ingest import register, results, scan

PARTY = {"kind": "vehicle", "id": "沪A1", "carrier": "sf", "operator_id": "OP-3",
         "facility_id": "HUB-A", "vehicle_id": "沪A1"}


def incident(kind: str, confidence: float, at: str, party: Any = PARTY) -> dict[str, Any]:
    return {"kind": kind, "at": at, "end": None, "segment": 2, "party": party,
            "confidence": confidence, "reasoning": f"{kind} reasoning", "facts": {},
            "ledger": [7]}


def a_claim(kind: ClaimKind = ClaimKind.DAMAGE, finding: Any = None) -> Claim:
    return Claim("clm-1", "acme", "SF1", kind, ClaimState.OPEN, Claimant.MERCHANT, "key",
                 "broken", "CNY", 1000, 1, 1, {"incidents": []}, finding)


def test_the_finding_is_the_most_confident_incident_of_the_claims_kind() -> None:
    found = [incident("damage", 0.8, "2026-11-20T03:00:00Z"),
             incident("shock", 0.9, "2026-11-20T05:00:00Z"),
             incident("temperature_excursion", 0.95, "2026-11-20T01:00:00Z")]
    best = claims.finding(ClaimKind.DAMAGE, found)
    assert best is not None
    assert (best["incident"], best["confidence"], best["ledger"]) == ("shock", 0.9, [7])
    spoiled = claims.finding(ClaimKind.SPOILAGE, found)
    assert spoiled is not None
    assert spoiled["incident"] == "temperature_excursion"
    assert claims.finding(ClaimKind.LOSS, found) is None
    tie = [incident("misroute", 0.85, "2026-11-20T09:00:00Z"),
           incident("wrong_recipient", 0.85, "2026-11-20T02:00:00Z")]
    first = claims.finding(ClaimKind.MISDELIVERY, tie)
    assert first is not None
    assert first["incident"] == "wrong_recipient"


def test_the_life_of_a_claim_and_the_steps_it_refuses() -> None:
    c = a_claim(finding=claims.finding(ClaimKind.DAMAGE, [incident("shock", 0.9, "t")]))
    with pytest.raises(Conflict, match="accept needs it under_review"):
        claims.accept(c, 2, 10, None)
    with pytest.raises(Conflict, match="settle needs it accepted or rejected"):
        claims.settle(c, 2, None, None)
    reviewed = claims.review(c, 2, {"incidents": [incident("damage", 0.8, "t")]})
    assert reviewed.finding is not None
    assert reviewed.finding["incident"] == "damage"
    with pytest.raises(InvalidInput, match="amount_approved"):
        claims.accept(reviewed, 3, 1001, None)
    accepted = claims.accept(reviewed, 3, 600, None)
    assert (accepted.state, accepted.liable, accepted.decided_at_us) == (
        ClaimState.ACCEPTED, PARTY, 3)
    with pytest.raises(InvalidInput, match="at most the 600 approved"):
        claims.settle(accepted, 4, 601, None)
    paid = claims.settle(accepted, 4, None, "PAY-1")
    assert (paid.state, paid.amount_paid, paid.settled_at_us, paid.active) == (
        ClaimState.SETTLED, 600, 4, False)
    rejected = claims.reject(reviewed, 3)
    with pytest.raises(InvalidInput, match="without payment"):
        claims.settle(rejected, 4, 1, None)
    with pytest.raises(InvalidInput, match="reference"):
        claims.settle(rejected, 4, None, "PAY-2")
    assert claims.settle(rejected, 4, None, None).amount_paid == 0


def test_an_accept_needs_a_party_when_nothing_was_found() -> None:
    reviewed = claims.review(a_claim(ClaimKind.LOSS), 2, {"incidents": []})
    with pytest.raises(InvalidInput, match="liable"):
        claims.accept(reviewed, 3, 10, None)
    named = claims.accept(reviewed, 3, 10, {"kind": "carrier", "id": "sf"})
    assert named.liable == {"kind": "carrier", "id": "sf"}


def test_the_desk_on_the_memory_store(mem: bootstrap.System) -> None:
    results(mem, register(mem, tracking_no="SF1"))
    results(mem, scan(tracking_no="SF1", hours=1, status="in_transit", condition="damaged"))
    desk = mem.claims
    c = desk.open("acme", "SF1", ClaimKind.DAMAGE, " 碎了 ", 500, "CNY", Claimant.CONSUMER,
                  "consumer", 10)
    assert (c.description, c.finding is not None) == ("碎了", True)
    with pytest.raises(Conflict, match=c.claim_id):
        desk.open("acme", "SF1", ClaimKind.DAMAGE, "again", 1, "CNY", Claimant.CONSUMER,
                  "consumer", 11)
    # the merchant's own claim (against the carrier) is not blocked by the consumer's
    theirs = desk.open("acme", "SF1", ClaimKind.DAMAGE, "ours", 1, "CNY", Claimant.MERCHANT,
                       "k", 11)
    assert theirs.claim_id != c.claim_id
    with pytest.raises(InvalidInput, match="currency"):
        desk.open("acme", "SF1", ClaimKind.LOSS, "x", 1, "USD", Claimant.MERCHANT, "k", 11)
    with pytest.raises(InvalidInput, match="amount"):
        desk.open("acme", "SF1", ClaimKind.LOSS, "x", 0, "CNY", Claimant.MERCHANT, "k", 11)
    with pytest.raises(InvalidInput, match="action"):
        desk.act("acme", c.claim_id, "approve", "k", 12, Decision())
    with pytest.raises(InvalidInput, match=r"liable\.kind"):
        desk.act("acme", c.claim_id, "accept", "k", 12, Decision(amount=1, liable={"kind": "x"}))
    desk.act("acme", c.claim_id, "review", "k", 12, Decision())
    desk.act("acme", c.claim_id, "comment", "k", 13, Decision(note="查看照片"))
    got, steps = desk.get("acme", c.claim_id)
    assert got.state is ClaimState.UNDER_REVIEW
    assert [(s.action, s.note) for s in steps] == [("opened", None), ("review", None),
                                                  ("comment", "查看照片")]
    assert steps[0].data["finding"]["incident"] == "damage"  # what it was filed on
    rows, nxt = desk.page("acme", ClaimFilter(active=True), None, 10)
    assert ([r.claim_id for r in rows], nxt) == ([theirs.claim_id, c.claim_id], None)
    with mem.store.unit_of_work(write=False) as uow:
        assert uow.claims.get("other", c.claim_id) is None
        (counts,) = uow.reports.claims("acme", 0, 100)
    assert (counts.opened, counts.active, counts.settled) == (2, 2, 0)
