"""Consumer notifications in SQL: subscriptions and the notices owed them."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa

from parcelguard.domain.errors import Conflict
from parcelguard.services.ports import Notice, NoticeSubscription
from parcelguard.storage import tables as t
from parcelguard.storage.sqlrepo import Repo, blob, insert_ignore

_CHUNK = 500  # parcels per IN list



class SqlNotices(Repo):
    def subscribe(self, sub: NoticeSubscription) -> None:
        try:
            with self.conn.begin_nested():  # a refused insert leaves the transaction usable
                self.conn.execute(t.notice_subscriptions.insert().values(
                    subscription_id=sub.subscription_id, tenant_id=sub.tenant_id,
                    tracking_no=sub.tracking_no, channel=sub.channel, to_sealed=sub.to_sealed,
                    to_digest=sub.to_digest, locale=sub.locale, quiet=sub.quiet, tz=sub.tz,
                    secret_sealed=sub.secret_sealed, created_at=sub.created_at_us,
                    created_by=sub.created_by, unsubscribed_at=sub.unsubscribed_at_us))
        except sa.exc.IntegrityError:
            raise Conflict("this address already follows the parcel") from None

    def subscription(self, subscription_id: str) -> NoticeSubscription | None:
        c = t.notice_subscriptions.c
        r = self.conn.execute(sa.select(t.notice_subscriptions).where(
            c.subscription_id == subscription_id)).first()
        return None if r is None else _subscription(r)

    def of_parcel(self, tenant_id: str, tracking_no: str) -> list[NoticeSubscription]:
        c = t.notice_subscriptions.c
        rows = self.conn.execute(sa.select(t.notice_subscriptions).where(
            c.tenant_id == tenant_id, c.tracking_no == tracking_no).order_by(c.created_at))
        return [_subscription(r) for r in rows]

    def following(self, parcels: Collection[tuple[str, str]]) -> list[NoticeSubscription]:
        c = t.notice_subscriptions.c
        by_tenant: dict[str, list[str]] = {}
        for tenant_id, tracking_no in set(parcels):
            by_tenant.setdefault(tenant_id, []).append(tracking_no)
        found: list[NoticeSubscription] = []
        for tenant_id, numbers in by_tenant.items():  # (tenant_id, tracking_no) is indexed
            for i in range(0, len(numbers), _CHUNK):
                rows = self.conn.execute(sa.select(t.notice_subscriptions).where(
                    c.tenant_id == tenant_id, c.tracking_no.in_(numbers[i:i + _CHUNK]),
                    c.unsubscribed_at.is_(None)))
                found += map(_subscription, rows)
        return found

    def unsubscribe(self, subscription_id: str, at_us: int) -> None:
        c = t.notice_subscriptions.c
        self.conn.execute(t.notice_subscriptions.update().where(
            c.subscription_id == subscription_id, c.unsubscribed_at.is_(None)
        ).values(unsubscribed_at=at_us))

    def add(self, notices: Sequence[Notice]) -> None:
        if not notices:
            return
        stmt = insert_ignore(t.notices, self.conn.dialect.name).values([{
            "subscription_id": n.subscription_id, "topic": n.topic, "ref": n.ref,
            "data": json.dumps(dict(n.data), ensure_ascii=False, sort_keys=True),
            "created_at": n.created_at_us, "send_after": n.send_after_us, "state": n.state,
            "attempts": n.attempts} for n in notices])
        self.conn.execute(stmt)

    def due(self, now_us: int, limit: int) -> list[Notice]:
        c = t.notices.c
        rows = self.conn.execute(sa.select(t.notices).where(
            c.state == "pending", c.send_after <= now_us).order_by(c.send_after, c.id).limit(limit))
        return [_notice(r) for r in rows]

    def save(self, notice: Notice) -> None:
        self.conn.execute(t.notices.update().where(t.notices.c.id == notice.notice_id).values(
            send_after=notice.send_after_us, state=notice.state, attempts=notice.attempts,
            sent_at=notice.sent_at_us, message_id=notice.message_id,
            last_error=notice.last_error))

    def of_subscription(self, subscription_id: str) -> list[Notice]:
        c = t.notices.c
        rows = self.conn.execute(sa.select(t.notices).where(
            c.subscription_id == subscription_id).order_by(c.id))
        return [_notice(r) for r in rows]




def _subscription(r: sa.Row[Any]) -> NoticeSubscription:
    return NoticeSubscription(
        r.subscription_id, r.tenant_id, r.tracking_no, r.channel, blob(r.to_sealed),
        r.to_digest, r.locale, r.created_at, r.created_by, r.quiet, r.tz,
        None if r.secret_sealed is None else blob(r.secret_sealed), r.unsubscribed_at)


def _notice(r: sa.Row[Any]) -> Notice:
    return Notice(r.subscription_id, r.topic, r.ref, json.loads(r.data), r.created_at,
                  r.send_after, r.state, r.attempts, r.sent_at, r.message_id, r.last_error,
                  int(r.id))
