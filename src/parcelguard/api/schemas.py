"""Response shapes (pydantic, for the OpenAPI document) and how records become them."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field

from parcelguard.domain import times
from parcelguard.domain.alerts import Alert, Severity
from parcelguard.domain.claims import MAX_AMOUNT, Claim, ClaimKind, Step
from parcelguard.domain.custom import CustomRule, Trigger
from parcelguard.domain.events import Location, TrackingEvent
from parcelguard.domain.ledger.entry import Sealed
from parcelguard.domain.shipment import Place, Recipient
from parcelguard.domain.status import TAXONOMY, Effect, Status
from parcelguard.domain.webhooks import Message
from parcelguard.services import queries
from parcelguard.services.ledger import describe
from parcelguard.services.liability import Report
from parcelguard.services.liability import as_dict as liability_dict
from parcelguard.services.messages import Result
from parcelguard.services.ports import (
    AlertNote,
    Attempt,
    CheckpointRecord,
    EndpointRow,
    ShipmentRecord,
    StoredEvent,
    SubscriptionRow,
)


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema, for answers of more than one shape."""
    return {"$ref": f"#/components/schemas/{name}"}


# a batch whose every item was refused answers 422 with the batch's answer (one object: the error)
BATCH_REFUSED: dict[int | str, dict[str, Any]] = {422: {
    "description": "Every item refused: the batch's answer, each item with its reason (or, for "
                   "one object, the error)",
    "content": {"application/json": {"schema": {"anyOf": [ref("BatchAnswer"),
                                                          ref("ErrorBody")]}}}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "The body is not valid JSON"), (401, "No API key, or an invalid one"),
        (403, "The key's role may not do this"), (404, "Not found for this tenant"),
        (413, "Body or batch over the limit"), (422, "A field is missing or malformed"),
        (503, "Storage unavailable; nothing was stored, retry"),
    )
}


class PlaceOut(BaseModel):
    city: str
    lat: float | None
    lon: float | None
    country: str


class LocationOut(BaseModel):
    facility_id: str | None = None
    name: str | None = None
    city: str | None = None
    lat: float | None = None
    lon: float | None = None


class RecipientOut(BaseModel):
    name: str
    phone: str
    address: str
    email: str | None = Field(default=None, description="only in clear, for the merchant; "
                              "null when masked")
    masked: bool = Field(description="true unless the merchant asked for the recipient in clear")


class HolderOut(BaseModel):
    kind: str
    id: str


class StatusLabel(BaseModel):
    zh: str
    en: str


class EtaOut(BaseModel):
    median: str
    low: str = Field(description="10th percentile")
    high: str = Field(description="90th percentile")
    basis: str = Field(description="lane, band, distance or last_mile: what the estimate used")


class CarrierEtaOut(BaseModel):
    source: str = Field(description="the carrier push it came in (kdniao, aftership, track17)")
    estimate: str = Field(description="the carrier's estimated delivery, in its own offset")
    updated_at: str


class ShipmentOut(BaseModel):
    tracking_no: str
    carrier: str
    category: str
    order_ref: str | None
    origin: PlaceOut
    destination: PlaceOut
    promised_by: str | None
    declared_value_cny: float | None
    route_plan: list[str]
    devices: list[str]
    thresholds: dict[str, float]
    recipient: RecipientOut | None
    status: str
    status_label: StatusLabel
    status_changed_at: str | None
    last_event_at: str | None
    event_count: int
    holder: HolderOut | None
    vehicle_id: str | None
    location: LocationOut | None
    condition: str | None
    eta: EtaOut | None
    carrier_etas: list[CarrierEtaOut] = Field(
        default_factory=list, description="the carriers' own estimates (on GET of one shipment)")
    created_at: str


class ShipmentPage(BaseModel):
    items: list[ShipmentOut]
    next_cursor: str | None


class ItemResult(BaseModel):
    index: int
    result: Literal["duplicate", "quarantined", "rejected", "conflict"]
    ref: str | None = None
    field: str | None = None
    reason: str | None = None


