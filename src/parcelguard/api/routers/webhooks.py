"""Webhook subscriptions, and the history of every message and delivery attempt."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from parcelguard.api import schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.domain import times
from parcelguard.domain.errors import NotFound
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.domain.webhooks import MessageState
from parcelguard.services import notify

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=schemas.ERRORS)
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_WEBHOOKS))]


@router.post("", status_code=201, response_model=schemas.NewSubscription,
             summary="Subscribe an endpoint; the signing secret is shown once")
def subscribe(body: schemas.SubscriptionIn, sys: SystemDep, caller: Manager) -> JSONResponse:
    row, secret = notify.subscribe(
        sys.store, sys.vault, caller.tenant_id, body.url, body.events, body.kinds,
        sys.settings.webhooks_allow_private, times.to_us(sys.clock.now()))
    out = schemas.NewSubscription(**schemas.subscription_out(row).model_dump(), secret=secret)
    return JSONResponse(out.model_dump(), status_code=201)


@router.get("", response_model=list[schemas.SubscriptionOut], summary="This tenant's endpoints")
def subscriptions(sys: SystemDep, caller: Manager) -> list[schemas.SubscriptionOut]:
    with sys.store.unit_of_work(write=False) as uow:
        return [schemas.subscription_out(r) for r in uow.webhooks.subscriptions(caller.tenant_id)]


@router.post("/{subscription_id}/enable", response_model=schemas.SubscriptionOut,
             summary="Resume deliveries (e.g. after a 410 disabled it)")
def enable(subscription_id: str, sys: SystemDep, caller: Manager) -> schemas.SubscriptionOut:
    return schemas.subscription_out(notify.set_enabled(sys.store, caller.tenant_id,
                                                       subscription_id, True))


@router.post("/{subscription_id}/disable", response_model=schemas.SubscriptionOut,
             summary="Pause deliveries")
def disable(subscription_id: str, sys: SystemDep, caller: Manager) -> schemas.SubscriptionOut:
    return schemas.subscription_out(notify.set_enabled(sys.store, caller.tenant_id,
                                                       subscription_id, False))


@router.get("/messages", response_model=list[schemas.MessageOut],
            summary="Messages, newest first: pending, delivered, or dead (gave up)")
def messages(
    sys: SystemDep, caller: Manager,
    subscription_id: Annotated[str | None, Query(max_length=40)] = None,
    state: Annotated[MessageState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[schemas.MessageOut]:
    with sys.store.unit_of_work(write=False) as uow:
        rows = uow.webhooks.messages(caller.tenant_id, subscription_id, state, limit)
    return [schemas.message_out(m) for m in rows]


@router.get("/messages/{message_id}", response_model=schemas.MessageDetail,
            summary="One message with every delivery attempt")
def message(message_id: str, sys: SystemDep, caller: Manager) -> schemas.MessageDetail:
    with sys.store.unit_of_work(write=False) as uow:
        m = uow.webhooks.message(message_id)
        if m is None or m.tenant_id != caller.tenant_id:
            raise NotFound(f"no message {message_id!r}")
        history = uow.webhooks.attempts(message_id)
    return schemas.MessageDetail(**schemas.message_out(m).model_dump(),
                                 history=[schemas.attempt_out(a) for a in history])
