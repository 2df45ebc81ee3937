"""A merchant's KPIs for a period, overall and per carrier (the scorecards).

The period is that of registration: shipments registered in it and what became of them, and the
alerts and claims opened in it (the time to settle is of the claims settled in it). Rates are of
the shipments they can apply to: on time of those delivered with a promised date, temperature
excursions of the cold-chain ones, breakage (a damage alert) and loss (a lost_suspected alert)
of all. ``None`` where nothing could be judged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from parcelguard.services.ports import AlertCounts, CarrierCounts, ClaimCounts, UnitOfWork

HOUR_US = 3_600_000_000


@dataclass
class Kpis:
    name: str  # a carrier, or "" for all of them
    shipments: int = 0
    on_time_rate: float | None = None
    breakage_rate: float | None = None
    loss_rate: float | None = None
    excursion_rate: float | None = None
    mean_transit_h: float | None = None
    alerts: int = 0
    alerts_by_kind: Counter[str] = field(default_factory=Counter)
    mtta_min: float | None = None  # mean time to acknowledge
    claims: int = 0  # opened in the period
    claims_active: int = 0  # of those, not settled yet
    claims_settled: int = 0  # settled in the period
    settle_h: float | None = None  # mean time from opening to settling, of those
    claims_paid: int = 0  # minor units paid on those


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _kpis(name: str, c: CarrierCounts, alerts: list[AlertCounts], k: ClaimCounts) -> Kpis:
    acked = sum(a.acknowledged for a in alerts)
    return Kpis(
        name=name, shipments=c.shipments, on_time_rate=_rate(c.on_time, c.judged),
        breakage_rate=_rate(c.damaged, c.shipments), loss_rate=_rate(c.lost, c.shipments),
        excursion_rate=_rate(c.excursions, c.cold_chain),
        mean_transit_h=c.transit_us / c.transit_count / HOUR_US if c.transit_count else None,
        alerts=sum(a.opened for a in alerts),
        alerts_by_kind=Counter({a.kind: a.opened for a in alerts}) + Counter(),
        mtta_min=sum(a.ack_us for a in alerts) / acked / 60e6 if acked else None,
        claims=k.opened, claims_active=k.active, claims_settled=k.settled,
        settle_h=k.settle_us / k.settled / HOUR_US if k.settled else None, claims_paid=k.paid,
    )


def _sum(rows: list[CarrierCounts]) -> CarrierCounts:
    return CarrierCounts("", *(sum(getattr(r, f) for r in rows) for f in (
        "shipments", "judged", "on_time", "damaged", "lost", "cold_chain", "excursions",
        "transit_count", "transit_us")))


def _claims_sum(rows: list[ClaimCounts]) -> ClaimCounts:
    return ClaimCounts("", *(sum(getattr(r, f) for r in rows) for f in (
        "opened", "active", "settled", "settle_us", "paid")))


def kpis(uow: UnitOfWork, tenant_id: str, since_us: int, until_us: int,
         ) -> tuple[Kpis, list[Kpis]]:
    """All carriers together, then each carrier (most shipments first)."""
    carriers = uow.reports.carriers(tenant_id, since_us, until_us)
    alerts = uow.reports.alert_kinds(tenant_id, since_us, until_us)
    claims = {k.carrier: k for k in uow.reports.claims(tenant_id, since_us, until_us)}
    per: dict[str, list[AlertCounts]] = {}
    merged: dict[str, AlertCounts] = {}
    for a in alerts:
        per.setdefault(a.carrier, []).append(a)
        m = merged.get(a.kind)
        merged[a.kind] = a if m is None else AlertCounts(
            "", a.kind, m.opened + a.opened, m.acknowledged + a.acknowledged, m.ack_us + a.ack_us)
    names = {c.carrier for c in carriers} | set(per) | set(claims)
    counts = {c.carrier: c for c in carriers}
    each = [_kpis(n, counts.get(n, CarrierCounts(n)), per.get(n, []),
                  claims.get(n, ClaimCounts(n))) for n in names]
    each.sort(key=lambda k: (-k.shipments, k.name))
    return _kpis("", _sum(carriers), list(merged.values()),
                 _claims_sum(list(claims.values()))), each
