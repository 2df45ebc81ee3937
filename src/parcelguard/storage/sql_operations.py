"""The operations console's reads in SQL: aggregated in the database, one query each."""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa

from parcelguard.domain.alerts import ACTIVE, Kind
from parcelguard.domain.tenancy import Scope
from parcelguard.services.ports import Delivered, OnHand, OpsAlert, Visit
from parcelguard.storage import tables as t
from parcelguard.storage.sqlrepo import Repo

HOUR_US = 3_600_000_000
CHINA_OFFSET_H = 8
TERMINAL = ("delivered", "returned")


def _parcels_of(scope: Scope) -> sa.ColumnElement[bool]:
    """The shipments a scope covers: its tenant's, or its carrier's of every tenant."""
    s = t.shipments.c
    return s.carrier == scope.network if scope.network else s.tenant_id == scope.tenant_id


def _scans_of(scope: Scope) -> list[sa.ColumnElement[bool]]:
    """A network's scans are its carrier's own (a parcel handed on to another carrier for
    the last mile is that one's handling from then)."""
    return [_parcels_of(scope)] + ([t.events.c.carrier == scope.network] if scope.network
                                   else [])


# In a network, one waybill registered by two merchants (a marketplace and its seller) is one
# parcel: the network's figures count tracking numbers, not shipment rows (services/operations
# counts them so; the stays below are told apart here, where the tracking number is known).


