"""The ``parcelguard`` command."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from parcelguard import bootstrap
from parcelguard.config import Settings
from parcelguard.domain import times
from parcelguard.domain.alerts import Severity
from parcelguard.domain.custom import Trigger
from parcelguard.domain.disruptions import DisruptionKind
from parcelguard.domain.errors import ParcelGuardError
from parcelguard.domain.telemetry import DeviceKind
from parcelguard.domain.tenancy import Role
from parcelguard.services import auth, ledger, merchant
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
report_app = typer.Typer(help="Reports on one shipment.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(db_app, name="db")
rules_app = typer.Typer(help="Merchant rules: CEL conditions that open alerts (docs/rules.md).",
                        no_args_is_help=True)
app.add_typer(rules_app, name="rules")
endpoints_app = typer.Typer(help="Carrier push endpoints: where Kdniao, Kuaidi100, AfterShip, "
                            "17TRACK or a generic sender push a tenant's scans.",
                            no_args_is_help=True)
app.add_typer(endpoints_app, name="endpoints")
devices_app = typer.Typer(help="Devices: box sensors, vehicle units, facility scanners and "
                          "what each is bound to. Bind and unbind through the API (the writer "
                          "records every binding in the ledger).", no_args_is_help=True)
app.add_typer(devices_app, name="devices")
disruptions_app = typer.Typer(help="Disruptions (weather, traffic, a closed facility, a customs "
                              "backlog) that delay the parcels whose way they cross.",
                              no_args_is_help=True)
app.add_typer(disruptions_app, name="disruptions")
bench_app = typer.Typer(help="Benchmarks: figures and ratios against a same-process baseline.",
                        no_args_is_help=True)
app.add_typer(bench_app, name="bench")
PG_DEFAULT = "postgresql://root@127.0.0.1:5432/test"
out = Console()
err = Console(stderr=True)


def _now_us() -> int:
    return times.to_us(datetime.now(UTC))


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@contextlib.contextmanager
def _store() -> Iterator[Store]:
    """The configured store, closed afterwards; a ParcelGuardError becomes a clean exit 1."""
    store = bootstrap.open_store(Settings())
    try:
        yield store
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    finally:
        store.close()


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
                log_level=settings.log_level, log_config=None, **settings.proxy_options)


@app.command()
def worker(
    partitions: Annotated[str, typer.Option(
        help="the stream partitions this worker applies: 0-7, 3, or 0-3,8-11")],
    clock: Annotated[str, typer.Option(
        help="wall: deadlines by the clock (production); event: by the commands' own times, "
        "as replay does (to replay recorded data through the bus)")] = "wall",
    deliver: Annotated[bool | None, typer.Option(
        help="send webhooks and consumer notices from this worker, as the settings allow "
             "(default: the worker owning partition 0; one process only sends)")] = None,
) -> None:
    """Bus mode: apply partitions of the JetStream ingest stream to the store (PARCELGUARD_BUS_URL)."""
    import asyncio
    import signal

    from parcelguard.bus.worker import Worker
    from parcelguard.logs import configure
    from parcelguard.services.clock import ManualClock
    from parcelguard.services.partitions import parse_range

    settings = Settings()
    configure(settings)
    if not settings.bus_url:
        raise _fail("set PARCELGUARD_BUS_URL (e.g. nats://127.0.0.1:4222): a worker reads the bus")
    if clock not in ("wall", "event"):
        raise _fail(f"--clock is wall or event, got {clock!r}")
    try:
        owned = parse_range(partitions, settings.bus_partitions)
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    system = bootstrap.build(settings, worker=True, clock=ManualClock(
        datetime(1970, 1, 1, tzinfo=UTC)) if clock == "event" else None)
    work = Worker(system.writer, system.store, system.vault, system.clock, settings.bus_url,
                  bootstrap.bus_spec(settings), owned, event_clock=clock == "event")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await work.run(stop, lambda: system.start(deliver=0 in owned if deliver is None else deliver))

    try:
        asyncio.run(main())
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    finally:
        system.stop()


@app.command("mqtt")
def mqtt_only() -> None:
    """Bus mode: subscribe to device telemetry and sorter scans on MQTT and publish them to the
    stream, without an API (in embedded mode the subscriber runs inside `parcelguard serve`)."""
    import signal

    from parcelguard.logs import configure

    settings = Settings()
    configure(settings)
    if not settings.bus_url:
        raise _fail("set PARCELGUARD_BUS_URL: on its own the subscriber publishes to the bus "
                    "(without one, `parcelguard serve` subscribes itself)")
    if not settings.mqtt_enabled:
        raise _fail("PARCELGUARD_MQTT_ENABLED is false")
    stopping = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stopping)  # before any thread starts: they inherit it
    system = bootstrap.build(settings)
    try:
        system.start(deliver=False)
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    try:
        signal.sigwait(stopping)
    finally:
        system.stop()


@app.command()
def status(
    seconds: Annotated[float, typer.Option(help="how long to measure throughput")] = 1.0,
) -> None:
    """Bus mode: each partition's owner, committed position, lag and throughput."""
    import asyncio

    import nats
    from rich.table import Table

    from parcelguard.bus.status import rates

    settings = Settings()
    url = settings.bus_url
    if not url:
        raise _fail("set PARCELGUARD_BUS_URL: status describes the partitions of bus mode")
    spec = bootstrap.bus_spec(settings)

    async def measure() -> tuple[list[Any], dict[int, float]]:
        nc = await nats.connect(url.split(","), max_reconnect_attempts=0)
        try:
            with _store() as store:
                return await rates(nc.jetstream(), spec, store, seconds)
        finally:
            await nc.close()

    rows, per_s = asyncio.run(measure())
    table = Table(title=f"stream {spec.name}: {spec.partitions} partitions")
    for column in ("partition", "owner", "committed seq", "lag", "msg/s"):
        table.add_column(column, justify="left" if column == "owner" else "right")
    for r in rows:
        table.add_row(str(r.partition), r.owner or "[red]none[/red]", str(r.committed),
                      "-" if r.lag is None else str(r.lag), f"{per_s.get(r.partition, 0):.0f}")
    out.print(table)
    total_lag = sum(r.lag or 0 for r in rows)
    out.print(f"lag {total_lag} messages, {sum(per_s.values()):.0f} msg/s applied, "
              f"{sum(1 for r in rows if r.owner)}/{len(rows)} partitions owned")


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
    with _store() as store:
        auth.create_tenant(store, tenant_id, name, _now_us())
    out.print(f"tenant {tenant_id} created")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    with _store() as store, store.unit_of_work(write=False) as uow:
        rows = uow.tenants.all()
    for tenant_id, name in rows:
        out.print(f"{tenant_id}\t{name}")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="the tenant the key acts for")],
    role: Annotated[Role, typer.Option(help="what the key may do")],
    label: Annotated[str, typer.Option(help="a note to recognise the key by")] = "",
    network: Annotated[str | None, typer.Option(
        help="carrier keys only: the carrier code (e.g. sf) whose parcels of every tenant "
             "the key's operations console covers")] = None,
) -> None:
    """Create an API key and print it once. Only its hash is stored."""
    with _store() as store:
        try:
            key = auth.create_key(store, tenant, role, label, _now_us(), network)
        except ParcelGuardError as exc:
            raise _fail(exc.message) from None
    spans = f", network {network} (every tenant's {network} parcels)" if network else ""
    err.print(f"key for tenant {tenant}, role {role.value}{spans} (shown once; store it now):")
    print(key)