class BatchAnswer(BaseModel):
    received: int
    accepted: int
    duplicate: int
    quarantined: int
    rejected: int
    queued: int = Field(default=0, description="bus mode: stored durably in the stream and "
                        "acknowledged, applied by a worker shortly (its outcome was not back yet)")
    items: list[ItemResult] = Field(description="every item that was not accepted, with why")


class EventOut(BaseModel):
    event_id: str
    occurred_at: str = Field(description="as sent, in the sender's offset")
    received_at: str
    status: str
    substatus: str | None
    effect: Literal["applied", "kept", "regression"]
    carrier: str
    carrier_code: str | None
    source: str
    location: LocationOut | None
    operator_id: str | None
    device_id: str | None
    vehicle_id: str | None
    condition: str | None
    description: str | None
    ledger_index: int | None


class VehicleWindowOut(BaseModel):
    vehicle_id: str
    loaded_at: str
    unloaded_at: str | None


class QuarantinedOut(BaseModel):
    event_id: str
    occurred_at: str
    received_at: str
    status: str
    reason: str


class TimelineOut(BaseModel):
    tracking_no: str
    status: str
    status_label: StatusLabel
    events: list[EventOut]
    regressions: list[str]
    vehicles: list[VehicleWindowOut]
    quarantined: list[QuarantinedOut]


class PointOut(BaseModel):
    source: str
    ts: str
    seq: int | None
    lat: float | None
    lon: float | None
    speed_kmh: float | None
    temperature_c: float | None
    humidity_pct: float | None
    shock_g: float | None
    light_lux: float | None
    battery_pct: float | None


class SeriesOut(BaseModel):
    tracking_no: str
    points: list[PointOut]


class CheckpointOut(BaseModel):
    tree_size: int
    root_hash: str
    created_at: str
    note: str = Field(description="the signed note (C2SP tlog-checkpoint format)")


class ProofOut(BaseModel):
    tree_size: int
    hashes: list[str]


class EntryOut(BaseModel):
    index: int
    kind: str
    recorded_at: str
    leaf_hash: str
    entry: dict[str, Any] = Field(description="the entry; its RFC 8785 form hashes to leaf_hash")
    proof: ProofOut | None = Field(description="inclusion proof against `checkpoint`, or null "
                                   "while the entry is newer than the latest checkpoint")


class CustodyOut(BaseModel):
    tracking_no: str
    verifier_key: str
    checkpoint: CheckpointOut | None
    entries: list[EntryOut]


class PartyOut(BaseModel):
    kind: str = Field(description="facility, vehicle, courier, linehaul, customs or locker")
    id: str
    carrier: str | None
    operator_id: str | None = Field(description="who handled the parcel for this party")
    facility_id: str | None = Field(description="a courier's station, where a custody began")
    vehicle_id: str | None


class SegmentOut(BaseModel):
    index: int
    holder: PartyOut
    start: str
    end: str | None = Field(description="null while the holder still has the parcel")
    facility_id: str | None
    place: str | None
    operators: list[str]
    devices: list[str]
    ledger: list[int] = Field(description="the scans of this custody (ledger indexes)")


class IncidentOut(BaseModel):
    kind: str = Field(description="shock, temperature_excursion, damage, misroute, loss or "
                                  "wrong_recipient")
    at: str
    end: str | None
    segment: int | None = Field(description="index into `segments`")
    party: PartyOut | None = Field(description="who is responsible, by the reasoning")
    confidence: float
    reasoning: str
    facts: dict[str, Any]
    ledger: list[int] = Field(description="the entries the facts come from; each is in "
                                          "`entries` with its inclusion proof")


class LiabilityOut(BaseModel):
    tracking_no: str
    carrier: str
    category: str
    verifier_key: str
    checkpoint: CheckpointOut | None
    segments: list[SegmentOut]
    incidents: list[IncidentOut]
    entries: list[EntryOut]


def liability(report: Report, verifier_key: str) -> LiabilityOut:
    return LiabilityOut.model_validate(liability_dict(report, verifier_key))


class DeliveredOut(BaseModel):
    tracking_no: str
    event_id: str = Field(description="the delivered scan recorded with the proof of delivery")
    delivered_at: str
    photo_sha256: str = Field(description="the photo's content address; also in the ledger")


class CodeSentOut(BaseModel):
    tracking_no: str
    channel: str


