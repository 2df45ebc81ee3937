"""Device bindings: a sensor in a box, a vehicle unit, a facility scanner.

Posting a device again with other bindings rebinds it; without any binding, unbinds it. Every
(re)binding is a custody-ledger entry.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from parcelguard.api import openapi, schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.api.idempotent import Keyed, RequestKey, once
from parcelguard.domain.errors import InvalidInput, NotFound
from parcelguard.domain.telemetry import Device
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.ingest import wire
from parcelguard.services.messages import RegisterDevice, Result

router = APIRouter(prefix="/v1/devices", tags=["devices"], responses=schemas.ERRORS)


@router.post(
    "", response_model=schemas.DeviceAnswer, summary="Register or rebind a device",
    openapi_extra=openapi.body(wire.WireDevice, batch=False),
    responses={201: {"model": schemas.DeviceAnswer, "description": "registered, or bound anew"},
               200: {"model": schemas.DeviceAnswer, "description": "bound so already"},
               202: {"model": schemas.DeviceAnswer,
                     "description": "bus mode: stored in the stream, a worker applies it"}},
)
async def put_device(
    request: Request, sys: SystemDep, key: RequestKey,
    caller: Annotated[Principal, Depends(require(Permission.WRITE_DEVICES))],
) -> Response:
    body = await request.body()
    req = Keyed(key, caller, "POST /v1/devices", body)

    async def answer() -> Response:
        cmd = wire.to_device(wire.decode(body, wire.WireDevice), caller.tenant_id)
        (outcome,) = await sys.pipeline.submit([cmd], request=req.request)
        if outcome.result is Result.REJECTED:
            raise InvalidInput(outcome.field or "", outcome.reason or "rejected")
        status = {Result.ACCEPTED: 201, Result.QUEUED: 202}.get(outcome.result, 200)
        answer = schemas.DeviceAnswer(device_id=cmd.device.device_id, result=(
            outcome.result.value if status != 200 else Result.DUPLICATE.value))
        return JSONResponse(answer.model_dump(), status_code=status)

    return await once(sys, req, answer)


@router.delete("/{device_id}/binding", response_model=schemas.DeviceOut,
               summary="Unbind a device: its readings belong to no parcel or vehicle until bound")
async def unbind(
    device_id: str, sys: SystemDep, key: RequestKey,
    caller: Annotated[Principal, Depends(require(Permission.WRITE_DEVICES))],
) -> Response:
    req = Keyed(key, caller, f"DELETE /v1/devices/{device_id}/binding")

    async def answer() -> Response:
        device = _device(sys, caller.tenant_id, device_id)
        loose = Device(device.tenant_id, device.device_id, device.kind)
        (outcome,) = await sys.pipeline.submit([RegisterDevice(loose)], request=req.request)
        if outcome.result is Result.REJECTED:
            raise InvalidInput(outcome.field or "", outcome.reason or "rejected")
        return JSONResponse(_device_out(loose).model_dump(mode="json"))

    return await once(sys, req, answer)


@router.get("", response_model=schemas.DevicePage, summary="This tenant's devices and bindings")
def list_devices(
    sys: SystemDep, caller: Annotated[Principal, Depends(require(Permission.READ_SHIPMENTS))],
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> schemas.DevicePage:
    with sys.store.unit_of_work(write=False) as uow:
        rows = uow.devices.page(caller.tenant_id, cursor, limit + 1)
    items = [_device_out(d) for d in rows[:limit]]
    return schemas.DevicePage(items=items, next_cursor=items[-1].device_id
                              if len(rows) > limit else None)


@router.get("/{device_id}", response_model=schemas.DeviceOut, summary="One device")
def get_device(
    device_id: str, sys: SystemDep,
    caller: Annotated[Principal, Depends(require(Permission.READ_SHIPMENTS))],
) -> schemas.DeviceOut:
    return _device_out(_device(sys, caller.tenant_id, device_id))


def _device(sys: SystemDep, tenant_id: str, device_id: str) -> Device:
    with sys.store.unit_of_work(write=False) as uow:
        device = uow.devices.get(tenant_id, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}")
    return device


def _device_out(d: Device) -> schemas.DeviceOut:
    return schemas.DeviceOut(device_id=d.device_id, kind=d.kind.value, tracking_no=d.tracking_no,
                             vehicle_id=d.vehicle_id, facility_id=d.facility_id)
