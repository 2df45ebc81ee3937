"""Consumer notifications through the merchant's API: subscribe a recipient (mail, SMS, or a
signed webhook to the merchant's mini-program or app backend), list who follows a parcel with
the notices sent, and unsubscribe. Consumers subscribe themselves on the tracking page."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from parcelguard.api import schemas
from parcelguard.api.deps import SystemDep, require
from parcelguard.domain import privacy, times
from parcelguard.domain.notices import DEFAULT_TZ
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services import notices, queries
from parcelguard.services.ports import Notice, NoticeSubscription, Vault

router = APIRouter(tags=["notifications"], responses=schemas.ERRORS)
Manager = Annotated[Principal, Depends(require(Permission.WRITE_SHIPMENTS))]


class NoticeWishIn(BaseModel):
    channel: Literal["email", "sms", "webhook"]
    to: str = Field(max_length=500, description="an e-mail address, a mainland mobile number, "
                    "or the https URL of the app backend that gets signed POSTs")
    locale: Literal["zh", "en"] = "zh"
    quiet_hours: str | None = Field(default=None, max_length=11, examples=["22:00-08:00"],
                                    description="local HH:MM-HH:MM: nothing is sent then; "
                                    "what falls in them goes out when they end")
    tz: str = Field(default=DEFAULT_TZ, max_length=40, description="IANA zone of quiet_hours")


class NoticeOut(BaseModel):
    topic: str = Field(description="status:<status> or alert:<kind>")
    state: Literal["pending", "sent", "failed", "dropped"]
    created_at: str
    send_after: str
    sent_at: str | None
    attempts: int
    last_error: str | None


class NoticeSubscriptionOut(BaseModel):
    subscription_id: str
    tracking_no: str
    channel: str
    to: str = Field(description="masked")
    locale: str
    quiet_hours: str | None
    tz: str
    created_at: str
    created_by: str
    unsubscribed_at: str | None
    secret: str | None = Field(default=None, description="webhook: the signing secret, shown "
                               "only in the answer that created the subscription")
    notices: list[NoticeOut] = Field(default_factory=list)


class NoticeSubscriptionList(BaseModel):
    items: list[NoticeSubscriptionOut]


def _masked(channel: str, to: str) -> str:
    if channel == "sms":
        return privacy.mask_phone(to)
    if channel == "email":
        return privacy.mask_email(to)
    parts = urlsplit(to)
    return f"{parts.scheme}://{parts.netloc}/…"


def _out(sub: NoticeSubscription, vault: Vault, sent: list[Notice] | None = None,
         secret: str | None = None) -> NoticeSubscriptionOut:
    return NoticeSubscriptionOut(
        subscription_id=sub.subscription_id, tracking_no=sub.tracking_no, channel=sub.channel,
        to=_masked(sub.channel, vault.open(sub.to_sealed).decode()), locale=sub.locale,
        quiet_hours=sub.quiet, tz=sub.tz, created_at=times.iso_us(sub.created_at_us),
        created_by=sub.created_by,
        unsubscribed_at=None if sub.unsubscribed_at_us is None
        else times.iso_us(sub.unsubscribed_at_us),
        secret=secret, notices=[NoticeOut(
            topic=n.topic, state=n.state,
            created_at=times.iso_us(n.created_at_us), send_after=times.iso_us(n.send_after_us),
            sent_at=None if n.sent_at_us is None else times.iso_us(n.sent_at_us),
            attempts=n.attempts, last_error=n.last_error) for n in sent or []])


@router.post("/v1/shipments/{tracking_no}/notifications", status_code=201,
             response_model=NoticeSubscriptionOut, tags=["shipments"],
             responses={409: {"model": schemas.ErrorBody,
                              "description": "The address already follows the parcel"}},
             summary="Subscribe a recipient to a parcel's notifications")
async def subscribe(tracking_no: str, body: NoticeWishIn, sys: SystemDep,
                    caller: Manager) -> NoticeSubscriptionOut:
    wish = notices.Wish(body.channel, body.to, body.locale, body.quiet_hours, body.tz)
    sub, secret = await asyncio.to_thread(
        notices.subscribe, sys.store, sys.vault, caller.tenant_id, tracking_no, wish,
        caller.key_id, sys.settings.webhooks_allow_private, times.to_us(sys.clock.now()))
    return _out(sub, sys.vault, secret=secret)


@router.get("/v1/shipments/{tracking_no}/notifications", response_model=NoticeSubscriptionList,
            tags=["shipments"], summary="Who follows a parcel, and the notices sent them")
def subscriptions(tracking_no: str, sys: SystemDep, caller: Manager) -> NoticeSubscriptionList:
    with sys.store.unit_of_work(write=False) as uow:
        queries.shipment(uow, caller.tenant_id, tracking_no)  # 404 for others' parcels
        subs = uow.notices.of_parcel(caller.tenant_id, tracking_no)
        sent = {s.subscription_id: uow.notices.of_subscription(s.subscription_id) for s in subs}
    return NoticeSubscriptionList(items=[_out(s, sys.vault, sent[s.subscription_id])
                                         for s in subs])


@router.delete("/v1/notifications/{notification_id}", response_model=NoticeSubscriptionOut,
               summary="Unsubscribe (nothing more is sent; notices pending are dropped)")
def unsubscribe(notification_id: str, sys: SystemDep, caller: Manager) -> NoticeSubscriptionOut:
    """``notification_id`` is the ``subscription_id`` the subscription was answered with."""
    sub = notices.unsubscribe(sys.store, notification_id, times.to_us(sys.clock.now()),
                              caller.tenant_id)
    return _out(sub, sys.vault)