class ConsistencyOut(BaseModel):
    first: int
    second: int
    hashes: list[str]


class LedgerKeyOut(BaseModel):
    origin: str
    verifier_key: str


class DeviceOut(BaseModel):
    device_id: str
    kind: str
    tracking_no: str | None = Field(description="the shipment a box sensor rides in")
    vehicle_id: str | None = Field(description="the vehicle a vehicle unit is fitted to")
    facility_id: str | None = Field(description="the facility a scanner works at")


class DevicePage(BaseModel):
    items: list[DeviceOut]
    next_cursor: str | None


class DeviceAnswer(BaseModel):
    device_id: str
    result: Literal["accepted", "duplicate", "queued"]


# ---- conversions ----


def _iso(us: int | None) -> str | None:
    return None if us is None else times.iso_us(us)


def place(p: Place) -> PlaceOut:
    return PlaceOut(city=p.city, lat=p.lat, lon=p.lon, country=p.country)


def location(loc: Location | None) -> LocationOut | None:
    if loc is None:
        return None
    return LocationOut(facility_id=loc.facility_id, name=loc.name, city=loc.city, lat=loc.lat,
                       lon=loc.lon)


def label(status: Status) -> StatusLabel:
    info = TAXONOMY[status]
    return StatusLabel(zh=info.zh, en=info.en)


def shipment(r: ShipmentRecord, clear: Recipient | None = None) -> ShipmentOut:
    s, st = r.shipment, r.state
    recipient = None
    if clear is not None:
        recipient = RecipientOut(name=clear.name, phone=clear.phone, address=clear.address,
                                 email=clear.email, masked=False)
    elif s.recipient is not None:
        m = s.recipient
        recipient = RecipientOut(name=m.name, phone=m.phone, address=m.address, masked=True)
    return ShipmentOut(
        tracking_no=s.tracking_no, carrier=s.carrier, category=s.category.value,
        order_ref=s.order_ref, origin=place(s.origin), destination=place(s.destination),
        promised_by=times.iso(s.promised_by) if s.promised_by else None,
        declared_value_cny=None if s.declared_value_fen is None else s.declared_value_fen / 100,
        route_plan=list(s.route_plan), devices=list(s.devices),
        thresholds=s.thresholds.as_dict(), recipient=recipient,
        status=st.status.value, status_label=label(st.status),
        status_changed_at=_iso(st.status_changed_at_us), last_event_at=_iso(st.last_event_at_us),
        event_count=st.event_count,
        holder=HolderOut(kind=st.holder_kind, id=st.holder_id)
        if st.holder_kind and st.holder_id else None,
        vehicle_id=st.vehicle_id, location=location(st.location),
        condition=st.condition.value if st.condition else None,
        eta=None if st.eta_us is None or st.eta_low_us is None or st.eta_high_us is None
        else EtaOut(median=times.iso_us(st.eta_us), low=times.iso_us(st.eta_low_us),
                    high=times.iso_us(st.eta_high_us), basis=st.eta_basis or ""),
        created_at=times.iso_us(r.created_at_us),
    )


def batch(results: list[Result], items: list[ItemResult]) -> BatchAnswer:
    counts = dict.fromkeys(Result, 0)
    for r in results:
        counts[r] += 1
    return BatchAnswer(
        received=len(results), accepted=counts[Result.ACCEPTED],
        duplicate=counts[Result.DUPLICATE], quarantined=counts[Result.QUARANTINED],
        rejected=counts[Result.REJECTED] + counts[Result.CONFLICT],
        queued=counts[Result.QUEUED],
        items=sorted(items, key=lambda i: i.index),
    )


def event(stored: StoredEvent, effect: Effect) -> EventOut:
    e: TrackingEvent = stored.event
    return EventOut(
        event_id=e.event_id, occurred_at=times.iso(e.occurred_at),
        received_at=times.iso_us(stored.received_at_us), status=e.status.value,
        substatus=e.substatus, effect=effect.value, carrier=e.carrier, carrier_code=e.carrier_code,
        source=e.source, location=location(e.location), operator_id=e.operator_id,
        device_id=e.device_id, vehicle_id=e.vehicle_id,
        condition=e.condition.value if e.condition else None, description=e.description,
        ledger_index=stored.ledger_index,
    )


