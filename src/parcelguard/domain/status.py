"""The unified status taxonomy and the rules for deriving a shipment's status.

Status is derived from events ordered by the time they happened (``occurred_at``), not by
the time they arrived. A late event slots into its place; a move backwards is recorded as a
regression and never applied; ``delivered`` is final unless a return follows.

The transition table below is the whole policy: for the shipment's current *progress*
status (the last non-exception status) it lists which next statuses are applied and which
are kept on the timeline without changing the status. Everything else is a regression.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum


class Status(StrEnum):
    INFO_RECEIVED = "info_received"
    PICKED_UP = "picked_up"
    IN_TRANSIT = "in_transit"
    CUSTOMS = "customs"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    DELIVERED = "delivered"
    FAILED_ATTEMPT = "failed_attempt"
    EXCEPTION = "exception"
    RETURNING = "returning"
    RETURNED = "returned"
    FORWARDED = "forwarded"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    zh: str
    en: str
    terminal: bool = False


S = Status
TAXONOMY: Mapping[Status, StatusInfo] = {
    S.INFO_RECEIVED: StatusInfo("已下单", "Info received"),
    S.PICKED_UP: StatusInfo("已揽收", "Picked up"),
    S.IN_TRANSIT: StatusInfo("运输中", "In transit"),
    S.CUSTOMS: StatusInfo("清关中", "In customs"),
    S.FORWARDED: StatusInfo("已转寄", "Forwarded"),
    S.OUT_FOR_DELIVERY: StatusInfo("派送中", "Out for delivery"),
    S.AVAILABLE_FOR_PICKUP: StatusInfo("待取件", "Available for pickup"),
    S.FAILED_ATTEMPT: StatusInfo("投递失败", "Failed attempt"),
    S.DELIVERED: StatusInfo("已签收", "Delivered", terminal=True),
    S.EXCEPTION: StatusInfo("异常", "Exception"),
    S.RETURNING: StatusInfo("退回中", "Returning"),
    S.RETURNED: StatusInfo("已退回", "Returned", terminal=True),
    S.UNKNOWN: StatusInfo("未知", "Unknown"),
}

_FORWARD = frozenset(
    {S.PICKED_UP, S.IN_TRANSIT, S.CUSTOMS, S.FORWARDED, S.OUT_FOR_DELIVERY,
     S.AVAILABLE_FOR_PICKUP, S.FAILED_ATTEMPT, S.DELIVERED, S.EXCEPTION, S.RETURNING, S.RETURNED}
)
_LAST_MILE = frozenset(
    {S.OUT_FOR_DELIVERY, S.AVAILABLE_FOR_PICKUP, S.FAILED_ATTEMPT, S.DELIVERED,
     S.EXCEPTION, S.RETURNING, S.RETURNED}
)

# progress status -> statuses applied after it
APPLIES: Mapping[Status, frozenset[Status]] = {
    S.INFO_RECEIVED: _FORWARD,
    S.PICKED_UP: _FORWARD,
    S.IN_TRANSIT: _FORWARD - {S.PICKED_UP},
    S.CUSTOMS: _FORWARD - {S.PICKED_UP},
    S.FORWARDED: _FORWARD - {S.PICKED_UP},
    S.OUT_FOR_DELIVERY: _LAST_MILE,
    S.AVAILABLE_FOR_PICKUP: _LAST_MILE,
    # a failed attempt may send the parcel back to the depot before the next try
    S.FAILED_ATTEMPT: _LAST_MILE | {S.IN_TRANSIT},
    S.DELIVERED: frozenset({S.RETURNING, S.RETURNED}),
    S.RETURNING: frozenset({S.RETURNED, S.EXCEPTION}),
    S.RETURNED: frozenset(),
}
# progress status -> statuses kept on the timeline without changing the status
KEEPS: Mapping[Status, frozenset[Status]] = {
    S.INFO_RECEIVED: frozenset({S.INFO_RECEIVED}),
    S.PICKED_UP: frozenset({S.INFO_RECEIVED}),
    S.IN_TRANSIT: frozenset({S.INFO_RECEIVED}),
    S.CUSTOMS: frozenset({S.INFO_RECEIVED}),
    S.FORWARDED: frozenset({S.INFO_RECEIVED}),
    S.OUT_FOR_DELIVERY: frozenset({S.INFO_RECEIVED}),
    S.AVAILABLE_FOR_PICKUP: frozenset({S.INFO_RECEIVED}),
    S.FAILED_ATTEMPT: frozenset({S.INFO_RECEIVED}),
    # a problem reported after delivery (damage found on opening) does not undo it
    S.DELIVERED: frozenset({S.INFO_RECEIVED, S.DELIVERED, S.EXCEPTION}),
    # the scans of the way back are part of the return, not a new journey
    S.RETURNING: frozenset(
        {S.INFO_RECEIVED, S.PICKED_UP, S.IN_TRANSIT, S.CUSTOMS, S.FORWARDED,
         S.OUT_FOR_DELIVERY, S.AVAILABLE_FOR_PICKUP, S.FAILED_ATTEMPT, S.DELIVERED,
         S.RETURNING}
    ),
    S.RETURNED: frozenset({S.INFO_RECEIVED, S.RETURNED, S.EXCEPTION}),
}


class Effect(Enum):
    APPLIED = "applied"  # the shipment's status is now this event's status
    KEPT = "kept"  # on the timeline; the status stays as it was
    REGRESSION = "regression"  # a move backwards: recorded, not applied


def effect_of(progress: Status, new: Status) -> Effect:
    """What ``new`` does to a shipment whose last progress status is ``progress``."""
    if new in APPLIES[progress]:
        return Effect.APPLIED
    if new in KEEPS[progress] or new is S.UNKNOWN:
        return Effect.KEPT
    return Effect.REGRESSION


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Step:
    """One event as the fold sees it. ``key`` orders events; ties are broken by ``event_id``."""

    key: int  # occurred_at in UTC microseconds
    status: Status
    event_id: str


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Derived:
    status: Status
    progress: Status  # the last status that was not an exception
    changed_at: int | None  # key of the step that set the status; None while unchanged


INITIAL = Derived(S.INFO_RECEIVED, S.INFO_RECEIVED, None)


def sort_key(step: Step) -> tuple[int, str]:
    return (step.key, step.event_id)


def fold(
    steps: Iterable[Step], start: Derived = INITIAL, effects: dict[str, Effect] | None = None
) -> Derived:
    """Derive the status from steps already in event-time order (see :func:`sort_key`).

    The effect of each step is written into ``effects`` when given.
    """
    status, progress, changed_at = start.status, start.progress, start.changed_at
    for step in steps:
        eff = effect_of(progress, step.status)
        if effects is not None:
            effects[step.event_id] = eff
        if eff is Effect.APPLIED:
            if step.status is not status:
                changed_at = step.key
            status = step.status
            if step.status is not S.EXCEPTION:
                progress = step.status
    return Derived(status, progress, changed_at)


def apply(derived: Derived, step: Step, effects: dict[str, Effect]) -> Derived:
    """One step of :func:`fold` (the common case: the step is the newest so far).

    Returns ``derived`` itself when nothing changed, so the hot path allocates nothing.
    """
    eff = effect_of(derived.progress, step.status)
    effects[step.event_id] = eff
    if eff is not Effect.APPLIED or (
        step.status is derived.status
        and (step.status is S.EXCEPTION or step.status is derived.progress)
    ):
        return derived
    progress = derived.progress if step.status is S.EXCEPTION else step.status
    changed = step.key if step.status is not derived.status else derived.changed_at
    return Derived(step.status, progress, changed)


def derive(steps: Iterable[Step]) -> tuple[Derived, dict[str, Effect]]:
    """Derive the status from steps in any order: the result depends only on the set."""
    effects: dict[str, Effect] = {}
    return fold(sorted(steps, key=sort_key), INITIAL, effects), effects
