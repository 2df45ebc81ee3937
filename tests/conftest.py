"""Shared fixtures: real PostgreSQL (a fresh schema per test), SQLite files, a real server."""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
import uvicorn

from parcelguard import bootstrap
from parcelguard.api import create_app
from parcelguard.config import Settings
from parcelguard.domain.tenancy import Role
from parcelguard.services import auth
from parcelguard.services.clock import ManualClock

T = TypeVar("T")
PG_ADMIN = os.environ.get("PARCELGUARD_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
KEY_A = base64.b64encode(b"\x01" * 32).decode()
KEY_B = base64.b64encode(b"\x02" * 32).decode()
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 12 h after the factories' first event


def _need(service: str, reason: str) -> None:
    message = f"{service} is not reachable ({reason})"
    if IN_CI:
        pytest.fail(f"{message}: under CI=true a missing service is a failure")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_admin() -> str:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        _need("PostgreSQL on 127.0.0.1:5432", str(exc).strip())
    return PG_ADMIN


def _schema_url(admin: str, schema: str) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    base = admin.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}?options=-csearch_path%3D{schema}"


def _drop_schema(admin: str, schema: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


BUS = "bus"  # a db_url a module may ask for: PostgreSQL behind an API node, JetStream, a worker
NATS_URL = os.environ.get("PARCELGUARD_TEST_NATS", "nats://127.0.0.1:4222")
BOTH_MODES = pytest.mark.parametrize("db_url", ["sqlite", "postgresql", BUS], indirect=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind: a SQLite file, or a new PostgreSQL schema (also
    under ``bus``, which the ``system`` fixture turns into bus mode)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pg.db'}"
        return
    if request.param not in ("postgresql", BUS):
        raise ValueError(f"db_url is sqlite, postgresql or bus, got {request.param!r}")
    admin = request.getfixturevalue("pg_admin")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield _schema_url(admin, schema)
    finally:
        _drop_schema(admin, schema)


def settings_for(url: str, data_dir: Path, **extra: object) -> Settings:
    """Test settings; the webhook deliverer is off unless a test turns it on (it would try to
    reach the internet for example.com subscriptions)."""
    extra.setdefault("webhooks_enabled", False)
    extra.setdefault("notices_enabled", False)  # tests send notices with notifier.send_due()
    extra.setdefault("mqtt_enabled", False)  # the MQTT tests start their own subscriber
    return Settings(database_url=url, data_dir=data_dir, ledger_key=KEY_A, data_key=KEY_B,
                    **extra)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def system(request: pytest.FixtureRequest, db_url: str, tmp_path: Path,
           clock: ManualClock) -> Iterator[bootstrap.System]:
    """The system the tests talk to: embedded, or (``db_url`` parametrized with ``bus``) an
    API node publishing to its own JetStream stream, applied by a worker on the same clock."""
    with system_in_mode(getattr(request, "param", None) is None and in_bus_mode(request),
                        db_url, tmp_path, clock) as sys:
        yield sys


@contextmanager
def system_in_mode(bus: bool, db_url: str, data_dir: Path, clock: ManualClock,
                   **extra: object) -> Iterator[bootstrap.System]:
    """A started system with more settings (``extra``): embedded, or a bus-mode API node."""
    if bus:
        with bus_mode(db_url, data_dir, clock, **extra) as node:
            yield node
        return
    sys = bootstrap.build(settings_for(db_url, data_dir, **extra), clock=clock)
    sys.start()
    try:
        yield sys
    finally:
        sys.stop()


def in_bus_mode(request: pytest.FixtureRequest) -> bool:
    """Whether this test runs with ``db_url`` parametrized as ``bus``."""
    return _param(request, "db_url") == BUS


def _param(request: pytest.FixtureRequest, name: str) -> object:
    callspec = getattr(request.node, "callspec", None)
    return None if callspec is None else callspec.params.get(name)


@contextmanager
def bus_mode(db_url: str, data_dir: Path, clock: ManualClock,
             **extra: object) -> Iterator[bootstrap.System]:
    """An API node and one worker owning every partition of a stream of this test's own, in
    this process (so the test's clock is the worker's too); ``extra``: more settings."""
    import asyncio

    import nats

    from parcelguard.bus.worker import Worker
    from parcelguard.storage import migrate
    from parcelguard.storage.sql import SqlStore

    try:
        run_aside(_reach_nats)
    except Exception as exc:  # any failure to connect means it is not there
        _need(f"NATS JetStream at {NATS_URL}", str(exc))
    tag = uuid.uuid4().hex[:10]
    store = SqlStore.connect(db_url)
    migrate.upgrade(store.engine)
    store.close()
    settings = settings_for(db_url, data_dir, bus_url=NATS_URL, bus_stream=f"PGT_{tag}",
                            bus_subject_prefix=f"pgt.{tag}", bus_partitions=4,
                            eta_learning="start", **extra)
    worker = bootstrap.build(settings, worker=True, clock=clock)
    work = Worker(worker.writer, worker.store, worker.vault, worker.clock, NATS_URL,
                  bootstrap.bus_spec(settings), range(4))
    ready, stop = threading.Event(), threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            halt = asyncio.Event()

            async def watch() -> None:
                await asyncio.to_thread(stop.wait)
                halt.set()

            def started() -> None:
                worker.start(deliver=False)
                ready.set()

            watcher = asyncio.create_task(watch())
            await work.run(halt, started)
            watcher.cancel()
        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test below
            failed.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="test-bus-worker", daemon=True)
    thread.start()
    ready.wait(30)
    if failed:
        raise failed[0]
    node = bootstrap.build(settings, clock=clock)
    node.test_writer = worker  # type: ignore[attr-defined]  # see writer_of
    node.start()
    try:
        yield node
    finally:
        node.stop()
        stop.set()
        thread.join(30)
        worker.stop()

        async def drop() -> None:
            nc = await nats.connect(NATS_URL)
            with contextlib.suppress(Exception):  # gone already
                await nc.jetstream().delete_stream(settings.bus_stream)
            await nc.close()
        run_aside(drop)


def writer_of(system: bootstrap.System) -> bootstrap.System:
    """The system whose writer applies the commands: itself, or in bus mode the worker."""
    found: bootstrap.System = getattr(system, "test_writer", system)
    return found


def run_aside(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end on a thread of its own and give its result: the test's
    thread may already have a running loop (Playwright's sync API keeps one for the session),
    where ``asyncio.run`` refuses to start."""
    import asyncio

    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(asyncio.run(make()))
        except BaseException as exc:  # reported to the caller, skips and failures alike
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    if failed:
        raise failed[0]
    if not done:
        raise TimeoutError("the coroutine did not finish in 120 s")
    return done[0]


async def _reach_nats() -> None:
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0)
    await nc.close()


@dataclass
class Keys:
    """API keys of two tenants, one per role, to test scoping and permissions."""

    acme: dict[Role, str]
    other: dict[Role, str]


def make_keys(sys: bootstrap.System) -> Keys:
    made: dict[str, dict[Role, str]] = {}
    for tenant in ("acme", "other"):
        auth.create_tenant(sys.store, tenant, tenant.upper(), 0)
        made[tenant] = {role: auth.create_key(sys.store, tenant, role, "test", 0) for role in Role}
    return Keys(made["acme"], made["other"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    system: bootstrap.System
    keys: Keys
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, role: Role = Role.ADMIN, tenant: str = "acme") -> httpx.Client:
        key = (self.keys.acme if tenant == "acme" else self.keys.other)[role]
        return self.anonymous({"Authorization": f"Bearer {key}"})

    def anonymous(self, headers: dict[str, str] | None = None) -> httpx.Client:
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


def run_server(sys: bootstrap.System) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(create_app(system=sys), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on", **sys.settings.proxy_options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@contextmanager
def serving(system: bootstrap.System) -> Iterator[Server]:
    """A real HTTP server over ``system`` (started by the caller), with API keys made."""
    keys = make_keys(system)
    srv, thread, url = run_server(system)
    running = Server(url, system, keys)
    try:
        yield running
    finally:
        running.close()
        srv.should_exit = True
        thread.join(10)


@pytest.fixture
def server(system: bootstrap.System) -> Iterator[Server]:
    with serving(system) as running:
        yield running
