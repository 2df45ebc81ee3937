"""Kuaidi100 (快递100) subscription push.

The body is a UTF-8 form with ``param`` (JSON) and ``sign`` = MD5 of ``param + salt``, the salt
given when subscribing. Their docs show uppercase hex; either case is accepted. No timestamp:
like Kdniao, every push carries the whole trace and is handled as an idempotent snapshot, with
each item's id derived from its content.

``param.status`` is ``polling`` (being tracked), ``shutdown`` (tracking ended, normally after
signing), ``abort`` (given up: no record for 3 days, or unchanged for 60) or ``updateall`` (a
full re-push). ``shutdown`` and ``abort`` are reported in ``Push.stopped`` so the caller can
flag the shipment. ``autoCheck=1`` with ``comOld``/``comNew`` says Kuaidi100 corrected the
carrier code: reported in ``Push.corrections``. A ``lastResult.status`` other than 200 means
Kuaidi100 got no result: its ``message`` is reported in ``Push.problems``. The reply
``{"result":true,"returnCode":"200","message":"成功"}`` must reach it within 20 seconds.

``lastResult.data[]`` holds the scans, newest first: ``ftime``/``time`` (Beijing wall time
without an offset: read in the configured zone), ``context`` (the carrier's words), and with
``resultv2`` a per-item ``status`` (a Chinese state name), ``statusCode`` (an advanced code)
and ``areaName``. An item with neither gets no status of its own, except the newest, which
takes ``lastResult.state``. ``destResult`` (the destination carrier of a cross-border parcel,
under its own number) is not read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

import msgspec

from parcelguard.domain.shipment import check_tracking_no
from parcelguard.domain.status import Status as S
from parcelguard.ingest.carriers import common, localtime
from parcelguard.ingest.carriers.common import Code, Push, Table

FORMAT = "kuaidi100"
REPLY = msgspec.json.encode({"result": True, "returnCode": "200", "message": "成功"})
STOPPED = frozenset({"shutdown", "abort"})

STATUS_CODES: Table = {  # CARRIERS.md b3 (apifox) and Q5 (map-track state list)
    "1": Code(S.PICKED_UP, None, "揽收"),
    "101": Code(S.INFO_RECEIVED, None, "已下单"),
    "102": Code(S.INFO_RECEIVED, common.SUB_AWAITING_PICKUP, "待揽收"),
    "103": Code(S.PICKED_UP, None, "已揽收"),
    "0": Code(S.IN_TRANSIT, None, "在途"),
    "1001": Code(S.IN_TRANSIT, common.SUB_DEST_CITY, "到达派件城市"),
    "1002": Code(S.IN_TRANSIT, "line_haul", "干线"),
    "1003": Code(S.IN_TRANSIT, "transferred", "转递"),
    "5": Code(S.OUT_FOR_DELIVERY, None, "派件"),
    "501": Code(S.AVAILABLE_FOR_PICKUP, None, "投柜或驿站"),
    "3": Code(S.DELIVERED, None, "签收"),
    "301": Code(S.DELIVERED, None, "本人签收"),
    "302": Code(S.DELIVERED, "delivered_after_exception", "派件异常后签收"),
    "303": Code(S.DELIVERED, "signed_by_proxy", "代签"),
    "304": Code(S.DELIVERED, "signed_at_locker", "投柜或站签收"),
    "6": Code(S.RETURNING, None, "退回"),
    "4": Code(S.RETURNED, None, "退签"),
    "401": Code(S.EXCEPTION, "cancelled", "已销单"),
    "14": Code(S.EXCEPTION, "refused", "拒签"),
    "7": Code(S.FORWARDED, "handed_to_other_carrier", "转投"),
    "2": Code(S.EXCEPTION, None, "疑难"),
    "8": Code(S.CUSTOMS, None, "清关"),
    "10": Code(S.CUSTOMS, common.SUB_CUSTOMS_PENDING, "待清关"),
    "11": Code(S.CUSTOMS, common.SUB_CUSTOMS_IN_PROGRESS, "清关中"),
    "12": Code(S.CUSTOMS, common.SUB_CUSTOMS_CLEARED, "已清关"),
    "13": Code(S.CUSTOMS, common.SUB_CUSTOMS_HELD, "清关异常"),
}
# the per-item ``status`` is a name: the table's labels, plus the spellings seen elsewhere
NAMES: Mapping[str, str] = {
    **{c.label: code for code, c in STATUS_CODES.items()},
    "转单": "7", "收件人拒签": "14", "拒收": "14",
}


class Item(msgspec.Struct):
    context: str = ""
    ftime: str | None = None
    time: str | None = None
    status: str | None = None
    statusCode: str | int | None = None
    areaName: str | None = None


class Result(msgspec.Struct):
    nu: str
    com: str | None = None
    message: str | None = None
    state: str | int | None = None
    status: str | int | None = None
    data: list[Item] | None = None


class Param(msgspec.Struct):
    status: str
    lastResult: Result
    message: str | None = None
    autoCheck: str | int | None = None
    comOld: str | None = None
    comNew: str | None = None


def sign(param: str, salt: str) -> str:
    """The ``sign`` field as Kuaidi100 sends it: uppercase hex MD5 of ``param + salt``."""
    return hashlib.md5((param + salt).encode(), usedforsecurity=False).hexdigest().upper()


def verify(fields: Mapping[str, str], salt: str) -> str:
    """The signed ``param``, once ``sign`` matches it; ``Unauthorized`` otherwise."""
    common.need_secret(salt, FORMAT)
    given = fields.get("sign")
    param = fields.get("param")
    if given and param is None:  # nothing signed to check: anyone's doing
        raise common.Unverified("param", "missing: expected the form field param (JSON)")
    common.same(given.strip().upper() if given else given, sign(param or "", salt), "sign")
    return param or ""


def handle(
    body: bytes, headers: Mapping[str, str], secret: str, *, now: datetime,
    zone: tzinfo = localtime.DEFAULT_ZONE, codes: Table = STATUS_CODES,
) -> Push:
    """Verify and decode one push; ``secret`` is the salt given when subscribing."""
    param = verify(common.signed_form(body, ("param", "sign")), secret)
    return parse(param, zone=zone, codes=codes)


def parse(param: str, *, zone: tzinfo, codes: Table) -> Push:
    """Decode a verified ``param``."""
    obj = common.decode_json(param, "param")
    envelope = common.convert(obj, Param, "param")
    result = envelope.lastResult
    no = check_tracking_no(result.nu.strip(), "param.lastResult.nu")
    batch = common.Batch(FORMAT)
    status = envelope.status.strip().lower()
    if status in STOPPED:
        batch.stopped[no] = f"{status}: {envelope.message}" if envelope.message else status
    if common.text(envelope.autoCheck) == "1" and envelope.comNew:
        batch.corrections[no] = common.carrier_code(envelope.comNew, "param.comNew")
    if common.text(result.status) not in (None, "200"):
        batch.problems[no] = result.message or f"lastResult.status {result.status}"
    if result.data:
        com = result.com or envelope.comNew
        _scans(batch, no, common.carrier_code(com, "param.lastResult.com"), result, obj, zone, codes)
    return batch.done(REPLY)


def _scans(batch: common.Batch, no: str, carrier: str, result: Result, obj: Any, zone: tzinfo,
           codes: Table) -> None:
    items = result.data or []
    path = "param.lastResult.data"
    when = [localtime.local_time(i.ftime or i.time, f"{path}[{j}].ftime", zone) for j, i in enumerate(items)]
    last = common.newest(when)
    state = common.text(result.state)
    for j, item in enumerate(items):
        name = common.text(item.status)
        code = common.text(item.statusCode) or (NAMES.get(name, name) if name else None)
        code = code or (state if j == last else None)
        batch.add(no, carrier, when[j], common.lookup(codes, code), code,
                  location=common.place(city=item.areaName), description=item.context or None,
                  raw=obj["lastResult"]["data"][j])
