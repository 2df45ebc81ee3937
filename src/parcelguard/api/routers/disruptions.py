"""The disruption feed: operators declare weather, traffic, a closed facility or a customs
backlog; every shipment whose way crosses it gets a new ETA, and where the promise is now at
risk a ``delay_risk`` alert that names it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, Depends
from pydantic import AwareDatetime, BaseModel, Field

from parcelguard.api import schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.domain import times
from parcelguard.domain.disruptions import MAX_EXTRA_H, MAX_POINTS, Disruption
from parcelguard.domain.errors import InvalidInput, Unavailable
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services import disruptions

log = structlog.get_logger(__name__)
router = APIRouter(tags=["disruptions"], responses=schemas.ERRORS)
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_DISRUPTIONS))]
Reader = Annotated[Principal, Depends(require(Permission.READ_ALERTS))]
Kind = Literal["weather", "traffic", "facility_closure", "customs_backlog"]


class DisruptionIn(BaseModel):
    kind: Kind
    title: str = Field(min_length=1, max_length=200, examples=["台风“海葵”登陆浙江"],
                       description="shown in the alerts and to consumers")
    starts_at: AwareDatetime | None = Field(default=None, description="default: now")
    ends_at: AwareDatetime
    extra_delay_hours: float = Field(gt=0, le=MAX_EXTRA_H)
    cities: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, max_length=500, description="the region as cities, or:")
    polygon: list[list[float]] | None = Field(
        default=None, max_length=MAX_POINTS, description="the region as a ring of [lon, lat]")
    facility_id: str | None = Field(default=None, max_length=64, description="or one facility")


class DisruptionOut(BaseModel):
    disruption_id: str
    kind: Kind
    title: str
    starts_at: str
    ends_at: str
    extra_delay_hours: float
    cities: list[str]
    polygon: list[list[float]] | None
    facility_id: str | None
    created_at: str
    created_by: str
    cancelled_at: str | None
    in_force: bool


class DisruptionList(BaseModel):
    items: list[DisruptionOut]


def _out(d: Disruption, now_us: int) -> DisruptionOut:
    return DisruptionOut(
        disruption_id=d.disruption_id, kind=d.kind.value, title=d.title,
        starts_at=times.iso_us(d.starts_us), ends_at=times.iso_us(d.ends_us),
        extra_delay_hours=d.extra_h, cities=sorted(d.cities),
        polygon=None if d.polygon is None else [list(p) for p in d.polygon],
        facility_id=d.facility_id, created_at=times.iso_us(d.created_at_us),
        created_by=d.created_by,
        cancelled_at=None if d.cancelled_at_us is None else times.iso_us(d.cancelled_at_us),
        in_force=d.in_force(now_us))


@router.post("/v1/disruptions", status_code=201, response_model=DisruptionOut,
             summary="Declare a disruption: shipments whose way crosses it are estimated again")
async def declare(body: DisruptionIn, sys: SystemDep, caller: Manager) -> DisruptionOut:
    now_us = times.to_us(sys.clock.now())
    if body.polygon is not None and any(len(p) != 2 for p in body.polygon):
        raise InvalidInput("polygon", "expected [lon, lat] pairs")
    given = disruptions.Declared(
        body.kind, body.title, times.to_us(body.starts_at) if body.starts_at else now_us,
        times.to_us(body.ends_at), body.extra_delay_hours, body.cities or (), body.facility_id,
        body.polygon)
    made = await asyncio.to_thread(disruptions.declare, sys.store, caller.tenant_id, given,
                                   caller.key_id, now_us)
    await _announce(sys, caller.tenant_id)
    return _out(made, now_us)


async def _announce(sys: SystemDep, tenant_id: str) -> None:
    """Tell the writer (every partition). The disruption is stored already: if the writer
    cannot be told now, answering an error would invite a second, duplicate declaration, so
    the answer stands and the writer reads it at its next change or start."""
    try:
        await asyncio.to_thread(sys.disruptions_changed, tenant_id)
    except Unavailable as exc:
        log.warning("disruptions.not_announced", tenant=tenant_id, error=exc.message)


@router.get("/v1/disruptions", response_model=DisruptionList,
            summary="Disruptions, newest first (the last 500)")
def list_disruptions(sys: SystemDep, caller: Reader) -> DisruptionList:
    now_us = times.to_us(sys.clock.now())
    with sys.store.unit_of_work(write=False) as uow:
        found = uow.disruptions.of_tenant(caller.tenant_id)
    return DisruptionList(items=[_out(d, now_us) for d in found])


@router.delete("/v1/disruptions/{disruption_id}", response_model=DisruptionOut,
               summary="Call a disruption off before its window ends")
async def call_off(disruption_id: str, sys: SystemDep, caller: Manager) -> DisruptionOut:
    now_us = times.to_us(sys.clock.now())
    ended = await asyncio.to_thread(disruptions.call_off, sys.store, caller.tenant_id,
                                    disruption_id, now_us)
    await _announce(sys, caller.tenant_id)
    return _out(ended, now_us)
