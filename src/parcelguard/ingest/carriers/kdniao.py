"""Kdniao (快递鸟) trace push: RequestType 101 (trace result) and 102 (value-added).

The body is a UTF-8 form with ``RequestData`` (JSON), ``RequestType`` and ``DataSign``, where
``DataSign`` = base64 of the lowercase hex MD5 of ``RequestData + AppKey`` (URL-encoded in the
form; some senders encode it twice, so a still-encoded value is decoded once more). There is
no timestamp, so nothing stops a replay: every push carries the whole trace of each parcel
(全量推送) and is handled as an idempotent snapshot. Each trace's id is derived from its
content, so a repeated push, or a later one with more traces, gives the known scans their
known ids.

``RequestData.Data[]`` has one item per parcel; ``Traces[]`` hold ``AcceptTime`` (Beijing wall
time without an offset: read in the configured zone), ``AcceptStation`` (the carrier's words),
``Location`` and, for value-added pushes, ``Action`` (a ``StateEx`` code). ``StateEx`` is
authoritative over ``State`` for paying users. A trace without an ``Action`` gets no status of
its own (``unknown``, not counted as an unknown code), except the newest, which takes the
item's ``StateEx``/``State``. The code list has changed over time (311 has had two meanings),
so the tables are versioned: ``TABLES[version]``; ``STATUS_CODES`` is the current one.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import unquote

import msgspec

from parcelguard.domain.events import Condition
from parcelguard.domain.shipment import check_tracking_no
from parcelguard.domain.status import Status as S
from parcelguard.ingest.carriers import common, localtime
from parcelguard.ingest.carriers.common import Code, Push, Table

FORMAT = "kdniao"
REPLY_TYPE = common.JSON

_K3: dict[str, Code] = {  # the yuque export of the StateEx table (CARRIERS.md b2, K3)
    "0": Code(S.INFO_RECEIVED, None, "暂无轨迹信息"),
    "1": Code(S.PICKED_UP, None, "已揽收"),
    # DESIGN.md lists 10 under picked_up, but 待揽件 means the courier has not come yet
    "10": Code(S.INFO_RECEIVED, common.SUB_AWAITING_PICKUP, "待揽件"),
    "2": Code(S.IN_TRANSIT, None, "在途中"),
    "201": Code(S.IN_TRANSIT, common.SUB_DEST_CITY, "到达派件城市"),
    "202": Code(S.OUT_FOR_DELIVERY, None, "派件中"),
    "204": Code(S.IN_TRANSIT, common.SUB_ARRIVED, "到达转运中心"),
    "205": Code(S.IN_TRANSIT, common.SUB_AT_STATION, "到达派件网点"),
    "206": Code(S.IN_TRANSIT, common.SUB_DEPARTED, "寄件网点发件"),
    "211": Code(S.AVAILABLE_FOR_PICKUP, None, "已放入快递柜或驿站"),
    "3": Code(S.DELIVERED, None, "已签收"),
    "301": Code(S.DELIVERED, None, "正常签收"),
    "302": Code(S.DELIVERED, "delivered_after_exception", "异常后最终签收"),
    "304": Code(S.DELIVERED, "signed_by_proxy", "代收签收"),
    "311": Code(S.DELIVERED, "signed_at_locker", "快递柜或驿站签收"),
    "4": Code(S.EXCEPTION, None, "问题件"),
    "401": Code(S.EXCEPTION, "no_info", "发货无信息"),
    "402": Code(S.EXCEPTION, "delivery_overdue", "超时未签收"),
    "403": Code(S.EXCEPTION, "no_update", "超时未更新"),
    "404": Code(S.RETURNING, "refused", "拒收（退件）"),
    "405": Code(S.EXCEPTION, "delivery_failed", "派件异常"),
    "406": Code(S.RETURNED, None, "退货签收"),
    "407": Code(S.RETURNING, "return_not_signed", "退货未签收"),
    "412": Code(S.EXCEPTION, "pickup_overdue", "快递柜或驿站超时未取"),
    "413": Code(S.EXCEPTION, "intercepted", "单号已拦截"),
    "414": Code(S.EXCEPTION, "damaged", "破损", Condition.DAMAGED),
    "415": Code(S.EXCEPTION, "cancelled", "客户取消发货"),
    "416": Code(S.EXCEPTION, "recipient_unreachable", "无法联系"),
    "417": Code(S.EXCEPTION, "delayed", "配送延迟"),
    "418": Code(S.EXCEPTION, "removed_from_locker", "快件取出"),
    "419": Code(S.EXCEPTION, "redelivery", "重新派送"),
    "420": Code(S.EXCEPTION, "address_incomplete", "收货地址不详细"),
    "421": Code(S.EXCEPTION, "wrong_phone", "收件人电话错误"),
    "422": Code(S.EXCEPTION, "missorted", "错分件"),
    "423": Code(S.EXCEPTION, "out_of_area", "超区件"),
    "5": Code(S.FORWARDED, None, "转寄"),
    "6": Code(S.CUSTOMS, None, "清关"),
    "601": Code(S.CUSTOMS, common.SUB_CUSTOMS_PENDING, "待清关"),
    "602": Code(S.CUSTOMS, common.SUB_CUSTOMS_IN_PROGRESS, "清关中"),
    "603": Code(S.CUSTOMS, common.SUB_CUSTOMS_CLEARED, "已清关"),
    "604": Code(S.CUSTOMS, common.SUB_CUSTOMS_HELD, "清关异常"),
}
# K1, the older push doc: 311 read "已取出快递柜或驿站" (taken out of the locker)
_K1 = {**_K3, "311": Code(S.DELIVERED, "collected_from_locker", "已取出快递柜或驿站")}
TABLES: Mapping[str, Table] = {"k1": _K1, "k3": _K3}
CURRENT = "k3"
STATUS_CODES: Table = TABLES[CURRENT]


class Trace(msgspec.Struct):
    AcceptTime: str
    AcceptStation: str = ""
    Location: str | None = None
    Action: str | int | None = None


class Item(msgspec.Struct):
    LogisticCode: str
    ShipperCode: str = ""
    Success: bool = True
    Reason: str | None = None
    State: str | int | None = None
    StateEx: str | int | None = None
    EstimatedDeliveryTime: str | None = None
    Traces: list[Trace] | None = None


class RequestData(msgspec.Struct):
    Data: list[Item]
    EBusinessID: str | int = ""


def data_sign(request_data: str, app_key: str) -> str:
    """DataSign before URL encoding: base64 of the lowercase hex MD5 (not of the raw digest)."""
    digest = hashlib.md5((request_data + app_key).encode(), usedforsecurity=False).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def verify(fields: Mapping[str, str], app_key: str) -> str:
    """The signed ``RequestData``, once ``DataSign`` matches it; ``Unauthorized`` otherwise."""
    common.need_secret(app_key, FORMAT)
    given = fields.get("DataSign")
    if given:
        # URL-encoded twice by some senders; a '+' left unencoded arrives as a space
        given = (unquote(given) if "%" in given else given).replace(" ", "+")
    data = fields.get("RequestData")
    if given and data is None:  # nothing signed to check: anyone's doing
        raise common.Unverified("RequestData",
                                "missing: expected the form field RequestData (JSON)")
    common.same(given, data_sign(data or "", app_key), "DataSign")
    return data or ""


def handle(
    body: bytes, headers: Mapping[str, str], secret: str, *, now: datetime,
    zone: tzinfo = localtime.DEFAULT_ZONE, codes: Table = STATUS_CODES,
) -> Push:
    """Verify and decode one push; ``secret`` is the AppKey, ``codes`` a table version."""
    fields = common.signed_form(body, ("RequestData", "DataSign", "RequestType"))
    data = verify(fields, secret)
    return parse(data, fields.get("RequestType", ""), now=now, zone=zone, codes=codes)


def parse(request_data: str, request_type: str, *, now: datetime, zone: tzinfo, codes: Table) -> Push:
    """Decode a verified ``RequestData``; the reply is stamped with ``now`` in ``zone``."""
    if request_type.strip() not in ("101", "102"):  # outside the signature: anyone's doing
        raise common.Unverified("RequestType", "expected 101 (trace) or 102 (value-added), got "
                                f"{request_type!r}")
    obj = common.decode_json(request_data, "RequestData")
    envelope = common.convert(obj, RequestData, "RequestData")
    batch = common.Batch(FORMAT)
    for i, item in enumerate(envelope.Data):
        _item(batch, item, obj["Data"][i], f"RequestData.Data[{i}]", zone, codes)
    stamp = f"{now.astimezone(zone):%Y-%m-%d %H:%M:%S}"
    reply = {"EBusinessID": str(envelope.EBusinessID), "UpdateTime": stamp, "Success": True, "Reason": ""}
    return batch.done(msgspec.json.encode(reply), REPLY_TYPE)


def _item(batch: common.Batch, item: Item, raw: Any, path: str, zone: tzinfo, codes: Table) -> None:
    no = check_tracking_no(item.LogisticCode.strip(), f"{path}.LogisticCode")
    if not item.Success:
        batch.problems[no] = item.Reason or "Success=false without a reason"
    edd = localtime.estimate(item.EstimatedDeliveryTime, zone)
    if edd is not None:
        batch.estimated_delivery[no] = edd
    traces = item.Traces or []
    if not traces:
        return
    carrier = common.carrier_code(item.ShipperCode, f"{path}.ShipperCode")
    state = common.text(item.StateEx) or common.text(item.State)
    when = [localtime.local_time(t.AcceptTime, f"{path}.Traces[{j}].AcceptTime", zone)
            for j, t in enumerate(traces)]
    last = common.newest(when)
    for j, trace in enumerate(traces):
        code = common.text(trace.Action) or (state if j == last else None)
        batch.add(no, carrier, when[j], common.lookup(codes, code), code,
                  location=common.place(city=trace.Location), description=trace.AcceptStation or None,
                  raw=raw["Traces"][j])