def timeline(tl: queries.Timeline) -> TimelineOut:
    return TimelineOut(
        tracking_no=tl.record.shipment.tracking_no, status=tl.derived.status.value,
        status_label=label(tl.derived.status),
        events=[event(s, tl.effects[s.event.event_id]) for s in tl.events],
        regressions=[eid for eid, eff in tl.effects.items() if eff is Effect.REGRESSION],
        vehicles=[VehicleWindowOut(vehicle_id=w.vehicle_id, loaded_at=times.iso_us(w.start_us),
                                   unloaded_at=_iso(w.end_us)) for w in tl.windows],
        quarantined=[QuarantinedOut(event_id=q.event.event_id,
                                    occurred_at=times.iso(q.event.occurred_at),
                                    received_at=times.iso_us(q.received_at_us),
                                    status=q.event.status.value, reason=q.reason)
                     for q in tl.quarantined],
    )


def point(p: queries.Point) -> PointOut:
    r = p.stored.reading
    return PointOut(source=p.source, ts=times.iso(r.ts), seq=r.seq, lat=r.lat, lon=r.lon,
                    speed_kmh=r.speed_kmh, temperature_c=r.temperature_c,
                    humidity_pct=r.humidity_pct, shock_g=r.shock_g, light_lux=r.light_lux,
                    battery_pct=r.battery_pct)


def checkpoint(cp: CheckpointRecord | None) -> CheckpointOut | None:
    return None if cp is None else CheckpointOut.model_validate(describe(cp))


def entry(e: Sealed, proof: ProofOut | None) -> EntryOut:
    return EntryOut(index=e.index, kind=e.kind, recorded_at=times.iso_us(e.recorded_at_us),
                    leaf_hash=e.leaf.hex(), entry=json.loads(e.body), proof=proof)


class AlertOut(BaseModel):
    alert_id: str
    tracking_no: str
    rule: str
    kind: str
    severity: Literal["info", "warning", "critical"]
    state: Literal["open", "acknowledged", "resolved", "cleared"]
    opened_at: str
    updated_at: str
    acknowledged_at: str | None
    closed_at: str | None
    escalated_at: str | None
    assignee: str | None
    repeats: int = Field(description="how often the condition was seen again while active")
    evidence: dict[str, Any]


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class NoteOut(BaseModel):
    at: str
    author: str
    text: str


class AlertDetail(AlertOut):
    notes: list[NoteOut]


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


class AssignIn(BaseModel):
    assignee: str | None = Field(default=None, max_length=100,
                                 description="who takes it; null to unassign")


def alert(a: Alert) -> AlertOut:
    return AlertOut(
        alert_id=a.alert_id, tracking_no=a.tracking_no, rule=a.rule, kind=a.kind.value,
        severity=a.severity.value, state=a.state.value, opened_at=times.iso_us(a.opened_at_us),
        updated_at=times.iso_us(a.updated_at_us), acknowledged_at=_iso(a.acknowledged_at_us),
        closed_at=_iso(a.closed_at_us), escalated_at=_iso(a.escalated_at_us),
        assignee=a.assignee, repeats=a.repeats, evidence=a.evidence,
    )


def alert_detail(a: Alert, notes: list[AlertNote]) -> AlertDetail:
    return AlertDetail(**alert(a).model_dump(), notes=[
        NoteOut(at=times.iso_us(n.at_us), author=n.author, text=n.text) for n in notes])


class SubscriptionIn(BaseModel):
    url: str = Field(max_length=2000, description="https:// endpoint that receives the POSTs")
    events: list[str] = Field(default_factory=list, description=(
        "event types: alert.opened, alert.acknowledged, alert.resolved, alert.cleared, "
        "alert.escalated, shipment.status_changed; empty for all"))
    kinds: list[str] = Field(default_factory=list, description="alert kinds; empty for all")


class SubscriptionOut(BaseModel):
    subscription_id: str
    url: str
    events: list[str]
    kinds: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: str


class NewSubscription(SubscriptionOut):
    secret: str = Field(description="whsec_...: verify our signatures with it; shown only now")


class AttemptOut(BaseModel):
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    duration_ms: int


