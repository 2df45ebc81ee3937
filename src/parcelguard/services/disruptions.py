"""Disruptions (``domain.disruptions``): declared by an operator, stored, then announced to the
writer, which estimates again every shipment whose way they cross (``Ingestor``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from parcelguard.domain.disruptions import Disruption, check, new_id
from parcelguard.domain.errors import NotFound
from parcelguard.services.ports import Store


@dataclass(frozen=True, slots=True)
class Declared:
    """A disruption as given."""

    kind: str
    title: str
    starts_us: int
    ends_us: int
    extra_h: float
    cities: Sequence[str] = ()
    facility_id: str | None = None
    polygon: Sequence[Sequence[float]] | None = None


def declare(store: Store, tenant_id: str, d: Declared, created_by: str,
            now_us: int) -> Disruption:
    kind, cities, ring = check(d.kind, d.title, d.starts_us, d.ends_us, d.extra_h, d.cities,
                               d.facility_id, d.polygon)
    made = Disruption(new_id(), tenant_id, kind, d.title.strip(), d.starts_us, d.ends_us,
                      d.extra_h, now_us, created_by, cities, d.facility_id, ring)
    with store.unit_of_work() as uow:
        uow.disruptions.add(made)
        uow.commit()
    return made


def call_off(store: Store, tenant_id: str, disruption_id: str, now_us: int) -> Disruption:
    """End a disruption before its window does (the road reopened)."""
    with store.unit_of_work() as uow:
        found = uow.disruptions.get(tenant_id, disruption_id)
        if found is None:
            raise NotFound(f"no disruption {disruption_id!r}")
        uow.disruptions.cancel(disruption_id, now_us)
        uow.commit()
    return found if found.cancelled_at_us is not None else replace(found, cancelled_at_us=now_us)
