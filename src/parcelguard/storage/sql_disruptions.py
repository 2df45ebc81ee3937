"""Disruptions in SQL."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from parcelguard.domain.disruptions import Disruption, DisruptionKind
from parcelguard.storage import tables as t
from parcelguard.storage.sqlrepo import Repo


class SqlDisruptions(Repo):
    def add(self, d: Disruption) -> None:
        self.conn.execute(t.disruptions.insert().values(
            disruption_id=d.disruption_id, tenant_id=d.tenant_id, kind=d.kind.value,
            title=d.title, starts_at=d.starts_us, ends_at=d.ends_us, extra_h=d.extra_h,
            cities=json.dumps(sorted(d.cities), ensure_ascii=False), facility_id=d.facility_id,
            polygon=None if d.polygon is None else json.dumps([list(p) for p in d.polygon]),
            created_at=d.created_at_us, created_by=d.created_by,
            cancelled_at=d.cancelled_at_us))

    def get(self, tenant_id: str, disruption_id: str) -> Disruption | None:
        c = t.disruptions.c
        r = self.conn.execute(sa.select(t.disruptions).where(
            c.tenant_id == tenant_id, c.disruption_id == disruption_id)).first()
        return None if r is None else _disruption(r)

    def of_tenant(self, tenant_id: str) -> list[Disruption]:
        c = t.disruptions.c
        rows = self.conn.execute(sa.select(t.disruptions).where(c.tenant_id == tenant_id)
                                 .order_by(c.created_at.desc()).limit(500))
        return [_disruption(r) for r in rows]

    def in_force(self, now_us: int) -> list[Disruption]:
        c = t.disruptions.c
        rows = self.conn.execute(sa.select(t.disruptions).where(
            c.ends_at > now_us, c.cancelled_at.is_(None)).order_by(c.created_at))
        return [_disruption(r) for r in rows]

    def cancel(self, disruption_id: str, at_us: int) -> None:
        c = t.disruptions.c
        self.conn.execute(t.disruptions.update().where(
            c.disruption_id == disruption_id, c.cancelled_at.is_(None)).values(cancelled_at=at_us))


def _disruption(r: sa.Row[Any]) -> Disruption:
    return Disruption(
        r.disruption_id, r.tenant_id, DisruptionKind(r.kind), r.title, r.starts_at, r.ends_at,
        r.extra_h, r.created_at, r.created_by, frozenset(json.loads(r.cities)), r.facility_id,
        None if r.polygon is None else tuple((p[0], p[1]) for p in json.loads(r.polygon)),
        r.cancelled_at)
