"""Carrier push endpoints (one per tenant, format and carrier account) and rejected payloads.

An endpoint is where a carrier's push service posts: ``/v1/hooks/<format>/<endpoint_id>``. Its
secret is what the carrier signs with (Kdniao's AppKey, Kuaidi100's salt, AfterShip's webhook
secret, 17TRACK's API key, or our own ``whsec_`` key for the generic format). Every scheme needs
the secret itself to check a signature, so it is sealed (AES-GCM), not hashed.

Input that cannot be read is kept, sealed, for a person to look at: a carrier's payload carries
couriers' and recipients' phone numbers.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parcelguard.domain.errors import InvalidInput, NotFound
from parcelguard.domain.webhooks import new_id, new_secret
from parcelguard.services.ports import EndpointRow, RejectedPayload, Store, Vault

DEFAULT_ZONE = "Asia/Shanghai"
GENERIC = "generic"
MAX_SECRET = 200
MAX_NAME = 80
KEEP_BYTES = 256 * 1024  # of a rejected body: enough to see what is wrong with it


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An endpoint with its secret opened: only ever in memory."""

    endpoint_id: str
    tenant_id: str
    format: str
    name: str
    secret: str
    zone: ZoneInfo
    enabled: bool

    @property
    def path(self) -> str:
        return f"/v1/hooks/{self.format}/{self.endpoint_id}"


def opened(row: EndpointRow, vault: Vault) -> Endpoint:
    return Endpoint(row.endpoint_id, row.tenant_id, row.format, row.name,
                    vault.open(row.secret_sealed).decode(), ZoneInfo(row.zone), row.enabled)


def _zone(zone: str) -> str:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("zone", f"expected an IANA time zone such as {DEFAULT_ZONE}, "
                                   f"got {zone!r}") from None
    return zone


def create(store: Store, vault: Vault, formats: Collection[str], tenant_id: str, fmt: str,
           name: str | None, secret: str | None, zone: str | None,
           now_us: int) -> tuple[EndpointRow, str | None]:
    """A new endpoint, and the secret when we made it (generic format only): shown once."""
    if fmt not in formats:
        raise InvalidInput("format", f"expected one of {', '.join(sorted(formats))}, got {fmt!r}")
    made = None
    if not secret:
        if fmt != GENERIC:
            raise InvalidInput("secret", f"required: the key {fmt} signs its pushes with")
        secret = made = new_secret()
    if len(secret) > MAX_SECRET or secret != secret.strip():
        raise InvalidInput("secret", f"expected at most {MAX_SECRET} characters without "
                                     "surrounding spaces")
    name = (name or fmt).strip()
    if not name or len(name) > MAX_NAME:
        raise InvalidInput("name", f"expected 1 to {MAX_NAME} characters")
    row = EndpointRow(new_id("ep"), tenant_id, fmt, name, vault.seal(secret.encode()),
                      _zone(zone or DEFAULT_ZONE), True, now_us)
    with store.unit_of_work() as uow:
        if not uow.tenants.exists(tenant_id):
            raise NotFound(f"no tenant {tenant_id!r}")
        uow.integrations.add_endpoint(row)
        uow.commit()
    return row, made


def set_enabled(store: Store, tenant_id: str, endpoint_id: str, enabled: bool) -> EndpointRow:
    with store.unit_of_work() as uow:
        row = uow.integrations.endpoint(endpoint_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound(f"no carrier endpoint {endpoint_id!r}")
        uow.integrations.set_endpoint_enabled(endpoint_id, enabled)
        uow.commit()
        found = uow.integrations.endpoint(endpoint_id)
    assert found is not None
    return found


def reject(store: Store, vault: Vault, tenant_id: str | None, source: str, ref: str | None,
           received_at_us: int, field: str | None, reason: str, content_type: str | None,
           body: bytes) -> int:
    """Keep a payload that could not be read; its id."""
    row = RejectedPayload(tenant_id, source, (ref or "")[:300] or None, received_at_us,
                          (field or "")[:200] or None, reason[:500],
                          (content_type or "")[:200] or None, vault.seal(body[:KEEP_BYTES]),
                          len(body))
    with store.unit_of_work() as uow:
        rejected_id = uow.integrations.add_rejected(row)
        uow.commit()
    return rejected_id