@keys_app.command("list")
def keys_list(tenant: Annotated[str, typer.Option(help="tenant id")]) -> None:
    """List a tenant's keys (ids and roles; secrets are never shown again)."""
    with _store() as store, store.unit_of_work(write=False) as uow:
        keys = uow.tenants.keys(tenant)
    table = Table("key id", "role", "network", "label", "created", "revoked")
    for k in keys:
        table.add_row(k.key_id, k.role.value, k.network or "", k.label,
                      times.iso_us(k.created_at_us),
                      times.iso_us(k.revoked_at_us) if k.revoked_at_us else "")
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="the key id (pgk_<id>_...)")]) -> None:
    """Revoke a key; it stops working within 30 seconds on running servers."""
    with _store() as store:
        auth.revoke_key(store, key_id, _now_us())
    out.print(f"key {key_id} revoked")


TenantOpt = Annotated[str, typer.Option(help="tenant id")]


@rules_app.command("check")
def rules_check(
    expression: Annotated[str, typer.Argument(help="the CEL condition")],
    on: Annotated[Trigger, typer.Option(help="what the rule runs on")] = Trigger.EVENT,
) -> None:
    """Check an expression without saving it: what is wrong and where, or what it reads."""
    from parcelguard.expressions.cel import CelExpressions

    try:
        fields = merchant.validate(CelExpressions(), expression, on)
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    reads = ", ".join(f"{name}.{f}" for name, fs in sorted(fields.items())
                      for f in (sorted(fs) if fs is not None else ["*"]))
    out.print(f"valid; reads {reads or 'nothing'}")


