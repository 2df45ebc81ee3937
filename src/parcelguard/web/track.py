"""The consumer's tracking page: ``/t/<tracking_no>``.

``GET /t`` and ``GET /t/<tn>`` show the lookup form; ``POST /t`` checks the tracking number and
the phone's last four digits (services/lookup.py: same answer for unknown and wrong, a lock after
five wrong tries, 30 lookups a minute per client) and redirects to ``/t/<tn>?s=<share token>``,
which is both the page and the link to share. ``/t/<tn>/live`` streams the page's changing parts
as server-sent events: the status header and timeline as HTML for htmx, and the map and chart
data as JSON.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from parcelguard.bootstrap import System
from parcelguard.domain import times
from parcelguard.domain.claims import ClaimKind
from parcelguard.domain.errors import Conflict, InvalidInput
from parcelguard.services import queries
from parcelguard.services.ports import ShipmentRecord
from parcelguard.web import claims, pages, session
from parcelguard.web.i18n import CLAIM_WORDS, TEXT, lang_of
from parcelguard.web.pages import SystemDep
from parcelguard.web.throttle import PerClient
from parcelguard.web.view import TrackView, build, local_us

router = APIRouter(include_in_schema=False)
Lang = Annotated[str | None, Query(max_length=5)]


def view_of(sys: System, record: ShipmentRecord, lang: str, masked: bool = True) -> TrackView:
    s = record.shipment
    with sys.store.unit_of_work(write=False) as uow:
        tl = queries.timeline(uow, s.tenant_id, s.tracking_no)
        points = queries.series(uow, s.tenant_id, s.tracking_no, None, None)
    return view_from(sys, tl, points, lang, masked)


def view_from(sys: System, tl: queries.Timeline, points: list[queries.Point], lang: str,
              masked: bool = True) -> TrackView:
    """The view of what was read already (the dashboard reads it for the liability report)."""
    s = tl.record.shipment
    profile = sys.ingestor.alerting.profiles[s.category].with_thresholds(s.thresholds)
    return build(tl, points, profile, lang, masked)


def _form(request: Request, lang: str, tracking_no: str = "", problem: str | None = None,
          status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return pages.render(request, "track_lookup.html", {
        "lang": lang, "t": TEXT[lang], "tracking_no": tracking_no, "problem": problem,
        "switch_url": f"{request.url.path}?lang={'en' if lang == 'zh' else 'zh'}",
    }, status, headers)


@router.get("/t", response_class=HTMLResponse)
def lookup_form(request: Request, lang: Lang = None) -> HTMLResponse:
    return _form(request, lang_of(lang))


@router.post("/t", response_class=HTMLResponse)
async def look_up(request: Request, sys: SystemDep) -> Response:
    # the form is small and url-encoded: read it ourselves rather than add a multipart parser
    form = await pages.read_form(request)
    tracking_no, phone_last4, lang = (form.get(k, "")[:64]
                                      for k in ("tracking_no", "phone_last4", "lang"))
    return await asyncio.to_thread(_look_up, request, sys, tracking_no, phone_last4, lang)


def _look_up(request: Request, sys: System, tracking_no: str, phone_last4: str,
             lang: str) -> Response:
    lang = lang_of(lang)
    text = TEXT[lang]
    tracking_no, phone_last4 = tracking_no.strip(), phone_last4.strip()
    client = request.client.host if request.client else "?"
    wait = _throttle(request).allow(client)
    if wait is not None:
        return _form(request, lang, tracking_no, text["too_many"], 429,
                     {"Retry-After": str(max(1, round(wait)))})
    now_us = times.to_us(sys.clock.now())
    try:
        answer = sys.lookup.find(tracking_no, phone_last4, now_us)
    except InvalidInput as exc:
        return _form(request, lang, tracking_no, f"{text.get(exc.field, exc.field)}: {exc.problem}",
                     422)
    if answer.record is None:
        if answer.locked_until_us is not None:
            problem = text["locked"].format(until=local_us(answer.locked_until_us))
            return _form(request, lang, tracking_no, problem, 423)
        problem = text["not_found"] + " " + text["tries_left"].format(n=answer.tries_left)
        return _form(request, lang, tracking_no, problem, 404)
    token = sys.lookup.share_token(answer.record, now_us)
    query = urlencode({"s": token, "lang": lang})
    return RedirectResponse(f"/t/{tracking_no}?{query}", status_code=303)


@router.get("/t/{tracking_no}", response_class=HTMLResponse)
def track_page(
    request: Request, tracking_no: str, sys: SystemDep, lang: Lang = None,
    s: Annotated[str | None, Query(max_length=200)] = None,
    claim: Annotated[str | None, Query(max_length=40)] = None,
    subscribed: Annotated[Literal["email", "sms"] | None, Query()] = None,
) -> HTMLResponse:
    lang = lang_of(lang)
    record = _shared(sys, tracking_no, s)
    if record is None:  # no token, or one that does not open this number: ask for the digits
        return _form(request, lang, tracking_no)
    done = None if subscribed is None else TEXT[lang][f"notify_{subscribed}"]
    return _page(request, sys, record, s or "", lang, sent=claim, notify_done=done)


def _page(request: Request, sys: System, record: ShipmentRecord, token: str, lang: str,
          sent: str | None = None, problem: str | None = None,
          status: int = 200, notify_done: str | None = None,
          notify_problem: str | None = None) -> HTMLResponse:
    tracking_no = record.shipment.tracking_no
    view = view_of(sys, record, lang)
    query = urlencode({"s": token, "lang": lang})
    share = f"{request.base_url}t/{tracking_no}?{urlencode({'s': token})}"
    mine = claims.shipment_claims(sys, record.shipment.tenant_id, tracking_no,
                                  consumer_only=True)
    return pages.render(request, "track.html", {
        "lang": lang, "t": TEXT[lang], "v": view, "share_url": share,
        "photo_url": f"/t/{tracking_no}/pod-photo?{urlencode({'s': token})}",
        "live_url": f"/t/{tracking_no}/live?{query}",
        "claim_url": f"/t/{tracking_no}/claims?{query}", "claims": mine,
        "w": CLAIM_WORDS[lang], "claim_kinds": [k.value for k in ClaimKind],
        "claim_sent": sent if any(c.claim_id == sent for c in mine) else None,
        "claim_problem": problem,
        "notify_url": f"/t/{tracking_no}/notifications?{query}",
        "notify_done": notify_done, "notify_problem": notify_problem,
        "data_json": _json(view.data),
        "switch_url": f"/t/{tracking_no}?"
                      + urlencode({"s": token, "lang": "en" if lang == "zh" else "zh"}),
    }, status)


@router.post("/t/{tracking_no}/claims", response_class=HTMLResponse)
async def consumer_claim(
    request: Request, tracking_no: str, sys: SystemDep, lang: Lang = None,
    s: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The consumer holding the share link asks for compensation (throttled like lookups)."""
    lang = lang_of(lang)
    posted = await consumer_form(request, sys, tracking_no, s, "claim", lang)
    if isinstance(posted, Response):
        return posted
    record, form = posted
    shipment = record.shipment
    try:
        # the link may have been passed on: the claimant shows the digits again, counted
        # against the lookup's lockout like any other try
        now_us = times.to_us(sys.clock.now())
        answer = await asyncio.to_thread(sys.lookup.find, shipment.tracking_no,
                                         form.get("phone_last4", "").strip(), now_us)
        if answer.locked_until_us is not None:
            raise InvalidInput("phone_last4", TEXT[lang]["locked"].format(
                until=local_us(answer.locked_until_us)))
        if answer.record is None or answer.record.id != record.id:
            raise InvalidInput("phone_last4", TEXT[lang]["claim_digits"])
        opened = await asyncio.to_thread(claims.open_for_consumer, sys, shipment.tenant_id,
                                         shipment.tracking_no, form)
    except (InvalidInput, Conflict) as exc:
        problem = TEXT[lang]["claim_problem"].format(problem=exc.message)
        return await asyncio.to_thread(_page, request, sys, record, s or "", lang, None,
                                       problem, 409 if isinstance(exc, Conflict) else 422)
    query = urlencode({"s": s, "lang": lang, "claim": opened.claim_id})
    return RedirectResponse(f"/t/{tracking_no}?{query}#claims", status_code=303)


