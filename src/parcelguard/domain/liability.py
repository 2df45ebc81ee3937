"""Who held the parcel when it was harmed: custody segments, incidents placed in them, verdicts.

Pure functions of what the ledger holds (scans in event-time order, sensor readings, the
shipment's thresholds); every fact keeps the ledger index of the entry it comes from, so a
report can prove it.

A **segment** is one holder's custody: from the scan that handed the parcel over until the next
scan that names another holder (DESIGN.md's holder rules, domain/custody.py). An **incident** is
harm placed at a moment, and so in a segment: a shock above the limit, a temperature excursion,
damage first noted at a scan, the last sighting before a loss, a mis-sort, a delivery to an
unverified person. Its **verdict** names the party that held the parcel then (a facility and
the operator who handled it, a vehicle of a carrier, a courier), with the reasoning and a
confidence:

- sensor evidence placed in a segment (shock, excursion start): 0.9; the holder at that moment
  is responsible, with the operator of the last scan in that segment before it;
- damage noted at a scan with no sensor evidence: between the last scan that found it intact
  and the first that found it damaged; one holder in that window: 0.8; several: the first one
  after the last intact scan, 0.5;
- a mis-sort: the facility that sent the parcel off its route plan (the operator of its last
  sorting scan there, the vehicle that carried it off), 0.85;
- a loss: whoever held it at the last sighting, 0.7 (it may yet turn up);
- a delivery without verified identity: the courier who delivered it and their station, 0.9.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from parcelguard.domain.custody import Holder, HolderKind, holder_after
from parcelguard.domain.events import Condition, TrackingEvent
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import Reading

MINUTE_US = 60_000_000
BAD = frozenset({Condition.DAMAGED, Condition.WET, Condition.OPENED, Condition.MISSING_ITEMS})
SORTING = "sorting"
BOX = "device:"
ORDER = ("shock", "temperature_excursion", "damage", "misroute", "wrong_recipient", "loss")


@dataclass(frozen=True, slots=True)
class Scan:
    at_us: int
    event: TrackingEvent
    ledger_index: int


@dataclass(frozen=True, slots=True)
class Sample:
    source: str  # "device:<id>" (in the box) or "vehicle:<id>"
    at_us: int
    reading: Reading
    ledger_index: int


@dataclass
class Segment:
    index: int
    holder: Holder
    start_us: int
    end_us: int | None  # None: still holding it
    facility_id: str | None  # where the custody began
    place: str | None
    operators: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    scans: list[Scan] = field(default_factory=list)

    def holds(self, at_us: int) -> bool:
        return self.start_us <= at_us and (self.end_us is None or at_us < self.end_us)

    def operator_before(self, at_us: int) -> str | None:
        """Who scanned the parcel last in this custody, at or before ``at_us``."""
        found = None
        for s in self.scans:
            if s.at_us <= at_us and s.event.operator_id:
                found = s.event.operator_id
        return found


@dataclass(frozen=True, slots=True)
class Party:
    kind: str  # facility | vehicle | courier | linehaul | customs | locker | recipient
    id: str
    carrier: str | None
    operator_id: str | None = None
    facility_id: str | None = None  # a courier's station, a vehicle's last facility
    vehicle_id: str | None = None


@dataclass
class Incident:
    kind: str  # shock | temperature_excursion | damage | misroute | loss | wrong_recipient
    at_us: int
    end_us: int | None
    segment: int | None  # index into the segments
    party: Party | None
    confidence: float
    reasoning: str
    facts: dict[str, object]
    ledger: list[int]  # the entries the facts come from


@dataclass
class Analysis:
    segments: list[Segment]
    incidents: list[Incident]


def segments(scans: Sequence[Scan]) -> list[Segment]:
    out: list[Segment] = []
    for s in scans:
        holder = holder_after(s.event)
        current = out[-1] if out else None
        if holder is not None and (current is None or holder != current.holder):
            if current is not None:
                current.end_us = s.at_us
            loc = s.event.location
            current = Segment(len(out), holder, s.at_us, None, s.event.facility_id,
                              (loc.name or loc.city) if loc else None)
            out.append(current)
        if current is None:
            continue
        current.scans.append(s)
        for value, bucket in ((s.event.operator_id, current.operators),
                              (s.event.device_id, current.devices)):
            if value and value not in bucket:
                bucket.append(value)
    return out


def analyse(scans: Sequence[Scan], samples: Sequence[Sample], *, shock_max_g: float | None,
            temp_max_c: float | None, temp_min_c: float | None,
            route_plan: Sequence[str] = (), lost: bool = False) -> Analysis:
    """``lost``: the parcel is suspected lost (a ``lost_suspected`` alert was raised)."""
    segs = segments(scans)
    incidents: list[Incident] = []
    shocks = _shocks(segs, samples, shock_max_g)
    incidents += shocks
    incidents += _excursions(segs, samples, temp_min_c, temp_max_c)
    incidents += _damage(segs, scans, shocks)
    incidents += _misroute(segs, scans, route_plan)
    incidents += _wrong_recipient(segs, scans)
    if lost:
        incidents += _loss(segs, scans)
    incidents.sort(key=lambda i: (i.at_us, ORDER.index(i.kind)))  # a cause before its effect
    return Analysis(segs, incidents)


def _at(segs: Sequence[Segment], at_us: int) -> Segment | None:
    for seg in reversed(segs):
        if seg.holds(at_us):
            return seg
    return None


def party_of(seg: Segment, at_us: int | None = None) -> Party:
    h = seg.holder
    operator = seg.operator_before(at_us) if at_us is not None else (
        seg.operators[-1] if seg.operators else None)
    vehicle = h.id if h.kind is HolderKind.VEHICLE else None
    return Party(h.kind.value, h.id, h.carrier, operator, seg.facility_id, vehicle)


def _describe(p: Party) -> str:
    who = {"facility": "facility", "vehicle": "vehicle", "courier": "courier",
           "linehaul": "linehaul leaving", "customs": "customs at", "locker": "locker"}
    text = f"{who.get(p.kind, p.kind)} {p.id}"
    if p.carrier:
        text += f" ({p.carrier})"
    if p.operator_id and p.kind != "courier":
        text += f", handled by {p.operator_id}"
    return text


def _shocks(segs: Sequence[Segment], samples: Sequence[Sample],
            limit: float | None) -> list[Incident]:
    if limit is None:
        return []
    out = []
    for s in samples:
        g = s.reading.shock_g
        if not s.source.startswith(BOX) or g is None or g <= limit:
            continue
        seg = _at(segs, s.at_us)
        party = party_of(seg, s.at_us) if seg else None
        why = (f"the sensor in the box recorded {g:g} g (limit {limit:g} g) while the parcel was "
               f"with {_describe(party)}" if party else
               f"the sensor in the box recorded {g:g} g (limit {limit:g} g) before any scan")
        out.append(Incident("shock", s.at_us, None, seg.index if seg else None, party,
                            0.9 if party else 0.3, why,
                            {"peak_g": g, "limit_g": limit, "source": s.source},
                            [s.ledger_index]))
    return out


def _excursions(segs: Sequence[Segment], samples: Sequence[Sample], lo: float | None,
                hi: float | None) -> list[Incident]:
    """Runs of the box sensor's readings out of the band (the box is what the goods feel)."""
    if lo is None and hi is None:
        return []
    out: list[Incident] = []
    run: list[Sample] = []

    def close(end: Sample | None) -> None:
        if not run:
            return
        first = run[0]
        values = [r.reading.temperature_c for r in run if r.reading.temperature_c is not None]
        peak = max(values) if hi is not None and max(values) > (hi or 0) else min(values)
        end_us = end.at_us if end else run[-1].at_us
        seg = _at(segs, first.at_us)
        party = party_of(seg, first.at_us) if seg else None
        minutes = round((end_us - first.at_us) / MINUTE_US)
        where = f"with {_describe(party)}" if party else "before any scan"
        spans = [s.index for s in segs if s.start_us < max(end_us, first.at_us + 1)
                 and (s.end_us is None or s.end_us > first.at_us)]
        why = (f"the temperature left the {lo}–{hi} °C band while the parcel was {where} "
               f"and stayed out {minutes} min (peak {peak:g} °C)")
        if len(spans) > 1:
            why += f"; the excursion went on through {len(spans) - 1} more custody segment(s)"
        out.append(Incident("temperature_excursion", first.at_us, end_us,
                            seg.index if seg else None, party, 0.9 if party else 0.3, why,
                            {"peak_c": peak, "minutes": minutes, "band_c": [lo, hi],
                             "source": first.source, "segments": spans},
                            sorted({r.ledger_index for r in run})))
        run.clear()

    box = [s for s in samples if s.source.startswith(BOX) and s.reading.temperature_c is not None]
    for s in box:
        t = s.reading.temperature_c
        assert t is not None
        outside = (hi is not None and t > hi) or (lo is not None and t < lo)
        if outside:
            run.append(s)
        else:
            close(s)
    close(None)
    return out


