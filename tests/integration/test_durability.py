"""The store runs with settings that make a commit durable, and refuses weaker ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from parcelguard.storage import engine as engines


def test_sqlite_runs_in_wal_with_synchronous_full(tmp_path: Path) -> None:
    eng = engines.create(f"sqlite:///{tmp_path / 'd.db'}")
    raw = eng.raw_connection()
    try:
        cur = raw.cursor()
        assert cur.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cur.execute("PRAGMA synchronous").fetchone()[0] == 2
    finally:
        raw.close()
        eng.dispose()


def test_sqlite_with_a_weaker_sync_setting_is_refused_unless_allowed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    weaker = tuple(p.replace("synchronous=FULL", "synchronous=NORMAL")
                   for p in engines.SQLITE_PRAGMAS)
    monkeypatch.setattr(engines, "SQLITE_PRAGMAS", weaker)
    with pytest.raises(engines.UnsafeDurability, match="synchronous=FULL"):
        engines.create(f"sqlite:///{tmp_path / 'd.db'}")
    engines.create(f"sqlite:///{tmp_path / 'e.db'}", allow_unsafe=True).dispose()


def test_postgresql_is_checked_for_fsync_and_synchronous_commit(pg_admin: str) -> None:
    eng = engines.create(pg_admin)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SHOW fsync").scalar() == "on"
    eng.dispose()


def test_postgresql_with_synchronous_commit_off_is_refused(pg_admin: str) -> None:
    url = pg_admin + ("&" if "?" in pg_admin else "?") + "options=-csynchronous_commit%3Doff"
    with pytest.raises(engines.UnsafeDurability, match="synchronous_commit=off"):
        engines.create(url)