@rules_app.command("add")
def rules_add(
    tenant: TenantOpt,
    name: Annotated[str, typer.Option(help="unique within the tenant")],
    expression: Annotated[str, typer.Argument(help="the CEL condition")],
    on: Annotated[Trigger, typer.Option(help="what the rule runs on")] = Trigger.EVENT,
    severity: Annotated[Severity, typer.Option(help="its alerts' severity")] = Severity.WARNING,
) -> None:
    """Add a rule. Running servers pick it up within a second."""
    from parcelguard.expressions.cel import CelExpressions

    with _store() as store:
        rule = merchant.create(store, CelExpressions(), tenant, name, expression, on, severity,
                               _now_us())
    out.print(f"rule {rule.rule_id} added ({rule.name}); its alerts carry rule {rule.rule}")


@rules_app.command("list")
def rules_list(tenant: TenantOpt) -> None:
    """A tenant's rules."""
    with _store() as store, store.unit_of_work(write=False) as uow:
        rows = uow.rules.of_tenant(tenant)
    table = Table("rule id", "name", "on", "severity", "enabled", "expression")
    for r in rows:
        table.add_row(r.rule_id, r.name, r.on.value, r.severity.value,
                      "yes" if r.enabled else "no", r.expression)
    out.print(table)


@devices_app.command("list")
def devices_list(tenant: TenantOpt) -> None:
    """A tenant's devices and their bindings."""
    table = Table("device id", "kind", "shipment", "vehicle", "facility")
    with _store() as store, store.unit_of_work(write=False) as uow:
        after = None
        while page := uow.devices.page(tenant, after, 500):
            for d in page:
                table.add_row(d.device_id, d.kind.value, d.tracking_no or "", d.vehicle_id or "",
                              d.facility_id or "")
            after = page[-1].device_id
    out.print(table)


KeyOpt = Annotated[str, typer.Option(envvar="PARCELGUARD_API_KEY",
                                      help="an API key of the tenant (a merchant or admin key)")]
UrlOpt = Annotated[str | None, typer.Option(help="the running server (default: this machine's "
                                            "configured host and port)")]


def _api(url: str | None, key: str, method: str, path: str,
         body: dict[str, object] | None = None) -> dict[str, object]:
    """A call to the running server: bindings are ledger entries, and it is their only writer."""
    import httpx

    settings = Settings()
    base = url or f"http://{settings.host}:{settings.port}"
    try:
        r = httpx.request(method, base + path, json=body, timeout=30,
                          headers={"Authorization": f"Bearer {key}"})
    except httpx.TransportError as exc:
        raise _fail(f"cannot reach the server at {base}: {exc}") from None
    if r.status_code >= 400:
        try:
            problem = r.json()["error"]
            detail = problem["message"] + (f" (field {problem['field']})"
                                           if problem.get("field") else "")
        except (ValueError, KeyError, TypeError):
            detail = r.text
        raise _fail(f"{method} {path}: {r.status_code} {detail}")
    answer: dict[str, object] = r.json()
    return answer


@devices_app.command("bind")
def devices_bind(
    device_id: Annotated[str, typer.Argument(help="the device's id")],
    kind: Annotated[DeviceKind, typer.Option(help="what the device is")],
    key: KeyOpt,
    shipment: Annotated[str | None, typer.Option(help="tracking number of the parcel it is in")]
    = None,
    vehicle: Annotated[str | None, typer.Option(help="the vehicle it is mounted in")] = None,
    facility: Annotated[str | None, typer.Option(help="the facility it scans at")] = None,
    url: UrlOpt = None,
) -> None:
    """Register a device, or bind it anew (to a parcel, a vehicle or a facility)."""
    body: dict[str, object] = {"device_id": device_id, "kind": kind.value}
    for name, value in (("tracking_no", shipment), ("vehicle_id", vehicle),
                        ("facility_id", facility)):
        if value is not None:
            body[name] = value
    answer = _api(url, key, "POST", "/v1/devices", body)
    bound = shipment or vehicle or facility
    out.print(f"device {device_id} {'bound to ' + bound if bound else 'registered, unbound'}"
              f" ({answer['result']})", highlight=False)


@devices_app.command("unbind")
def devices_unbind(
    device_id: Annotated[str, typer.Argument(help="the device's id")], key: KeyOpt,
    url: UrlOpt = None,
) -> None:
    """Unbind a device: its readings belong to no parcel or vehicle until bound again."""
    _api(url, key, "DELETE", f"/v1/devices/{device_id}/binding")
    out.print(f"device {device_id} unbound", highlight=False)


