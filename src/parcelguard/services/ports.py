"""Ports: what the services need from the outside, as Protocols.

Storage is a unit of work holding one repository per aggregate. Each port has an in-memory
implementation (``parcelguard.storage.memory``) for unit tests and replay, and a SQL one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from parcelguard.domain.alerts import Alert, Kind, Severity, State
from parcelguard.domain.claims import Claim, Claimant, ClaimKind, ClaimState, Step
from parcelguard.domain.custom import CustomRule
from parcelguard.domain.disruptions import Disruption
from parcelguard.domain.events import Condition, Location, TrackingEvent
from parcelguard.domain.ledger.checkpoint import Signature
from parcelguard.domain.ledger.entry import Sealed
from parcelguard.domain.ledger.merkle import Node
from parcelguard.domain.shipment import Category, Shipment
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import Device, Reading
from parcelguard.domain.tenancy import Role, Scope
from parcelguard.domain.webhooks import Message, MessageState

# ---- records: what storage keeps beyond the domain objects ----


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class ShipmentState:
    """The derived summary of a shipment, written after every change."""

    status: Status = Status.INFO_RECEIVED
    status_changed_at_us: int | None = None
    last_event_at_us: int | None = None
    event_count: int = 0
    holder_kind: str | None = None
    holder_id: str | None = None
    vehicle_id: str | None = None
    location: Location | None = None
    condition: Condition | None = None
    next_deadline_at_us: int | None = None  # the earliest armed rule timer
    picked_up_at_us: int | None = None
    delivered_at_us: int | None = None
    lane: str | None = None  # origin|destination|carrier|category, for the ETA model
    band: str | None = None  # distance band|crosses border
    eta_us: int | None = None  # median, 10th and 90th percentile of the arrival
    eta_low_us: int | None = None
    eta_high_us: int | None = None
    eta_basis: str | None = None


@dataclass(frozen=True, slots=True)
class ShipmentRecord:
    id: int
    shipment: Shipment
    spec_digest: str
    created_at_us: int
    state: ShipmentState = field(default_factory=ShipmentState)
    recipient_sealed: bytes | None = None
    lookup_digest: str | None = None


@dataclass(frozen=True, slots=True)
class NewShipment:
    shipment: Shipment
    spec_digest: str
    created_at_us: int
    recipient_sealed: bytes | None
    lookup_digest: str | None


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class StoredEvent:
    shipment_id: int
    event: TrackingEvent
    received_at_us: int
    ledger_index: int
    raw_json: bytes | None = None  # the carrier's raw payload, canonical JSON (hashed in the ledger)


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class StoredReading:
    tenant_id: str
    reading: Reading
    received_at_us: int
    shipment_id: int | None
    vehicle_id: str | None
    ledger_index: int
    # where it was applied among the ledger's entries: before the entry of this index (None
    # for readings stored before it was kept); a rebuild replays in this order
    position: int | None = None


@dataclass(frozen=True, slots=True)
class QuarantinedEvent:
    tenant_id: str
    event: TrackingEvent
    received_at_us: int
    reason: str


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    tenant_id: str
    role: Role
    secret_hash: str
    label: str
    created_at_us: int
    revoked_at_us: int | None = None
    network: str | None = None  # a carrier key spanning this carrier's parcels of all tenants


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    size: int
    root: bytes
    created_at_us: int
    note: str


@dataclass(frozen=True, slots=True)
class AlertNote:
    alert_id: str
    tenant_id: str
    at_us: int
    author: str
    text: str


@dataclass(frozen=True, slots=True)
class AlertFilter:
    state: State | None = None  # None: any
    active: bool = False  # open or acknowledged
    kind: Kind | None = None
    severity: Severity | None = None
    tracking_no: str | None = None


@dataclass(frozen=True, slots=True)
class ShipmentFilter:
    status: Status | None = None
    category: Category | None = None
    carrier: str | None = None
    at_risk_before_us: int | None = None  # not delivered and promised before this instant


# ---- repositories ----


class Tenants(Protocol):
    def add(self, tenant_id: str, name: str, created_at_us: int) -> None: ...
    def exists(self, tenant_id: str) -> bool: ...
    def all(self) -> list[tuple[str, str]]: ...
    def add_key(self, key: ApiKeyRecord) -> None: ...
    def get_key(self, key_id: str) -> ApiKeyRecord | None: ...
    def keys(self, tenant_id: str) -> list[ApiKeyRecord]: ...
    def revoke_key(self, key_id: str, at_us: int) -> bool: ...
    def networks(self) -> list[Scope]:
        """The carrier networks live carrier keys span, with the tenant each belongs to, and
        those with operations alerts still open (so they clear after a key is revoked)."""
        ...


class Shipments(Protocol):
    def add(self, new: NewShipment) -> int: ...
    def get(self, tenant_id: str, tracking_no: str) -> ShipmentRecord | None: ...
    def numbered(self, tracking_no: str, limit: int = 20) -> list[ShipmentRecord]:
        """Every tenant's shipment with this tracking number (the public lookup)."""
        ...
    def page(
        self, tenant_id: str, where: ShipmentFilter, after_id: int | None, limit: int
    ) -> list[ShipmentRecord]: ...
    def save_states(self, states: Sequence[tuple[int, ShipmentState]]) -> None: ...
    def deadlines(self) -> list[tuple[str, str, int]]:
        """(tenant, tracking number, next deadline) of every shipment with a timer armed."""
        ...

    def aboard(self) -> list[tuple[str, str, str]]:
        """(tenant, tracking number, vehicle) of every parcel on a vehicle now."""
        ...

    def transit_history(self, limit: int) -> list[tuple[str, str, float]]:
        """(lane, band, hours from pickup to delivery) of the latest delivered shipments."""
        ...


