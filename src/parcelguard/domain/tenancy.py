"""Tenants, roles and what each role may do. Every read and write is scoped to one tenant."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from parcelguard.domain.errors import Forbidden, InvalidInput

TENANT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{1,39}")


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
class Principal:
    """Who is calling: a tenant and a role, from a verified API key."""

    tenant_id: str
    role: Role
    key_id: str

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