def _damage(segs: Sequence[Segment], scans: Sequence[Scan],
            shocks: Sequence[Incident]) -> list[Incident]:
    first_bad = next((s for s in scans if s.event.condition in BAD), None)
    if first_bad is None:
        return []
    intact = [s for s in scans if s.at_us < first_bad.at_us
              and s.event.condition is Condition.INTACT]
    last_ok = intact[-1] if intact else None
    since = last_ok.at_us if last_ok else (scans[0].at_us if scans else first_bad.at_us)
    facts: dict[str, object] = {
        "condition": first_bad.event.condition.value if first_bad.event.condition else None,
        "noted_at_facility_id": first_bad.event.facility_id,
        "last_intact_facility_id": last_ok.event.facility_id if last_ok else None}
    ledger = [first_bad.ledger_index] + ([last_ok.ledger_index] if last_ok else [])
    between = [i for i in shocks if since <= i.at_us <= first_bad.at_us and i.party]
    if between:
        worst = max(between, key=lambda i: float(i.facts["peak_g"]))  # type: ignore[arg-type]
        why = (f"damage first noted at {first_bad.event.facility_id or 'a scan'}; last intact "
               f"scan at {facts['last_intact_facility_id'] or 'none'}; a shock of "
               f"{worst.facts['peak_g']} g was recorded between them, with "
               f"{_describe(worst.party)}")  # type: ignore[arg-type]
        facts["shock_g"] = worst.facts["peak_g"]
        return [Incident("damage", worst.at_us, first_bad.at_us, worst.segment, worst.party,
                         0.9, why, facts, sorted({*ledger, *worst.ledger}))]
    held = [s for s in segs if s.start_us < first_bad.at_us
            and (s.end_us is None or s.end_us > since)]
    if last_ok is not None:  # custody that began at the intact scan's own handover counts
        held = [s for s in held if s.end_us is None or s.end_us > last_ok.at_us]
    if not held:
        return [Incident("damage", first_bad.at_us, None, None, None, 0.2,
                         "damage noted at the first scan: no custody to place it in", facts,
                         ledger)]
    seg = held[0]
    party = party_of(seg, last_ok.at_us if last_ok else None)
    confidence = 0.8 if len(held) == 1 else 0.5
    facts["holders_in_window"] = len(held)
    before = ("the last scan that found it intact was with" if last_ok else
              "no scan before noted its condition; before that it was with")
    why = (f"damage first noted at {first_bad.event.facility_id or 'a scan'}; {before} "
           f"{_describe(party)}"
           + ("" if len(held) == 1 else f"; {len(held)} holders had it in between, no sensor "
              "evidence says which"))
    return [Incident("damage", since, first_bad.at_us, seg.index, party, confidence, why, facts,
                     ledger)]


