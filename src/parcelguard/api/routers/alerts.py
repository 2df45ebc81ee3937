"""Alerts: list and filter, read one with its notes, and act on it.

Acting goes through the writer like every other change, so the alert's state, its ledger
entry and the engine's memory of it change together, in one commit.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from parcelguard.api import schemas
from parcelguard.api.deps import RequestKey, SystemDep, require, scoped
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


async def _act(sys: SystemDep, caller: Principal, response: Response, alert_id: str,
               action: AlertAction, key: str | None, text: str | None = None) -> schemas.AlertDetail:
    (outcome,) = await sys.pipeline.submit(
        [ActOnAlert(caller.tenant_id, alert_id, action, caller.key_id, text)],
        request=scoped(key, caller, f"{action.value} {alert_id}", text or ""))
    if outcome.result is Result.NOT_FOUND:
        raise NotFound(outcome.reason or f"no alert {alert_id!r}")
    if outcome.result is Result.CONFLICT:
        raise Conflict(outcome.reason or "the alert is not in a state for that")
    with sys.store.unit_of_work(write=False) as uow:
        detail = schemas.alert_detail(*queries.alert(uow, caller.tenant_id, alert_id))
    if outcome.result is Result.DUPLICATE:
        # a retry of a keyed request already received: not applied again, and its first
        # outcome is not kept, so the answer is the alert as it stands, marked as a replay
        response.headers["Idempotent-Replayed"] = "true"
    return detail


@router.post("/v1/alerts/{alert_id}/acknowledge", response_model=schemas.AlertDetail,
             summary="Acknowledge an open alert")
async def acknowledge(alert_id: str, sys: SystemDep, caller: Actor, key: RequestKey,
                      response: Response) -> schemas.AlertDetail:
    return await _act(sys, caller, response, alert_id, AlertAction.ACKNOWLEDGE, key)


@router.post("/v1/alerts/{alert_id}/resolve", response_model=schemas.AlertDetail,
             summary="Resolve an open or acknowledged alert")
async def resolve(alert_id: str, sys: SystemDep, caller: Actor, key: RequestKey,
                  response: Response) -> schemas.AlertDetail:
    return await _act(sys, caller, response, alert_id, AlertAction.RESOLVE, key)


@router.post("/v1/alerts/{alert_id}/assign", response_model=schemas.AlertDetail,
             summary="Assign an alert to someone (or unassign)")
async def assign(alert_id: str, body: schemas.AssignIn, sys: SystemDep,
                 caller: Actor, key: RequestKey, response: Response) -> schemas.AlertDetail:
    return await _act(sys, caller, response, alert_id, AlertAction.ASSIGN, key, body.assignee)


@router.post("/v1/alerts/{alert_id}/comments", response_model=schemas.AlertDetail,
             summary="Add a note to an alert")
async def comment(alert_id: str, body: schemas.CommentIn, sys: SystemDep,
                  caller: Actor, key: RequestKey, response: Response) -> schemas.AlertDetail:
    return await _act(sys, caller, response, alert_id, AlertAction.COMMENT, key, body.text)
