"""Answers kept for idempotent requests, in SQL."""

from __future__ import annotations

import sqlalchemy as sa

from parcelguard.services.ports import KeptAnswer
from parcelguard.storage import tables as t
from parcelguard.storage.sqlrepo import Repo, blob, insert_ignore


class SqlRequestKeys(Repo):
    def get(self, tenant_id: str, key_id: str, key: str) -> KeptAnswer | None:
        c = t.request_keys.c
        r = self.conn.execute(sa.select(t.request_keys).where(
            c.tenant_id == tenant_id, c.key_id == key_id, c.key == key)).first()
        return None if r is None else KeptAnswer(r.tenant_id, r.key_id, r.key, r.fingerprint,
                                                 r.status, blob(r.body), r.created_at)

    def keep(self, answer: KeptAnswer) -> None:
        self.conn.execute(insert_ignore(t.request_keys, self.conn.dialect.name).values(
            tenant_id=answer.tenant_id, key_id=answer.key_id, key=answer.key,
            fingerprint=answer.fingerprint, status=answer.status, body=answer.body,
            created_at=answer.created_at_us))

    def purge(self, before_us: int) -> int:
        gone = self.conn.execute(t.request_keys.delete().where(
            t.request_keys.c.created_at < before_us))
        return int(gone.rowcount or 0)
