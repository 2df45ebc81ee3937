"""What the SQL repositories in modules of their own share with those in ``sql.py``."""

from __future__ import annotations

from typing import Any, Protocol

import sqlalchemy as sa


class HasConn(Protocol):
    """A unit of work: its connection, in its transaction."""

    @property
    def conn(self) -> sa.Connection: ...


class Repo:
    def __init__(self, uow: HasConn) -> None:
        self.uow = uow

    @property
    def conn(self) -> sa.Connection:
        return self.uow.conn


def blob(value: object) -> bytes:
    """Bytes of a BLOB column, even if someone stored text in it (SQLite lets them)."""
    return value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[call-overload]


def insert_ignore(table: sa.Table, dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on ``table``: a row already there stays as it is."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert
        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert
    return sqlite_insert(table).on_conflict_do_nothing()