class SqlOperations(Repo):
    def on_hand(self, scope: Scope) -> list[OnHand]:
        st, s = t.shipment_states.c, t.shipments.c
        rows = self.conn.execute(
            sa.select(st.holder_id, s.tracking_no, st.last_event_at)
            .select_from(t.shipment_states.join(t.shipments, s.id == st.shipment_id))
            .where(_parcels_of(scope), st.holder_kind == "facility",
                   st.status.not_in(TERMINAL), st.last_event_at.is_not(None)))
        return [OnHand(r[0], r[1], int(r[2])) for r in rows]

    def visits(self, scope: Scope, since_us: int, until_us: int) -> list[Visit]:
        which = ("s.carrier = :network AND e.carrier = :network" if scope.network
                 else "s.tenant_id = :tenant")
        rows = self.conn.execute(sa.text(_VISITS.format(parcels=which)), {
            "tenant": scope.tenant_id, "network": scope.network, "since": since_us,
            "until": until_us})
        found = {(r[0], r[5], int(r[2])): Visit(r[0], int(r[1]), int(r[2]),
                                                None if r[3] is None else int(r[3]), bool(r[4]))
                 for r in rows}
        return list(found.values())

    def ops_alerts(self, scope: Scope, active_only: bool) -> list[OpsAlert]:
        c = t.ops_alerts.c
        q = sa.select(t.ops_alerts).where(
            c.tenant_id == scope.tenant_id,
            c.network == scope.network if scope.network else c.network.is_(None))
        if active_only:
            q = q.where(c.cleared_at.is_(None))
        rows = self.conn.execute(q.order_by(c.opened_at.desc(), c.alert_id).limit(200))
        return [OpsAlert(r.alert_id, r.tenant_id, r.facility_id, r.kind, r.opened_at,
                         json.loads(r.evidence), r.cleared_at, r.network) for r in rows]

    def save_ops_alert(self, alert: OpsAlert) -> None:
        values = {"tenant_id": alert.tenant_id, "network": alert.network,
                  "facility_id": alert.facility_id,
                  "kind": alert.kind, "opened_at": alert.opened_at_us,
                  "cleared_at": alert.cleared_at_us,
                  "evidence": json.dumps(dict(alert.evidence), ensure_ascii=False,
                                         sort_keys=True)}
        c = t.ops_alerts.c
        done = self.conn.execute(t.ops_alerts.update().where(c.alert_id == alert.alert_id)
                                 .values(**values))
        if done.rowcount == 0:
            self.conn.execute(t.ops_alerts.insert().values(alert_id=alert.alert_id, **values))

    def delivered(self, scope: Scope, since_us: int, until_us: int) -> list[Delivered]:
        st, s = t.shipment_states.c, t.shipments.c
        rows = self.conn.execute(
            sa.select(st.lane, st.picked_up_at, st.delivered_at, s.promised_by)
            .select_from(t.shipment_states.join(t.shipments, s.id == st.shipment_id))
            .where(_parcels_of(scope), st.delivered_at >= since_us,
                   st.delivered_at < until_us, st.picked_up_at.is_not(None),
                   st.lane.is_not(None)))
        return [Delivered(r[0], int(r[1]), int(r[2]), None if r[3] is None else int(r[3]))
                for r in rows]

    def scanned(self, scope: Scope, since_us: int, until_us: int,
                group: str) -> dict[str, int]:
        e, s = t.events.c, t.shipments.c
        if group == "shift":  # times.shift_of's arithmetic, in SQL
            hour = ((e.occurred_at // HOUR_US) + CHINA_OFFSET_H) % 24
            half = sa.case((sa.and_(hour >= 8, hour < 20), "|day"), else_="|night")
            key = e.facility_id + half
            present = e.facility_id.is_not(None)
        else:
            column = {"facility": e.facility_id, "operator": e.operator_id,
                      "device": e.device_id}[group]
            key, present = column, column.is_not(None)
        parcel = s.tracking_no if scope.network else e.shipment_id
        rows = self.conn.execute(
            sa.select(key, sa.func.count(sa.distinct(parcel)))
            .select_from(t.events.join(t.shipments, s.id == e.shipment_id))
            .where(*_scans_of(scope), e.occurred_at >= since_us,
                   e.occurred_at < until_us, present)
            .group_by(key))
        return {str(r[0]): int(r[1]) for r in rows}

    def open_dwell(self, scope: Scope) -> list[tuple[str, str]]:
        a = t.alerts.c
        rows = self.conn.execute(sa.select(a.tracking_no, a.evidence).where(
            a.state.in_([x.value for x in ACTIVE]), a.kind == Kind.DWELL_EXCEEDED.value,
            *self._alerts_of(scope)))
        return [(facility, tracking_no) for tracking_no, evidence in rows
                if (facility := json.loads(evidence).get("facility_id"))]

    def with_alerts(self, scope: Scope, kinds: Sequence[str], since_us: int,
                    until_us: int) -> list[tuple[str, str]]:
        a = t.alerts.c
        rows = self.conn.execute(sa.select(a.tenant_id, a.tracking_no).distinct().where(
            a.kind.in_(list(kinds)), a.opened_at >= since_us, a.opened_at < until_us,
            *self._alerts_of(scope)).order_by(a.tracking_no, a.tenant_id))
        return [(r[0], r[1]) for r in rows]

    def positions(self, scope: Scope,
                  facilities: Sequence[str]) -> dict[str, tuple[float, float]]:
        f = t.facilities.c
        q = (sa.select(f.facility_id, f.lat, f.lon).where(f.facility_id.in_(list(facilities)))
             .order_by(f.facility_id, f.tenant_id))
        if scope.network:  # the network's facilities are the carrier's hubs, whoever saw them
            q = q.where(f.tenant_id.in_(sa.select(t.shipments.c.tenant_id).distinct()
                                        .where(_parcels_of(scope))))
        else:
            q = q.where(f.tenant_id == scope.tenant_id)
        out: dict[str, tuple[float, float]] = {}
        for r in self.conn.execute(q):
            out.setdefault(r[0], (float(r[1]), float(r[2])))
        return out

    @staticmethod
    def _alerts_of(scope: Scope) -> list[sa.ColumnElement[bool]]:
        a = t.alerts.c
        if not scope.network:
            return [a.tenant_id == scope.tenant_id]
        return [a.shipment_id.in_(sa.select(t.shipments.c.id).where(_parcels_of(scope)))]


# each parcel's stays at facilities that began in the window: a stay begins at a scan at a
# facility whose previous scan (if any) was not there, and ends at its last scan there (the
# departure) once a scan elsewhere followed; the facility holds it now if it is the custody
# holder (for its last stay there)
_VISITS = """
WITH scans AS (
  SELECT e.shipment_id, s.tracking_no, e.facility_id, e.occurred_at,
         LAG(e.facility_id) OVER (PARTITION BY e.shipment_id
                                  ORDER BY e.occurred_at, e.id) AS before_f,
         ROW_NUMBER() OVER (PARTITION BY e.shipment_id ORDER BY e.occurred_at, e.id) AS n
  FROM events e JOIN shipments s ON s.id = e.shipment_id
  WHERE {parcels} AND e.occurred_at >= :since AND e.occurred_at < :until
),
stays AS (
  SELECT v.facility_id, v.shipment_id, v.tracking_no, v.occurred_at AS arrived,
         (SELECT MIN(x.occurred_at) FROM events x
          WHERE x.shipment_id = v.shipment_id AND x.occurred_at > v.occurred_at
            AND (x.facility_id IS NULL OR x.facility_id <> v.facility_id)) AS moved_on
  FROM scans v
  WHERE v.facility_id IS NOT NULL AND (v.n = 1 OR v.before_f IS NULL
                                       OR v.before_f <> v.facility_id)
)
SELECT t.facility_id, t.shipment_id, t.arrived,
       CASE WHEN t.moved_on IS NULL THEN NULL ELSE
         (SELECT MAX(y.occurred_at) FROM events y
          WHERE y.shipment_id = t.shipment_id AND y.facility_id = t.facility_id
            AND y.occurred_at >= t.arrived AND y.occurred_at < t.moved_on) END AS left_at,
       CASE WHEN st.holder_kind = 'facility' AND st.holder_id = t.facility_id
            THEN 1 ELSE 0 END AS on_hand,
       t.tracking_no
FROM stays t JOIN shipment_states st ON st.shipment_id = t.shipment_id
"""
