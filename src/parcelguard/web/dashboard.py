"""The merchant's dashboard: ``/dashboard`` and its pages, signed in with an API key.

KPIs (claims and time to settle among them) and carrier scorecards for a period
(services/reports.py), the live alert board (act on an alert from it; it refreshes itself over
server-sent events), shipments predicted late, unsettled claims, and each shipment in full: the
tracking page unmasked, its alerts, its claims and its custody trail with the ledger proofs.
The claim pages are in web/claims.py. Acting on an alert goes through the writer like the API's acts do.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from parcelguard.bootstrap import System
from parcelguard.domain import times
from parcelguard.domain.alerts import Alert, Kind, Severity
from parcelguard.domain.claims import ClaimKind
from parcelguard.domain.custody import holder_after
from parcelguard.domain.errors import NotFound
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services import liability, merchant, notify, queries, reports
from parcelguard.services.messages import ActOnAlert, AlertAction, Result
from parcelguard.services.ports import AlertFilter, ClaimFilter
from parcelguard.web import pages, session
from parcelguard.web.claims import shipment_claims, yuan
from parcelguard.web.i18n import CLAIM_WORDS, DASH, KINDS, TEXT, lang_of
from parcelguard.web.pages import ANY, SystemDep
from parcelguard.web.track import view_from
from parcelguard.web.view import local_us

router = APIRouter(include_in_schema=False)
PERIODS = (1, 7, 30)
BOARD_SIZE = 50
CLAIMS_SHOWN = 20
DAY_US = 86_400_000_000
Lang = Annotated[str | None, Query(max_length=5)]
RISK_KINDS = (Kind.DELAY_RISK, Kind.TEMPERATURE_TREND, Kind.DWELL_EXCEEDED, Kind.NO_UPDATE,
              Kind.LOST_SUSPECTED)  # what is going wrong but has not yet gone wrong
ACTIONS = {"acknowledge": AlertAction.ACKNOWLEDGE, "resolve": AlertAction.RESOLVE,
           "comment": AlertAction.COMMENT}


def _base(request: Request, lang: str, **extra: Any) -> dict[str, Any]:
    query = dict(request.query_params)
    query["lang"] = "en" if lang == "zh" else "zh"
    return {"lang": lang, "d": DASH[lang], "t": TEXT[lang], "kinds": KINDS[lang],
            "switch_url": f"{request.url.path}?{urlencode(query)}", **extra}


@dataclass(frozen=True)
class Board:
    """The alert board's language and filters, as the query string gives them."""

    lang: str
    severity: Severity | None
    kind: Kind | None

    def encoded(self) -> str:
        query = {"lang": self.lang}
        if self.severity:
            query["severity"] = self.severity.value
        if self.kind:
            query["kind"] = self.kind.value
        return urlencode(query)


def _board_query(lang: Lang = None, severity: Annotated[Severity | None, Query()] = None,
                 kind: Annotated[Kind | None, Query()] = None) -> Board:
    return Board(lang_of(lang), severity, kind)


BoardQuery = Annotated[Board, Depends(_board_query)]


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)


# ---- signing in ----