async def consumer_form(request: Request, sys: System, tracking_no: str, token: str | None,
                        what: str, lang: str) -> tuple[ShipmentRecord, dict[str, str]] | Response:
    """A consumer's form posted from the tracking page: the share link opens the parcel, the
    post comes from one of our pages, and each client is throttled like lookups. The parcel
    and the form, or the answer to give instead."""
    record = await asyncio.to_thread(_shared, sys, tracking_no, token)
    if record is None:
        return Response(status_code=404)
    if not session.same_origin(request):
        return Response("cross-site request refused", status_code=403)
    client = request.client.host if request.client else "?"
    wait = _throttle(request).allow(f"{what}:{client}")
    if wait is not None:
        return Response(TEXT[lang]["too_many"], status_code=429,
                        headers={"Retry-After": str(max(1, round(wait)))})
    return record, await pages.read_form(request)


@router.get("/t/{tracking_no}/pod-photo")
def pod_photo(
    tracking_no: str, sys: SystemDep, s: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The photo taken at the handover, for whoever holds the parcel's share link."""
    record = _shared(sys, tracking_no, s)
    if record is None:
        return Response(status_code=404)
    return photo_response(sys, record)


def photo_response(sys: System, record: ShipmentRecord) -> Response:
    found = sys.deliveries.photo(record.shipment.tenant_id, record.shipment.tracking_no)
    if found is None:
        return Response(status_code=404)
    data, kind = found
    return Response(data, media_type=kind, headers={"Cache-Control": "private, max-age=3600",
                                                    "X-Content-Type-Options": "nosniff"})


@router.get("/t/{tracking_no}/live")
async def live(
    request: Request, tracking_no: str, sys: SystemDep, lang: Lang = None,
    s: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    record = _shared(sys, tracking_no, s)
    if record is None:
        return Response(status_code=404)
    lang = lang_of(lang)
    t = TEXT[lang]

    async def render() -> list[tuple[str, str]]:
        view = await asyncio.to_thread(view_of, sys, record, lang)
        return [("status", pages.fragment(request, "_track_status.html", t=t, v=view)),
                ("timeline", pages.fragment(request, "_track_timeline.html", t=t, v=view)),
                ("data", _json(view.data))]

    return pages.event_stream(request, (record.shipment.tenant_id, tracking_no), render)


def _json(data: object) -> str:
    """JSON safe inside HTML: no '<', '>' or '&' that could close a tag."""
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _throttle(request: Request) -> PerClient:
    """This app's per-client lookup counts (one per app: test servers do not share them)."""
    found: PerClient = request.app.state.lookup_throttle
    return found


def _shared(sys: System, tracking_no: str, token: str | None) -> ShipmentRecord | None:
    if not token:
        return None
    return sys.lookup.shared(tracking_no, token, times.to_us(sys.clock.now()))
