"""Shared fixtures: real PostgreSQL (a fresh schema per test), SQLite files, a real server."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind: a SQLite file, or a new PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'pg.db'}"
        return
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
    extra.setdefault("mqtt_enabled", False)  # the MQTT tests start their own subscriber
    return Settings(database_url=url, data_dir=data_dir, ledger_key=KEY_A, data_key=KEY_B,
                    **extra)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def system(db_url: str, tmp_path: Path, clock: ManualClock) -> Iterator[bootstrap.System]:
    sys = bootstrap.build(settings_for(db_url, tmp_path), clock=clock)
    sys.start()
    try:
        yield sys
    finally:
        sys.stop()


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
                            log_level="warning", lifespan="on")
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
