"""Outbound webhooks as the Standard Webhooks spec has them: signing, payloads, retry schedule.

A message is signed over ``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256 under the
subscription's secret (base64, shown as ``whsec_...``). The id stays the same on every retry, so
a receiver that keeps the ids it has seen processes each message exactly once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import random
import secrets
from dataclasses import dataclass
from enum import StrEnum

from parcelguard.domain.errors import InvalidInput

PREFIX = "whsec_"
RETRY_FOR_US = 72 * 3600 * 1_000_000  # give up on a message 72 hours after it was made
FIRST_RETRY_S = 30.0
MAX_BACKOFF_S = 6 * 3600.0


class EventType(StrEnum):
    ALERT_OPENED = "alert.opened"
    ALERT_ACKNOWLEDGED = "alert.acknowledged"
    ALERT_RESOLVED = "alert.resolved"
    ALERT_CLEARED = "alert.cleared"
    ALERT_ESCALATED = "alert.escalated"
    STATUS_CHANGED = "shipment.status_changed"
    OPS_ALERT_OPENED = "ops_alert.opened"  # about a facility: a bottleneck forming
    OPS_ALERT_CLEARED = "ops_alert.cleared"


class MessageState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up: out of time, or the endpoint is gone (410)


@dataclass(frozen=True, slots=True)
class Subscription:
    subscription_id: str
    tenant_id: str
    url: str
    secret: str  # whsec_...
    events: frozenset[EventType]
    kinds: frozenset[str]  # alert kinds to send; empty: every kind
    enabled: bool = True
    disabled_reason: str | None = None
    created_at_us: int = 0

    def wants(self, event: EventType, kind: str | None) -> bool:
        if not self.enabled or event not in self.events:
            return False
        return kind is None or not self.kinds or kind in self.kinds


@dataclass(frozen=True, slots=True)
class Message:
    message_id: str  # the webhook-id
    tenant_id: str
    subscription_id: str
    event: EventType
    body: bytes  # JSON: {"type", "timestamp", "data"}
    created_at_us: int
    next_attempt_at_us: int
    attempts: int = 0
    state: MessageState = MessageState.PENDING
    last_error: str | None = None
    delivered_at_us: int | None = None


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def backoff_s(attempts: int, rng: random.Random) -> float:
    """Exponential from 30 s, capped at six hours, with full jitter on its upper half."""
    base = min(MAX_BACKOFF_S, FIRST_RETRY_S * 2.0 ** max(0, attempts - 1))
    return base / 2 + rng.random() * base / 2


def check_url(url: str, allow_private: bool) -> str:
    """An https (or, for private targets allowed by settings, http) URL; literal addresses
    in private, loopback or link-local ranges are refused unless allowed."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("url", "expected an absolute https:// URL")
    if parts.scheme == "http" and not allow_private:
        raise InvalidInput("url", "expected https://; plain http is only for private test targets")
    try:
        address = ipaddress.ip_address(parts.hostname)
    except ValueError:
        try:  # a name: it must be one DNS can look up (labels of 1 to 63 characters)
            parts.hostname.encode("idna")
        except UnicodeError:
            raise InvalidInput("url", f"{parts.hostname!r} is not a valid host name") from None
        return url  # checked again when it is resolved, before each delivery
    if not allow_private and not is_public(address):
        raise InvalidInput("url", f"{address} is not a public address; deliveries to loopback, "
                                  "private and link-local networks are off")
    return url


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (address.is_private or address.is_loopback or address.is_link_local
                or address.is_multicast or address.is_reserved or address.is_unspecified)