class Events(Protocol):
    def add(self, rows: Sequence[StoredEvent]) -> None: ...
    def of(self, shipment_id: int) -> list[StoredEvent]: ...
    def quarantine(self, rows: Sequence[QuarantinedEvent]) -> None: ...
    def quarantined(self, tenant_id: str, tracking_no: str) -> list[QuarantinedEvent]: ...
    def is_quarantined(self, tenant_id: str, tracking_no: str, event_id: str) -> bool: ...
    def count(self) -> int: ...
    def save_places(self, rows: Sequence[tuple[str, str, float, float]]) -> None:
        """Insert or move facilities: (tenant, facility id, lat, lon)."""
        ...

    def facility_positions(self, tenant_id: str | None = None
                           ) -> list[tuple[str, str, float, float]]:
        """(tenant, facility id, lat, lon) of every facility a scan gave a position for (of
        one tenant, or of all)."""
        ...


class Telemetry(Protocol):
    def add(self, rows: Sequence[StoredReading]) -> None: ...
    def known(self, tenant_id: str, keys: set[tuple[str, int]],
              partition: int | None = None) -> set[tuple[str, int]]:
        """Which of the (device_id, ts in UTC µs) keys are stored already (with a
        ``partition``: among the vehicle copies that partition applied)."""
        ...

    def of_shipment(
        self, shipment_id: int, since_us: int | None, until_us: int | None, limit: int
    ) -> list[StoredReading]: ...

    def of_vehicle(
        self, tenant_id: str, vehicle_id: str, since_us: int, until_us: int | None, limit: int
    ) -> list[StoredReading]: ...

    def add_copies(self, partition: int, rows: Sequence[StoredReading]) -> None:
        """Bus mode: vehicle readings a partition applied to its parcels, not being the
        vehicle's own partition (which stores the readings themselves)."""
        ...

    def copies_of_vehicle(
        self, partition: int, tenant_id: str, vehicle_id: str, since_us: int,
        until_us: int | None, limit: int,
    ) -> list[StoredReading]: ...


