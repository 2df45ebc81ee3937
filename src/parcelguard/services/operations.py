"""The carrier's operations console: where parcels pile up, and where rough handling happens.

**Hub board**: every facility holding parcels now or scanning them in the last hour, with the
parcels on hand, their dwell so far (median and 95th percentile), the dwell alerts open there,
parcels scanned in the last hour, its position, and a congestion level against the profile's
dwell limit.

**Lane performance**: origin city to destination city per carrier and category, parcels
delivered in the window, transit hours (median and 90th percentile from pickup), the share
delivered by the promise, and how both moved against the window before.

**Handling accountability**: shock and damage incidents placed by the liability analysis (the
holder at the moment of harm: the facility and the operator of its last scan before it, the
scanning device, the shift in China time), counted per facility, per facility and shift, per
operator and per device, and divided by the parcels each of those handled in the same window:
a rate per 10,000 parcels handled, so a busy hub is not blamed for being busy.

Every figure is over a ``Scope``: one tenant's parcels, or a carrier network's (every parcel
handed to that carrier, whichever merchant sent it).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind
from parcelguard.domain.liability import Incident, Segment
from parcelguard.domain.shipment import Category
from parcelguard.domain.tenancy import Scope
from parcelguard.rules.profiles import Profile
from parcelguard.services import liability
from parcelguard.services.ports import Delivered, UnitOfWork

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
HANDLING = ("shock", "damage")  # incidents of handling (not excursions, losses, mis-sorts)
ALERT_KINDS = (Kind.SHOCK.value, Kind.DAMAGED.value, Kind.TAMPER.value)
GROUPS = ("facility", "shift", "operator", "device")
PER = 10_000


@dataclass(frozen=True, slots=True)
class Hub:
    facility_id: str
    on_hand: int
    dwell_p50_min: float | None
    dwell_p95_min: float | None
    dwell_alerts: int
    scanned_last_hour: int
    lat: float | None
    lon: float | None
    congestion: str  # ok | busy | congested


@dataclass(frozen=True, slots=True)
class Placed:
    """One handling incident, where and by whom."""

    tracking_no: str
    kind: str
    at_us: int
    facility_id: str | None
    operator_id: str | None
    device_id: str | None
    holder: str  # facility:HUB-1, vehicle:V-9, courier:C-3
    shift: str


@dataclass(frozen=True, slots=True)
class Rate:
    key: str
    incidents: int
    handled: int
    per_10k: float | None  # None when nothing was handled there in the window


@dataclass(frozen=True, slots=True)
class Accountability:
    since_us: int
    until_us: int
    incidents: list[Placed]
    rates: dict[str, list[Rate]]  # group -> rows, worst rate first


@dataclass(frozen=True, slots=True)
class Lane:
    """Origin city to destination city (one carrier, one category): how long it takes."""

    origin: str
    destination: str
    carrier: str
    category: str
    delivered: int
    p50_h: float
    p90_h: float
    on_time: float | None  # share delivered by the promise, of those with one
    p50_change_h: float | None  # against the window before, of the same length
    on_time_change: float | None


def lanes(uow: UnitOfWork, scope: Scope, since_us: int, until_us: int) -> list[Lane]:
    """Lane performance in the window, busiest first, with its trend against the window
    before (a lane with nothing delivered then has no trend)."""
    span = until_us - since_us
    now: dict[str, list[Delivered]] = {}
    before: dict[str, list[Delivered]] = {}
    for d in uow.operations.delivered(scope, since_us - span, until_us):
        (now if d.delivered_us >= since_us else before).setdefault(d.lane, []).append(d)
    out = []
    for lane, done in now.items():
        origin, destination, carrier, category = [*lane.split("|"), "", "", "", ""][:4]
        hours = sorted((d.delivered_us - d.picked_up_us) / HOUR_US for d in done)
        p50, on_time = statistics.median(hours), _on_time(done)
        prior = before.get(lane)
        p50_then = statistics.median(sorted(
            (d.delivered_us - d.picked_up_us) / HOUR_US for d in prior)) if prior else None
        on_time_then = _on_time(prior) if prior else None
        out.append(Lane(origin, destination, carrier, category, len(done), round(p50, 1),
                        round(quantile(hours, 0.9), 1), on_time,
                        None if p50_then is None else round(p50 - p50_then, 1),
                        None if on_time is None or on_time_then is None
                        else round(on_time - on_time_then, 3)))
    return sorted(out, key=lambda x: (-x.delivered, x.origin, x.destination, x.carrier))


def _on_time(done: list[Delivered]) -> float | None:
    judged = [d for d in done if d.promised_us is not None]
    if not judged:
        return None
    return round(sum(d.delivered_us <= (d.promised_us or 0) for d in judged) / len(judged), 3)


def hub_board(uow: UnitOfWork, scope: Scope, now_us: int,
              dwell_max_min: float) -> list[Hub]:
    # keyed by tracking number: in a network, a waybill two merchants registered is one parcel
    held = {(h.facility_id, h.tracking_no): h.since_us for h in uow.operations.on_hand(scope)}
    waits: dict[str, list[float]] = {}
    for (facility, _), since_us in held.items():
        waits.setdefault(facility, []).append(max(0, now_us - since_us) / MINUTE_US)
    recent = uow.operations.scanned(scope, now_us - HOUR_US, now_us + 1, "facility")
    dwell = Counter(facility for facility, _ in set(uow.operations.open_dwell(scope)))
    facilities = sorted(set(waits) | set(recent) | set(dwell))
    places = uow.operations.positions(scope, facilities)
    hubs = []
    for facility in facilities:
        minutes = sorted(waits.get(facility, []))
        p50 = statistics.median(minutes) if minutes else None
        p95 = quantile(minutes, 0.95) if minutes else None
        lat, lon = places.get(facility, (None, None))
        hubs.append(Hub(facility, len(minutes), _round(p50), _round(p95),
                        dwell.get(facility, 0), recent.get(facility, 0), lat, lon,
                        _congestion(p95, dwell.get(facility, 0), dwell_max_min)))
    order = {"congested": 0, "busy": 1, "ok": 2}
    return sorted(hubs, key=lambda h: (order[h.congestion], -(h.dwell_p95_min or 0),
                                       h.facility_id))


def accountability(uow: UnitOfWork, scope: Scope, since_us: int, until_us: int,
                   profiles: Mapping[Category, Profile]) -> Accountability:
    placed: list[Placed] = []
    alerted: dict[str, str] = {}  # tracking number -> its (first) tenant: one parcel each
    for tenant_id, tracking_no in uow.operations.with_alerts(scope, ALERT_KINDS, since_us,
                                                             until_us):
        alerted.setdefault(tracking_no, tenant_id)
    for tracking_no, tenant_id in alerted.items():
        _, _, analysis = liability.read(uow, tenant_id, tracking_no, profiles)
        for inc in analysis.incidents:
            if scope.network and (inc.party is None or inc.party.carrier != scope.network):
                continue  # a network answers for its own custody only
            if inc.kind in HANDLING and since_us <= inc.at_us < until_us:
                seg = None if inc.segment is None else analysis.segments[inc.segment]
                placed.append(_placed(tracking_no, inc, seg))
    counts: dict[str, Counter[str]] = {g: Counter() for g in GROUPS}
    for p in placed:
        for group, key in (("facility", p.facility_id), ("operator", p.operator_id),
                           ("device", p.device_id),
                           ("shift", p.facility_id and f"{p.facility_id}|{p.shift}")):
            if key:
                counts[group][key] += 1
    rates = {}
    for group in GROUPS:
        handled = uow.operations.scanned(scope, since_us, until_us, group)
        rows = [Rate(key, counts[group][key], handled.get(key, 0),
                     round(counts[group][key] * PER / handled[key], 1) if handled.get(key)
                     else None)
                for key in sorted(set(handled) | set(counts[group]))]
        rates[group] = sorted(rows, key=lambda r: (-(r.per_10k or 0), -r.incidents, r.key))
    placed.sort(key=lambda p: (p.at_us, p.tracking_no))
    return Accountability(since_us, until_us, placed, rates)


def _placed(tracking_no: str, inc: Incident, seg: Segment | None) -> Placed:
    party = inc.party
    facility = None if party is None else (party.facility_id or (
        party.id if party.kind == "facility" else None))
    device = None
    if seg is not None:  # the scanner used last in that custody before the harm
        for scan in seg.scans:
            if scan.at_us <= inc.at_us and scan.event.device_id:
                device = scan.event.device_id
    return Placed(tracking_no, inc.kind, inc.at_us, facility,
                  None if party is None else party.operator_id, device,
                  "-" if party is None else f"{party.kind}:{party.id}", times.shift_of(inc.at_us))


def _congestion(p95: float | None, alerts: int, limit: float) -> str:
    if alerts or (p95 is not None and p95 >= limit):
        return "congested"
    if p95 is not None and p95 >= limit / 2:
        return "busy"
    return "ok"


def quantile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted values (nearest rank)."""
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
