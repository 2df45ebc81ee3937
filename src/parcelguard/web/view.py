"""What the tracking page shows, built from the timeline, the sensor series and the profile.

Pure functions of stored facts: the page, its live updates and the tests read the same view.
The consumer's view is masked (names, phones, addresses, and phone numbers inside the carrier's
wording); the merchant's is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from parcelguard.domain import privacy, times
from parcelguard.domain.events import Condition, TrackingEvent
from parcelguard.domain.shipment import Category, Place
from parcelguard.domain.status import Status
from parcelguard.rules.profiles import Profile
from parcelguard.services.queries import Point, Timeline
from parcelguard.web.i18n import CONDITIONS, TEXT, status_name

ZONE = ZoneInfo("Asia/Shanghai")  # times on the page: China's, where the parcels travel
CUSTOMS_STEPS = ("customs_submitted", "customs_in_progress", "customs_cleared")
LAST_MILE = frozenset({Status.OUT_FOR_DELIVERY, Status.AVAILABLE_FOR_PICKUP, Status.DELIVERED,
                       Status.FAILED_ATTEMPT})
MAX_CURVE = 2000  # points of the temperature curve; longer series are thinned evenly


@dataclass(frozen=True, slots=True)
class Milestone:
    at: str  # local time, "11-24 08:15"
    at_iso: str
    status: str
    label: str
    text: str  # the carrier's wording (masked for consumers)
    place: str
    kind: str = "scan"  # scan | shock | condition
    warn: bool = False


@dataclass(frozen=True, slots=True)
class CustomsStep:
    key: str
    label: str
    at: str | None
    state: str  # done | current | todo | held


@dataclass
class TrackView:
    tracking_no: str
    lang: str
    status: str
    status_label: str
    category: str
    carrier: str
    origin: str
    destination: str
    recipient: dict[str, str] | None
    eta: str | None
    eta_range: str | None
    promised: str | None
    delivered: str | None
    milestones: list[Milestone]
    customs: list[CustomsStep]
    band: tuple[float, float] | None
    excursions: int = 0
    excursion_minutes: int = 0
    pod: dict[str, object] | None = None  # proof of delivery: verified, signer, photo on file
    data: dict[str, object] = field(default_factory=dict)  # for the map and the chart


def local(dt: datetime) -> str:
    return dt.astimezone(ZONE).strftime("%m-%d %H:%M")


def local_us(us: int | None) -> str | None:
    return None if us is None else local(times.from_us(us))


def build(tl: Timeline, points: list[Point], profile: Profile, lang: str,
          masked: bool = True) -> TrackView:
    rec, text = tl.record, TEXT[lang]
    s, state = rec.shipment, rec.state
    milestones = [_milestone(stored.event, lang, masked) for stored in tl.events]
    milestones += _shocks(points, profile, lang)
    milestones.sort(key=lambda m: m.at_iso, reverse=True)  # newest first
    band = (None if profile.temp_min_c is None or profile.temp_max_c is None
            else (profile.temp_min_c, profile.temp_max_c))
    curve, runs, minutes = _curve(points, band)
    recipient = None
    if s.recipient is not None:
        recipient = {"name": s.recipient.name, "phone": s.recipient.phone,
                     "address": s.recipient.address}
    view = TrackView(
        tracking_no=s.tracking_no, lang=lang, status=state.status.value,
        status_label=status_name(state.status, lang), category=s.category.value,
        carrier=s.carrier, origin=s.origin.city, destination=s.destination.city,
        recipient=recipient,
        eta=None if state.status is Status.DELIVERED else local_us(state.eta_us),
        eta_range=(text["eta_range"].format(low=local_us(state.eta_low_us),
                                            high=local_us(state.eta_high_us))
                   if state.eta_low_us and state.eta_high_us
                   and state.status is not Status.DELIVERED else None),
        promised=None if s.promised_by is None else local(s.promised_by),
        delivered=local_us(state.delivered_at_us),
        milestones=milestones, customs=_customs(tl, lang), band=band,
        excursions=runs, excursion_minutes=minutes,
    )
    view.pod = _pod(tl, masked)
    view.data = {"route": _route(tl, points, masked), "destination": _place(s.destination),
                 "curve": curve, "band": band, "status": state.status.value}
    return view


def _milestone(e: TrackingEvent, lang: str, masked: bool) -> Milestone:
    loc = e.location
    place = " ".join(x for x in ((loc.city, loc.name) if loc else ()) if x)
    wording = e.description or ""
    if masked:
        wording = privacy.mask_phones_in(wording)
    warn = e.status in (Status.EXCEPTION, Status.FAILED_ATTEMPT) or e.substatus == "customs_held"
    kind = "scan"
    if e.condition is not None and e.condition is not Condition.INTACT:
        warn, kind = True, "condition"
        note = TEXT[lang]["condition"].format(c=CONDITIONS[lang][e.condition.value])
        wording = f"{wording} · {note}" if wording else note
    return Milestone(local(e.occurred_at), times.iso(e.occurred_at), e.status.value,
                     status_name(e.status, lang), wording, place, kind, warn)


def _pod(tl: Timeline, masked: bool) -> dict[str, object] | None:
    """What was recorded at the door (``raw.pod`` of the delivery scan). Only our own delivery
    endpoint (source ``pod``) checked a pickup code and stored a photo; a carrier's scan can
    only *report* that it checked the recipient's identity, and is shown as such."""
    for stored in reversed(tl.events):
        e = stored.event
        pod = (e.raw or {}).get("pod") if e.status is Status.DELIVERED else None
        if isinstance(pod, dict):
            ours = e.source == "pod"
            signer = str(pod.get("signer") or "")
            return {"verified": pod.get("id_verified") is True, "by_code": ours,
                    "signer": privacy.mask_name(signer) if masked and signer else signer,
                    "photo": bool(pod.get("photo")) or ours,
                    "photo_sha256": pod.get("photo_sha256") if ours else None}
    return None


