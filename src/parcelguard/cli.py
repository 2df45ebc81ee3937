"""The ``parcelguard`` command."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from parcelguard import bootstrap
from parcelguard.config import Settings
from parcelguard.domain import times
from parcelguard.domain.errors import ParcelGuardError
from parcelguard.domain.tenancy import Role
from parcelguard.services import auth, ledger
from parcelguard.services.ports import Store

app = typer.Typer(help="ParcelGuard: parcel tracking with alerts and a tamper-evident ledger.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
tenants_app = typer.Typer(help="Tenants (merchants).", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: shown once, stored hashed.", no_args_is_help=True)
ledger_app = typer.Typer(help="The custody ledger.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")
app.add_typer(ledger_app, name="ledger")
app.add_typer(db_app, name="db")
out = Console()
err = Console(stderr=True)


def _now_us() -> int:
    return times.to_us(datetime.now(UTC))


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _store(settings: Settings) -> Store:
    return bootstrap.open_store(settings)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
) -> None:
    """Run the API server (SQLite under ./data unless PARCELGUARD_DATABASE_URL is set)."""
    import uvicorn

    from parcelguard.api import create_app
    from parcelguard.logs import configure

    settings = Settings()
    configure(settings)
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_level=settings.log_level, log_config=None)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all schema migrations."""
    from parcelguard.storage import migrate
    from parcelguard.storage.sql import SqlStore

    settings = Settings()
    store = SqlStore.connect(settings.db_url, allow_unsafe=settings.allow_unsafe_durability)
    migrate.upgrade(store.engine)
    out.print(f"schema at revision {migrate.current(store.engine)}")
    store.close()


@tenants_app.command("create")
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(help="short id, e.g. acme")],
    name: Annotated[str, typer.Option(help="display name")] = "",
) -> None:
    """Create a tenant (a merchant)."""
    store = _store(Settings())
    try:
        auth.create_tenant(store, tenant_id, name, _now_us())
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    finally:
        store.close()
    out.print(f"tenant {tenant_id} created")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    store = _store(Settings())
    with store.unit_of_work(write=False) as uow:
        rows = uow.tenants.all()
    store.close()
    for tenant_id, name in rows:
        out.print(f"{tenant_id}\t{name}")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="the tenant the key acts for")],
    role: Annotated[Role, typer.Option(help="what the key may do")],
    label: Annotated[str, typer.Option(help="a note to recognise the key by")] = "",
) -> None:
    """Create an API key and print it once. Only its hash is stored."""
    store = _store(Settings())
    try:
        key = auth.create_key(store, tenant, role, label, _now_us())
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    finally:
        store.close()
    err.print(f"key for tenant {tenant}, role {role.value} (shown once; store it now):")
    print(key)


@keys_app.command("list")
def keys_list(tenant: Annotated[str, typer.Option(help="tenant id")]) -> None:
    """List a tenant's keys (ids and roles; secrets are never shown again)."""
    store = _store(Settings())
    with store.unit_of_work(write=False) as uow:
        keys = uow.tenants.keys(tenant)
    store.close()
    table = Table("key id", "role", "label", "created", "revoked")
    for k in keys:
        table.add_row(k.key_id, k.role.value, k.label, times.iso_us(k.created_at_us),
                      times.iso_us(k.revoked_at_us) if k.revoked_at_us else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key id (pgk_<id>_...)")]) -> None:
    """Revoke a key; it stops working within 30 seconds on running servers."""
    store = _store(Settings())
    try:
        auth.revoke_key(store, key_id, _now_us())
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    finally:
        store.close()
    out.print(f"key {key_id} revoked")


@ledger_app.command("verify")
def ledger_verify(
    checkpoint: Annotated[list[Path] | None, typer.Option(
        help="a signed checkpoint kept elsewhere (repeatable): proves the log was not truncated "
             "or rewritten since")] = None,
    key: Annotated[str | None, typer.Option(
        help="verifier key to check signatures with (default: this server's own key)")] = None,
) -> None:
    """Check every ledger entry, the hash chain, the Merkle roots and the signatures."""
    from parcelguard.crypto.keys import Ed25519Check

    system = bootstrap.build(Settings())
    check = Ed25519Check(key) if key else system.check
    notes = [p.read_text() for p in checkpoint or []]
    with system.store.unit_of_work(write=False) as uow:
        size = uow.ledger.size()
        findings = ledger.verify_store(uow, check, notes)
    system.store.close()
    if not findings:
        out.print(f"[green]ledger OK[/green]: {size} entries, every checkpoint verified")
        return
    for f in findings:
        where = "-" if f.position is None else str(f.position)
        out.print(f"[red]{f.problem}[/red] at {where}: {f.message}")
    raise typer.Exit(2)


@ledger_app.command("checkpoint")
def ledger_checkpoint() -> None:
    """Print the latest signed checkpoint (keep a copy: it pins the log's history)."""
    store = _store(Settings())
    with store.unit_of_work(write=False) as uow:
        cp = uow.ledger.latest_checkpoint()
    store.close()
    if cp is None:
        raise _fail("no checkpoint yet")
    sys.stdout.write(cp.note)


@app.command()
def replay(
    input: Annotated[Path, typer.Argument(help="NDJSON in the replay format, or - for stdin")],
    out_path: Annotated[Path, typer.Option("--out", help="where to write the alert lines")],
    tenant: Annotated[str, typer.Option(help="tenant the data belongs to")] = "replay",
    store: Annotated[str, typer.Option(help="memory, or a database URL")] = "memory",
) -> None:
    """Run the whole pipeline offline on recorded data; write alert state changes as NDJSON."""
    from parcelguard.ingest.replay import Replay, write_alerts
    from parcelguard.services.clock import ManualClock

    clock = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))
    settings = Settings(database_url="memory://" if store == "memory" else store)
    system = bootstrap.build(settings, clock=clock)
    system.ingestor.start()
    if store == "memory":
        with system.store.unit_of_work() as uow:
            uow.tenants.add(tenant, tenant, 0)
            uow.commit()
    source = sys.stdin.buffer if str(input) == "-" else input.open("rb")
    with source:
        summary = Replay(system.ingestor, clock, tenant, system.encode).feed(source)
    with out_path.open("w", encoding="utf-8") as f:
        alerts = write_alerts(f, [])
    system.store.close()
    err.print(json.dumps({"lines": summary.lines, "alerts": alerts, **summary.results},
                         ensure_ascii=False))
    for line in summary.errors:
        err.print(f"  {line}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
