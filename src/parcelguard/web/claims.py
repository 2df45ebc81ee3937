"""Claims on the pages: the dashboard's claim page (timeline, finding, the steps to take) and
the forms that open a claim, from a shipment's dashboard page or from the consumer's tracking
page.

Forms give amounts in yuan; the API and the store keep minor units (fen). A refused form is
shown again with what to fix (422 for a field, 409 for a claim not in the state for the step);
a step taken redirects to the claim's page (303), so a reload does not post it twice.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from parcelguard.bootstrap import System
from parcelguard.domain import times
from parcelguard.domain.claims import MAX_AMOUNT, Claim, Claimant, ClaimKind
from parcelguard.domain.errors import Conflict, InvalidInput, NotFound
from parcelguard.domain.tenancy import Permission, Principal
from parcelguard.services.claims import ACTIONS, CONSUMER, Decision
from parcelguard.services.ports import ClaimFilter
from parcelguard.web import pages, session
from parcelguard.web.i18n import CLAIM_WORDS, DASH, TEXT, lang_of
from parcelguard.web.pages import SystemDep

router = APIRouter(include_in_schema=False)
Lang = Annotated[str | None, Query(max_length=5)]


def fen(field: str, text: str | None) -> int | None:
    """Yuan as typed (``1299``, ``1,299.50``) to fen; None when left empty."""
    text = (text or "").strip().replace(",", "")[:40]
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    exponent = value.as_tuple().exponent
    if not value.is_finite() or not isinstance(exponent, int) or exponent < -2 or value < 0:
        raise InvalidInput(field, f"expected an amount in yuan with at most two decimals, such "
                           f"as 1299.50, got {text[:20]!r}")
    if value > MAX_AMOUNT // 100:
        raise InvalidInput(field, f"at most {MAX_AMOUNT // 100:,} yuan")
    return int(value * 100)


def yuan(value: int | None) -> str:
    return "—" if value is None else f"¥{value / 100:,.2f}"


def _party(text: str | None) -> dict[str, Any] | None:
    """``kind:id`` as typed in the liable field (``carrier:sf``); None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    kind, sep, party_id = text.partition(":")
    if not sep:
        raise InvalidInput("liable", "expected kind:id, such as vehicle:沪A1 or carrier:sf")
    return {"kind": kind.strip(), "id": party_id.strip()}


# ---- the merchant's dashboard ----

def _ctx(request: Request, lang: str, **extra: Any) -> dict[str, Any]:
    other = "en" if lang == "zh" else "zh"
    return {"lang": lang, "d": DASH[lang], "t": TEXT[lang], "w": CLAIM_WORDS[lang],
            "switch_url": f"{request.url.path}?lang={other}", **extra}


def _signed(request: Request, sys: System) -> Principal | None:
    signed = session.open_session(request, sys)
    return None if signed is None else signed[0]


def _claim_page(request: Request, sys: System, caller: Principal, claim_id: str, lang: str,
                problem: str | None = None, status: int = 200) -> Response:
    try:
        claim, steps = sys.claims.get(caller.tenant_id, claim_id)
    except NotFound:
        return pages.render(request, "not_found.html", _ctx(request, lang), 404)
    analysis = claim.analysis
    return pages.render(request, "claim.html", _ctx(
        request, lang, c=claim, steps=steps, yuan=yuan, problem=problem,
        incidents=analysis.get("incidents", []), checkpoint=analysis.get("checkpoint"),
        can_manage=caller.can(Permission.MANAGE_CLAIMS)), status)


async def _manager(request: Request, sys: System) -> Principal | Response:
    """The signed-in caller of a same-origin post who may manage claims, or the refusal."""
    caller = await asyncio.to_thread(_signed, request, sys)
    if caller is None:
        return Response(status_code=401)
    if not session.same_origin(request):
        return Response("cross-site request refused", status_code=403)
    if not caller.can(Permission.MANAGE_CLAIMS):
        return Response("this role may not open or decide claims", status_code=403)
    return caller