class Alerts(Protocol):
    def save(self, alerts: Sequence[tuple[Alert, int]]) -> None:
        """Insert or update alerts, each with its shipment id."""
        ...

    def get(self, tenant_id: str, alert_id: str) -> Alert | None: ...
    def of_shipment(self, shipment_id: int) -> list[Alert]:
        """Every alert the shipment has had, active or closed."""
        ...

    def page(
        self, tenant_id: str, where: AlertFilter, before: tuple[int, str] | None, limit: int
    ) -> list[Alert]:
        """Newest first; ``before`` is the (opened_at, alert_id) of the last row seen."""
        ...

    def add_note(self, note: AlertNote) -> None: ...
    def notes(self, alert_id: str) -> list[AlertNote]: ...


@dataclass(frozen=True, slots=True)
class SubscriptionRow:
    subscription_id: str
    tenant_id: str
    url: str
    secret_sealed: bytes
    events: tuple[str, ...]
    kinds: tuple[str, ...]
    enabled: bool
    disabled_reason: str | None
    created_at_us: int


@dataclass(frozen=True, slots=True)
class Attempt:
    message_id: str
    attempt: int
    at_us: int
    status_code: int | None
    error: str | None
    duration_ms: int


class Webhooks(Protocol):
    def add_subscription(self, row: SubscriptionRow) -> None: ...
    def subscription(self, tenant_id: str, subscription_id: str) -> SubscriptionRow | None: ...
    def subscriptions(self, tenant_id: str) -> list[SubscriptionRow]: ...
    def set_enabled(self, subscription_id: str, enabled: bool, reason: str | None) -> None: ...
    def add_messages(self, messages: Sequence[Message]) -> None: ...
    def due(self, now_us: int, limit: int) -> list[Message]: ...
    def message(self, message_id: str) -> Message | None: ...
    def update_messages(self, messages: Sequence[Message]) -> None: ...
    def add_attempts(self, attempts: Sequence[Attempt]) -> None: ...
    def messages(
        self, tenant_id: str, subscription_id: str | None, state: MessageState | None, limit: int
    ) -> list[Message]: ...
    def attempts(self, message_id: str) -> list[Attempt]: ...


@dataclass(frozen=True, slots=True)
class EndpointRow:
    """Where one carrier format pushes one tenant's parcels: /v1/hooks/<format>/<endpoint_id>."""

    endpoint_id: str
    tenant_id: str
    format: str
    name: str
    secret_sealed: bytes  # AES-GCM: every scheme needs the secret itself to check a signature
    zone: str  # IANA zone for carrier times without an offset
    enabled: bool
    created_at_us: int


@dataclass(frozen=True, slots=True)
class RejectedPayload:
    """Input that could not be read, kept for a person to look at (the body sealed)."""

    tenant_id: str | None
    source: str  # hooks/<format>, mqtt, import
    ref: str | None  # endpoint id, MQTT topic, file and line
    received_at_us: int
    field: str | None
    reason: str
    content_type: str | None
    body_sealed: bytes
    size: int
    rejected_id: int | None = None


@dataclass(frozen=True, slots=True)
class CarrierEstimate:
    """A carrier's own estimate of the delivery, shown beside ours."""

    tenant_id: str
    tracking_no: str
    source: str  # the push format
    estimate: str  # as the carrier meant it: RFC 3339 with the carrier's offset
    updated_at_us: int


class Integrations(Protocol):
    def add_endpoint(self, row: EndpointRow) -> None: ...
    def endpoint(self, endpoint_id: str) -> EndpointRow | None: ...
    def endpoints(self, tenant_id: str) -> list[EndpointRow]: ...
    def set_endpoint_enabled(self, endpoint_id: str, enabled: bool) -> None: ...
    def add_rejected(self, row: RejectedPayload) -> int: ...
    def rejected(self, tenant_id: str, before_id: int | None, limit: int) -> list[RejectedPayload]:
        """Newest first."""
        ...

    def set_estimates(self, rows: Sequence[CarrierEstimate]) -> None:
        """Insert or replace, one per (tenant, tracking number, source)."""
        ...

    def estimates(self, tenant_id: str, tracking_no: str) -> list[CarrierEstimate]: ...


