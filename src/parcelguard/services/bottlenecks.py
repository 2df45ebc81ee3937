"""Bottleneck detection: a facility whose dwell is drifting above its own baseline raises an
operations alert before parcels start missing their promises.

For each facility, **now** is the 95th percentile of the stays (first scan there to the last,
the departure) of the last 6 hours: those completed, and the parcels it holds, counted until
now. The **baseline** is the 95th percentile of its stays over the last 7 days that began in
the same 6 hours of the day (a hub's night differs from its day: trucks leave on a timetable,
night shifts are thinner), so the comparison is like with like. A facility is a bottleneck
when now is at least 1.5 times its baseline and at least 30 minutes above it, with enough
stays on both sides to say so (20 and 10). The alert clears when now falls back under 1.2
times the baseline (hysteresis: no flapping).

This compares a facility with itself, so a hub that is always slow is not flagged for being
slow (the hub board's congestion level says that), while a fast one that slows down is.

Each tenant's facilities are checked over its own parcels, and each carrier network a live key
spans over that carrier's parcels of every tenant (its alerts belong to the key's tenant).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace

import structlog

from parcelguard.domain import times
from parcelguard.domain.tenancy import Scope
from parcelguard.services import notify
from parcelguard.services.clock import Clock
from parcelguard.services.operations import quantile
from parcelguard.services.ports import OpsAlert, Store, UnitOfWork, Vault, Visit
from parcelguard.services.rounds import Rounds

log = structlog.get_logger(__name__)

MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US
BASELINE_US = 7 * DAY_US
RECENT_US = 6 * HOUR_US
RATIO = 1.5
CLEAR_RATIO = 1.2
MIN_EXCESS_MIN = 30.0
MIN_BASELINE = 20
MIN_RECENT = 10  # a 95th percentile of fewer says little: a quiet night is not a bottleneck
KIND = "bottleneck"


@dataclass(frozen=True, slots=True)
class Drift:
    facility_id: str
    baseline_p95_min: float
    now_p95_min: float
    baseline_stays: int
    recent_stays: int
    on_hand: int

    @property
    def ratio(self) -> float:
        return self.now_p95_min / self.baseline_p95_min if self.baseline_p95_min else 0.0


def drifts(visits: Iterable[Visit], now_us: int) -> list[Drift]:
    """Each facility's dwell now against its baseline (facilities with enough stays)."""
    base: dict[str, list[float]] = {}
    recent: dict[str, list[float]] = {}
    held: dict[str, int] = {}
    for v in visits:
        if v.left_us is not None:
            minutes = (v.left_us - v.arrived_us) / MINUTE_US
            if v.left_us >= now_us - RECENT_US:
                recent.setdefault(v.facility_id, []).append(minutes)
            elif v.arrived_us < now_us - DAY_US + RECENT_US and _same_hours(v.arrived_us, now_us):
                base.setdefault(v.facility_id, []).append(minutes)
        elif v.on_hand:
            recent.setdefault(v.facility_id, []).append((now_us - v.arrived_us) / MINUTE_US)
            held[v.facility_id] = held.get(v.facility_id, 0) + 1
    out = []
    for facility, stays in sorted(recent.items()):
        before = base.get(facility, [])
        if len(before) < MIN_BASELINE or len(stays) < MIN_RECENT:
            continue
        out.append(Drift(facility, round(quantile(sorted(before), 0.95), 1),
                         round(quantile(sorted(stays), 0.95), 1), len(before),
                         len(stays), held.get(facility, 0)))
    return out


def _same_hours(at_us: int, now_us: int) -> bool:
    """``at`` fell, on its day, in the 6 hours of the day that end at ``now``'s time."""
    return (now_us - at_us) % DAY_US <= RECENT_US


def is_bottleneck(d: Drift) -> bool:
    return (d.now_p95_min >= RATIO * d.baseline_p95_min
            and d.now_p95_min - d.baseline_p95_min >= MIN_EXCESS_MIN)


