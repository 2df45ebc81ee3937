"""Claims: a merchant or a consumer asks for compensation for a parcel that went wrong.

A claim's life is ``open → under_review → accepted | rejected → settled``: a person reviews it,
decides it (an accepted claim names the party held liable and the amount approved; a rejected
one the reason), and settles it (the payment made, or nothing for a rejected claim). Every step
is an entry on the claim's timeline with who took it and when. A claim carries the liability
analysis of its shipment as it stood when the claim was opened and again when its review began,
and the **finding**: the incident of the analysis that bears on the claim's kind (damage →
shock or damage noted at a scan, spoilage → temperature excursion, loss → the last sighting,
misdelivery → a delivery without verified identity), with its party and confidence.

Amounts are in minor units (fen) so nothing is lost to floating point; claims are in CNY for
now (one currency keeps the KPIs' sums and the pages' yuan true). Merchant and consumer claims
are kept apart: each may have one unsettled claim of each kind on a shipment.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from parcelguard.domain.errors import Conflict, InvalidInput

MAX_AMOUNT = 10 ** 11  # minor units: a billion yuan; anything above is a typing error
MAX_TEXT = 2000
MAX_REFERENCE = 100
CURRENCY = "CNY"


class ClaimKind(StrEnum):
    DAMAGE = "damage"
    LOSS = "loss"
    MISDELIVERY = "misdelivery"
    SPOILAGE = "spoilage"


class ClaimState(StrEnum):
    OPEN = "open"
    UNDER_REVIEW = "under_review"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SETTLED = "settled"


class Claimant(StrEnum):
    MERCHANT = "merchant"
    CONSUMER = "consumer"


ACTIVE = frozenset({ClaimState.OPEN, ClaimState.UNDER_REVIEW, ClaimState.ACCEPTED,
                    ClaimState.REJECTED})  # not settled yet
# the liability analysis' incident kinds (domain/liability.ORDER) that bear on each claim kind
EVIDENCE: dict[ClaimKind, tuple[str, ...]] = {
    ClaimKind.DAMAGE: ("shock", "damage"),
    ClaimKind.SPOILAGE: ("temperature_excursion",),
    ClaimKind.LOSS: ("loss",),
    ClaimKind.MISDELIVERY: ("wrong_recipient", "misroute"),
}


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of a claim's timeline."""

    claim_id: str
    at_us: int
    actor: str  # an API key id, or "consumer"
    action: str  # opened, review, accept, reject, settle, comment
    state: ClaimState  # the claim's state after it
    note: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Claim:
    claim_id: str
    tenant_id: str
    tracking_no: str
    kind: ClaimKind
    state: ClaimState
    claimant: Claimant
    opened_by: str
    description: str
    currency: str
    amount_claimed: int
    opened_at_us: int
    updated_at_us: int
    analysis: Mapping[str, Any]  # services/liability.as_dict at opening, refreshed at review
    finding: Mapping[str, Any] | None  # the incident bearing on the kind; None: no evidence
    liable: Mapping[str, Any] | None = None  # the party held liable when accepted
    amount_approved: int | None = None
    amount_paid: int | None = None
    payment_ref: str | None = None
    decided_at_us: int | None = None
    settled_at_us: int | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


def new_id() -> str:
    return "clm-" + secrets.token_hex(10)


def finding(kind: ClaimKind, incidents: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The incident of the analysis (``as_dict``'s ``incidents``) that bears on the claim: the
    most confident of its kinds, the earliest of equals. None when nothing in the record
    supports the claim: the reviewer then decides on what the claimant brings."""
    wanted = [i for i in incidents if i["kind"] in EVIDENCE[kind]]
    if not wanted:
        return None
    best = min(wanted, key=lambda i: (-float(i["confidence"]), i["at"]))
    return {"incident": best["kind"], "at": best["at"], "segment": best["segment"],
            "party": best["party"], "confidence": best["confidence"],
            "reasoning": best["reasoning"], "ledger": best["ledger"]}


def text(name: str, value: str | None, *, required: bool) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidInput(name, "required: say why in a few words")
        return None
    if len(value) > MAX_TEXT:
        raise InvalidInput(name, f"at most {MAX_TEXT} characters, got {len(value)}")
    return value


def amount(name: str, value: int, least: int = 0) -> int:
    if not least <= value <= MAX_AMOUNT:
        raise InvalidInput(name, f"expected {least} to {MAX_AMOUNT} minor units, got {value}")
    return value


def _expect(claim: Claim, action: str, *states: ClaimState) -> None:
    if claim.state not in states:
        allowed = " or ".join(s.value for s in states)
        raise Conflict(f"claim {claim.claim_id} is {claim.state.value}; {action} needs it "
                       f"{allowed}")


def review(claim: Claim, at_us: int, analysis: Mapping[str, Any]) -> Claim:
    """A reviewer takes the claim up, with the analysis as it stands now."""
    _expect(claim, "review", ClaimState.OPEN)
    return replace(claim, state=ClaimState.UNDER_REVIEW, updated_at_us=at_us,
                   analysis=analysis,
                   finding=finding(claim.kind, analysis.get("incidents", [])))


def accept(claim: Claim, at_us: int, approved: int,
           liable: Mapping[str, Any] | None) -> Claim:
    """Accepted for ``approved`` minor units; ``liable`` defaults to the finding's party."""
    _expect(claim, "accept", ClaimState.UNDER_REVIEW)
    approved = amount("amount_approved", approved)
    if approved > claim.amount_claimed:
        raise InvalidInput("amount_approved", f"at most the {claim.amount_claimed} claimed, "
                           f"got {approved}")
    party = liable if liable is not None else (claim.finding or {}).get("party")
    if party is None:
        raise InvalidInput("liable", "the analysis names no party for this claim: say who is "
                           "liable (kind and id)")
    return replace(claim, state=ClaimState.ACCEPTED, updated_at_us=at_us, decided_at_us=at_us,
                   amount_approved=approved, liable=dict(party))


def reject(claim: Claim, at_us: int) -> Claim:
    _expect(claim, "reject", ClaimState.UNDER_REVIEW)
    return replace(claim, state=ClaimState.REJECTED, updated_at_us=at_us, decided_at_us=at_us,
                   amount_approved=0)


def settle(claim: Claim, at_us: int, paid: int | None, reference: str | None) -> Claim:
    """Paid (an accepted claim: by default the amount approved) or closed (a rejected one)."""
    _expect(claim, "settle", ClaimState.ACCEPTED, ClaimState.REJECTED)
    if claim.state is ClaimState.REJECTED:
        if paid or reference:
            raise InvalidInput("amount_paid" if paid else "reference",
                               "a rejected claim is settled without payment")
        paid = 0
    else:
        approved = claim.amount_approved or 0
        paid = amount("amount_paid", approved if paid is None else paid)
        if paid > approved:
            raise InvalidInput("amount_paid", f"at most the {approved} approved, got {paid}")
    return replace(claim, state=ClaimState.SETTLED, updated_at_us=at_us, settled_at_us=at_us,
                   amount_paid=paid, payment_ref=reference)