@router.get("/dashboard/claims/{claim_id}", response_class=HTMLResponse)
def claim_page(request: Request, claim_id: str, sys: SystemDep, lang: Lang = None) -> Response:
    caller = _signed(request, sys)
    if caller is None:
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}",
                                status_code=303)
    if not caller.can(Permission.READ_CLAIMS):
        return Response("this role may not see claims", status_code=403)
    return _claim_page(request, sys, caller, claim_id, lang_of(lang))


@router.post("/dashboard/claims/{claim_id}/{action}", response_class=HTMLResponse)
async def claim_step(request: Request, claim_id: str, action: str, sys: SystemDep,
                     lang: Lang = None) -> Response:
    if action not in ACTIONS:
        return Response(status_code=404)
    caller = await _manager(request, sys)
    if isinstance(caller, Response):
        return caller
    form = await pages.read_form(request)
    lang = lang_of(lang or form.get("lang"))
    now_us = times.to_us(sys.clock.now())
    try:
        amount = fen("amount", form.get("amount"))
        decision = Decision(form.get("note"), amount, _party(form.get("liable")),
                            form.get("reference"))
        await asyncio.to_thread(sys.claims.act, caller.tenant_id, claim_id, action,
                                caller.key_id, now_us, decision)
    except (InvalidInput, Conflict) as exc:
        status = 409 if isinstance(exc, Conflict) else 422
        return await asyncio.to_thread(_claim_page, request, sys, caller, claim_id, lang,
                                       exc.message, status)
    except NotFound:
        return Response(status_code=404)
    return RedirectResponse(f"/dashboard/claims/{claim_id}?lang={lang}", status_code=303)


@router.post("/dashboard/shipments/{tracking_no}/claims", response_class=HTMLResponse)
async def open_from_dashboard(request: Request, tracking_no: str, sys: SystemDep,
                              lang: Lang = None) -> Response:
    caller = await _manager(request, sys)
    if isinstance(caller, Response):
        return caller
    form = await pages.read_form(request)
    lang = lang_of(lang or form.get("lang"))
    try:
        claim = await asyncio.to_thread(_open, sys, caller.tenant_id, tracking_no, form,
                                        Claimant.MERCHANT, caller.key_id)
    except NotFound:
        return pages.render(request, "not_found.html", _ctx(request, lang), 404)
    except (InvalidInput, Conflict) as exc:
        return pages.render(request, "problem.html", _ctx(
            request, lang, problem=exc.message,
            back=f"/dashboard/shipments/{tracking_no}?lang={lang}"),
            409 if isinstance(exc, Conflict) else 422)
    return RedirectResponse(f"/dashboard/claims/{claim.claim_id}?lang={lang}", status_code=303)


def _open(sys: System, tenant_id: str, tracking_no: str, form: dict[str, str],
          claimant: Claimant, actor: str) -> Claim:
    try:
        kind = ClaimKind(form.get("kind", ""))
    except ValueError:
        raise InvalidInput("kind", "expected damage, loss, misdelivery or spoilage") from None
    amount = fen("amount", form.get("amount"))
    if amount is None:
        raise InvalidInput("amount", "required: the amount asked, in yuan")
    return sys.claims.open(tenant_id, tracking_no, kind, form.get("description", ""), amount,
                           "CNY", claimant, actor, times.to_us(sys.clock.now()))


def shipment_claims(sys: System, tenant_id: str, tracking_no: str,
                    consumer_only: bool = False) -> list[Claim]:
    rows, _ = sys.claims.page(tenant_id, ClaimFilter(tracking_no=tracking_no), None, 50)
    return [c for c in rows if not consumer_only or c.claimant is Claimant.CONSUMER]


# ---- the consumer's tracking page ----

def open_for_consumer(sys: System, tenant_id: str, tracking_no: str,
                      form: dict[str, str]) -> Claim:
    return _open(sys, tenant_id, tracking_no, form, Claimant.CONSUMER, CONSUMER)
