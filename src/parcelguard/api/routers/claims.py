"""Claims: open one on a shipment, list and read them, and take one to settlement.

``open → under_review → accepted | rejected → settled``; each step answers with the claim as it
now is, timeline included. A step the claim is not in the state for is a 409 that says which
state it needs.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from parcelguard.api import schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.domain import times
from parcelguard.domain.claims import Claimant, ClaimKind, ClaimState
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services.claims import MAX_PAGE, Decision
from parcelguard.services.ports import ClaimFilter

router = APIRouter(tags=["claims"], responses=schemas.ERRORS)
Reader = Annotated[Principal, Depends(require(Permission.READ_CLAIMS))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_CLAIMS))]
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": schemas.ErrorBody,
                  "description": "The claim is not in the state for that step"}}


@router.post("/v1/shipments/{tracking_no}/claims", status_code=201,
             response_model=schemas.ClaimDetail, responses=CONFLICT, tags=["shipments"],
             summary="Open a claim on a shipment (one unsettled claim of each kind at a time)")
async def open_claim(tracking_no: str, body: schemas.ClaimIn, sys: SystemDep,
                     caller: Manager) -> schemas.ClaimDetail:
    now_us = times.to_us(sys.clock.now())
    opened = await asyncio.to_thread(
        sys.claims.open, caller.tenant_id, tracking_no, body.kind, body.description,
        body.amount, body.currency, Claimant.MERCHANT, caller.key_id, now_us)
    return schemas.claim_detail(*await asyncio.to_thread(
        sys.claims.get, caller.tenant_id, opened.claim_id))


@router.get("/v1/claims", response_model=schemas.ClaimPage, summary="Claims, newest first")
def list_claims(
    sys: SystemDep, caller: Reader,
    state: Annotated[ClaimState | None, Query()] = None,
    active: Annotated[bool, Query(description="not settled yet")] = False,
    kind: Annotated[ClaimKind | None, Query()] = None,
    tracking_no: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> schemas.ClaimPage:
    rows, nxt = sys.claims.page(caller.tenant_id, ClaimFilter(state, active, kind, tracking_no),
                                cursor, limit)
    return schemas.ClaimPage(items=[schemas.claim(c) for c in rows], next_cursor=nxt)


@router.get("/v1/claims/{claim_id}", response_model=schemas.ClaimDetail,
            summary="One claim, with its timeline and the liability analysis it carries")
def get_claim(claim_id: str, sys: SystemDep, caller: Reader) -> schemas.ClaimDetail:
    return schemas.claim_detail(*sys.claims.get(caller.tenant_id, claim_id))


async def _act(sys: SystemDep, caller: Principal, claim_id: str, action: str,
               body: schemas.ClaimActionIn) -> schemas.ClaimDetail:
    decision = Decision(body.note, body.amount,
                        None if body.liable is None else body.liable.model_dump(),
                        body.reference)
    now_us = times.to_us(sys.clock.now())
    await asyncio.to_thread(sys.claims.act, caller.tenant_id, claim_id, action, caller.key_id,
                            now_us, decision)
    return schemas.claim_detail(*await asyncio.to_thread(sys.claims.get, caller.tenant_id,
                                                         claim_id))


STEPS = {
    "review": "Start reviewing an open claim (takes the liability analysis afresh)",
    "accept": "Accept a claim under review: the amount approved, and who is liable",
    "reject": "Reject a claim under review, saying why",
    "settle": "Settle an accepted claim (the payment made) or close a rejected one",
    "comments": "Add a note to a claim's timeline",
}


def _route(path: str, action: str) -> None:
    async def step(claim_id: str, sys: SystemDep, caller: Manager,
                   body: Annotated[schemas.ClaimActionIn | None, Body()] = None,
                   ) -> schemas.ClaimDetail:
        return await _act(sys, caller, claim_id, action, body or schemas.ClaimActionIn())

    step.__name__ = f"claim_{path}"
    router.add_api_route(f"/v1/claims/{{claim_id}}/{path}", step, methods=["POST"],
                         response_model=schemas.ClaimDetail, responses=CONFLICT,
                         summary=STEPS[path])


for _path in STEPS:
    _route(_path, "comment" if _path == "comments" else _path)