@dataclass(frozen=True, slots=True)
class CarrierCounts:
    """One carrier's shipments registered in a period, and what became of them."""

    carrier: str
    shipments: int = 0
    judged: int = 0  # delivered, with a promised date
    on_time: int = 0  # delivered by the promised date
    damaged: int = 0  # a damage alert (condition noted at a scan)
    lost: int = 0  # a lost_suspected alert
    cold_chain: int = 0
    excursions: int = 0  # cold-chain shipments with a temperature excursion alert
    transit_count: int = 0  # delivered after a pickup
    transit_us: int = 0  # their pickup-to-delivery time, summed


@dataclass(frozen=True, slots=True)
class AlertCounts:
    """Alerts of one kind on one carrier's shipments, opened in a period."""

    carrier: str
    kind: str
    opened: int
    acknowledged: int
    ack_us: int  # time from opening to acknowledgement, summed over the acknowledged


class Reports(Protocol):
    def carriers(self, tenant_id: str, since_us: int, until_us: int) -> list[CarrierCounts]: ...
    def alert_kinds(self, tenant_id: str, since_us: int, until_us: int) -> list[AlertCounts]: ...
    def active_alerts(self, tenant_id: str) -> dict[str, int]:
        """Open or acknowledged alerts of the tenant, counted by kind."""
        ...

    def predicted_late(self, tenant_id: str, limit: int) -> list[ShipmentRecord]:
        """Undelivered shipments whose ETA is after their promise, latest first."""
        ...

    def claims(self, tenant_id: str, since_us: int, until_us: int) -> list[ClaimCounts]:
        """Claims on each carrier's shipments: opened in the period, settled in it."""
        ...


@dataclass(frozen=True, slots=True)
class ClaimCounts:
    carrier: str
    opened: int = 0  # opened in the period
    active: int = 0  # of those, not settled yet
    settled: int = 0  # settled in the period (opened whenever)
    settle_us: int = 0  # their time from opening to settling, summed
    paid: int = 0  # what they paid, minor units summed


@dataclass(frozen=True, slots=True)
class ClaimFilter:
    state: ClaimState | None = None
    active: bool = False  # not settled
    kind: ClaimKind | None = None
    tracking_no: str | None = None


class Claims(Protocol):
    def add(self, claim: Claim, shipment_id: int, step: Step) -> None:
        """Refuses (Conflict) a second unsettled claim of the same kind and claimant on a
        shipment."""
        ...

    def get(self, tenant_id: str, claim_id: str) -> Claim | None: ...
    def active_of(self, tenant_id: str, tracking_no: str, kind: ClaimKind,
                  claimant: Claimant) -> Claim | None: ...
    def move(self, claim: Claim, was: ClaimState, step: Step) -> bool:
        """Save ``claim`` if it is still in state ``was`` (False: someone moved it first)."""
        ...

    def add_step(self, step: Step) -> None: ...
    def steps(self, claim_id: str) -> list[Step]: ...
    def page(self, tenant_id: str, where: ClaimFilter, before: tuple[int, str] | None,
             limit: int) -> list[Claim]:
        """Newest first; ``before`` is the (opened_at, claim_id) of the last one seen."""
        ...


@dataclass(frozen=True, slots=True)
class PickupCode:
    """The one-time code a recipient shows the courier; only its keyed digest is kept."""

    tenant_id: str
    tracking_no: str
    code_digest: str
    issued_at_us: int
    failures: int = 0
    locked_at_us: int | None = None
    used_at_us: int | None = None


