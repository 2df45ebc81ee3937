"""The claims desk: open a claim on a shipment, take it through review to settlement.

A claim is opened by the merchant (API or dashboard) or by the consumer holding the parcel's
share link (the tracking page). Opening and review both take the shipment's liability analysis
(services/liability.py) as it stands, proofs included, so the claim carries the evidence its
decision rests on even if more arrives later. Each step is one transaction that moves the claim
only from the state it was read in: two reviewers acting at once get one success and one
conflict, never a claim decided twice.

Claims are the merchant's business records, not custody facts: they are not in the custody
ledger (docs/decisions.md, "Claims"); the ledger entries they cite are, with their proofs.
What people write in them (the description, the notes) is sealed at rest like recipients.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from parcelguard.domain import claims as domain
from parcelguard.domain.claims import Claim, Claimant, ClaimKind, ClaimState, Step
from parcelguard.domain.errors import Conflict, InvalidInput, NotFound
from parcelguard.domain.shipment import Category
from parcelguard.rules.profiles import Profile
from parcelguard.services import liability, queries
from parcelguard.services.ports import ClaimFilter, Store, UnitOfWork, Vault

MAX_PAGE = 200
CONSUMER = "consumer"
ACTIONS = ("review", "accept", "reject", "settle", "comment")
PARTY_KINDS = ("carrier", "facility", "vehicle", "courier", "merchant", "other")


@dataclass(frozen=True, slots=True)
class Decision:
    """What a step brings beyond who and when (each action reads the fields it needs)."""

    note: str | None = None
    amount: int | None = None  # approved (accept) or paid (settle), minor units
    liable: Mapping[str, Any] | None = None  # accept: overrides the finding's party
    reference: str | None = None  # settle: the payment's reference


class ClaimDesk:
    def __init__(self, store: Store, vault: Vault, profiles: Mapping[Category, Profile],
                 verifier_key: str) -> None:
        self.store, self.vault, self.profiles = store, vault, profiles
        self.verifier_key = verifier_key
        # one claim write at a time in this process (read, check, write); across processes
        # the store's compare-and-set on the state and its unique index decide
        self._lock = threading.Lock()

    def open(self, tenant_id: str, tracking_no: str, kind: ClaimKind, description: str,
             amount: int, currency: str, claimant: Claimant, actor: str,
             now_us: int) -> Claim:
        text = domain.text("description", description, required=True)
        assert text is not None
        if currency != domain.CURRENCY:
            raise InvalidInput("currency", f"claims are in {domain.CURRENCY} for now, got "
                               f"{currency!r}")
        amount = domain.amount("amount", amount, least=1)
        analysis = self._analysis(tenant_id, tracking_no)  # read before the write lock
        finding = domain.finding(kind, analysis["incidents"])
        with self._lock, self.store.unit_of_work() as uow:
            record = queries.shipment(uow, tenant_id, tracking_no)
            existing = uow.claims.active_of(tenant_id, tracking_no, kind, claimant)
            if existing is not None:
                raise Conflict(f"claim {existing.claim_id} on this shipment is a {kind.value} "
                               f"claim already ({existing.state.value}); add to it instead")
            claim = Claim(domain.new_id(), tenant_id, tracking_no, kind, ClaimState.OPEN,
                          claimant, actor, self._seal(text), currency, amount, now_us, now_us,
                          analysis, finding)
            # the opened step keeps the finding and checkpoint the claim was filed on: review
            # takes the analysis afresh
            basis = {"amount": amount, "finding": finding,
                     "checkpoint_size": (analysis.get("checkpoint") or {}).get("size")}
            uow.claims.add(claim, record.id, Step(claim.claim_id, now_us, actor, "opened",
                                                  ClaimState.OPEN, None, basis))
            uow.commit()
        return self._opened(claim)

    def act(self, tenant_id: str, claim_id: str, action: str, actor: str, now_us: int,
            decision: Decision) -> Claim:
        """``review``, ``accept``, ``reject``, ``settle`` or ``comment``."""
        if action not in ACTIONS:
            raise InvalidInput("action", f"expected one of {', '.join(ACTIONS)}, got {action!r}")
        note = domain.text("note", decision.note,
                           required=action in ("reject", "comment"))
        reference = domain.text("reference", decision.reference, required=False)
        if reference is not None and len(reference) > domain.MAX_REFERENCE:
            raise InvalidInput("reference", f"at most {domain.MAX_REFERENCE} characters")
        liable = _party(decision.liable) if decision.liable is not None else None
        analysis = None
        if action == "review":  # the evidence as it stands, read before the write lock
            with self.store.unit_of_work(write=False) as uow:
                tracking_no = self._get(uow, tenant_id, claim_id).tracking_no
            analysis = self._analysis(tenant_id, tracking_no)
        with self._lock, self.store.unit_of_work() as uow:
            claim = self._get(uow, tenant_id, claim_id)
            data: dict[str, Any] = {}
            if action == "comment":
                moved = claim
            elif action == "review":
                assert analysis is not None
                moved = domain.review(claim, now_us, analysis)
            elif action == "accept":
                if decision.amount is None:
                    raise InvalidInput("amount", "required: the amount approved, in minor units")
                moved = domain.accept(claim, now_us, decision.amount, liable)
                data = {"amount": moved.amount_approved, "liable": moved.liable}
            elif action == "reject":
                moved = domain.reject(claim, now_us)
            else:
                moved = domain.settle(claim, now_us, decision.amount, reference)
                data = {"amount": moved.amount_paid, "reference": moved.payment_ref}
            step = Step(claim_id, now_us, actor, action, moved.state,
                        None if note is None else self._seal(note), data)
            if action == "comment":
                uow.claims.add_step(step)
            elif not uow.claims.move(moved, claim.state, step):
                raise Conflict(f"claim {claim_id} changed meanwhile; reload it and try again")
            uow.commit()
        return self._opened(moved)

    def get(self, tenant_id: str, claim_id: str) -> tuple[Claim, list[Step]]:
        with self.store.unit_of_work(write=False) as uow:
            claim = self._get(uow, tenant_id, claim_id)
            steps = uow.claims.steps(claim_id)
        return self._opened(claim), [self._opened_step(s) for s in steps]

    def page(self, tenant_id: str, where: ClaimFilter, cursor: str | None,
             limit: int) -> tuple[list[Claim], str | None]:
        """Newest first; the cursor is the (opened_at, claim id) of a page's last claim."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"expected 1 to {MAX_PAGE}, got {limit}")
        with self.store.unit_of_work(write=False) as uow:
            rows = uow.claims.page(tenant_id, where, queries.before(cursor), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = f"{rows[-1].opened_at_us}:{rows[-1].claim_id}" if more and rows else None
        return [self._opened(c) for c in rows], nxt

    # ---- helpers ----

    def _analysis(self, tenant_id: str, tracking_no: str) -> dict[str, Any]:
        with self.store.unit_of_work(write=False) as uow:
            found = liability.report(uow, tenant_id, tracking_no, self.profiles)
        return liability.as_dict(found, self.verifier_key)

    @staticmethod
    def _get(uow: UnitOfWork, tenant_id: str, claim_id: str) -> Claim:
        claim = uow.claims.get(tenant_id, claim_id)
        if claim is None:
            raise NotFound(f"no claim {claim_id!r}")
        return claim

    def _seal(self, text: str) -> str:
        return base64.b64encode(self.vault.seal(text.encode())).decode()

    def _open(self, sealed: str) -> str:
        return self.vault.open(base64.b64decode(sealed)).decode()

    def _opened(self, claim: Claim) -> Claim:
        return replace(claim, description=self._open(claim.description))

    def _opened_step(self, step: Step) -> Step:
        return step if step.note is None else replace(step, note=self._open(step.note))



def _party(value: Mapping[str, Any]) -> dict[str, Any]:
    """A party named by the reviewer: a kind and an id (a carrier for the others too)."""
    kind, party_id = value.get("kind"), value.get("id")
    if kind not in PARTY_KINDS:
        raise InvalidInput("liable.kind", f"expected one of {', '.join(PARTY_KINDS)}, "
                           f"got {kind!r}")
    if not isinstance(party_id, str) or not 1 <= len(party_id) <= 100:
        raise InvalidInput("liable.id", "expected 1 to 100 characters")
    carrier = value.get("carrier")
    if carrier is not None and (not isinstance(carrier, str) or len(carrier) > 64):
        raise InvalidInput("liable.carrier", "expected at most 64 characters")
    return {"kind": kind, "id": party_id, "carrier": carrier, "operator_id": None,
            "facility_id": None, "vehicle_id": None}
