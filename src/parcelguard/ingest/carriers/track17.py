"""17TRACK webhook (API v2.x): ``TRACKING_UPDATED`` and ``TRACKING_STOPPED``.

A JSON body ``{event, data: {number, carrier, track_info}}``. The ``sign`` header is taken to be
the SHA-256 hex of ``body + "/" + key``: UNVERIFIED, it comes from third-party code only
(CARRIERS.md S6), not from 17TRACK's own documentation. It is implemented and enforced all the
same (a push without it is refused); if real pushes fail, check this first.

``TRACKING_STOPPED`` means 17TRACK stopped tracking the number: reported in ``Push.stopped``.
For ``TRACKING_UPDATED`` the scans are ``track_info.tracking.providers[].events[]``; each has
``time_iso`` (local time with an offset), else ``time_utc``, a ``description``, a
``location`` and ``address``, and a ``sub_status`` and/or ``stage`` (a milestone key stage).
The status comes from the sub-status (an unlisted one takes its main status, the part before
the ``_``), else the stage; the newest event without either takes ``latest_status``.
Milestones are used only when no provider has events. 17TRACK pushes the whole history each
time and gives no event ids, so ids are derived from each event's content. The carrier is
17TRACK's numeric carrier key (e.g. ``100002``), kept as the code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

import msgspec

from parcelguard.domain.events import Condition
from parcelguard.domain.shipment import check_tracking_no
from parcelguard.domain.status import Status as S
from parcelguard.ingest.carriers import common, localtime
from parcelguard.ingest.carriers.common import Code, Push, Table

FORMAT = "track17"
SIGNATURE_HEADER = "sign"
UPDATED, STOPPED = "TRACKING_UPDATED", "TRACKING_STOPPED"

STATUS_CODES: Table = {  # CARRIERS.md b6: main statuses, sub-statuses, milestone key stages;
    # the codes are English words, so the table needs no labels
    "NotFound": Code(S.INFO_RECEIVED, "not_found"),
    "NotFound_Other": Code(S.INFO_RECEIVED, "not_found"),
    "NotFound_InvalidCode": Code(S.EXCEPTION, "invalid_tracking_no"),
    "InfoReceived": Code(S.INFO_RECEIVED),
    "InTransit": Code(S.IN_TRANSIT),
    "InTransit_PickedUp": Code(S.PICKED_UP),
    "InTransit_Other": Code(S.IN_TRANSIT),
    "InTransit_Departure": Code(S.IN_TRANSIT, common.SUB_LEFT_ORIGIN),
    "InTransit_Arrival": Code(S.IN_TRANSIT, common.SUB_DEST_COUNTRY),
    "InTransit_CustomsProcessing": Code(S.CUSTOMS, common.SUB_CUSTOMS_IN_PROGRESS),
    "InTransit_CustomsReleased": Code(S.CUSTOMS, common.SUB_CUSTOMS_CLEARED),
    "InTransit_CustomsRequiringInformation": Code(S.CUSTOMS, common.SUB_CUSTOMS_HELD),
    "Expired": Code(S.EXCEPTION, "expired"),
    "Expired_Other": Code(S.EXCEPTION, "expired"),
    "AvailableForPickup": Code(S.AVAILABLE_FOR_PICKUP),
    "AvailableForPickup_Other": Code(S.AVAILABLE_FOR_PICKUP),
    "OutForDelivery": Code(S.OUT_FOR_DELIVERY),
    "OutForDelivery_Other": Code(S.OUT_FOR_DELIVERY),
    "DeliveryFailure": Code(S.FAILED_ATTEMPT),
    "DeliveryFailure_Other": Code(S.FAILED_ATTEMPT),
    "DeliveryFailure_NoBody": Code(S.FAILED_ATTEMPT, "recipient_unavailable"),
    "DeliveryFailure_Security": Code(S.FAILED_ATTEMPT, "security_or_fees"),
    "DeliveryFailure_Rejected": Code(S.FAILED_ATTEMPT, "refused"),
    "DeliveryFailure_InvalidAddress": Code(S.FAILED_ATTEMPT, "address_incorrect"),
    "Delivered": Code(S.DELIVERED),
    "Delivered_Other": Code(S.DELIVERED),
    "Exception": Code(S.EXCEPTION),
    "Exception_Other": Code(S.EXCEPTION),
    "Exception_Returning": Code(S.RETURNING),
    "Exception_Returned": Code(S.RETURNED),
    "Exception_NoBody": Code(S.EXCEPTION, "recipient_unknown"),
    "Exception_Security": Code(S.EXCEPTION, "security_or_fees"),
    "Exception_Damage": Code(S.EXCEPTION, "damaged", condition=Condition.DAMAGED),
    "Exception_Rejected": Code(S.EXCEPTION, "refused"),
    "Exception_Delayed": Code(S.EXCEPTION, "delayed"),
    "Exception_Lost": Code(S.EXCEPTION, "lost"),
    "Exception_Destroyed": Code(S.EXCEPTION, "destroyed"),
    "Exception_Cancel": Code(S.EXCEPTION, "cancelled"),
    # milestone key stages not already listed as main statuses
    "PickedUp": Code(S.PICKED_UP),
    "Departure": Code(S.IN_TRANSIT, common.SUB_LEFT_ORIGIN),
    "Arrival": Code(S.IN_TRANSIT, common.SUB_DEST_COUNTRY),
    "Returning": Code(S.RETURNING),
    "Returned": Code(S.RETURNED),
}


class Address(msgspec.Struct):
    city: str | None = None
    coordinates: object = None


class Event(msgspec.Struct):
    time_iso: str | None = None
    time_utc: str | None = None
    description: str | None = None
    location: str | None = None
    stage: str | None = None
    sub_status: str | None = None
    address: Address | None = None


class Provider(msgspec.Struct):
    events: list[Event] | None = None


class Tracking(msgspec.Struct):
    providers: list[Provider] | None = None


class Milestone(msgspec.Struct):
    key_stage: str | None = None
    time_iso: str | None = None
    time_utc: str | None = None


class Latest(msgspec.Struct):
    status: str | None = None
    sub_status: str | None = None


class Eta(msgspec.Struct):
    to: str | None = None
    from_: str | None = msgspec.field(name="from", default=None)


class Metrics(msgspec.Struct):
    estimated_delivery_date: Eta | None = None


class TrackInfo(msgspec.Struct):
    latest_status: Latest | None = None
    time_metrics: Metrics | None = None
    milestone: list[Milestone] | None = None
    tracking: Tracking | None = None


class Data(msgspec.Struct):
    number: str
    carrier: int | str | None = None
    track_info: TrackInfo | None = None


class Envelope(msgspec.Struct):
    event: str
    data: Data


def signature(body: bytes, key: str) -> str:
    return hashlib.sha256(body + b"/" + key.encode()).hexdigest()


def verify(body: bytes, headers: Mapping[str, str], key: str) -> None:
    common.need_secret(key, FORMAT)
    given = common.header(headers, SIGNATURE_HEADER)
    common.same(given.strip().lower() if given else given, signature(body, key), "sign header")


def handle(
    body: bytes, headers: Mapping[str, str], secret: str, *, now: datetime,
    zone: tzinfo = localtime.DEFAULT_ZONE, codes: Table = STATUS_CODES,
) -> Push:
    """Verify and decode one webhook delivery; ``secret`` is the 17TRACK API key."""
    verify(body, headers, secret)
    return parse(body, zone=zone, codes=codes)


def parse(body: bytes, *, zone: tzinfo, codes: Table) -> Push:
    """Decode a verified body."""
    obj = common.decode_json(body, "body")
    envelope = common.convert(obj, Envelope, "")
    data = envelope.data
    no = check_tracking_no(data.number.strip(), "data.number")
    batch = common.Batch(FORMAT)
    if envelope.event == STOPPED:
        batch.stopped[no] = STOPPED
    info = data.track_info
    if envelope.event != UPDATED or info is None:
        return batch.done(common.OK_REPLY)
    eta = info.time_metrics.estimated_delivery_date if info.time_metrics else None
    edd = localtime.estimate(eta.to or eta.from_, zone) if eta else None
    if edd is not None:
        batch.estimated_delivery[no] = edd
    carrier = common.carrier_code(str(data.carrier or "unknown"), "data.carrier")
    if not _events(batch, no, carrier, info, obj, zone, codes):
        _milestones(batch, no, carrier, info, obj, zone, codes)
    return batch.done(common.OK_REPLY)


def _time(iso: str | None, utc: str | None, path: str, zone: tzinfo) -> datetime:
    return localtime.local_time(iso if iso else utc, f"{path}.{'time_iso' if iso else 'time_utc'}", zone)


def _events(batch: common.Batch, no: str, carrier: str, info: TrackInfo, obj: Any,
            zone: tzinfo, codes: Table) -> bool:
    providers = info.tracking.providers if info.tracking and info.tracking.providers else []
    found = [(p, e) for p, provider in enumerate(providers) for e in range(len(provider.events or []))]
    if not found:
        return False
    root = "data.track_info.tracking.providers"
    events = [(providers[p].events or [])[e] for p, e in found]
    when = [_time(ev.time_iso, ev.time_utc, f"{root}[{p}].events[{e}]", zone)
            for (p, e), ev in zip(found, events, strict=True)]
    last = common.newest(when)
    latest = info.latest_status or Latest()
    raw = obj["data"]["track_info"]["tracking"]["providers"]
    for j, ((p, e), ev) in enumerate(zip(found, events, strict=True)):
        code = ev.sub_status or ev.stage
        if code is None and j == last:
            code = latest.sub_status or latest.status
        address = ev.address or Address()
        lat, lon = _coordinates(address.coordinates)
        batch.add(no, carrier, when[j], common.lookup(codes, code, code.split("_")[0] if code else None),
                  code, location=common.place(ev.location, address.city, lat, lon),
                  description=ev.description, raw=raw[p]["events"][e])
    return True


def _milestones(batch: common.Batch, no: str, carrier: str, info: TrackInfo, obj: Any,
                zone: tzinfo, codes: Table) -> None:
    raw = obj["data"]["track_info"].get("milestone") or []
    for j, stone in enumerate(info.milestone or []):
        if not (stone.time_iso or stone.time_utc):
            continue  # a stage not reached yet
        at = _time(stone.time_iso, stone.time_utc, f"data.track_info.milestone[{j}]", zone)
        batch.add(no, carrier, at, common.lookup(codes, stone.key_stage), stone.key_stage,
                  location=None, description=stone.key_stage, raw=raw[j])


def _coordinates(value: object) -> tuple[object, object]:
    if isinstance(value, dict):
        return value.get("latitude"), value.get("longitude")
    return None, None
