"""Consumer notifications on the public pages: subscribe from the tracking page (the share link
is the proof of a lookup with the right digits; throttled like lookups), and the unsubscribe
link every message carries (a page with a button; mail clients' one-click POST, RFC 8058,
works on the same address)."""

from __future__ import annotations

import asyncio
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from parcelguard.domain import times
from parcelguard.domain.errors import Conflict, InvalidInput, NotFound
from parcelguard.services import notices
from parcelguard.web import pages
from parcelguard.web.i18n import TEXT, lang_of
from parcelguard.web.pages import SystemDep
from parcelguard.web.track import Lang, _page, consumer_form

router = APIRouter(include_in_schema=False)


@router.post("/t/{tracking_no}/notifications", response_class=HTMLResponse)
async def subscribe(
    request: Request, tracking_no: str, sys: SystemDep, lang: Lang = None,
    s: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    lang = lang_of(lang)
    posted = await consumer_form(request, sys, tracking_no, s, "notify", lang)
    if isinstance(posted, Response):
        return posted
    record, form = posted
    channel = form.get("channel", "email")
    wish = notices.Wish(channel, form.get("to", ""), lang,
                        form.get("quiet_hours", "").strip() or None)
    shipment = record.shipment
    try:
        if channel not in ("email", "sms"):  # webhooks are for the merchant's app backend
            raise InvalidInput("channel", "expected email or sms")
        await asyncio.to_thread(
            notices.subscribe, sys.store, sys.vault, shipment.tenant_id, shipment.tracking_no,
            wish, "consumer", False, times.to_us(sys.clock.now()))
    except (InvalidInput, Conflict) as exc:
        return await asyncio.to_thread(
            _page, request, sys, record, s or "", lang, None, None,
            409 if isinstance(exc, Conflict) else 422, None,
            TEXT[lang]["notify_problem"].format(problem=exc.message))
    query = urlencode({"s": s, "lang": lang, "subscribed": channel})
    return RedirectResponse(f"/t/{tracking_no}?{query}#notify", status_code=303)


@router.get("/n/{subscription_id}/unsubscribe", response_class=HTMLResponse)
def unsubscribe_page(request: Request, subscription_id: str, sys: SystemDep) -> Response:
    with sys.store.unit_of_work(write=False) as uow:
        sub = uow.notices.subscription(subscription_id)
    if sub is None:
        return Response(status_code=404)
    lang = lang_of(sub.locale)
    return pages.render(request, "unsubscribe.html", {
        "lang": lang, "t": TEXT[lang], "tracking_no": sub.tracking_no,
        "done": sub.unsubscribed_at_us is not None,
        "action": f"/n/{subscription_id}/unsubscribe"})


@router.post("/n/{subscription_id}/unsubscribe", response_class=HTMLResponse)
def unsubscribe(request: Request, subscription_id: str, sys: SystemDep) -> Response:
    """The id is the capability (unguessable, only in the subscriber's messages), so no
    same-origin check: a mail client's one-click unsubscribe posts from elsewhere."""
    try:
        sub = notices.unsubscribe(sys.store, subscription_id, times.to_us(sys.clock.now()))
    except NotFound:
        return Response(status_code=404)
    lang = lang_of(sub.locale)
    return pages.render(request, "unsubscribe.html", {
        "lang": lang, "t": TEXT[lang], "tracking_no": sub.tracking_no, "done": True,
        "action": f"/n/{subscription_id}/unsubscribe"})