@disruptions_app.command("add")
def disruptions_add(
    kind: Annotated[DisruptionKind, typer.Option(help="what it is")],
    title: Annotated[str, typer.Option(help="said in the alerts and to consumers")],
    extra_hours: Annotated[float, typer.Option(help="the delay it is expected to add")],
    key: Annotated[str, typer.Option(envvar="PARCELGUARD_API_KEY",
                                     help="an operator's (or admin's) API key")],
    hours: Annotated[float, typer.Option(help="how long it lasts from now (or from --starts)")]
    = 24.0,
    starts: Annotated[str | None, typer.Option(help="RFC 3339 start (default: now)")] = None,
    city: Annotated[list[str] | None, typer.Option(help="a city of the region (repeatable)")]
    = None,
    facility: Annotated[str | None, typer.Option(help="or one facility")] = None,
    polygon: Annotated[str | None, typer.Option(
        help="or a ring as JSON: [[lon, lat], ...]")] = None,
    url: UrlOpt = None,
) -> None:
    """Declare a disruption to the running server: parcels whose way crosses it are estimated
    again, and those now likely to miss their promise get a delay_risk alert naming it."""
    begin = datetime.fromisoformat(starts) if starts else datetime.now(UTC)
    if begin.tzinfo is None:
        raise _fail("--starts needs a time zone offset, e.g. 2026-11-26T08:00:00+08:00")
    body: dict[str, object] = {"kind": kind.value, "title": title,
                               "starts_at": begin.isoformat(),
                               "ends_at": (begin + timedelta(hours=hours)).isoformat(),
                               "extra_delay_hours": extra_hours}
    if city:
        body["cities"] = city
    if facility:
        body["facility_id"] = facility
    if polygon:
        try:
            body["polygon"] = json.loads(polygon)
        except ValueError as exc:
            raise _fail(f"--polygon is not JSON: {exc}") from None
    made = _api(url, key, "POST", "/v1/disruptions", body)
    out.print(f"disruption {made['disruption_id']} declared until {made['ends_at']}",
              highlight=False)


@disruptions_app.command("list")
def disruptions_list(
    key: Annotated[str, typer.Option(envvar="PARCELGUARD_API_KEY", help="an API key")],
    url: UrlOpt = None,
) -> None:
    """The tenant's disruptions, newest first."""
    found = _api(url, key, "GET", "/v1/disruptions")
    table = Table("kind", "title", "until", "extra h", "in force")
    table.add_column("id", no_wrap=True, min_width=20)
    for d in found["items"]:  # type: ignore[attr-defined]
        table.add_row(d["kind"], d["title"], d["ends_at"], str(d["extra_delay_hours"]),
                      "yes" if d["in_force"] else "no", d["disruption_id"])
    out.print(table)


@disruptions_app.command("end")
def disruptions_end(
    disruption_id: Annotated[str, typer.Argument(help="the disruption's id")],
    key: Annotated[str, typer.Option(envvar="PARCELGUARD_API_KEY",
                                     help="an operator's (or admin's) API key")],
    url: UrlOpt = None,
) -> None:
    """Call a disruption off before its window ends."""
    _api(url, key, "DELETE", f"/v1/disruptions/{disruption_id}")
    out.print(f"disruption {disruption_id} called off", highlight=False)


@endpoints_app.command("add")
def endpoints_add(
    tenant: TenantOpt,
    fmt: Annotated[str, typer.Option("--format", help="kdniao, kuaidi100, aftership, "
                                        "track17 or generic")],
    secret: Annotated[str | None, typer.Option(
        envvar="PARCELGUARD_ENDPOINT_SECRET",
        help="the key the carrier signs with (better from the environment than the command "
             "line); generic: leave it out and one is made")] = None,
    name: Annotated[str | None, typer.Option(help="e.g. the carrier account")] = None,
    zone: Annotated[str | None, typer.Option(help="IANA zone of times without an offset")] = None,
) -> None:
    """Create an endpoint and print the URL path to give the carrier."""
    from parcelguard.ingest.carriers import FORMATS
    from parcelguard.services import integrations

    with _store() as store:
        row, made = integrations.create(store, bootstrap.open_vault(Settings()), FORMATS, tenant,
                                        fmt, name, secret, zone, _now_us())
    out.print(f"endpoint {row.endpoint_id}: POST /v1/hooks/{row.format}/{row.endpoint_id}",
              highlight=False, soft_wrap=True)
    if made:
        out.print(f"signing secret (shown once): {made}", highlight=False, soft_wrap=True)


@endpoints_app.command("list")
def endpoints_list(tenant: TenantOpt) -> None:
    """A tenant's carrier endpoints."""
    with _store() as store, store.unit_of_work(write=False) as uow:
        rows = uow.integrations.endpoints(tenant)
    table = Table("endpoint id", "format", "name", "zone", "enabled", "path")
    for r in rows:
        table.add_row(r.endpoint_id, r.format, r.name, r.zone, "yes" if r.enabled else "no",
                      f"/v1/hooks/{r.format}/{r.endpoint_id}")
    out.print(table)


@endpoints_app.command("disable")
def endpoints_disable(tenant: TenantOpt, endpoint_id: str) -> None:
    """Refuse the endpoint's pushes (servers notice within 30 seconds)."""
    from parcelguard.services import integrations

    with _store() as store:
        integrations.set_enabled(store, tenant, endpoint_id, False)
    out.print(f"endpoint {endpoint_id} disabled")


