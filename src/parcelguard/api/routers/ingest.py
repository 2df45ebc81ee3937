"""Writes that go through the pipeline: events, telemetry readings, device bindings.

Each answers only after its batch is committed. The body may be one object or an array of
up to 1000; the answer counts what was accepted, duplicate, quarantined or rejected, and
names every item that was not accepted with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from parcelguard.api import openapi, schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.ingest import wire
from parcelguard.services.messages import Command, Result

router = APIRouter(prefix="/v1", tags=["ingest"], responses=schemas.ERRORS)


async def _run(
    sys: SystemDep, decoded: Sequence[Command | wire.Rejection], is_array: bool
) -> JSONResponse:
    commands: list[Command] = []
    positions: list[int] = []
    items: list[schemas.ItemResult] = []
    for i, item in enumerate(decoded):
        if isinstance(item, wire.Rejection):
            items.append(schemas.ItemResult(index=i, result="rejected", ref=item.ref,
                                            field=item.field, reason=item.problem))
        else:
            commands.append(item)
            positions.append(i)
    outcomes = await sys.pipeline.submit(commands) if commands else []
    results = [Result.REJECTED] * len(items)
    for pos, out in zip(positions, outcomes, strict=True):
        results.append(out.result)
        if out.result is not Result.ACCEPTED:
            items.append(schemas.ItemResult(index=pos, result=out.result.value, ref=out.ref,
                                            field=out.field, reason=out.reason))
    answer = schemas.batch(results, items)
    if answer.rejected == answer.received:
        if not is_array:
            first = items[0]
            raise InvalidInput(first.field or "", first.reason or "rejected")
        return JSONResponse(answer.model_dump(), status_code=422)
    return JSONResponse(answer.model_dump())


@router.post(
    "/events", response_model=schemas.BatchAnswer, summary="Record tracking events",
    responses=schemas.BATCH_REFUSED,
    openapi_extra=openapi.body(wire.WireEvent, description="one event or an array of up to 1000"),
)
async def post_events(
    request: Request, sys: SystemDep,
    caller: Annotated[Principal, Depends(require(Permission.WRITE_EVENTS))],
) -> JSONResponse:
    body = await request.body()
    decoded, is_array = wire.events(body, caller.tenant_id, sys.clock.now())
    return await _run(sys, decoded, is_array)


@router.post(
    "/telemetry", response_model=schemas.BatchAnswer, summary="Record sensor readings",
    responses=schemas.BATCH_REFUSED,
    openapi_extra=openapi.body(wire.WireReading, description="one reading or an array of up to 1000"),
)
async def post_telemetry(
    request: Request, sys: SystemDep,
    caller: Annotated[Principal, Depends(require(Permission.WRITE_TELEMETRY))],
) -> JSONResponse:
    body = await request.body()
    decoded, is_array = wire.readings(body, caller.tenant_id, sys.clock.now())
    return await _run(sys, decoded, is_array)