class MessageOut(BaseModel):
    message_id: str = Field(description="the webhook-id header: de-duplicate on it")
    subscription_id: str
    event: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    created_at: str
    next_attempt_at: str | None
    delivered_at: str | None
    last_error: str | None
    payload: dict[str, Any]


class MessageDetail(MessageOut):
    history: list[AttemptOut]


def subscription_out(r: SubscriptionRow) -> SubscriptionOut:
    return SubscriptionOut(subscription_id=r.subscription_id, url=r.url, events=list(r.events),
                           kinds=list(r.kinds), enabled=r.enabled,
                           disabled_reason=r.disabled_reason,
                           created_at=times.iso_us(r.created_at_us))


def message_out(m: Message) -> MessageOut:
    return MessageOut(
        message_id=m.message_id, subscription_id=m.subscription_id, event=m.event.value,
        state=m.state.value, attempts=m.attempts, created_at=times.iso_us(m.created_at_us),
        next_attempt_at=times.iso_us(m.next_attempt_at_us) if m.state.value == "pending" else None,
        delivered_at=_iso(m.delivered_at_us), last_error=m.last_error,
        payload=json.loads(m.body))


def attempt_out(a: Attempt) -> AttemptOut:
    return AttemptOut(attempt=a.attempt, at=times.iso_us(a.at_us), status_code=a.status_code,
                      error=a.error, duration_ms=a.duration_ms)


class RuleIn(BaseModel):
    name: str = Field(max_length=80, description="unique within the tenant, e.g. 'damaged & valuable'")
    expression: str = Field(max_length=4000, description=(
        "a CEL condition over shipment, stats and event (rules on events) or reading (rules on "
        "readings); the alert is open while it holds. See docs/rules.md for every field"))
    on: Trigger = Field(default=Trigger.EVENT, description="event or reading")
    severity: Severity = Severity.WARNING


class RuleChange(BaseModel):
    name: str | None = Field(default=None, max_length=80)
    expression: str | None = Field(default=None, max_length=4000)
    severity: Severity | None = None
    enabled: bool | None = None


class RuleCheck(BaseModel):
    expression: str = Field(max_length=4000)
    on: Trigger = Trigger.EVENT


class RuleChecked(BaseModel):
    valid: bool
    reads: dict[str, list[str]] = Field(description="the fields the expression reads, by variable")


class RuleOut(BaseModel):
    rule_id: str
    alert_rule: str = Field(description="the `rule` its alerts carry: custom:<rule_id>")
    name: str
    expression: str
    on: Trigger
    severity: Severity
    enabled: bool
    created_at: str
    updated_at: str


def rule_out(r: CustomRule) -> RuleOut:
    return RuleOut(rule_id=r.rule_id, alert_rule=r.rule, name=r.name, expression=r.expression,
                   on=r.on, severity=r.severity, enabled=r.enabled,
                   created_at=times.iso_us(r.created_at_us), updated_at=times.iso_us(r.updated_at_us))


class EndpointIn(BaseModel):
    format: str = Field(description="kdniao, kuaidi100, aftership, track17 or generic")
    name: str | None = Field(default=None, max_length=80, description="e.g. the carrier account")
    secret: str | None = Field(default=None, max_length=200, description=(
        "the key the carrier signs with (Kdniao AppKey, Kuaidi100 salt, AfterShip webhook "
        "secret, 17TRACK API key); for generic, leave it out and one is made for you"))
    zone: str | None = Field(default=None, max_length=64, description=(
        "IANA zone of the carrier's times without an offset (default Asia/Shanghai)"))


class EndpointOut(BaseModel):
    endpoint_id: str
    format: str
    name: str
    path: str = Field(description="where the carrier must POST: give it this URL")
    zone: str
    enabled: bool
    created_at: str


class NewEndpoint(EndpointOut):
    secret: str | None = Field(description="the generic format's signing key, shown only now")


def endpoint_out(row: EndpointRow) -> EndpointOut:
    return EndpointOut(endpoint_id=row.endpoint_id, format=row.format, name=row.name,
                       path=f"/v1/hooks/{row.format}/{row.endpoint_id}", zone=row.zone,
                       enabled=row.enabled, created_at=times.iso_us(row.created_at_us))