@endpoints_app.command("enable")
def endpoints_enable(tenant: TenantOpt, endpoint_id: str) -> None:
    """Accept the endpoint's pushes again."""
    from parcelguard.services import integrations

    with _store() as store:
        integrations.set_enabled(store, tenant, endpoint_id, True)
    out.print(f"endpoint {endpoint_id} enabled")


def _set_enabled(tenant: str, rule_id: str, enabled: bool) -> None:
    from parcelguard.expressions.cel import CelExpressions

    with _store() as store:
        merchant.change(store, CelExpressions(), tenant, rule_id, _now_us(), enabled=enabled)
    out.print(f"rule {rule_id} {'enabled' if enabled else 'disabled'}")


@rules_app.command("enable")
def rules_enable(tenant: TenantOpt, rule_id: Annotated[str, typer.Argument()]) -> None:
    """Resume a rule."""
    _set_enabled(tenant, rule_id, True)


@rules_app.command("disable")
def rules_disable(tenant: TenantOpt, rule_id: Annotated[str, typer.Argument()]) -> None:
    """Pause a rule; its open alerts stay until a person closes them."""
    _set_enabled(tenant, rule_id, False)


@rules_app.command("delete")
def rules_delete(tenant: TenantOpt, rule_id: Annotated[str, typer.Argument()]) -> None:
    """Delete a rule; its alerts stay and still name it."""
    with _store() as store:
        merchant.delete(store, tenant, rule_id, _now_us())
    out.print(f"rule {rule_id} deleted")


@app.command()
def label(
    tracking_no: Annotated[str, typer.Argument(help="the shipment's tracking number")],
    tenant: TenantOpt,
    out_file: Annotated[Path | None, typer.Option("--out", help="where to write the PDF "
                                                  "(default: <tracking_no>.pdf)")] = None,
) -> None:
    """Print a waybill label (面单) to a 100 × 150 mm PDF."""
    from parcelguard.reports.label import label_pdf
    from parcelguard.services import queries

    try:
        with _store() as store, store.unit_of_work(write=False) as uow:
            record = queries.shipment(uow, tenant, tracking_no)
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    target = out_file or Path(f"{tracking_no}.pdf")
    target.write_bytes(label_pdf(record.shipment, datetime.now(UTC)))
    out.print(f"label written to {target}", highlight=False)


@report_app.command("liability")
def report_liability(
    tracking_no: Annotated[str, typer.Argument(help="the shipment's tracking number")],
    tenant: TenantOpt,
    as_json: Annotated[bool, typer.Option("--json", help="the full report with proofs, as "
                                                         "GET /v1/shipments/<tn>/liability")] = False,
) -> None:
    """Who held the parcel when it was harmed, with the reasoning (read from the store)."""
    from parcelguard.api import schemas
    from parcelguard.services import liability

    settings = Settings()
    profiles = bootstrap.load_profiles(settings.profiles_file)
    try:
        with _store() as store, store.unit_of_work(write=False) as uow:
            found = liability.report(uow, tenant, tracking_no, profiles)
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    if as_json:
        key = bootstrap.ledger_signer(settings).verifier_key()
        print(schemas.liability(found, key).model_dump_json(indent=2))
        return
    custody = Table("#", "holder", "from", "until", "where", "operators", title="custody")
    for seg in found.analysis.segments:
        custody.add_row(str(seg.index), f"{seg.holder.kind.value}:{seg.holder.id}",
                        times.iso_us(seg.start_us, 480),
                        "" if seg.end_us is None else times.iso_us(seg.end_us, 480),
                        seg.place or seg.facility_id or "", ", ".join(seg.operators))
    out.print(custody)
    if not found.analysis.incidents:
        out.print("no incidents: nothing harmed this parcel on the record")
        return
    verdicts = Table("when", "incident", "responsible", "confidence", "why", title="incidents")
    for inc in found.analysis.incidents:
        p = inc.party
        verdicts.add_row(times.iso_us(inc.at_us, 480), inc.kind,
                         "" if p is None else f"{p.kind}:{p.id}"
                         + (f" ({p.operator_id})" if p.operator_id else ""),
                         f"{inc.confidence:.2f}", inc.reasoning)
    out.print(verdicts)