def _misroute(segs: Sequence[Segment], scans: Sequence[Scan],
              plan: Sequence[str]) -> list[Incident]:
    if not plan:
        return []
    wanted = set(plan)
    off = next((s for s in scans if s.event.facility_id and s.event.facility_id not in wanted
                and holder_after(s.event) is not None), None)
    if off is None:
        return []
    before = [s for s in scans if s.at_us < off.at_us and s.event.facility_id in wanted]
    if not before:
        return []
    sent_from = before[-1].event.facility_id
    there = [s for s in before if s.event.facility_id == sent_from]
    sorter = next((s.event.operator_id for s in reversed(there)
                   if s.event.substatus == SORTING and s.event.operator_id), None)
    carried = next((s.event.vehicle_id for s in reversed(before) if s.event.vehicle_id), None)
    seg = _at(segs, there[-1].at_us)
    carrier = off.event.carrier
    party = Party("facility", sent_from or "?", carrier, sorter or there[-1].event.operator_id,
                  sent_from, carried)
    why = (f"scanned at {off.event.facility_id}, which is not on the route plan; it was sent "
           f"there from {sent_from}" + (f" (sorted by {sorter})" if sorter else "")
           + (f" on vehicle {carried}" if carried else ""))
    return [Incident("misroute", there[-1].at_us, off.at_us, seg.index if seg else None, party,
                     0.85, why, {"wrong_facility_id": off.event.facility_id,
                                 "route_plan": list(plan), "sent_from": sent_from},
                     sorted({off.ledger_index, *(s.ledger_index for s in there)}))]


