"""Tenants and API keys. A key is shown once; storage keeps only its SHA-256.

A key reads ``pgk_<key id>_<secret>``: the id finds the record, the secret is checked against
the stored hash with a constant-time comparison. Verified keys are cached briefly so a request
costs no database read; a revoked key stops working within the cache lifetime.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from parcelguard.domain.errors import Conflict, NotFound, Unauthorized
from parcelguard.domain.tenancy import Principal, Role, check_network, check_tenant_id
from parcelguard.services.ports import ApiKeyRecord, Store

PREFIX = "pgk"
CACHE_SECONDS = 30.0


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_tenant(store: Store, tenant_id: str, name: str, now_us: int) -> None:
    check_tenant_id(tenant_id)
    with store.unit_of_work() as uow:
        if uow.tenants.exists(tenant_id):
            raise Conflict(f"tenant {tenant_id!r} exists already")
        uow.tenants.add(tenant_id, name or tenant_id, now_us)
        uow.commit()


def create_key(store: Store, tenant_id: str, role: Role, label: str, now_us: int,
               network: str | None = None) -> str:
    """Make a key and return it: the only time its secret is ever seen. A carrier key with a
    ``network`` (a carrier code) reads the operations console over that carrier's parcels of
    every tenant: issue one only to the carrier itself."""
    check_network(role, network)
    key_id, secret = secrets.token_hex(5), secrets.token_urlsafe(32)
    with store.unit_of_work() as uow:
        if not uow.tenants.exists(tenant_id):
            raise NotFound(f"no tenant {tenant_id!r}: create it with "
                           f"`parcelguard tenants create {tenant_id}`")
        uow.tenants.add_key(ApiKeyRecord(key_id, tenant_id, role, _hash(secret), label, now_us,
                                         network=network))
        uow.commit()
    return f"{PREFIX}_{key_id}_{secret}"


def revoke_key(store: Store, key_id: str, now_us: int) -> None:
    with store.unit_of_work() as uow:
        if not uow.tenants.revoke_key(key_id, now_us):
            raise NotFound(f"no active key {key_id!r}")
        uow.commit()


class Authenticator:
    def __init__(self, store: Store, cache_seconds: float = CACHE_SECONDS) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[str, Principal, float]] = {}
        self._lock = threading.Lock()

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'")
        parts = token.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
            raise Unauthorized("the API key is malformed: it reads pgk_<id>_<secret>")
        key_id, secret = parts[1], parts[2]
        secret_hash = _hash(secret)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_id)
        if cached is not None and cached[2] > now:
            if hmac.compare_digest(cached[0], secret_hash):
                return cached[1]
            raise Unauthorized("the API key is not valid")
        with self.store.unit_of_work() as uow:
            record = uow.tenants.get_key(key_id)
        if (
            record is None
            or record.revoked_at_us is not None
            or not hmac.compare_digest(record.secret_hash, secret_hash)
        ):
            raise Unauthorized("the API key is not valid")
        principal = Principal(record.tenant_id, record.role, record.key_id, record.network)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_id] = (record.secret_hash, principal, now + self.cache_seconds)
        return principal