@report_app.command("dossier")
def report_dossier(
    tracking_no: Annotated[str, typer.Argument(help="the shipment's tracking number")],
    tenant: TenantOpt,
    out_file: Annotated[Path | None, typer.Option("--out", help="where to write the PDF "
                                                  "(default: <tracking_no>-dossier.pdf)")] = None,
) -> None:
    """The evidence dossier: verdicts, custody, route, curve and the ledger proofs, as PDF."""
    from parcelguard.reports import dossier

    settings = Settings()
    profiles = bootstrap.load_profiles(settings.profiles_file)
    signer = bootstrap.ledger_signer(settings)
    try:
        with _store() as store, store.unit_of_work(write=False) as uow:
            pdf = dossier.make(uow, tenant, tracking_no, profiles, signer.verifier_key(),
                               signer.sign, _now_us())
    except ParcelGuardError as exc:
        raise _fail(exc.message) from None
    target = out_file or Path(f"{tracking_no}-dossier.pdf")
    target.write_bytes(pdf)
    out.print(f"dossier written to {target}", highlight=False)


@ledger_app.command("verify-dossier")
def ledger_verify_dossier(
    path: Annotated[Path, typer.Argument(help="a dossier PDF", exists=True, dir_okay=False)],
    key: Annotated[str | None, typer.Option(
        help="the verifier key you trust (GET /v1/ledger/key, or the operator's published "
             "key)")] = None,
    trust_embedded_key: Annotated[bool, typer.Option(
        help="check against the key the dossier carries (proves consistency, not origin)")]
    = False,
) -> None:
    """Check a dossier offline: signed verdicts, signed checkpoint, leaf hashes, proofs."""
    from parcelguard.crypto.keys import Ed25519Check
    from parcelguard.reports import dossier

    if key is None and not trust_embedded_key:
        raise _fail("give --key with the published verifier key (a dossier signed by any other "
                    "key would otherwise pass), or --trust-embedded-key")
    problems = dossier.verify(path.read_bytes(), Ed25519Check, key)
    if problems:
        for p in problems:
            err.print(f"[red]✗[/red] {p}", highlight=False)
        raise typer.Exit(1)
    trust = "" if key else " (with the key the dossier carries: compare it with the published one)"
    out.print(f"[green]dossier OK[/green]: the verdicts are signed and every cited entry is "
              f"proven against the signed checkpoint{trust}")


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
    with _store() as store, store.unit_of_work(write=False) as uow:
        cp = uow.ledger.latest_checkpoint()
    if cp is None:
        raise _fail("no checkpoint yet")
    sys.stdout.write(cp.note)


@app.command()
def replay(
    input: Annotated[Path, typer.Argument(help="NDJSON in the replay format, or - for stdin")],
    out_path: Annotated[Path, typer.Option("--out", help="where to write the alert lines")],
    tenant: Annotated[str, typer.Option(help="tenant the data belongs to")] = "replay",
    store: Annotated[str, typer.Option(help="memory, or a database URL")] = "memory",
    bus: Annotated[str | None, typer.Option(
        help="bus mode: publish to this NATS JetStream; running workers (--clock event) apply "
             "it to --store, and the alert lines are read back from the store's ledger")] = None,
    wait: Annotated[float, typer.Option(
        help="bus mode: seconds to wait for the workers to apply it all")] = 600.0,
) -> None:
    """Run the whole pipeline offline on recorded data; write alert state changes as NDJSON."""
    from parcelguard.bus.publisher import BusPipeline
    from parcelguard.ingest.replay import Replay, ledger_lines, write_alerts
    from parcelguard.services.clock import ManualClock

    clock = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))
    if bus is not None and not store.startswith("postgresql"):
        raise _fail("a bus-mode replay goes to the workers' store: give its PostgreSQL URL "
                    "with --store")
    if store == "memory":  # nothing outlives the run: throwaway keys, no files written
        import base64
        import os

        settings = Settings(database_url="memory://", ledger_key=base64.b64encode(
            os.urandom(32)).decode(), data_key=base64.b64encode(os.urandom(32)).decode())
    else:
        settings = Settings(database_url=store, bus_url=bus)
    system = bootstrap.build(settings, clock=clock)
    with system.store.unit_of_work() as uow:
        if not uow.tenants.exists(tenant):
            uow.tenants.add(tenant, tenant, 0)
            uow.commit()
        start = uow.ledger.size()
    source = sys.stdin.buffer if str(input) == "-" else input.open("rb")
    node = system.pipeline
    if isinstance(node, BusPipeline):
        node.start()
        try:
            run = Replay(None, clock, tenant, system.encode, send=node.submit_sync,
                         store=system.store)
            with source:
                summary = run.feed(source)
            if not node.wait_applied(wait):
                raise _fail(f"the workers did not apply it all within {wait:.0f} s: is every "
                            "partition owned (`parcelguard status`)?")
        finally:
            node.stop()
        with system.store.unit_of_work(write=False) as uow:
            lines = ledger_lines(uow, tenant, start)
    else:
        system.ingestor.start()
        run = Replay(system.ingestor, clock, tenant, system.encode)
        with source:
            summary = run.feed(source)
        lines = run.alert_lines()
    with out_path.open("w", encoding="utf-8") as f:
        alerts = write_alerts(f, lines)
    system.store.close()
    err.print(json.dumps({"lines": summary.lines, "alerts": alerts, **summary.results},
                         ensure_ascii=False))
    for line in summary.errors:
        err.print(f"  {line}")


