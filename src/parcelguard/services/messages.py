"""Commands into the ingest pipeline, and what became of each one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from parcelguard.domain.alerts import Kind, Severity
from parcelguard.domain.events import TrackingEvent
from parcelguard.domain.shipment import Recipient, Shipment
from parcelguard.domain.telemetry import Device, Reading


@dataclass(frozen=True, slots=True)
class RegisterShipment:
    shipment: Shipment
    recipient: Recipient | None
    spec_digest: str  # SHA-256 of the canonical request: the same request twice is a duplicate
    received_at: datetime | None = None  # when it arrived; the batch's time when not given


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class RecordScan:
    tenant_id: str
    event: TrackingEvent
    received_at: datetime


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class RecordReading:
    tenant_id: str
    reading: Reading
    received_at: datetime
    # False on the copies of a vehicle's reading that bus mode sends to the partitions other
    # than the vehicle's own: they apply the fix to their parcels aboard and store nothing.
    # A copy names its vehicle: the unit's binding is stored by the vehicle's own partition,
    # which may not have got that far yet.
    keep: bool = True
    vehicle_id: str | None = None


@dataclass(frozen=True, slots=True)
class RegisterDevice:
    device: Device


@dataclass(frozen=True, slots=True)
class AdvanceClock:
    """Event time moves on to ``at``: deadlines due by then fire (replay's ``clock`` lines)."""

    at: datetime


@dataclass(frozen=True, slots=True)
class RulesChanged:
    """A tenant's merchant rules changed in the store: the writer reads them before the commands
    after this one (in bus mode the API node sends it to every partition, so an event published
    after a rule was saved is judged by it, as in one process)."""

    tenant_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class DisruptionsChanged:
    """A tenant's disruptions changed in the store: the writer reads them again and estimates
    again every shipment it holds whose way they now cross or no longer cross (sent to every
    partition in bus mode, like ``RulesChanged``)."""

    tenant_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class NoteEstimate:
    """A carrier's own delivery estimate for a parcel, shown beside ours (not a ledger entry)."""

    tenant_id: str
    tracking_no: str
    source: str  # the push format it came in: kdniao, kuaidi100, ...
    estimated_at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class RaiseAlert:
    """Something other than a scan or a reading says a parcel needs attention (five wrong
    pickup codes at the door, a carrier that stopped tracking it). ``rule`` keeps it apart
    from the engine's own rules. ``while_travelling``: raised only on a journey not over, and
    once while it holds (a carrier repeats its note in every push of the parcel)."""

    tenant_id: str
    tracking_no: str
    rule: str
    kind: Kind
    severity: Severity
    evidence: dict[str, object]
    at: datetime
    while_travelling: bool = False


@dataclass(frozen=True, slots=True)
class Consumed:
    """Bus mode: the commands before this one are the ingest stream's partition up to ``seq``.
    Written in the same commit, so a worker resumes exactly after what it committed."""

    stream: str
    partition: int
    seq: int


class AlertAction(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    ASSIGN = "assign"
    COMMENT = "comment"


@dataclass(frozen=True, slots=True)
class ActOnAlert:
    """A person acknowledges, resolves, assigns or comments on an alert."""

    tenant_id: str
    alert_id: str
    action: AlertAction
    actor: str  # the API key id, or a name from the CLI
    text: str | None = None  # the comment, or the assignee


Command = (RegisterShipment | RecordScan | RecordReading | RegisterDevice | AdvanceClock
           | ActOnAlert | NoteEstimate | RaiseAlert | RulesChanged | DisruptionsChanged
           | Consumed)


class Result(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"
    CONFLICT = "conflict"  # exists already with other content, or not in a state for this
    NOT_FOUND = "not_found"
    QUEUED = "queued"  # bus mode: durable in the stream; the worker did not answer in time


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Result
    ref: str | None = None  # the event id, tracking number or device id concerned
    reason: str | None = None
    field: str | None = None  # the input field the reason is about


ACCEPTED = Outcome(Result.ACCEPTED)  # shared: the common answer needs no object of its own


def accepted(ref: str | None = None) -> Outcome:
    return ACCEPTED if ref is None else Outcome(Result.ACCEPTED, ref)


def duplicate(ref: str | None = None) -> Outcome:
    return Outcome(Result.DUPLICATE, ref)


def rejected(ref: str | None, field: str, reason: str) -> Outcome:
    return Outcome(Result.REJECTED, ref, reason, field)
