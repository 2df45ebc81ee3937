"""The public lookup: a tracking number and the last four digits of the recipient's phone.

Whoever knows both sees the parcel, masked. An unknown number and wrong digits get the same
answer, and both count as a wrong try against that tracking number: five within 24 hours lock it
for 24 hours, known to us or not, so neither the answer nor the lock tells whether it exists. A
locked number refuses even the right digits; a right answer before the lock clears the count.

A successful lookup yields a share token: the same masked view for 14 days without the digits,
for the link a consumer sends on. It is a keyed digest of the tenant, the tracking number and
its expiry; nothing is stored for it.
"""

from __future__ import annotations

import base64
import hmac
import re
import threading
from dataclasses import dataclass

from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.shipment import check_tracking_no
from parcelguard.services.ingest import lookup_material
from parcelguard.services.ports import LookupFailures, ShipmentRecord, Store, Vault

MAX_FAILURES = 5
HOUR_US = 3_600_000_000
WINDOW_US = 24 * HOUR_US  # wrong tries counted over this
LOCK_US = 24 * HOUR_US
SHARE_US = 14 * 24 * HOUR_US
PRUNE_EVERY = 1000  # lookups between sweeps of ended counts and locks
_SUFFIX = re.compile(r"\d{4}")


@dataclass(frozen=True, slots=True)
class Answer:
    record: ShipmentRecord | None  # None: no such parcel with those digits, or locked
    locked_until_us: int | None = None
    tries_left: int | None = None


class PublicLookup:
    def __init__(self, store: Store, vault: Vault) -> None:
        self.store, self.vault = store, vault
        self._lock = threading.Lock()  # one count at a time: read, add one, write
        self._since_prune = 0

    def find(self, tracking_no: str, last4: str, now_us: int) -> Answer:
        check_tracking_no(tracking_no)
        if not _SUFFIX.fullmatch(last4):
            raise InvalidInput("phone_last4", "expected the last 4 digits of the recipient's phone")
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY:  # guesses at made-up numbers leave rows behind
            self._since_prune = 0
            self.prune(now_us)
        with self._lock, self.store.unit_of_work() as uow:
            failed = uow.lookups.failures(tracking_no)
            if failed is not None and failed.locked_until_us and failed.locked_until_us > now_us:
                return Answer(None, failed.locked_until_us, 0)
            found = None
            for record in uow.shipments.numbered(tracking_no):
                expected = self.vault.digest(lookup_material(
                    record.shipment.tenant_id, tracking_no, last4))
                if record.lookup_digest and hmac.compare_digest(record.lookup_digest, expected):
                    found = record
                    break
            if found is not None:
                if failed is not None:
                    uow.lookups.clear(tracking_no)
                    uow.commit()
                return Answer(found)
            if failed is None or failed.first_at_us <= now_us - WINDOW_US:
                failed = LookupFailures(tracking_no, 0, now_us)
            count = failed.failures + 1
            locked = now_us + LOCK_US if count >= MAX_FAILURES else None
            uow.lookups.save_failures(LookupFailures(tracking_no, count, failed.first_at_us, locked))
            uow.commit()
        return Answer(None, locked, MAX_FAILURES - count)

    def prune(self, now_us: int) -> int:
        """Forget counts and locks that ended (run now and then)."""
        with self._lock, self.store.unit_of_work() as uow:
            gone = uow.lookups.prune(now_us - max(WINDOW_US, LOCK_US))
            uow.commit()
        return gone

    # ---- share links ----

    def share_token(self, record: ShipmentRecord, now_us: int) -> str:
        expires_s = (now_us + SHARE_US) // 1_000_000
        tenant = base64.urlsafe_b64encode(record.shipment.tenant_id.encode()).decode().rstrip("=")
        sig = self._sign(record.shipment.tenant_id, record.shipment.tracking_no, expires_s)
        return f"{tenant}.{expires_s}.{sig}"

    def shared(self, tracking_no: str, token: str, now_us: int) -> ShipmentRecord | None:
        """The parcel a share token opens, or None (wrong, expired, or not this number)."""
        try:
            tenant_b64, expires, sig = token.split(".")
            tenant_id = base64.urlsafe_b64decode(tenant_b64 + "=" * (-len(tenant_b64) % 4)).decode()
            expires_s = int(expires)
        except ValueError:  # also binascii.Error and UnicodeDecodeError
            return None
        if expires_s * 1_000_000 <= now_us or not sig.isascii():
            return None
        if not hmac.compare_digest(sig, self._sign(tenant_id, tracking_no, expires_s)):
            return None
        with self.store.unit_of_work(write=False) as uow:
            return uow.shipments.get(tenant_id, tracking_no)

    def _sign(self, tenant_id: str, tracking_no: str, expires_s: int) -> str:
        return self.vault.digest(f"share\x1f{tenant_id}\x1f{tracking_no}\x1f{expires_s}")[:32]