@app.command("import")
def import_file(
    path: Annotated[Path, typer.Argument(help="an .ndjson/.jsonl or .csv file", exists=True,
                                         dir_okay=False)],
    key: Annotated[str, typer.Option(envvar="PARCELGUARD_API_KEY",
                                     help="an API key of the tenant the rows belong to")],
    kind: Annotated[str | None, typer.Option(
        help="shipment, event or telemetry: what every row is (CSV: required)")] = None,
    url: Annotated[str | None, typer.Option(help="the running server (default: this "
                                            "machine's configured host and port)")] = None,
    restart: Annotated[bool, typer.Option(help="forget an earlier run's progress")] = False,
) -> None:
    """Import a file through a running server, resumably; refused rows go to FILE.rejected.ndjson."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from parcelguard.ingest.importer import Importer, State

    settings = Settings()
    base = url or f"http://{settings.host}:{settings.port}"
    size = path.stat().st_size
    if not restart and State.load(path.with_name(path.name + ".import-state")).done:
        err.print(f"{path.name} was imported already (--restart imports it again)")
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeRemainingColumn(), console=err) as progress:
        task = progress.add_task(path.name, total=size)
        job = Importer(base, key, path, kind,
                       on_progress=lambda offset: progress.update(task, completed=offset))
        try:
            state = job.run(restart=restart)
        except ParcelGuardError as exc:
            raise _fail(exc.message) from None
        progress.update(task, completed=size)
    table = Table("result", "rows")
    for result in ("accepted", "duplicate", "quarantined", "rejected"):
        table.add_row(result, f"{state.results.get(result, 0):,}")
    out.print(table)
    if state.results.get("rejected"):
        out.print(f"refused rows and reasons: {job.rejected_path}", highlight=False,
                  soft_wrap=True)


@app.command()
def demo(
    shipments: Annotated[int, typer.Option(help="shipments to simulate")] = 400,
    speed: Annotated[float, typer.Option(help="simulated seconds per real second")] = 120.0,
    port: Annotated[int, typer.Option(help="port to serve on (next free one if taken)")] = 8000,
    seed: Annotated[int, typer.Option(help="simulation seed")] = 7,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
) -> None:
    """Start the server on SQLite and feed it a live simulated network. Ctrl-C stops it."""
    from parcelguard import demo as demo_mod
    from parcelguard.logs import configure

    configure(Settings(log_level="warning"))
    options = demo_mod.DemoOptions(shipments=shipments, speed=speed, port=port, seed=seed,
                                   duration=duration)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a demo ends
        demo_mod.run(options, out)


@app.command()
def simulate(
    out_dir: Annotated[Path, typer.Argument(help="folder for events.ndjson and labels.ndjson")],
    shipments: Annotated[int, typer.Option(help="how many shipments")] = 1000,
    seed: Annotated[int, typer.Option(help="same seed, same data")] = 1,
    days: Annotated[float, typer.Option(help="orders are spread over this many days")] = 1.0,
    start: Annotated[str, typer.Option(help="RFC 3339 time of the first order")] = (
        "2026-11-20T00:00:00+08:00"),
    anomaly_rate: Annotated[float, typer.Option(help="share of shipments with an anomaly")] = 0.1,
    telemetry: Annotated[bool, typer.Option(help="include sensor and GPS readings")] = True,
    clock_minutes: Annotated[float, typer.Option(help="clock line cadence; 0 for none")] = 15,
    congested_hub: Annotated[str | None, typer.Option(
        help="a hub (e.g. HUB-SHA-QP) that slows down 12 h in: up to 8 h more there")] = None,
    weather_city: Annotated[str | None, typer.Option(
        help="a city (e.g. 杭州) under a storm 12 h in, for 36 h: its hubs hold parcels 12 h "
             "longer, and a disruption line declares it")] = None,
) -> None:
    """Write a simulated network's data in the replay format, with ground-truth labels."""
    from parcelguard.simulator.scenario import SimConfig, Simulation

    config = SimConfig(
        seed=seed, shipments=shipments, start=times.parse(start, "start"),
        span=timedelta(days=days), anomaly_rate=anomaly_rate, telemetry=telemetry,
        clock_every=timedelta(minutes=clock_minutes) if clock_minutes > 0 else None,
        congested_hub=congested_hub, weather_city=weather_city,
    )
    events, labels = Simulation(config).write(out_dir)
    out.print(f"wrote {events} and {labels}")


