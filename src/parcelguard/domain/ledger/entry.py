"""Ledger entries: what is recorded, and how an entry becomes its leaf in the tree.

An entry's body is the canonical JSON of::

    {"v": 1, "index": 41, "prev": "<hex leaf hash of entry 40>", "at": "<recorded, UTC>",
     "kind": "scan.recorded", "tenant": "acme", "tracking_no": "SF1400000001", "data": {...}}

``index`` and ``prev`` make every entry self-locating: an edited, deleted or reordered entry
is found at its exact position even before the Merkle roots are compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from parcelguard.domain import times
from parcelguard.domain.ledger.canonical import jnum
from parcelguard.domain.ledger.merkle import leaf_hash
from parcelguard.domain.shipment import Shipment
from parcelguard.domain.telemetry import Reading
from parcelguard.domain.tracking import Recorded

Encoder = Callable[[object], bytes]
GENESIS = bytes(32)
VERSION = 1


class Kind(StrEnum):
    SHIPMENT_REGISTERED = "shipment.registered"
    SCAN_RECORDED = "scan.recorded"
    TELEMETRY_RECORDED = "telemetry.recorded"
    DEVICE_BOUND = "device.bound"
    ALERT_CHANGED = "alert.changed"


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Draft:
    """An entry before it has a place in the log."""

    kind: Kind
    tenant_id: str
    tracking_no: str | None
    data: Mapping[str, object]


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Sealed:
    """An entry with its place, its canonical bytes and its leaf hash."""

    index: int
    kind: str
    tenant_id: str
    tracking_no: str | None
    recorded_at_us: int
    body: bytes
    leaf: bytes


@lru_cache(maxsize=64)
def _stamp(recorded_at_us: int) -> str:
    """Entries of one batch share their time: format it once."""
    return times.iso_us(recorded_at_us)


def seal(draft: Draft, index: int, prev: bytes, recorded_at_us: int, encode: Encoder) -> Sealed:
    body = encode(
        {
            "v": VERSION,
            "index": index,
            "prev": prev.hex(),
            "at": _stamp(recorded_at_us),
            "kind": draft.kind.value,
            "tenant": draft.tenant_id,
            "tracking_no": draft.tracking_no,
            "data": draft.data,
        }
    )
    return Sealed(
        index, draft.kind.value, draft.tenant_id, draft.tracking_no, recorded_at_us, body,
        leaf_hash(body),
    )


def shipment_registered(shipment: Shipment, spec_digest: str) -> Draft:
    return Draft(
        Kind.SHIPMENT_REGISTERED,
        shipment.tenant_id,
        shipment.tracking_no,
        {
            "carrier": shipment.carrier,
            "category": shipment.category.value,
            "origin": shipment.origin.city,
            "destination": shipment.destination.city,
            "promised_by": times.iso(shipment.promised_by) if shipment.promised_by else None,
            "route_plan": list(shipment.route_plan),
            "devices": list(shipment.devices),
            "spec_sha256": spec_digest,
        },
    )


def scan_recorded(tenant_id: str, rec: Recorded, raw_digest: str | None) -> Draft:
    """A scan with what it did: its effect on the status, a handover, a condition change."""
    e = rec.event
    loc = e.location
    data: dict[str, object] = {
        "event_id": e.event_id,
        "occurred_at": times.iso(e.occurred_at),
        "carrier": e.carrier,
        "status": e.status,
        "substatus": e.substatus,
        "carrier_code": e.carrier_code,
        "source": e.source,
        "location": None if loc is None else {
            "facility_id": loc.facility_id, "name": loc.name, "city": loc.city,
            "lat": jnum(loc.lat), "lon": jnum(loc.lon),
        },
        "operator_id": e.operator_id,
        "device_id": e.device_id,
        "vehicle_id": e.vehicle_id,
        "condition": e.condition,
        "description": e.description,
        "raw_sha256": raw_digest,
        "effect": rec.effect.value,
        "status_after": rec.status_after,
    }
    if rec.handover is not None:
        before, after = rec.handover
        data["handover"] = {"from": before.as_dict() if before else None, "to": after.as_dict()}
    if rec.condition_change is not None:
        c_before, c_after = rec.condition_change
        data["condition_change"] = {
            "from": c_before.value if c_before else None, "to": c_after.value,
        }
    return Draft(Kind.SCAN_RECORDED, tenant_id, e.tracking_no, data)


def reading_body(reading: Reading) -> dict[str, object]:
    return {
        "device_id": reading.device_id,
        "ts": times.iso(reading.ts),
        "seq": reading.seq,
        "lat": jnum(reading.lat),
        "lon": jnum(reading.lon),
        "speed_kmh": jnum(reading.speed_kmh),
        "temperature_c": jnum(reading.temperature_c),
        "humidity_pct": jnum(reading.humidity_pct),
        "shock_g": jnum(reading.shock_g),
        "light_lux": jnum(reading.light_lux),
        "battery_pct": jnum(reading.battery_pct),
    }


def reading_digest(reading: Reading, encode: Encoder) -> str:
    """SHA-256 of a reading's canonical JSON: its fingerprint inside a telemetry entry."""
    return hashlib.sha256(encode(reading_body(reading))).hexdigest()


def telemetry_recorded(
    tenant_id: str, tracking_no: str | None, device_id: str, vehicle_id: str | None,
    digests: list[tuple[str, str]],
) -> Draft:
    """The readings of one device in one commit, each as (ts, digest): proves the curve."""
    return Draft(
        Kind.TELEMETRY_RECORDED,
        tenant_id,
        tracking_no,
        {
            "device_id": device_id,
            "vehicle_id": vehicle_id,
            "readings": [{"ts": ts, "sha256": d} for ts, d in digests],
        },
    )
