"""Device bindings: a sensor in a box, a vehicle unit, a facility scanner."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from parcelguard.api import openapi, schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.ingest import wire
from parcelguard.services.messages import Result

router = APIRouter(prefix="/v1/devices", tags=["devices"], responses=schemas.ERRORS)


@router.post(
    "", response_model=schemas.DeviceAnswer, summary="Register or rebind a device",
    openapi_extra=openapi.body(wire.WireDevice, batch=False),
)
async def put_device(
    request: Request, sys: SystemDep,
    caller: Annotated[Principal, Depends(require(Permission.WRITE_DEVICES))],
) -> JSONResponse:
    cmd = wire.to_device(wire.decode(await request.body(), wire.WireDevice), caller.tenant_id)
    (outcome,) = await sys.pipeline.submit([cmd])
    if outcome.result is Result.REJECTED:
        raise InvalidInput(outcome.field or "", outcome.reason or "rejected")
    created = outcome.result is Result.ACCEPTED
    answer = schemas.DeviceAnswer(device_id=cmd.device.device_id,
                                  result="accepted" if created else "duplicate")
    return JSONResponse(answer.model_dump(), status_code=201 if created else 200)
