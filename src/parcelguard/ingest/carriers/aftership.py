"""AfterShip Tracking webhook (``tracking_update``, ``edd_revise``, ``tracking_pending_time``).

A JSON body; the header ``aftership-hmac-sha256`` is the base64 HMAC-SHA256 of the raw body
keyed with the webhook secret. The envelope's ``event_id`` (UUID v4) identifies the delivery
(``Push.delivery_id``); each checkpoint's ``hash`` (2026-07 and later) identifies the scan and
becomes its event id, so a re-delivery maps onto the same events. Without a hash the id is
derived from the checkpoint's content.

``msg`` is the whole tracking: ``tracking_number``, ``slug`` (the carrier), ``tag``/``subtag``,
``expected_delivery`` and ``checkpoints[]``. Each checkpoint's status comes from its
``subtag``, or its ``tag``; a subtag missing from the table (AfterShip adds them often) keeps
its raw code and takes its tag's status. ``checkpoint_time`` is the carrier's local time and
often has no offset: it is then read in the zone of the checkpoint's country when that
country has a single zone, else in the configured zone. A tracking whose tag is ``Expired``
is no longer tracked by AfterShip: reported in ``Push.stopped``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from parcelguard.domain.events import Condition
from parcelguard.domain.shipment import check_tracking_no
from parcelguard.domain.status import Status as S
from parcelguard.ingest.carriers import common, localtime
from parcelguard.ingest.carriers.common import Code, Push, Table

FORMAT = "aftership"
SIGNATURE_HEADER = "aftership-hmac-sha256"

STATUS_CODES: Table = {  # CARRIERS.md b4 (tags) and b5 (subtags)
    "Pending": Code(S.INFO_RECEIVED, "pending", "Pending"),
    "Pending_001": Code(S.INFO_RECEIVED, "pending", "Pending"),
    "InfoReceived": Code(S.INFO_RECEIVED, None, "Info Received"),
    "InfoReceived_001": Code(S.INFO_RECEIVED, None, "Info Received"),
    "InTransit": Code(S.IN_TRANSIT, None, "In Transit"),
    "InTransit_001": Code(S.IN_TRANSIT, None, "In Transit"),
    "InTransit_002": Code(S.PICKED_UP, None, "Acceptance scan"),
    "InTransit_003": Code(S.IN_TRANSIT, common.SUB_ARRIVED, "Arrival scan"),
    "InTransit_004": Code(S.IN_TRANSIT, common.SUB_DEST_COUNTRY, "Arrived at the destination country"),
    "InTransit_005": Code(S.CUSTOMS, common.SUB_CUSTOMS_CLEARED, "Customs clearance completed"),
    "InTransit_006": Code(S.CUSTOMS, common.SUB_CUSTOMS_IN_PROGRESS, "Customs clearance started"),
    "InTransit_007": Code(S.IN_TRANSIT, common.SUB_DEPARTED, "Departure Scan"),
    "InTransit_008": Code(S.IN_TRANSIT, "problem_resolved", "Problem resolved"),
    "InTransit_009": Code(S.FORWARDED, None, "Forwarded to a different delivery address"),
    "OutForDelivery": Code(S.OUT_FOR_DELIVERY, None, "Out for Delivery"),
    "OutForDelivery_001": Code(S.OUT_FOR_DELIVERY, None, "Out for Delivery"),
    "OutForDelivery_003": Code(S.OUT_FOR_DELIVERY, "customer_contacted", "Customer contacted"),
    "OutForDelivery_004": Code(S.OUT_FOR_DELIVERY, "appointment_scheduled", "Delivery appointment scheduled"),
    "AttemptFail": Code(S.FAILED_ATTEMPT, None, "Failed Attempt"),
    "AttemptFail_001": Code(S.FAILED_ATTEMPT, None, "Failed Attempt"),
    "AttemptFail_002": Code(S.FAILED_ATTEMPT, "recipient_unavailable", "Addressee not available"),
    "AttemptFail_003": Code(S.FAILED_ATTEMPT, "business_closed", "Business Closed"),
    "AvailableForPickup": Code(S.AVAILABLE_FOR_PICKUP, None, "Available for Pickup"),
    "AvailableForPickup_001": Code(S.AVAILABLE_FOR_PICKUP, None, "Available for pickup"),
    "Delivered": Code(S.DELIVERED, None, "Delivered"),
    "Delivered_001": Code(S.DELIVERED, None, "Delivered"),
    "Delivered_002": Code(S.DELIVERED, "picked_up_by_customer", "Picked up by the customer"),
    "Delivered_003": Code(S.DELIVERED, "signed", "Sign by customer"),
    "Delivered_004": Code(S.DELIVERED, "cash_collected", "Delivered and received cash on delivery"),
    "Delivered_005": Code(S.DELIVERED, "delivered_to_neighbor", "Delivered to neighbor"),
    "Exception": Code(S.EXCEPTION, None, "Exception"),
    "Exception_001": Code(S.EXCEPTION, None, "Exception"),
    "Exception_002": Code(S.EXCEPTION, "customer_moved", "Customer moved"),
    "Exception_003": Code(S.EXCEPTION, "refused", "Customer refused delivery"),
    "Exception_004": Code(S.CUSTOMS, common.SUB_CUSTOMS_HELD, "Delayed (Customs clearance)"),
    "Exception_005": Code(S.EXCEPTION, "delayed", "Delayed (External factors)"),
    "Exception_006": Code(S.EXCEPTION, "held_for_payment", "Held for payment"),
    "Exception_007": Code(S.EXCEPTION, "address_incorrect", "Incorrect Address"),
    "Exception_008": Code(S.EXCEPTION, "pickup_missed", "Pick up missed"),
    "Exception_009": Code(S.EXCEPTION, "rejected_by_carrier", "Rejected by carrier"),
    "Exception_010": Code(S.RETURNING, None, "Returning to sender"),
    "Exception_011": Code(S.RETURNED, None, "Returned to sender"),
    "Exception_012": Code(S.EXCEPTION, "damaged", "Shipment damaged", Condition.DAMAGED),
    "Exception_013": Code(S.EXCEPTION, "lost", "Shipment lost"),
    "Exception_016": Code(S.EXCEPTION, "delayed_processing", "Delayed (Processing issue)"),
    "Exception_017": Code(S.EXCEPTION, "delayed_weather", "Delayed (Extreme weather)"),
    "Exception_018": Code(S.EXCEPTION, "documents_missing", "Incorrect / missing documents"),
    "Expired": Code(S.EXCEPTION, "expired", "Expired"),
    "Expired_001": Code(S.EXCEPTION, "expired", "Expired"),
}

# a country's zone, for checkpoint times sent without an offset (ISO 3166 alpha-3)
COUNTRY_ZONES: Mapping[str, str] = {
    "CHN": "Asia/Shanghai", "HKG": "Asia/Hong_Kong", "MAC": "Asia/Macau", "TWN": "Asia/Taipei",
    "JPN": "Asia/Tokyo", "KOR": "Asia/Seoul", "SGP": "Asia/Singapore", "THA": "Asia/Bangkok",
    "VNM": "Asia/Ho_Chi_Minh", "PHL": "Asia/Manila", "IND": "Asia/Kolkata", "ARE": "Asia/Dubai",
    "ISR": "Asia/Jerusalem", "TUR": "Europe/Istanbul", "GBR": "Europe/London", "IRL": "Europe/Dublin",
    "FRA": "Europe/Paris", "DEU": "Europe/Berlin", "NLD": "Europe/Amsterdam", "BEL": "Europe/Brussels",
    "ITA": "Europe/Rome", "CHE": "Europe/Zurich", "AUT": "Europe/Vienna", "POL": "Europe/Warsaw",
    "SWE": "Europe/Stockholm", "NOR": "Europe/Oslo", "DNK": "Europe/Copenhagen", "FIN": "Europe/Helsinki",
    "NZL": "Pacific/Auckland", "ESP": "Europe/Madrid", "PRT": "Europe/Lisbon",
    "MYS": "Asia/Kuala_Lumpur", "SAU": "Asia/Riyadh", "ZAF": "Africa/Johannesburg",
    # countries of several zones: the easternmost of the main ones, so that a checkpoint is
    # never read as later than it was (a time in the future is quarantined); one further west
    # is read up to the country's span too early, which the timeline's order survives
    "USA": "America/New_York", "CAN": "America/Halifax", "AUS": "Australia/Sydney",
    "BRA": "America/Sao_Paulo", "MEX": "America/Mexico_City", "IDN": "Asia/Jayapura",
}


class Checkpoint(msgspec.Struct):
    checkpoint_time: str
    message: str | None = None
    location: str | None = None
    city: str | None = None
    country_region: str | None = None
    country_iso3: str | None = None  # before 2025: the country's field name
    coordinate: object = None
    tag: str | None = None
    subtag: str | None = None
    hash: str | None = None


class Msg(msgspec.Struct):
    tracking_number: str
    slug: str
    tag: str | None = None
    subtag: str | None = None
    subtag_message: str | None = None
    expected_delivery: str | None = None
    checkpoints: list[Checkpoint] | None = None


class Envelope(msgspec.Struct):
    event: str
    msg: Msg
    event_id: str | None = None


def signature(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(body: bytes, headers: Mapping[str, str], secret: str) -> None:
    common.need_secret(secret, FORMAT)
    given = common.header(headers, SIGNATURE_HEADER)
    common.same(given.strip() if given else given, signature(body, secret), SIGNATURE_HEADER)


def handle(
    body: bytes, headers: Mapping[str, str], secret: str, *, now: datetime,
    zone: tzinfo = localtime.DEFAULT_ZONE, codes: Table = STATUS_CODES,
) -> Push:
    """Verify and decode one webhook delivery; ``secret`` is the webhook secret."""
    verify(body, headers, secret)
    return parse(body, zone=zone, codes=codes)


def parse(body: bytes, *, zone: tzinfo, codes: Table) -> Push:
    """Decode a verified body."""
    obj = common.decode_json(body, "body")
    envelope = common.convert(obj, Envelope, "")
    msg = envelope.msg
    no = check_tracking_no(msg.tracking_number.strip(), "msg.tracking_number")
    batch = common.Batch(FORMAT)
    if msg.tag == "Expired":
        batch.stopped[no] = f"Expired ({msg.subtag or 'no tracking information for 30 days'})"
    edd = localtime.estimate(msg.expected_delivery, zone)
    if edd is not None:
        batch.estimated_delivery[no] = edd
    if msg.checkpoints:
        carrier = common.carrier_code(msg.slug, "msg.slug")
        _checkpoints(batch, no, carrier, msg, obj["msg"]["checkpoints"], zone, codes)
    return batch.done(common.OK_REPLY, delivery_id=envelope.event_id)


def _checkpoints(batch: common.Batch, no: str, carrier: str, msg: Msg, raw: Any, zone: tzinfo,
                 codes: Table) -> None:
    points = msg.checkpoints or []
    when = [localtime.local_time(c.checkpoint_time, f"msg.checkpoints[{j}].checkpoint_time", _zone(c, zone))
            for j, c in enumerate(points)]
    last = common.newest(when)
    for j, point in enumerate(points):
        code, parent = point.subtag or point.tag, point.tag
        if code is None and j == last:
            code, parent = msg.subtag or msg.tag, msg.tag
        lat, lon = _coordinate(point.coordinate)
        batch.add(no, carrier, when[j], common.lookup(codes, code, parent), code,
                  location=common.place(point.location, point.city, lat, lon),
                  description=point.message, raw=raw[j], event_id=point.hash)


def _zone(point: Checkpoint, default: tzinfo) -> tzinfo:
    name = COUNTRY_ZONES.get((point.country_region or point.country_iso3 or "").upper())
    return default if name is None else ZoneInfo(name)


def _coordinate(value: object) -> tuple[object, object]:
    if isinstance(value, dict):
        return value.get("latitude"), value.get("longitude")
    return None, None
