"""Carrier push receivers, and the endpoints and rejected payloads a merchant manages.

``POST /v1/hooks/<format>/<endpoint_id>`` takes no API key: the carrier's signature over the
raw body is the authentication, checked against the endpoint's secret (see ingest/hooks.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from parcelguard.api import schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.ingest.carriers import FORMATS
from parcelguard.services import integrations

router = APIRouter(tags=["carriers"], responses=schemas.ERRORS)
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_INTEGRATIONS))]


@router.post(
    "/v1/hooks/{fmt}/{endpoint_id}", summary="A carrier's push (Kdniao, Kuaidi100, AfterShip, "
    "17TRACK or our generic format), answered as that carrier expects",
    responses={200: {"description": "the reply the carrier's format expects"}},
)
async def push(fmt: str, endpoint_id: str, request: Request, sys: SystemDep) -> Response:
    body = await request.body()
    reply = await sys.hooks.receive(fmt, endpoint_id, body, request.headers)
    return Response(reply.body, media_type=reply.media_type)


@router.post("/v1/carrier-endpoints", status_code=201, response_model=schemas.NewEndpoint,
             summary="Create an endpoint for a carrier to push to")
def create_endpoint(body: schemas.EndpointIn, sys: SystemDep, caller: Manager) -> JSONResponse:
    row, secret = integrations.create(sys.store, sys.vault, FORMATS, caller.tenant_id,
                                      body.format, body.name, body.secret, body.zone,
                                      times.to_us(sys.clock.now()))
    out = schemas.NewEndpoint(**schemas.endpoint_out(row).model_dump(), secret=secret)
    return JSONResponse(out.model_dump(), status_code=201)


@router.get("/v1/carrier-endpoints", response_model=list[schemas.EndpointOut],
            summary="This tenant's carrier endpoints")
def endpoints(sys: SystemDep, caller: Manager) -> list[schemas.EndpointOut]:
    with sys.store.unit_of_work(write=False) as uow:
        return [schemas.endpoint_out(r) for r in uow.integrations.endpoints(caller.tenant_id)]


def _switch(sys: SystemDep, caller: Principal, endpoint_id: str, on: bool) -> schemas.EndpointOut:
    row = integrations.set_enabled(sys.store, caller.tenant_id, endpoint_id, on)
    sys.hooks.forget(endpoint_id)
    return schemas.endpoint_out(row)


@router.post("/v1/carrier-endpoints/{endpoint_id}/enable", response_model=schemas.EndpointOut,
             summary="Accept pushes again")
def enable(endpoint_id: str, sys: SystemDep, caller: Manager) -> schemas.EndpointOut:
    return _switch(sys, caller, endpoint_id, True)


@router.post("/v1/carrier-endpoints/{endpoint_id}/disable", response_model=schemas.EndpointOut,
             summary="Refuse pushes (404) until enabled again")
def disable(endpoint_id: str, sys: SystemDep, caller: Manager) -> schemas.EndpointOut:
    return _switch(sys, caller, endpoint_id, False)


@router.get("/v1/rejected-payloads", response_model=schemas.RejectedPage,
            summary="Input that could not be read, newest first, with the reason")
def rejected(
    sys: SystemDep, caller: Manager,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> schemas.RejectedPage:
    before = None
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput("cursor", "expected the next_cursor of the previous page")
        before = int(cursor)
    with sys.store.unit_of_work(write=False) as uow:
        rows = uow.integrations.rejected(caller.tenant_id, before, limit + 1)
    items = [schemas.RejectedOut(
        rejected_id=r.rejected_id or 0, source=r.source, ref=r.ref,
        received_at=times.iso_us(r.received_at_us), field=r.field, reason=r.reason,
        content_type=r.content_type, size=r.size,
        body=sys.vault.open(r.body_sealed).decode("utf-8", "replace")) for r in rows[:limit]]
    nxt = str(items[-1].rejected_id) if len(rows) > limit else None
    return schemas.RejectedPage(items=items, next_cursor=nxt)