class RejectedOut(BaseModel):
    rejected_id: int
    source: str
    ref: str | None
    received_at: str
    field: str | None
    reason: str
    content_type: str | None
    size: int = Field(description="bytes received; the body below keeps at most 256 KiB")
    body: str = Field(description="as text (undecodable bytes replaced)")


class RejectedPage(BaseModel):
    items: list[RejectedOut]
    next_cursor: str | None


class ClaimIn(BaseModel):
    kind: ClaimKind = Field(description="damage, loss, misdelivery or spoilage")
    description: str = Field(min_length=1, max_length=2000, description="what went wrong")
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="claimed, in minor units (fen)")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$",
                          description="ISO 4217; CNY only for now")


class LiableIn(BaseModel):
    kind: Literal["carrier", "facility", "vehicle", "courier", "merchant", "other"]
    id: str = Field(min_length=1, max_length=100)
    carrier: str | None = Field(default=None, max_length=64)


class ClaimActionIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000,
                             description="required to reject and to comment")
    amount: int | None = Field(default=None, ge=0, le=MAX_AMOUNT, description=(
        "accept: the amount approved (required); settle: the amount paid (default: the "
        "amount approved; nothing for a rejected claim); minor units"))
    liable: LiableIn | None = Field(default=None, description=(
        "accept: who is liable, when not the party the liability analysis found"))
    reference: str | None = Field(default=None, max_length=100,
                                  description="settle: the payment's reference")


class FindingOut(BaseModel):
    incident: str = Field(description="the liability analysis' incident the claim rests on")
    at: str
    segment: int | None
    party: PartyOut | None
    confidence: float
    reasoning: str
    ledger: list[int]


class ClaimOut(BaseModel):
    claim_id: str
    tracking_no: str
    kind: str
    state: str = Field(description="open, under_review, accepted, rejected or settled")
    claimant: str = Field(description="merchant or consumer")
    opened_by: str
    description: str
    currency: str
    amount_claimed: int
    amount_approved: int | None
    amount_paid: int | None
    payment_ref: str | None
    finding: FindingOut | None = Field(description="null: nothing on record supports it")
    liable: PartyOut | None
    opened_at: str
    updated_at: str
    decided_at: str | None
    settled_at: str | None


class ClaimStepOut(BaseModel):
    at: str
    actor: str
    action: str = Field(description="opened, review, accept, reject, settle or comment")
    state: str = Field(description="the claim's state after this step")
    note: str | None
    data: dict[str, Any]


class ClaimDetail(ClaimOut):
    timeline: list[ClaimStepOut]
    analysis: LiabilityOut = Field(description="the liability analysis the claim carries: "
                                   "taken at opening, again when its review began")


class ClaimPage(BaseModel):
    items: list[ClaimOut]
    next_cursor: str | None


def _party_out(p: Any) -> PartyOut | None:
    if p is None:
        return None
    return PartyOut(**{k: p.get(k) for k in PartyOut.model_fields})


def claim(c: Claim) -> ClaimOut:
    f = c.finding
    return ClaimOut(
        claim_id=c.claim_id, tracking_no=c.tracking_no, kind=c.kind.value, state=c.state.value,
        claimant=c.claimant.value, opened_by=c.opened_by, description=c.description,
        currency=c.currency, amount_claimed=c.amount_claimed, amount_approved=c.amount_approved,
        amount_paid=c.amount_paid, payment_ref=c.payment_ref,
        finding=None if f is None else FindingOut(**{**f, "party": _party_out(f["party"])}),
        liable=_party_out(c.liable), opened_at=times.iso_us(c.opened_at_us),
        updated_at=times.iso_us(c.updated_at_us), decided_at=_iso(c.decided_at_us),
        settled_at=_iso(c.settled_at_us))


def claim_detail(c: Claim, steps: list[Step]) -> ClaimDetail:
    return ClaimDetail(
        **claim(c).model_dump(),
        timeline=[ClaimStepOut(at=times.iso_us(s.at_us), actor=s.actor, action=s.action,
                               state=s.state.value, note=s.note, data=dict(s.data))
                  for s in steps],
        analysis=LiabilityOut.model_validate(c.analysis))