@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, lang: Lang = None) -> HTMLResponse:
    return pages.render(request, "login.html", _base(request, lang_of(lang), problem=None))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, sys: SystemDep) -> Response:
    form = await pages.read_form(request)
    key = form.get("key", "").strip()[:200]
    lang = lang_of(form.get("lang"))
    client = request.client.host if request.client else "?"
    wait = request.app.state.lookup_throttle.allow(f"login:{client}")
    if wait is not None:
        return pages.render(request, "login.html", _base(request, lang, problem=TEXT[lang][
            "too_many"]), 429, {"Retry-After": str(max(1, round(wait)))})
    if not session.same_origin(request):
        return pages.render(request, "login.html", _base(request, lang, problem="origin"), 403)
    if await asyncio.to_thread(session.check_key, sys, key) is None:
        return pages.render(request, "login.html", _base(request, lang, problem=DASH[lang][
            "bad_key"]), 401)
    nxt = form.get("next", "")
    target = nxt if nxt.startswith(("/dashboard", "/ops")) else "/dashboard"  # never off-site
    response = RedirectResponse(f"{target}?lang={lang}", status_code=303)
    session.start(response, sys, key, secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    if not session.same_origin(request):
        return Response("cross-site request refused", status_code=403)
    response = RedirectResponse("/login", status_code=303)
    session.end(response)
    return response


# ---- the overview ----

@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(
    request: Request, sys: SystemDep, q: BoardQuery,
    days: Annotated[int, Query(ge=1, le=365)] = 7,
) -> Response:
    signed = session.open_session(request, sys)
    if signed is None:
        return _login_redirect(request)
    caller, _ = signed
    lang, severity, kind = q.lang, q.severity, q.kind
    now_us = times.to_us(sys.clock.now())
    with sys.store.unit_of_work(write=False) as uow:
        total, carriers = reports.kpis(uow, caller.tenant_id, now_us - days * DAY_US,
                                       now_us + 1)  # up to and including this moment
        late = uow.reports.predicted_late(caller.tenant_id, 20)
        active = uow.reports.active_alerts(caller.tenant_id)
    risks = {k.value: active.get(k.value, 0) for k in RISK_KINDS}
    unsettled = (sys.claims.page(caller.tenant_id, ClaimFilter(active=True), None,
                                 CLAIMS_SHOWN)[0]
                 if caller.can(Permission.READ_CLAIMS) else [])
    return pages.render(request, "dashboard.html", _base(
        request, lang, caller=caller, days=days, periods=PERIODS, total=total,
        carriers=carriers, late=[_late_row(r) for r in late], risks=risks,
        claims=unsettled, w=CLAIM_WORDS[lang], yuan=yuan,
        board=_board(sys, caller, q), severity=severity, kind=kind,
        can_act=caller.can(Permission.WRITE_ALERTS), filters=q.encoded(),
        severities=list(Severity), kind_names=sorted(k.value for k in Kind),
        live_url=f"/dashboard/live?{q.encoded()}",
    ))


def _late_row(r: Any) -> dict[str, Any]:
    s, st = r.shipment, r.state
    promised = times.to_us(s.promised_by)
    return {"tn": s.tracking_no, "carrier": s.carrier, "status": st.status.value,
            "eta": local_us(st.eta_us), "promised": local_us(promised),
            "late_h": round((st.eta_us - promised) / 3_600_000_000, 1)}


def _board(sys: System, caller: Principal, q: Board) -> list[Alert]:
    where = AlertFilter(active=True, severity=q.severity, kind=q.kind)
    with sys.store.unit_of_work(write=False) as uow:
        rows, _ = queries.alerts(uow, caller.tenant_id, where, None, BOARD_SIZE)
    order = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(rows, key=lambda a: (order[a.severity], -a.opened_at_us))


def _board_html(request: Request, sys: System, caller: Principal, q: Board) -> str:
    return pages.fragment(request, "_board.html", d=DASH[q.lang], kinds=KINDS[q.lang],
                          lang=q.lang, board=_board(sys, caller, q), caller=caller,
                          filters=q.encoded(),
                          can_act=caller.can(Permission.WRITE_ALERTS))


@router.post("/dashboard/alerts/{alert_id}/{action}", response_class=HTMLResponse)
async def act(request: Request, alert_id: str, action: str, sys: SystemDep,
              q: BoardQuery) -> Response:
    signed = await asyncio.to_thread(session.open_session, request, sys)
    if signed is None:
        return Response(status_code=401)
    if not session.same_origin(request):
        return Response("cross-site request refused", status_code=403)
    caller = signed[0]
    if action not in ACTIONS or not caller.can(Permission.WRITE_ALERTS):
        return Response(status_code=403 if action in ACTIONS else 404)
    text = None
    if ACTIONS[action] is AlertAction.COMMENT:
        form = await pages.read_form(request)
        text = form.get("text", "").strip()[:2000]
        if not text:
            return Response("a comment needs text", status_code=422)
    (outcome,) = await sys.pipeline.submit(
        [ActOnAlert(caller.tenant_id, alert_id, ACTIONS[action], caller.key_id, text)])
    if outcome.result is Result.NOT_FOUND:
        return Response(status_code=404)
    # a conflict (someone acted first) also answers with the board as it now is
    html = await asyncio.to_thread(_board_html, request, sys, caller, q)
    return HTMLResponse(html)


@router.get("/dashboard/live")
async def live(request: Request, sys: SystemDep, q: BoardQuery) -> Response:
    signed = await asyncio.to_thread(session.open_session, request, sys)
    if signed is None:
        return Response(status_code=401)
    caller = signed[0]

    async def render() -> list[tuple[str, str]]:
        html = await asyncio.to_thread(_board_html, request, sys, caller, q)
        return [("board", html)]

    # a busy tenant's parcels change many times a second: settle, then one update
    return pages.event_stream(request, (caller.tenant_id, ANY), render, settle_s=0.5)


# ---- one shipment ----

@router.get("/dashboard/shipments/{tracking_no}", response_class=HTMLResponse)
def shipment(request: Request, tracking_no: str, sys: SystemDep, lang: Lang = None) -> Response:
    signed = session.open_session(request, sys)
    if signed is None:
        return _login_redirect(request)
    caller = signed[0]
    lang = lang_of(lang)
    try:
        with sys.store.unit_of_work(write=False) as uow:
            found = liability.report(uow, caller.tenant_id, tracking_no,
                                     sys.ingestor.alerting.profiles)  # NotFound if not theirs
            alerts, _ = queries.alerts(uow, caller.tenant_id,
                                       AlertFilter(tracking_no=tracking_no), None, 200)
    except NotFound:
        return pages.render(request, "not_found.html", _base(request, lang), 404)
    tl = found.timeline  # the timeline and readings are read once, for all of the page
    record = tl.record
    owner = caller.sees_recipient  # as GET ...?include=recipient
    view = view_from(sys, tl, found.points, lang, masked=not owner)
    clear = queries.recipient(sys.vault, record) if owner else None
    if clear is not None:
        view.recipient = {"name": clear.name, "phone": clear.phone, "address": clear.address}
    trail = []
    for stored in tl.events:
        e = stored.event
        holder = holder_after(e)
        trail.append({"at": local_us(times.to_us(e.occurred_at)), "status": e.status.value,
                      "holder": f"{holder.kind.value}:{holder.id}" if holder else "",
                      "place": " ".join(x for x in ((e.location.city, e.location.name)
                                                     if e.location else ()) if x),
                      "operator": e.operator_id or "", "device": e.device_id or "",
                      "vehicle": e.vehicle_id or "", "ledger": stored.ledger_index})
    can_claim = caller.can(Permission.MANAGE_CLAIMS)
    shown = (shipment_claims(sys, caller.tenant_id, tracking_no)
             if caller.can(Permission.READ_CLAIMS) else [])
    return pages.render(request, "shipment.html", _base(
        request, lang, v=view, trail=trail, alerts=alerts, claims=shown, can_claim=can_claim,
        w=CLAIM_WORDS[lang], claim_kinds=[k.value for k in ClaimKind], yuan=yuan,
        photo_url=f"/v1/shipments/{tracking_no}/pod-photo",
        incidents=found.analysis.incidents,
        data_json=json.dumps(view.data, ensure_ascii=False).replace("<", "\\u003c"),
    ))


# ---- settings ----

@router.get("/dashboard/rules", response_class=HTMLResponse)
def rules(request: Request, sys: SystemDep, lang: Lang = None) -> Response:
    signed = session.open_session(request, sys)
    if signed is None:
        return _login_redirect(request)
    caller = signed[0]
    with sys.store.unit_of_work(write=False) as uow:
        own = uow.rules.of_tenant(caller.tenant_id) if caller.can(Permission.MANAGE_RULES) else []
        hooks = (uow.webhooks.subscriptions(caller.tenant_id)
                 if caller.can(Permission.MANAGE_WEBHOOKS) else [])
    return pages.render(request, "settings.html", _base(
        request, lang_of(lang), rules=own, hooks=hooks,
        can_manage=caller.can(Permission.MANAGE_RULES),
        can_switch_hooks=caller.can(Permission.MANAGE_WEBHOOKS)))


def _switch_rule(sys: System, caller: Principal, rule_id: str, on: bool) -> None:
    merchant.change(sys.store, sys.ingestor.rules.expressions, caller.tenant_id, rule_id,
                    times.to_us(sys.clock.now()), enabled=on)
    sys.rules_changed(caller.tenant_id)


def _switch_webhook(sys: System, caller: Principal, subscription_id: str, on: bool) -> None:
    notify.set_enabled(sys.store, caller.tenant_id, subscription_id, on)


SWITCHES = {"rules": (Permission.MANAGE_RULES, _switch_rule),
            "webhooks": (Permission.MANAGE_WEBHOOKS, _switch_webhook)}


@router.post("/dashboard/{what}/{item_id}/{change}")
def switch(request: Request, what: str, item_id: str, change: str, sys: SystemDep,
           lang: Lang = None) -> Response:
    """Enable or disable a rule or a webhook subscription from the settings page."""
    signed = session.open_session(request, sys)
    if signed is None:
        return _login_redirect(request)
    caller = signed[0]
    if what not in SWITCHES or change not in ("enable", "disable"):
        return Response(status_code=404)
    permission, apply = SWITCHES[what]
    if not session.same_origin(request) or not caller.can(permission):
        return Response(status_code=403)
    try:
        apply(sys, caller, item_id, change == "enable")
    except NotFound:
        return Response(status_code=404)
    return RedirectResponse(f"/dashboard/rules?lang={lang_of(lang)}", status_code=303)
