"""Tenants, roles and what each role may do. Every read and write is scoped to one tenant, with
one exception: a carrier *network* key reads the operations console over every parcel handed to
its carrier, whichever merchant (tenant) sent it (``Scope``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from parcelguard.domain.errors import Forbidden, InvalidInput

TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{1,39}")
CARRIER_CODE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # as shipments name them: sf, zto


class Role(StrEnum):
    MERCHANT = "merchant"
    CARRIER = "carrier"
    DEVICE_GATEWAY = "device_gateway"
    OPERATOR = "operator"
    ADMIN = "admin"


class Permission(StrEnum):
    READ_SHIPMENTS = "shipments:read"
    WRITE_SHIPMENTS = "shipments:write"
    WRITE_EVENTS = "events:write"
    WRITE_TELEMETRY = "telemetry:write"
    WRITE_DEVICES = "devices:write"
    READ_LEDGER = "ledger:read"
    READ_ALERTS = "alerts:read"
    WRITE_ALERTS = "alerts:write"
    MANAGE_WEBHOOKS = "webhooks:manage"
    MANAGE_RULES = "rules:manage"
    MANAGE_INTEGRATIONS = "integrations:manage"
    READ_CLAIMS = "claims:read"
    MANAGE_CLAIMS = "claims:manage"
    MANAGE_DISRUPTIONS = "disruptions:manage"
    READ_OPERATIONS = "operations:read"


P = Permission
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.MERCHANT: frozenset(
        {P.READ_SHIPMENTS, P.WRITE_SHIPMENTS, P.WRITE_EVENTS, P.WRITE_DEVICES, P.READ_LEDGER,
         P.READ_ALERTS, P.WRITE_ALERTS, P.MANAGE_WEBHOOKS, P.MANAGE_RULES,
         P.MANAGE_INTEGRATIONS, P.READ_CLAIMS, P.MANAGE_CLAIMS}
    ),
    Role.CARRIER: frozenset({P.READ_SHIPMENTS, P.WRITE_EVENTS, P.READ_LEDGER, P.READ_ALERTS,
                             P.READ_OPERATIONS}),
    Role.DEVICE_GATEWAY: frozenset({P.WRITE_TELEMETRY}),
    Role.OPERATOR: frozenset(
        {P.READ_SHIPMENTS, P.WRITE_EVENTS, P.READ_LEDGER, P.READ_ALERTS, P.WRITE_ALERTS,
         P.MANAGE_DISRUPTIONS, P.READ_OPERATIONS}
    ),
    Role.ADMIN: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose parcels an operations reading covers: one tenant's, or (``network`` set) every
    parcel handed to that carrier across all tenants. What the reading itself records (an
    operations alert) belongs to ``tenant_id`` either way."""

    tenant_id: str
    network: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a tenant and a role, from a verified API key. A carrier key may also
    name its carrier's network: its operations console then spans every merchant."""

    tenant_id: str
    role: Role
    key_id: str
    network: str | None = None

    @property
    def scope(self) -> Scope:
        """A network spans tenants for a carrier key only, whatever a key record says."""
        return Scope(self.tenant_id, self.network if self.role is Role.CARRIER else None)

    @property
    def sees_recipient(self) -> bool:
        """The merchant (and an admin) see their recipients unmasked; other roles never do."""
        return self.role in (Role.MERCHANT, Role.ADMIN)

    def require(self, permission: Permission) -> None:
        if permission not in GRANTS[self.role]:
            raise Forbidden(
                f"the {self.role.value} role may not do this (needs {permission.value}); "
                "use a key with a role that has it"
            )

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]


def check_tenant_id(value: str) -> str:
    if not TENANT_ID.fullmatch(value):
        raise InvalidInput(
            "tenant", f"expected 2-40 lowercase letters, digits, '-' or '_', got {value!r}"
        )
    return value


def check_network(role: Role, network: str | None) -> str | None:
    """A network is a carrier code, and only a carrier key may span one."""
    if network is None:
        return None
    if role is not Role.CARRIER:
        raise InvalidInput("network", f"only a carrier key spans a network, not a {role.value} key")
    if not CARRIER_CODE.fullmatch(network):
        raise InvalidInput(
            "network", f"expected a carrier code of 1-32 lowercase letters, digits, '-' or '_' "
            f"(e.g. sf, zto), got {network!r}")
    return network