@dataclass(frozen=True, slots=True)
class ConsumerMessage:
    """A message to a recipient (a pickup code, later notifications), kept sealed."""

    tenant_id: str
    tracking_no: str
    channel: str  # sms | email
    to_sealed: bytes
    body_sealed: bytes
    purpose: str  # pickup_code | ...
    created_at_us: int
    status: str = "pending"  # pending | sent | failed
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class NoticeSubscription:
    """A recipient's wish to hear about one parcel (``domain.notices``); the address sealed."""

    subscription_id: str
    tenant_id: str
    tracking_no: str
    channel: str  # email | sms | webhook
    to_sealed: bytes
    to_digest: str  # one live subscription per address and parcel
    locale: str
    created_at_us: int
    created_by: str  # consumer, or the merchant's key id
    quiet: str | None = None  # HH:MM-HH:MM local
    tz: str = "Asia/Shanghai"
    secret_sealed: bytes | None = None  # webhook: the signing secret
    unsubscribed_at_us: int | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification owed to a subscription: written with the change it announces, sent by
    the notifier once ``send_after_us`` has come (the end of quiet hours, or a retry)."""

    subscription_id: str
    topic: str  # status:<status> | alert:<kind>
    ref: str  # what it is about (the status event's id, the alert's id): one notice each
    data: Mapping[str, object]
    created_at_us: int
    send_after_us: int
    state: str = "pending"  # pending | sent | failed | dropped
    attempts: int = 0
    sent_at_us: int | None = None
    message_id: int | None = None  # the consumer_messages row recording what went out
    last_error: str | None = None
    notice_id: int | None = None


class Notices(Protocol):
    def subscribe(self, sub: NoticeSubscription) -> None:
        """Conflict when the address already follows the parcel."""
        ...

    def subscription(self, subscription_id: str) -> NoticeSubscription | None: ...
    def of_parcel(self, tenant_id: str, tracking_no: str) -> list[NoticeSubscription]: ...
    def following(self, parcels: Collection[tuple[str, str]]) -> list[NoticeSubscription]:
        """The live subscriptions of these (tenant, tracking number) parcels."""
        ...

    def unsubscribe(self, subscription_id: str, at_us: int) -> None: ...
    def add(self, notices: Sequence[Notice]) -> None:
        """New notices; one already owed (same subscription, topic and ref) is left as it is."""
        ...

    def due(self, now_us: int, limit: int) -> list[Notice]: ...
    def save(self, notice: Notice) -> None: ...
    def of_subscription(self, subscription_id: str) -> list[Notice]: ...


@dataclass(frozen=True, slots=True)
class OnHand:
    """A parcel at a facility now (held by it), since its last scan there."""

    facility_id: str
    tracking_no: str
    since_us: int


@dataclass(frozen=True, slots=True)
class Delivered:
    """A delivered parcel's journey, for lane performance."""

    lane: str  # origin|destination|carrier|category
    picked_up_us: int
    delivered_us: int
    promised_us: int | None


@dataclass(frozen=True, slots=True)
class Visit:
    """A parcel's stay at a facility: from its first scan there to its last (the departure),
    once it has been scanned elsewhere."""

    facility_id: str
    shipment_id: int
    arrived_us: int
    left_us: int | None  # None: not scanned anywhere else since
    on_hand: bool  # the facility holds it now


@dataclass(frozen=True, slots=True)
class OpsAlert:
    """An operations alert about a facility (not a parcel): a bottleneck forming."""

    alert_id: str
    tenant_id: str
    facility_id: str
    kind: str  # bottleneck
    opened_at_us: int
    evidence: Mapping[str, object]
    cleared_at_us: int | None = None
    network: str | None = None  # found over a carrier network's parcels, not the tenant's

    @property
    def scope(self) -> Scope:
        return Scope(self.tenant_id, self.network)