def check(uow: UnitOfWork, scope: Scope, now_us: int) -> list[tuple[str, OpsAlert]]:
    """Open an alert for each facility newly drifting, clear those back to normal; returns
    what changed (``opened`` or ``cleared``, the alert). The caller commits."""
    return changes_for(uow, scope, now_us, _found(uow, scope, now_us))


def _found(uow: UnitOfWork, scope: Scope, now_us: int) -> dict[str, Drift]:
    return {d.facility_id: d for d in drifts(
        uow.operations.visits(scope, now_us - BASELINE_US, now_us + 1), now_us)}


def changes_for(uow: UnitOfWork, scope: Scope, now_us: int,
                found: dict[str, Drift]) -> list[tuple[str, OpsAlert]]:
    active = {a.facility_id: a for a in uow.operations.ops_alerts(scope, True)
              if a.kind == KIND}
    changes = []
    for facility, d in found.items():
        if facility not in active and is_bottleneck(d):
            alert = OpsAlert(_alert_id(scope, facility, now_us), scope.tenant_id, facility,
                             KIND, now_us, _evidence(d), network=scope.network)
            uow.operations.save_ops_alert(alert)
            changes.append(("opened", alert))
    for facility, alert in active.items():
        now = found.get(facility)
        if now is None or now.now_p95_min < CLEAR_RATIO * now.baseline_p95_min:
            cleared = replace(alert, cleared_at_us=now_us)
            uow.operations.save_ops_alert(cleared)
            changes.append(("cleared", cleared))
    return changes


def check_all(store: Store, now_us: int, vault: Vault | None = None
              ) -> list[tuple[str, OpsAlert]]:
    """Every tenant and every carrier network, one transaction each; with ``vault``, webhook
    subscribers get the changes (``ops_alert.opened`` / ``ops_alert.cleared``) through the
    outbox, in the same commit."""
    with store.unit_of_work(write=False) as uow:
        scopes = [Scope(t) for t, _ in uow.tenants.all()] + uow.tenants.networks()
    changes = []
    for scope in scopes:
        # the 7-day read outside the write lock (SQLite has one writer); the write is short
        with store.unit_of_work(write=False) as uow:
            found = _found(uow, scope, now_us)
        with store.unit_of_work() as uow:
            done = changes_for(uow, scope, now_us, found)
            if done and vault is not None:
                uow.webhooks.add_messages(notify.ops_outbox(uow, vault, done, now_us))
            if done:
                uow.commit()
        changes += done
    return changes


def _evidence(d: Drift) -> dict[str, object]:
    return {"baseline_p95_min": d.baseline_p95_min, "now_p95_min": d.now_p95_min,
            "ratio": round(d.ratio, 2), "baseline_stays": d.baseline_stays,
            "recent_stays": d.recent_stays, "on_hand": d.on_hand}


def _alert_id(scope: Scope, facility_id: str, at_us: int) -> str:
    whose = scope.tenant_id if scope.network is None else f"{scope.tenant_id}@{scope.network}"
    digest = hashlib.sha256(f"{whose}\x1f{facility_id}\x1f{at_us}".encode()).hexdigest()
    return f"ops_{digest[:24]}"



class Watch:
    """Checks every tenant's facilities every ``every_s`` seconds (wall time) on a thread of
    its own; runs where the webhook deliverer does (one process in bus mode)."""

    def __init__(self, store: Store, clock: Clock, vault: Vault, every_s: float = 300.0) -> None:
        self.store, self.clock, self.vault = store, clock, vault
        self._rounds = Rounds("bottlenecks", every_s, self._round)

    def start(self) -> None:
        self._rounds.start()

    def stop(self) -> None:
        self._rounds.stop()

    def _round(self) -> bool:
        for what, alert in check_all(self.store, times.to_us(self.clock.now()), self.vault):
            log.info("ops_alert." + what, facility=alert.facility_id, tenant=alert.tenant_id,
                     network=alert.network, **dict(alert.evidence))
        return False
