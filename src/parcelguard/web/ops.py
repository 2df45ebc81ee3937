"""The carrier's operations console (``/ops``): the hub board (live: it refreshes itself), a
map of the hubs coloured by congestion, handling accountability per facility, shift, operator
and device, and every table as CSV. For carrier, operator and admin keys
(``Permission.READ_OPERATIONS``), over the caller's tenant or, for a carrier network key, its
carrier's parcels of every merchant; see services/operations.py for the figures."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from parcelguard.bootstrap import System
from parcelguard.domain import times
from parcelguard.domain.shipment import Category
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services import operations
from parcelguard.web import pages, session
from parcelguard.web.i18n import DASH, TEXT, lang_of
from parcelguard.web.pages import SystemDep
from parcelguard.web.view import local_us

router = APIRouter(include_in_schema=False)
Lang = Annotated[str | None, Query(max_length=5)]
Days = Annotated[int, Query(ge=1, le=90)]
DAY_US = 86_400_000_000
TABLES = ("hubs", "lanes", "incidents", *operations.GROUPS)


def _caller(request: Request, sys: System) -> Principal | Response:
    signed = session.open_session(request, sys)
    if signed is None:
        return RedirectResponse("/login?next=/ops", status_code=303)
    caller, _ = signed
    if not caller.can(Permission.READ_OPERATIONS):
        lang = lang_of(request.query_params.get("lang"))
        return pages.render(request, "problem.html", {
            "lang": lang, "d": DASH[lang], "t": TEXT[lang], "problem": DASH[lang]["ops_forbidden"],
            "back": "/dashboard"}, 403)
    return caller


def _dwell_limit(sys: System) -> float:
    return sys.ingestor.alerting.profiles[Category.GENERAL].dwell_max_min


def _board(sys: System, caller: Principal) -> list[operations.Hub]:
    with sys.store.unit_of_work(write=False) as uow:
        return operations.hub_board(uow, caller.scope, times.to_us(sys.clock.now()),
                                    _dwell_limit(sys))


def _accountability(sys: System, caller: Principal, days: int) -> operations.Accountability:
    now_us = times.to_us(sys.clock.now())
    with sys.store.unit_of_work(write=False) as uow:
        return operations.accountability(uow, caller.scope, now_us - days * DAY_US,
                                         now_us + 1, sys.ingestor.alerting.profiles)


def _lanes(sys: System, caller: Principal, days: int) -> list[operations.Lane]:
    now_us = times.to_us(sys.clock.now())
    with sys.store.unit_of_work(write=False) as uow:
        return operations.lanes(uow, caller.scope, now_us - days * DAY_US, now_us + 1)


@router.get("/ops", response_class=HTMLResponse)
def console(request: Request, sys: SystemDep, lang: Lang = None, days: Days = 7) -> Response:
    caller = _caller(request, sys)
    if isinstance(caller, Response):
        return caller
    lang = lang_of(lang)
    hubs = _board(sys, caller)
    duty = _accountability(sys, caller, days)
    with sys.store.unit_of_work(write=False) as uow:
        raised = uow.operations.ops_alerts(caller.scope, True)
    return pages.render(request, "ops.html", {
        "lang": lang, "d": DASH[lang], "t": TEXT[lang], "hubs": hubs, "duty": duty,
        "lanes": _lanes(sys, caller, days), "raised": raised,
        "days": days, "groups": operations.GROUPS, "local": local_us, "network": caller.scope.network,
        "hubs_json": _json([{"id": h.facility_id, "lat": h.lat, "lon": h.lon,
                             "level": h.congestion, "on_hand": h.on_hand} for h in hubs
                            if h.lat is not None]),
        "switch_url": f"/ops?lang={'en' if lang == 'zh' else 'zh'}&days={days}",
    })


@router.get("/ops/board", response_class=HTMLResponse)
def board(request: Request, sys: SystemDep, lang: Lang = None) -> Response:
    """The hub board alone: the page polls it every 30 s."""
    caller = _caller(request, sys)
    if isinstance(caller, Response):
        return Response(status_code=401)
    lang = lang_of(lang)
    return HTMLResponse(pages.fragment(request, "_ops_board.html", d=DASH[lang],
                                       hubs=_board(sys, caller), lang=lang))


@router.get("/ops/{table}.csv")
def export(request: Request, table: str, sys: SystemDep, days: Days = 7) -> Response:
    if table not in TABLES:
        return Response(status_code=404)
    caller = _caller(request, sys)
    if isinstance(caller, Response):
        return caller
    rows: list[Sequence[Any]]
    if table == "hubs":
        header = ["facility_id", "on_hand", "dwell_p50_min", "dwell_p95_min", "dwell_alerts",
                  "scanned_last_hour", "lat", "lon", "congestion"]
        rows = [[h.facility_id, h.on_hand, h.dwell_p50_min, h.dwell_p95_min, h.dwell_alerts,
                 h.scanned_last_hour, h.lat, h.lon, h.congestion] for h in _board(sys, caller)]
    elif table == "lanes":
        header = ["origin", "destination", "carrier", "category", "delivered", "p50_hours",
                  "p90_hours", "on_time", "p50_change_hours", "on_time_change"]
        rows = [[x.origin, x.destination, x.carrier, x.category, x.delivered, x.p50_h, x.p90_h,
                 x.on_time, x.p50_change_h, x.on_time_change]
                for x in _lanes(sys, caller, days)]
    elif table == "incidents":
        header = ["tracking_no", "kind", "at", "facility_id", "operator_id", "device_id",
                  "holder", "shift"]
        rows = [[p.tracking_no, p.kind, times.iso_us(p.at_us), p.facility_id, p.operator_id,
                 p.device_id, p.holder, p.shift]
                for p in _accountability(sys, caller, days).incidents]
    else:
        header = [table, "incidents", "handled", "per_10000"]
        rows = [[r.key, r.incidents, r.handled, r.per_10k]
                for r in _accountability(sys, caller, days).rates[table]]
    return Response(_csv(header, rows), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="ops-{table}.csv"',
        "Cache-Control": "no-store"})


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:  # a cell a spreadsheet would run as a formula is quoted as text
        writer.writerow(["'" + c if isinstance(c, str) and c and c[0] in "=+-@\t\r" else
                         ("" if c is None else c) for c in row])
    return "\ufeff" + out.getvalue()  # BOM: Excel reads the Chinese right


def _json(data: object) -> str:
    return (json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