class Operations(Protocol):
    """What the carrier's operations console reads (services/operations.py), over one
    tenant's parcels or one carrier network's (``Scope``)."""

    def visits(self, scope: Scope, since_us: int, until_us: int) -> list[Visit]:
        """Stays that began in the window."""
        ...

    def ops_alerts(self, scope: Scope, active_only: bool) -> list[OpsAlert]:
        """The scope's own alerts, newest first (the last 200)."""
        ...

    def save_ops_alert(self, alert: OpsAlert) -> None: ...

    def delivered(self, scope: Scope, since_us: int, until_us: int) -> list[Delivered]:
        """Parcels delivered in the window (picked up with a scan)."""
        ...

    def on_hand(self, scope: Scope) -> list[OnHand]: ...
    def scanned(self, scope: Scope, since_us: int, until_us: int,
                group: str) -> dict[str, int]:
        """Distinct parcels scanned in the window per ``group``: facility, operator, device,
        or shift (``<facility>|day`` 08:00-20:00 and ``|night`` in China time)."""
        ...

    def open_dwell(self, scope: Scope) -> list[tuple[str, str]]:
        """(facility, tracking number) of each active dwell_exceeded alert."""
        ...

    def with_alerts(self, scope: Scope, kinds: Sequence[str], since_us: int,
                    until_us: int) -> list[tuple[str, str]]:
        """(tenant, tracking number) of the parcels with an alert of these kinds opened in
        the window, ordered by tracking number."""
        ...

    def positions(self, scope: Scope,
                  facilities: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Where these facilities are (a network: as any of its tenants placed them)."""
        ...


class Disruptions(Protocol):
    def add(self, d: Disruption) -> None: ...
    def get(self, tenant_id: str, disruption_id: str) -> Disruption | None: ...
    def of_tenant(self, tenant_id: str) -> list[Disruption]:
        """Newest first."""
        ...

    def in_force(self, now_us: int) -> list[Disruption]:
        """Of every tenant: not over, not called off."""
        ...

    def cancel(self, disruption_id: str, at_us: int) -> None: ...


class Deliveries(Protocol):
    def code(self, tenant_id: str, tracking_no: str) -> PickupCode | None: ...
    def save_code(self, code: PickupCode) -> None: ...
    def add_message(self, message: ConsumerMessage) -> int: ...
    def set_message_status(self, message_id: int, status: str) -> None: ...
    def messages(self, tenant_id: str, tracking_no: str) -> list[ConsumerMessage]: ...


class Sender(Protocol):
    """Delivers a message to a recipient (SMS gateway, mail, or the log); True when sent."""

    channel: str

    def send(self, to: str, text: str, subject: str | None = None,
             unsubscribe_url: str | None = None) -> bool:
        """``subject`` and ``unsubscribe_url`` are for channels that carry them (mail)."""
        ...


class Blobs(Protocol):
    """Content-addressed storage of photos: the key is the SHA-256 of the bytes."""

    def put(self, data: bytes) -> str: ...
    def get(self, sha256: str) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class LookupFailures:
    """Wrong answers to the public lookup of one tracking number, known to us or not."""

    tracking_no: str
    failures: int
    first_at_us: int
    locked_until_us: int | None = None


class Lookups(Protocol):
    def failures(self, tracking_no: str) -> LookupFailures | None: ...
    def save_failures(self, row: LookupFailures) -> None: ...
    def clear(self, tracking_no: str) -> None: ...
    def prune(self, before_us: int) -> int:
        """Forget rows whose window and lock ended before ``before_us``; how many."""
        ...


class Rules(Protocol):
    """Merchant rules; deleted ones stay (their alerts name them) but are never loaded."""

    def add(self, rule: CustomRule) -> None: ...
    def get(self, tenant_id: str, rule_id: str) -> CustomRule | None: ...
    def of_tenant(self, tenant_id: str) -> list[CustomRule]: ...
    def enabled(self) -> list[CustomRule]:
        """Every enabled rule of every tenant, oldest first."""
        ...

    def update(self, rule: CustomRule) -> None: ...
    def delete(self, tenant_id: str, rule_id: str, at_us: int) -> None: ...
    def version(self) -> tuple[int, int]:
        """Different after any rule is added, changed or deleted."""
        ...


class Devices(Protocol):
    def put(self, device: Device) -> None: ...
    def get(self, tenant_id: str, device_id: str) -> Device | None: ...
    def page(self, tenant_id: str, after: str | None, limit: int) -> list[Device]:
        """By device id, from after ``after``."""
        ...


class Ledger(Protocol):
    def lock(self) -> None:
        """Hold the log's end for this transaction against other writers of the store."""
        ...

    def append(self, entries: Sequence[Sealed], nodes: Sequence[Node]) -> None: ...
    def size(self) -> int: ...
    def leaves(self, start: int, end: int) -> list[bytes]: ...
    def node(self, level: int, index: int) -> bytes | None: ...
    def entry(self, index: int) -> Sealed | None: ...
    def entries_of(self, tenant_id: str, tracking_no: str) -> list[Sealed]: ...
    def scan(self, start: int = 0) -> Iterator[tuple[int, bytes, bytes]]:
        """(stored index, body, leaf hash) in index order, for the auditor."""
        ...

    def add_checkpoint(self, cp: CheckpointRecord) -> None: ...
    def latest_checkpoint(self) -> CheckpointRecord | None: ...
    def checkpoint(self, size: int) -> CheckpointRecord | None: ...
    def checkpoints(self) -> list[CheckpointRecord]: ...


class Offsets(Protocol):
    """Bus mode: how far each partition of the ingest stream is committed."""

    def all(self, stream: str) -> dict[int, int]: ...
    def save(self, stream: str, seqs: Mapping[int, int]) -> None: ...


@dataclass(frozen=True, slots=True)
class KeptAnswer:
    """The answer given to a request sent with an Idempotency-Key, replayed to its retries.
    ``fingerprint``: the request's route and body digest, so a key reused for another request
    is told apart."""

    tenant_id: str
    key_id: str  # the API key that sent it: keys of different callers never meet
    key: str
    fingerprint: str
    status: int
    body: bytes
    created_at_us: int


class RequestKeys(Protocol):
    """Answers kept for idempotent requests, for a day."""

    def get(self, tenant_id: str, key_id: str, key: str) -> KeptAnswer | None: ...
    def keep(self, answer: KeptAnswer) -> None:
        """Kept unless an answer for the key is already kept (a concurrent first request)."""
        ...

    def purge(self, before_us: int) -> int: ...


class UnitOfWork(Protocol):
    @property
    def tenants(self) -> Tenants: ...
    @property
    def shipments(self) -> Shipments: ...
    @property
    def events(self) -> Events: ...
    @property
    def telemetry(self) -> Telemetry: ...
    @property
    def devices(self) -> Devices: ...
    @property
    def alerts(self) -> Alerts: ...
    @property
    def webhooks(self) -> Webhooks: ...
    @property
    def rules(self) -> Rules: ...
    @property
    def integrations(self) -> Integrations: ...
    @property
    def lookups(self) -> Lookups: ...
    @property
    def reports(self) -> Reports: ...
    @property
    def deliveries(self) -> Deliveries: ...
    @property
    def claims(self) -> Claims: ...
    @property
    def notices(self) -> Notices: ...
    @property
    def disruptions(self) -> Disruptions: ...
    @property
    def operations(self) -> Operations: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def offsets(self) -> Offsets: ...
    @property
    def request_keys(self) -> RequestKeys: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class Store(Protocol):
    def unit_of_work(self, *, write: bool = True) -> UnitOfWork:
        """A transaction; ``write=False`` for reads, which never wait for the writer."""
        ...

    def close(self) -> None: ...


# ---- crypto ----


class Signer(Protocol):
    name: str

    def sign(self, message: bytes) -> Signature: ...
    def verifier_key(self) -> str: ...


class SignatureCheck(Protocol):
    def __call__(self, body: bytes, signatures: list[Signature]) -> bool: ...


class Vault(Protocol):
    """Seals personal data at rest and makes keyed digests for lookups."""

    def seal(self, plaintext: bytes) -> bytes: ...
    def open(self, sealed: bytes) -> bytes: ...
    def digest(self, text: str) -> str: ...


class Program(Protocol):
    def matches(self, context: Mapping[str, object],
                rule_ids: Sequence[str]) -> list[tuple[str, bool | None]]:
        """(rule id, verdict) for each of ``rule_ids``; None: it could not be evaluated."""
        ...


class Expressions(Protocol):
    """The merchant rules' expression language (CEL)."""

    def check(self, expression: str, allowed: Mapping[str, Mapping[str, object]]) -> None:
        """Refuse (InvalidInput) an expression that does not compile, reads a variable not in
        ``allowed`` or does not give a boolean on those sample values."""
        ...

    def compile(self, rules: Sequence[tuple[str, str]]) -> Program: ...


class Encoder(Protocol):
    def __call__(self, value: object) -> bytes:
        """Canonical JSON (RFC 8785) of a value built with ``canonical.jnum``."""
        ...
