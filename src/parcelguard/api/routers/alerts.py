"""Alerts: list and filter, read one with its notes, and act on it.

Acting goes through the writer like every other change, so the alert's state, its ledger
entry and the engine's memory of it change together, in one commit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, Response

from parcelguard.api import schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.api.idempotent import REPLAYED, Keyed, RequestKey, once
from parcelguard.bootstrap import System
from parcelguard.domain.alerts import Kind, Severity, State
from parcelguard.domain.errors import Conflict, NotFound
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services import queries
from parcelguard.services.messages import ActOnAlert, AlertAction, Result
from parcelguard.services.ports import AlertFilter

router = APIRouter(tags=["alerts"], responses=schemas.ERRORS)
Reader = Annotated[Principal, Depends(require(Permission.READ_ALERTS))]
Actor = Annotated[Principal, Depends(require(Permission.WRITE_ALERTS))]


@router.get("/v1/alerts", response_model=schemas.AlertPage, summary="Alerts, newest first")
def list_alerts(
    sys: SystemDep, caller: Reader,
    state: Annotated[State | None, Query()] = None,
    active: Annotated[bool, Query(description="open or acknowledged only")] = False,
    kind: Annotated[Kind | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
    tracking_no: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_ALERT_PAGE)] = 50,
) -> schemas.AlertPage:
    where = AlertFilter(state, active, kind, severity, tracking_no)
    with sys.store.unit_of_work(write=False) as uow:
        rows, nxt = queries.alerts(uow, caller.tenant_id, where, cursor, limit)
    return schemas.AlertPage(items=[schemas.alert(a) for a in rows], next_cursor=nxt)


@router.get("/v1/shipments/{tracking_no}/alerts", response_model=schemas.AlertPage,
            summary="One shipment's alerts, newest first", tags=["shipments"])
def shipment_alerts(
    tracking_no: str, sys: SystemDep, caller: Reader,
    cursor: Annotated[str | None, Query(max_length=60)] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_ALERT_PAGE)] = 50,
) -> schemas.AlertPage:
    with sys.store.unit_of_work(write=False) as uow:
        queries.shipment(uow, caller.tenant_id, tracking_no)
        rows, nxt = queries.alerts(uow, caller.tenant_id, AlertFilter(tracking_no=tracking_no),
                                   cursor, limit)
    return schemas.AlertPage(items=[schemas.alert(a) for a in rows], next_cursor=nxt)


@router.get("/v1/alerts/{alert_id}", response_model=schemas.AlertDetail, summary="One alert")
def get_alert(alert_id: str, sys: SystemDep, caller: Reader) -> schemas.AlertDetail:
    with sys.store.unit_of_work(write=False) as uow:
        return schemas.alert_detail(*queries.alert(uow, caller.tenant_id, alert_id))


async def _act(sys: System, caller: Principal, alert_id: str, action: AlertAction,
               key: str | None, text: str | None = None) -> Response:
    req = Keyed(key, caller, f"{action.value} /v1/alerts/{alert_id}", (text or "").encode())

    async def answer() -> Response:
        (outcome,) = await sys.pipeline.submit(
            [ActOnAlert(caller.tenant_id, alert_id, action, caller.key_id, text)],
            request=req.request)
        if outcome.result is Result.NOT_FOUND:
            raise NotFound(outcome.reason or f"no alert {alert_id!r}")
        if outcome.result is Result.CONFLICT:
            raise Conflict(outcome.reason or "the alert is not in a state for that")
        with sys.store.unit_of_work(write=False) as uow:
            detail = schemas.alert_detail(*queries.alert(uow, caller.tenant_id, alert_id))
        # bus mode: a retry whose first answer was not kept (it never came: a 503 after
        # JetStream had stored it) is dropped by JetStream; answered with the alert as it is
        replayed = {REPLAYED: "true"} if outcome.result is Result.DUPLICATE else None
        return JSONResponse(detail.model_dump(mode="json"), headers=replayed)

    return await once(sys, req, answer)


@router.post("/v1/alerts/{alert_id}/acknowledge", response_model=schemas.AlertDetail,
             summary="Acknowledge an open alert")
async def acknowledge(alert_id: str, sys: SystemDep, caller: Actor, key: RequestKey) -> Response:
    return await _act(sys, caller, alert_id, AlertAction.ACKNOWLEDGE, key)


@router.post("/v1/alerts/{alert_id}/resolve", response_model=schemas.AlertDetail,
             summary="Resolve an open or acknowledged alert")
async def resolve(alert_id: str, sys: SystemDep, caller: Actor, key: RequestKey) -> Response:
    return await _act(sys, caller, alert_id, AlertAction.RESOLVE, key)


@router.post("/v1/alerts/{alert_id}/assign", response_model=schemas.AlertDetail,
             summary="Assign an alert to someone (or unassign)")
async def assign(alert_id: str, body: schemas.AssignIn, sys: SystemDep,
                 caller: Actor, key: RequestKey) -> Response:
    return await _act(sys, caller, alert_id, AlertAction.ASSIGN, key, body.assignee)


@router.post("/v1/alerts/{alert_id}/comments", response_model=schemas.AlertDetail,
             summary="Add a note to an alert")
async def comment(alert_id: str, body: schemas.CommentIn, sys: SystemDep,
                  caller: Actor, key: RequestKey) -> Response:
    return await _act(sys, caller, alert_id, AlertAction.COMMENT, key, body.text)
