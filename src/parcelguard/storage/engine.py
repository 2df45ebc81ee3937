"""Engines for SQLite and PostgreSQL, with the settings that make a commit durable.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk when it returns),
a busy timeout, a large page cache, and checkpoints of the WAL taken by a background thread
instead of by the writer. PostgreSQL must run with ``fsync`` and ``synchronous_commit`` on.
Either refuses to start otherwise, unless the operator explicitly allows unsafe settings.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from parcelguard.domain.errors import Unavailable

log = structlog.get_logger(__name__)

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA cache_size=-262144",  # 256 MiB
    "PRAGMA temp_store=MEMORY",
    "PRAGMA foreign_keys=ON",
    "PRAGMA wal_autocheckpoint=20000",  # the checkpointer thread does the regular work
)


class UnsafeDurability(RuntimeError):
    """The database is configured so that an acknowledged write could be lost."""


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create(url: str, *, allow_unsafe: bool = False) -> Engine:
    if is_sqlite(url):
        return _sqlite(url, allow_unsafe)
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = sa.create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    _check_postgres(engine, allow_unsafe)
    return engine


def _sqlite(url: str, allow_unsafe: bool) -> Engine:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, pool_size=8, max_overflow=8)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see "begin" below)
        cur = dbapi_conn.cursor()
        for pragma in SQLITE_PRAGMAS:
            cur.execute(pragma)
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # writers take the lock at BEGIN so two writers wait for each other instead of failing
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write") else "BEGIN")

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        sync = cur.execute("PRAGMA synchronous").fetchone()[0]
        mode = cur.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        raw.close()
    if (sync is None or int(sync) < 2 or mode != "wal") and not allow_unsafe and path != ":memory:":
        engine.dispose()
        raise UnsafeDurability(
            f"SQLite runs with synchronous={sync}, journal_mode={mode}; ParcelGuard needs "
            "synchronous=FULL (2) and WAL. Set PARCELGUARD_ALLOW_UNSAFE_DURABILITY=true only "
            "for throwaway data."
        )
    return engine


def _check_postgres(engine: Engine, allow_unsafe: bool) -> None:
    try:
        with engine.connect() as conn:
            fsync = conn.exec_driver_sql("SHOW fsync").scalar()
            commit = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise Unavailable(f"cannot reach PostgreSQL: {exc.orig}") from None
    if (fsync != "on" or commit == "off") and not allow_unsafe:
        engine.dispose()
        raise UnsafeDurability(
            f"PostgreSQL runs with fsync={fsync}, synchronous_commit={commit}: an acknowledged "
            "write could be lost in a crash. Turn both on, or set "
            "PARCELGUARD_ALLOW_UNSAFE_DURABILITY=true only for throwaway data."
        )


class WalCheckpointer:
    """Checkpoints SQLite's WAL from its own thread so the writer never pays for it."""

    def __init__(self, engine: Engine, every_seconds: float = 2.0) -> None:
        self.engine, self.every = engine, every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpointer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                raw = self.engine.raw_connection()  # autocommit: no transaction around it
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
                finally:
                    raw.close()
            except Exception as exc:
                log.warning("WAL checkpoint failed", error=str(exc))
