"""Masking of personal data for display (names, phone numbers, addresses) and of the phone
numbers in events before they are stored.

Every page and label shows only masked values: at least six digits of a phone number and
all but the first character of a name are hidden. The last four digits of the phone are the
key to the public lookup, so they are never shown either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.events import TrackingEvent
from parcelguard.domain.shipment import MaskedRecipient, Recipient

_DIGITS = re.compile(r"\d")
_PHONE = re.compile(r"\+?[\d\s()-]{7,20}")


def digits(phone: str) -> str:
    return "".join(_DIGITS.findall(phone))


def check_phone(phone: str, field: str = "recipient.phone") -> str:
    """A phone number with 7 to 15 digits; spaces, dashes, parentheses and '+' are allowed."""
    if not _PHONE.fullmatch(phone.strip()) or not 7 <= len(digits(phone)) <= 15:
        raise InvalidInput(field, "expected a phone number of 7 to 15 digits, e.g. 13812345678")
    return phone.strip()


_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{2,63}")


def check_email(email: str, field: str = "recipient.email") -> str:
    if not _EMAIL.fullmatch(email.strip()):
        raise InvalidInput(field, "expected an e-mail address, e.g. name@example.com")
    return email.strip()


def last4(phone: str) -> str:
    return digits(phone)[-4:]


def mask_phone(phone: str) -> str:
    """Keep the first three digits, hide the rest: 13812345678 -> 138********; a short number
    keeps fewer, so that at least six are always hidden (88881234 -> 88******)."""
    d = digits(phone)
    shown = max(0, min(3, len(d) - 6))
    return d[:shown] + "*" * (len(d) - shown)


# a mobile (13812345678, +86 138 1234 5678), a landline (0755-88881234) or any 7 to 15 digits
# standing alone; not dates, times or the digits of a tracking number (letters before them)
_PHONE_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9-])(?:\+?86[ -]?)?(?:1[3-9]\d[ -]?\d{4}[ -]?\d{4}|0\d{2,3}-\d{7,8}|\d{7,15})"
    r"(?![0-9-])")


def mask_email(address: str) -> str:
    """Keep the first letter and the domain: li.si@example.com -> l***@example.com."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phones_in(text: str) -> str:
    """Phone numbers inside free text (a courier's number in the carrier's wording), masked."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)


def mask_name(name: str) -> str:
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_address(address: str) -> str:
    """Keep the province/city part (up to the first 市/区/县 or the first comma), hide the rest."""
    address = address.strip()
    m = re.search(r"[市区县州,，]", address)
    keep = address[: m.end()] if m and m.end() <= 12 else address[:6]
    return keep + "****"


def mask(recipient: Recipient) -> MaskedRecipient:
    return MaskedRecipient(
        name=mask_name(recipient.name),
        phone=mask_phone(recipient.phone),
        address=mask_address(recipient.address),
    )


# what is masked before an event is stored: mobiles and landlines only (a carrier's wording and
# raw payload also hold area codes, times and numeric waybill numbers, which must stay whole)
_STORED_PHONE = re.compile(
    r"(?<![0-9])(?:\+?86[ -]?)?(?:1[3-9]\d[ -]?\d{4}[ -]?\d{4}|0\d{2,3}-\d{7,8})(?![0-9])")


def mask_stored_phones(text: str) -> str:
    return _STORED_PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_event(event: TrackingEvent) -> TrackingEvent:
    """The event as it is stored and sealed into the ledger: phone numbers in the carrier's
    wording and raw payload masked (a courier's number is personal data; the ledger keeps
    what it is given for ever). The event's id was made before, from the carrier's own
    wording, so a carrier's push sent again is still recognised."""
    description = event.description and mask_stored_phones(event.description)
    raw = _masked(event.raw) if event.raw else event.raw
    if description == event.description and raw == event.raw:
        return event
    return replace(event, description=description, raw=raw)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_stored_phones(value)
    if isinstance(value, Mapping):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value
