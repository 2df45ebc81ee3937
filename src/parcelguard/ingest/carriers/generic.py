"""Our own event format, pushed as a Standard Webhooks delivery (https://www.standardwebhooks.com).

The body is what ``POST /v1/events`` takes: one ``WireEvent`` object or an array of up to 1000
(:mod:`parcelguard.ingest.wire`). Three headers sign it: ``webhook-id`` (the delivery's
idempotency key, ``Push.delivery_id``), ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64>`` entries, any of which may match (a
sender rotating its secret signs with both). The signed content is ``{id}.{timestamp}.{body}``,
the key the base64 secret after the ``whsec_`` prefix, the MAC HMAC-SHA256. A timestamp more
than 5 minutes from ``now`` is refused, which bounds replays; within the window a replay has
the same ``webhook-id`` and the same event ids, so it is recognised as a duplicate.

Unlike ``/v1/events``, a delivery is all or nothing: one bad item refuses the whole delivery
(``InvalidInput`` naming ``[index].field``), so the sender's retry of the same ``webhook-id``
is the only way it is ever applied. Statuses are our own, so no code is unknown to us; an
event sent as ``unknown`` is counted like an unknown carrier code. Besides the documented
errors, an array of more than 1000 events raises ``TooLarge``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, tzinfo

import msgspec

from parcelguard.domain.errors import InvalidInput, Unauthorized, Unparsable
from parcelguard.domain.status import Status
from parcelguard.ingest import wire
from parcelguard.ingest.carriers import common, localtime
from parcelguard.ingest.carriers.common import Code, Push, Table

FORMAT = "generic"
TOLERANCE = timedelta(minutes=5)
PREFIX = "whsec_"
STATUS_CODES: Table = {s.value: Code(s, None, s.value) for s in Status}
_STAMP = re.compile(r"[0-9]{1,12}")


def secret_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise Unauthorized(f"the configured {FORMAT} secret is not {PREFIX}<base64>: no push can be verified"
                           ) from None


def signature(msg_id: str, timestamp: str, body: bytes, secret: str) -> str:
    """One ``webhook-signature`` entry: ``v1,`` and the base64 HMAC-SHA256 of the signed content."""
    content = f"{msg_id}.{timestamp}.".encode("utf-8", "surrogatepass") + body
    return "v1," + base64.b64encode(hmac.new(secret_key(secret), content, hashlib.sha256).digest()).decode()


def verify(body: bytes, headers: Mapping[str, str], secret: str, now: datetime) -> str:
    """The delivery's ``webhook-id`` once a ``v1`` signature matches; ``Unauthorized`` otherwise."""
    common.need_secret(secret, FORMAT)
    given = common.header(headers, "webhook-signature")
    if not given:
        raise Unauthorized("missing webhook-signature: every push must be signed")
    msg_id = common.header(headers, "webhook-id") or ""
    stamp = (common.header(headers, "webhook-timestamp") or "").strip()
    if not msg_id or not _STAMP.fullmatch(stamp):
        raise Unauthorized("webhook-id and webhook-timestamp (Unix seconds) are signed too: send both")
    if abs(now.timestamp() - int(stamp)) > TOLERANCE.total_seconds():
        raise Unauthorized(f"webhook-timestamp {stamp} is more than 5 minutes from now: refused as a replay")
    expected = signature(msg_id, stamp, body, secret).encode()
    for entry in given.split():
        if hmac.compare_digest(entry.encode("utf-8", "surrogatepass"), expected):
            return msg_id
    raise Unauthorized("webhook-signature does not match the body: check the configured secret")


def handle(
    body: bytes, headers: Mapping[str, str], secret: str, *, now: datetime,
    zone: tzinfo = localtime.DEFAULT_ZONE, codes: Table = STATUS_CODES,
) -> Push:
    """Verify and decode one delivery; ``secret`` is ``whsec_<base64>``. Times carry their own
    offsets in this format, so ``zone`` is not used; nor is ``codes``."""
    msg_id = verify(body, headers, secret, now)
    return parse(body, delivery_id=msg_id)


def parse(body: bytes, *, delivery_id: str | None = None) -> Push:
    """Decode a verified body: every item, or an error naming the first bad one."""
    batch = common.Batch(FORMAT)
    try:
        items, is_array = wire.split(body)
        for i, raw in enumerate(items):
            _item(batch, raw, f"[{i}]" if is_array else "")
    except RecursionError:
        raise Unparsable("body", "nested too deeply") from None
    return batch.done(common.OK_REPLY, delivery_id=delivery_id)


def _item(batch: common.Batch, raw: msgspec.Raw, at: str) -> None:
    try:
        w = wire.decode(raw, wire.WireEvent)
        if w.received_at is not None:
            raise InvalidInput("received_at", "is set by the server on arrival; leave it out")
        event = wire.to_event(w, FORMAT)
    except Unparsable as exc:
        raise Unparsable(_at(at, exc.field), exc.problem) from None
    except InvalidInput as exc:
        raise InvalidInput(_at(at, exc.field), exc.problem) from None
    batch.events.append(event)
    if event.status is Status.UNKNOWN:
        batch.unknown_codes += 1


def _at(index: str, field: str) -> str:
    return f"{index}.{field}" if index and field else index or field