def _shocks(points: list[Point], profile: Profile, lang: str) -> list[Milestone]:
    """Shocks above the profile's limit, from the parcel's own sensor (fragile goods)."""
    limit = profile.shock_max_g
    if limit is None:
        return []
    out = []
    for p in points:
        r = p.stored.reading
        if p.source.startswith("device:") and r.shock_g is not None and r.shock_g > limit:
            out.append(Milestone(local(r.ts), times.iso(r.ts), "shock",
                                 TEXT[lang]["shock"].format(g=f"{r.shock_g:.1f}"), "", "",
                                 "shock", True))
    return out


def _customs(tl: Timeline, lang: str) -> list[CustomsStep]:
    seen: dict[str, str] = {}
    for stored in tl.events:
        e = stored.event
        if e.status is Status.CUSTOMS and e.substatus:
            seen[e.substatus] = local(e.occurred_at)
    if not seen and tl.record.shipment.category is not Category.CROSS_BORDER:
        return []
    text = TEXT[lang]
    held = "customs_held" in seen and "customs_cleared" not in seen
    steps = []
    for i, key in enumerate(CUSTOMS_STEPS):
        at = seen.get(key)
        later = any(k in seen for k in CUSTOMS_STEPS[i + 1:])
        state = "done" if at and (later or key == "customs_cleared") else (
            "current" if at else "todo")
        steps.append(CustomsStep(key, text[key], at, state))
        if key == "customs_in_progress" and "customs_held" in seen:
            steps.append(CustomsStep("customs_held", text["customs_held"], seen["customs_held"],
                                     "held" if held else "done"))
    return steps


def _curve(points: list[Point], band: tuple[float, float] | None,
           ) -> tuple[dict[str, list[float | None]], int, int]:
    """Temperature and humidity over time (seconds), and the excursions out of the band."""
    temps = [p.stored.reading for p in points if p.stored.reading.temperature_c is not None]
    runs = minutes = 0
    if band is not None:
        lo, hi = band
        start: datetime | None = None
        for r in temps:
            assert r.temperature_c is not None
            out = not lo <= r.temperature_c <= hi
            if out and start is None:
                start, runs = r.ts, runs + 1
            elif not out and start is not None:
                minutes += round((r.ts - start).total_seconds() / 60)
                start = None
        if start is not None and temps:
            minutes += round((temps[-1].ts - start).total_seconds() / 60)
    step = max(1, len(temps) // MAX_CURVE)
    kept = temps[::step]
    return ({"t": [times.to_us(r.ts) / 1e6 for r in kept],
             "temp": [r.temperature_c for r in kept],
             "humidity": [r.humidity_pct for r in kept]}, runs, minutes)


def _route(tl: Timeline, points: list[Point], masked: bool = False) -> dict[str, object]:
    """Where it has been (scans with a position, then GPS fixes), and where it is now. Masked,
    it stops when the last mile begins: the courier's positions lead to the recipient's door."""
    last_mile = next((times.to_us(st.event.occurred_at) for st in tl.events
                      if st.event.status in LAST_MILE), None) if masked else None
    fixes: list[tuple[int, float, float]] = []
    for stored in tl.events:
        loc = stored.event.location
        if loc is not None and loc.lat is not None and loc.lon is not None:
            fixes.append((times.to_us(stored.event.occurred_at), loc.lat, loc.lon))
    for p in points:
        r = p.stored.reading
        if r.lat is not None and r.lon is not None:
            fixes.append((times.to_us(r.ts), r.lat, r.lon))
    fixes.sort()
    if last_mile is not None:
        fixes = [f for f in fixes if f[0] < last_mile]
    step = max(1, len(fixes) // MAX_CURVE)
    path = [[lat, lon] for _, lat, lon in fixes[::step]]
    if fixes and path[-1] != [fixes[-1][1], fixes[-1][2]]:
        path.append([fixes[-1][1], fixes[-1][2]])
    return {"path": path, "current": path[-1] if path else None}


def _place(p: Place) -> list[float] | None:
    return None if p.lat is None or p.lon is None else [p.lat, p.lon]