def _wrong_recipient(segs: Sequence[Segment], scans: Sequence[Scan]) -> list[Incident]:
    delivered = next((s for s in reversed(scans) if s.event.status is Status.DELIVERED), None)
    if delivered is None:
        return []
    pod = (delivered.event.raw or {}).get("pod")
    if not isinstance(pod, dict) or pod.get("id_verified") is not False:
        return []
    courier = delivered.event.operator_id
    rounds = [s for s in scans if s.event.status is Status.OUT_FOR_DELIVERY
              and s.at_us <= delivered.at_us and (courier is None or s.event.operator_id == courier)]
    station = rounds[-1].event.facility_id if rounds else None
    party = Party("courier", courier or "?", delivered.event.carrier, courier, station)
    seg = _at(segs, delivered.at_us - 1)
    why = (f"delivered by courier {courier or '?'}"
           + (f" of {station}" if station else "")
           + f" without verifying the recipient (signed by {pod.get('signer') or 'unknown'})")
    ledger = sorted({delivered.ledger_index, *(s.ledger_index for s in rounds[-1:])})
    return [Incident("wrong_recipient", delivered.at_us, None, seg.index if seg else None, party,
                     0.9, why, {"signer": pod.get("signer"), "id_verified": False}, ledger)]


def _loss(segs: Sequence[Segment], scans: Sequence[Scan]) -> list[Incident]:
    """A parcel that never arrived: whoever held it at the last sighting."""
    if not scans or not segs:
        return []
    if any(s.event.status in (Status.DELIVERED, Status.RETURNED) for s in scans):
        return []
    last = scans[-1]
    seg = segs[-1]
    party = party_of(seg, last.at_us)
    why = (f"last seen {last.event.status.value}"
           + (f" ({last.event.substatus})" if last.event.substatus else "")
           + (f" at {last.event.facility_id}" if last.event.facility_id else "")
           + f"; it was then with {_describe(party)}")
    return [Incident("loss", last.at_us, None, seg.index, party, 0.7, why,
                     {"last_status": last.event.status.value,
                      "last_facility_id": last.event.facility_id}, [last.ledger_index])]