@app.command()
def evaluate(
    folder: Annotated[Path, typer.Argument(help="a folder written by `parcelguard simulate`")],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the scores")] = None,
) -> None:
    """Replay labelled data; print precision, recall and timing of each alert kind."""
    from parcelguard.bench import evaluate as ev

    scores = ev.evaluate(folder)
    table = Table("kind", "tp", "fp", "fn", "precision", "recall", "median delay h",
                  "median lead h")
    table.columns[0].no_wrap = True
    for s in scores:
        r = s.row()
        table.add_row(*(("-" if r[c] is None else str(r[c])) for c in (
            "kind", "tp", "fp", "fn", "precision", "recall", "median_delay_h", "median_lead_h")))
    out.print(table)
    if json_out:
        json_out.write_text(json.dumps([s.row() for s in scores], indent=2))


@bench_app.command("ingest")
def bench_ingest(
    events: Annotated[int, typer.Option(help="scan events to ingest")] = 200_000,
    backend: Annotated[list[str] | None, typer.Option(
        help="sqlite and/or postgresql (repeatable)")] = None,
    pg_url: Annotated[str, typer.Option(help="PostgreSQL to use (a fresh schema)")] = PG_DEFAULT,
) -> None:
    """Pipeline vs bare inserts of the same rows, on SQLite and PostgreSQL."""
    from parcelguard.bench import ingest as bench

    for name in backend or ["sqlite", "postgresql"]:
        for line in bench.report(bench.run(name, events, pg_url)):
            out.print(line, highlight=False, markup=False)


@bench_app.command("http")
def bench_http(
    events: Annotated[int, typer.Option(help="scan events to post")] = 100_000,
    port: Annotated[int, typer.Option(help="port for the benchmark server")] = 8765,
) -> None:
    """POST /v1/events over loopback against the in-process pipeline on the same data."""
    from parcelguard.bench import http

    http_rate, inproc_rate = http.run(events, port)
    for line in http.report(events, http_rate, inproc_rate):
        out.print(line, highlight=False, markup=False)


@bench_app.command("rules")
def bench_rules(
    events: Annotated[int, typer.Option(help="scan events per run")] = 100_000,
    cel_rules: Annotated[int, typer.Option(help="merchant CEL rules in the third run")] = 100,
) -> None:
    """Per-event cost of the rules: none, built-in, built-in plus CEL rules (SQLite)."""
    from parcelguard.bench import rules

    for line in rules.report(rules.run(events, cel_rules)):
        out.print(line, highlight=False, markup=False)


@bench_app.command("hooks")
def bench_hooks(
    parcels: Annotated[int, typer.Option(help="parcels of each run (three runs)")] = 3000,
    port: Annotated[int, typer.Option(help="port for the benchmark server")] = 8767,
    senders: Annotated[int, typer.Option(help="concurrent keep-alive connections")] = 48,
) -> None:
    """Kdniao pushes (10 traces each) over HTTP against our own events API (own process)."""
    from parcelguard.bench import hooks

    for line in hooks.report(hooks.run(parcels, port, senders), parcels, senders):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@bench_app.command("mqtt")
def bench_mqtt(
    readings: Annotated[int, typer.Option(help="readings to publish (500 devices)")] = 50_000,
    port: Annotated[int, typer.Option(help="port for the benchmark server")] = 8768,
) -> None:
    """MQTT telemetry publish -> committed, against POST /v1/telemetry (own process)."""
    from parcelguard.bench import mqtt

    for line in mqtt.report(mqtt.run(readings, port)):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


@bench_app.command("latency")
def bench_latency(
    rate: Annotated[int, typer.Option(help="events per second to send")] = 1000,
    seconds: Annotated[float, typer.Option(help="how long to send")] = 30.0,
    port: Annotated[int, typer.Option(help="port for the benchmark server")] = 8766,
    webhook: Annotated[bool, typer.Option(help="subscribe a loopback receiver")] = True,
    bus: Annotated[str | None, typer.Option(
        help="bus mode through this NATS (e.g. nats://127.0.0.1:4222), with --database")] = None,
    database: Annotated[str, typer.Option(help="PostgreSQL for bus mode (a schema is made)")] = (
        "postgresql://root@127.0.0.1:5432/test"),
    workers: Annotated[int, typer.Option(help="bus mode: worker processes")] = 2,
    per_request: Annotated[int, typer.Option(
        help="events per request (10: a carrier's push; 100-1000: a bulk integration)",
        min=1, max=1000)] = 10,
) -> None:
    """Event -> alert latency over HTTP at a steady rate (server in its own process)."""
    from parcelguard.bench import latency

    setup = latency.BusSetup(bus, database, workers) if bus else None
    figures = latency.run(rate, seconds, port, webhook, setup, per_request)
    for line in latency.report(figures, rate, setup):
        out.print(line, highlight=False, markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
