"""Shipments: register, list, and read one with its timeline, telemetry and custody record."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from parcelguard.api import openapi, schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.api.routers.ingest import _run
from parcelguard.domain import times
from parcelguard.domain.errors import Conflict, InvalidInput, Unparsable
from parcelguard.domain.shipment import Category
from parcelguard.domain.status import Status
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.ingest import wire
from parcelguard.reports import dossier
from parcelguard.reports import label as waybill
from parcelguard.services import liability, queries
from parcelguard.services.delivery import MAX_PHOTO, Handover
from parcelguard.services.messages import Result
from parcelguard.services.ports import ShipmentFilter
from parcelguard.web.track import photo_response

router = APIRouter(prefix="/v1/shipments", tags=["shipments"], responses=schemas.ERRORS)
Reader = Annotated[Principal, Depends(require(Permission.READ_SHIPMENTS))]
Writer = Annotated[Principal, Depends(require(Permission.WRITE_SHIPMENTS))]


@router.post(
    "", summary="Register a shipment (or an array of up to 1000)",
    responses={201: {"model": schemas.ShipmentOut}, 200: {
        "description": "The identical shipment exists (one object), or an array's answer",
        "content": {"application/json": {"schema": {"anyOf": [
            schemas.ref("ShipmentOut"), schemas.ref("BatchAnswer")]}}}},
        409: {"model": schemas.ErrorBody}, **schemas.BATCH_REFUSED},
    openapi_extra=openapi.body(wire.WireShipment, description=(
        "One shipment, answered with the shipment (201 created, 200 when the identical "
        "shipment exists, 409 when it exists with other content); or an array, answered "
        "with counts like POST /v1/events.")),
)
async def create(request: Request, sys: SystemDep, caller: Writer) -> JSONResponse:
    items, is_array = wire.split(await request.body())
    now = sys.clock.now()
    decoded: list[object] = []
    for i, raw in enumerate(items):
        try:
            w = wire.decode(raw, wire.WireShipment)
            if w.received_at is not None:
                raise InvalidInput("received_at", "is set by the server on arrival; leave it out")
            decoded.append(wire.to_register(w, caller.tenant_id, sys.encode, now))
        except Unparsable:
            raise
        except InvalidInput as exc:
            decoded.append(wire.Rejection(i, None, exc.field, exc.problem))
    if is_array:
        return await _run(sys, decoded, True)  # type: ignore[arg-type]
    only = decoded[0]
    if isinstance(only, wire.Rejection):
        raise InvalidInput(only.field, only.problem)
    (outcome,) = await sys.pipeline.submit([only])  # type: ignore[list-item]
    if outcome.result is Result.CONFLICT:
        raise Conflict(outcome.reason or "the shipment exists with different content")
    tracking_no = only.shipment.tracking_no  # type: ignore[attr-defined]
    if outcome.result is Result.QUEUED:  # bus mode, the worker has not answered yet
        return JSONResponse({"tracking_no": tracking_no, "result": "queued"}, status_code=202)
    with sys.store.unit_of_work(write=False) as uow:
        record = queries.shipment(uow, caller.tenant_id, tracking_no)
    status = 201 if outcome.result is Result.ACCEPTED else 200
    return JSONResponse(schemas.shipment(record).model_dump(), status_code=status)


@router.get("", response_model=schemas.ShipmentPage, summary="List shipments")
def list_shipments(
    sys: SystemDep, caller: Reader,
    status: Annotated[Status | None, Query()] = None,
    category: Annotated[Category | None, Query()] = None,
    carrier: Annotated[str | None, Query(max_length=32)] = None,
    at_risk: Annotated[bool, Query(description="promised before now and not delivered")] = False,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
) -> schemas.ShipmentPage:
    where = ShipmentFilter(
        status=status, category=category, carrier=carrier,
        at_risk_before_us=times.to_us(sys.clock.now()) if at_risk else None,
    )
    with sys.store.unit_of_work(write=False) as uow:
        rows, nxt = queries.page(uow, caller.tenant_id, where, cursor, limit)
    return schemas.ShipmentPage(items=[schemas.shipment(r) for r in rows], next_cursor=nxt)


@router.get("/{tracking_no}", response_model=schemas.ShipmentOut, summary="One shipment")
def get_shipment(
    tracking_no: str, sys: SystemDep, caller: Reader,
    include: Annotated[str | None, Query(pattern="^recipient$", description=(
        "`recipient` shows the recipient in clear (merchant and admin keys only)"))] = None,
) -> schemas.ShipmentOut:
    with sys.store.unit_of_work(write=False) as uow:
        record = queries.shipment(uow, caller.tenant_id, tracking_no)
        estimates = uow.integrations.estimates(caller.tenant_id, tracking_no)
    clear = None
    if include == "recipient":
        if not caller.sees_recipient:
            caller.require(Permission.WRITE_SHIPMENTS)
        clear = queries.recipient(sys.vault, record)
    out = schemas.shipment(record, clear)
    out.carrier_etas = [schemas.CarrierEtaOut(source=e.source, estimate=e.estimate,
                                              updated_at=times.iso_us(e.updated_at_us))
                        for e in estimates]
    return out


@router.get("/{tracking_no}/timeline", response_model=schemas.TimelineOut,
            summary="Events in the order they happened, with the effect of each")
def timeline(tracking_no: str, sys: SystemDep, caller: Reader) -> schemas.TimelineOut:
    with sys.store.unit_of_work(write=False) as uow:
        return schemas.timeline(queries.timeline(uow, caller.tenant_id, tracking_no))


@router.get("/{tracking_no}/telemetry", response_model=schemas.SeriesOut,
            summary="The parcel's sensor readings and its vehicles' readings while aboard")
def telemetry(
    tracking_no: str, sys: SystemDep, caller: Reader,
    since: Annotated[str | None, Query(description="RFC 3339")] = None,
    until: Annotated[str | None, Query(description="RFC 3339")] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_SERIES)] = 5000,
) -> schemas.SeriesOut:
    since_us = times.to_us(times.parse(since, "since")) if since else None
    until_us = times.to_us(times.parse(until, "until")) if until else None
    with sys.store.unit_of_work(write=False) as uow:
        points = queries.series(uow, caller.tenant_id, tracking_no, since_us, until_us, limit)
    return schemas.SeriesOut(tracking_no=tracking_no, points=[schemas.point(p) for p in points])


@router.get("/{tracking_no}/custody", response_model=schemas.CustodyOut,
            summary="Ledger entries of this shipment, each with an inclusion proof")
def custody(
    tracking_no: str, sys: SystemDep,
    caller: Annotated[Principal, Depends(require(Permission.READ_LEDGER))],
) -> schemas.CustodyOut:
    with sys.store.unit_of_work(write=False) as uow:
        entries, cp = queries.custody(uow, caller.tenant_id, tracking_no)
    return schemas.CustodyOut(
        tracking_no=tracking_no, verifier_key=sys.signer.verifier_key(),
        checkpoint=schemas.checkpoint(cp),
        entries=[
            schemas.entry(c.entry, None if c.proof is None else schemas.ProofOut(
                tree_size=c.proof.tree_size, hashes=[h.hex() for h in c.proof.hashes]))
            for c in entries
        ],
    )


@router.get("/{tracking_no}/liability", response_model=schemas.LiabilityOut,
            summary="Who held the parcel when it was harmed: custody segments, incidents and "
                    "verdicts, every fact with its ledger entry and inclusion proof")
def liability_report(
    tracking_no: str, sys: SystemDep,
    caller: Annotated[Principal, Depends(require(Permission.READ_LEDGER))],
) -> schemas.LiabilityOut:
    with sys.store.unit_of_work(write=False) as uow:
        report = liability.report(uow, caller.tenant_id, tracking_no,
                                  sys.ingestor.alerting.profiles)
    return schemas.liability(report, sys.signer.verifier_key())


@router.get("/{tracking_no}/label.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}},
            summary="The waybill label (面单): 100 × 150 mm PDF, recipient masked")
def label(tracking_no: str, sys: SystemDep, caller: Reader) -> Response:
    with sys.store.unit_of_work(write=False) as uow:
        record = queries.shipment(uow, caller.tenant_id, tracking_no)
    pdf = waybill.label_pdf(record.shipment, sys.clock.now())
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{tracking_no}.pdf"'})


@router.get("/{tracking_no}/dossier.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}},
            summary="The evidence dossier: verdicts, custody, route, temperature curve and the "
                    "ledger proofs (attached as proofs.json; `parcelguard ledger verify-dossier`)")
def dossier_pdf(
    tracking_no: str, sys: SystemDep,
    caller: Annotated[Principal, Depends(require(Permission.READ_LEDGER))],
) -> Response:
    with sys.store.unit_of_work(write=False) as uow:
        pdf = dossier.make(uow, caller.tenant_id, tracking_no, sys.ingestor.alerting.profiles,
                           sys.signer.verifier_key(), sys.signer.sign,
                           times.to_us(sys.clock.now()))
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{tracking_no}-dossier.pdf"'})


@router.post("/{tracking_no}/delivery", status_code=201, response_model=schemas.DeliveredOut,
             summary="Identity-verified delivery: the recipient's pickup code, the courier, the "
                     "device, the position and a photo (JPEG or PNG, at most 10 MiB)",
             responses={409: {"model": schemas.ErrorBody}, 413: {"model": schemas.ErrorBody},
                        423: {"model": schemas.ErrorBody}})
async def deliver(
    tracking_no: str, sys: SystemDep,
    caller: Annotated[Principal, Depends(require(Permission.WRITE_EVENTS))],
    code: Annotated[str, Form(max_length=16, description="the 6-digit pickup code")],
    courier_id: Annotated[str, Form(min_length=1, max_length=64)],
    device_id: Annotated[str, Form(min_length=1, max_length=64)],
    lat: Annotated[float, Form(ge=-90, le=90)],
    lon: Annotated[float, Form(ge=-180, le=180)],
    photo: Annotated[UploadFile, File(description="the handover, JPEG or PNG")],
) -> schemas.DeliveredOut:
    data = await photo.read(MAX_PHOTO + 1)
    done = await sys.deliveries.deliver(caller.tenant_id, tracking_no, Handover(
        code.strip(), courier_id, device_id, lat, lon, data))
    return schemas.DeliveredOut(tracking_no=tracking_no, event_id=done.event_id,
                                delivered_at=done.delivered_at, photo_sha256=done.photo_sha256)


@router.post("/{tracking_no}/pickup-code", status_code=201, response_model=schemas.CodeSentOut,
             summary="Send the recipient a new pickup code (the old one stops working; a "
                     "parcel locked after wrong codes is unlocked)")
async def new_pickup_code(tracking_no: str, sys: SystemDep, caller: Writer) -> schemas.CodeSentOut:
    channel = await asyncio.to_thread(sys.deliveries.issue, caller.tenant_id, tracking_no)
    return schemas.CodeSentOut(tracking_no=tracking_no, channel=channel or "none")


@router.get("/{tracking_no}/pod-photo", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
            summary="The photo taken at an identity-verified handover")
def pod_photo(tracking_no: str, sys: SystemDep, caller: Reader) -> Response:
    with sys.store.unit_of_work(write=False) as uow:
        record = queries.shipment(uow, caller.tenant_id, tracking_no)
    return photo_response(sys, record)
