"""Identity-verified delivery: a one-time pickup code, checked at the door.

When a parcel that needs it (a ``high_value`` one, or any whose profile says
``require_verified_pod``) goes out for delivery, the recipient gets a six-digit code through
the configured sender (mail when SMTP is configured and the recipient has an address, else
the SMS sender: the log by default); only a keyed digest of the code is stored. The courier's app posts the
code with the courier, the device, the position and a photo of the handover
(``POST /v1/shipments/<tn>/delivery``). A right code stores the photo content-addressed and
records the delivery as a ``delivered`` scan whose proof of delivery (``raw.pod``: verified by
code, the photo's SHA-256, courier, device) goes into the custody ledger with it; the code is
then spent. Five wrong codes lock delivery of that parcel and raise a critical
``pod_unverified`` alert; the merchant issues a new code to unlock it.

Nothing is half-written: the code is claimed in the transaction that finds it right (two
hand-overs at once cannot both use it) and released if the delivery is not recorded; the photo
is stored (harmless if the rest fails: it is named by its hash) before the scan is committed;
the scan's id comes from the code, so a retry after a crash is a duplicate, not a second
delivery.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import structlog

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity
from parcelguard.domain.errors import Conflict, InvalidInput, Locked, TooLarge
from parcelguard.domain.events import Location, TrackingEvent, derive_event_id
from parcelguard.domain.status import Status
from parcelguard.services import queries
from parcelguard.services.clock import Clock
from parcelguard.services.messages import RaiseAlert, RecordScan, Result
from parcelguard.services.notify import StatusChange
from parcelguard.services.pipeline import Submitter
from parcelguard.services.ports import Blobs, ConsumerMessage, PickupCode, Sender, Store, Vault

log = structlog.get_logger(__name__)
MAX_PHOTO = 10 * 1024 * 1024
MAX_WRONG = 5
_CODE = re.compile(r"\d{6}")
_KINDS = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


@dataclass(frozen=True, slots=True)
class Handover:
    code: str
    courier_id: str
    device_id: str
    lat: float
    lon: float
    photo: bytes


@dataclass(frozen=True, slots=True)
class Delivered:
    event_id: str
    delivered_at: str
    photo_sha256: str


def photo_type(photo: bytes) -> str:
    if len(photo) > MAX_PHOTO:
        raise TooLarge(f"photo: at most {MAX_PHOTO // (1024 * 1024)} MiB, got {len(photo)} bytes")
    for magic, kind in _KINDS.items():
        if photo.startswith(magic):
            return kind
    raise InvalidInput("photo", "expected a JPEG or PNG image")


class Deliveries:
    def __init__(self, store: Store, vault: Vault, blobs: Blobs, senders: Mapping[str, Sender],
                 pipeline: Submitter, clock: Clock) -> None:
        """``senders`` by channel: ``sms`` always; ``email`` when mail is configured."""
        self.store, self.vault, self.blobs, self.senders = store, vault, blobs, senders
        self.pipeline, self.clock = pipeline, clock
        self._lock = threading.Lock()  # one code check at a time: read, count, write
        self._issuer = ThreadPoolExecutor(1, thread_name_prefix="pickup-codes")

    def close(self) -> None:
        self._issuer.shutdown(wait=True)

    def settle(self) -> None:
        """Wait until the codes queued so far are issued and sent (tests, shutdown)."""
        self._issuer.submit(lambda: None).result()

    # ---- codes ----

    def on_status(self, changes: list[StatusChange]) -> None:
        """After a commit (writer thread): issue codes off the writer's thread."""
        for c in changes:  # only parcels whose profile asks for it: no read for the others
            if c.after is Status.OUT_FOR_DELIVERY and c.verified_pod:
                self._issuer.submit(self._issue_logged, c.tenant_id, c.tracking_no)

    def _issue_logged(self, tenant_id: str, tracking_no: str) -> None:
        try:
            self.issue(tenant_id, tracking_no, new_round=True)
        except Conflict as exc:  # no recipient on file: nobody to send it to
            log.warning("pickup_code.not_sent", tracking_no=tracking_no, reason=exc.message)
        except Exception:
            log.exception("pickup_code.issue_failed", tracking_no=tracking_no)

    def issue(self, tenant_id: str, tracking_no: str, new_round: bool = False) -> str | None:
        """A new code for the parcel, sent to its recipient (a new round of delivery, or the
        merchant unlocking it); the previous one stops working. The channel it went by; None
        when a new round finds the code locked or spent (the merchant decides then)."""
        now_us = times.to_us(self.clock.now())
        code = f"{secrets.randbelow(10 ** 6):06d}"
        # one transaction, under the lock the code checks take: a check cannot write back
        # the row this replaces, nor a lock set meanwhile be overwritten
        with self._lock, self.store.unit_of_work() as uow:
            if new_round:
                row = uow.deliveries.code(tenant_id, tracking_no)
                if row is not None and (row.locked_at_us is not None or row.used_at_us is not None):
                    return None
            record = queries.shipment(uow, tenant_id, tracking_no)
            recipient = queries.recipient(self.vault, record)
            if recipient is None:
                raise Conflict("the shipment has no recipient to send a pickup code to")
            text = (f"【ParcelGuard】您的包裹 {tracking_no} 正在派送，取件码 {code}。"
                    "请在快递员到达时出示，勿告诉他人。")
            uow.deliveries.save_code(PickupCode(tenant_id, tracking_no,
                                                self._digest(tenant_id, tracking_no, code),
                                                now_us))
            by_mail = recipient.email is not None and "email" in self.senders
            sender = self.senders["email" if by_mail else "sms"]
            to = recipient.email if by_mail and recipient.email else recipient.phone
            message_id = uow.deliveries.add_message(ConsumerMessage(
                tenant_id, tracking_no, sender.channel, self.vault.seal(to.encode()),
                self.vault.seal(text.encode()), "pickup_code", now_us))
            uow.commit()
        sent = sender.send(to, text)
        with self.store.unit_of_work() as uow:
            uow.deliveries.set_message_status(message_id, "sent" if sent else "failed")
            uow.commit()
        return sender.channel

    def photo(self, tenant_id: str, tracking_no: str) -> tuple[bytes, str] | None:
        """The handover photo of a parcel delivered through ``deliver`` and its media type;
        None for any other (a carrier's own proof of delivery has no photo of ours)."""
        with self.store.unit_of_work(write=False) as uow:
            tl = queries.timeline(uow, tenant_id, tracking_no)
        for stored in reversed(tl.events):
            e = stored.event
            pod = (e.raw or {}).get("pod")
            if e.source == "pod" and e.status is Status.DELIVERED and isinstance(pod, dict):
                data = self.blobs.get(str(pod.get("photo_sha256")))
                return None if data is None else (data, str(pod.get("photo_type")))
        return None

    def _digest(self, tenant_id: str, tracking_no: str, code: str) -> str:
        return self.vault.digest(f"pickup\x1f{tenant_id}\x1f{tracking_no}\x1f{code}")

    # ---- the handover ----

    async def deliver(self, tenant_id: str, tracking_no: str, h: Handover) -> Delivered:
        kind = photo_type(h.photo)
        if not _CODE.fullmatch(h.code):
            raise InvalidInput("code", "expected the 6-digit pickup code")
        claimed = await asyncio.to_thread(self._check, tenant_id, tracking_no, h.code)
        if claimed is None:
            await self.pipeline.submit([RaiseAlert(
                tenant_id, tracking_no, f"{Kind.POD_UNVERIFIED}:pickup_code",
                Kind.POD_UNVERIFIED, Severity.CRITICAL,
                {"reason": "pickup_code_locked", "wrong_codes": MAX_WRONG,
                 "courier_id": h.courier_id, "device_id": h.device_id}, self.clock.now())])
            raise Locked(f"{MAX_WRONG} wrong codes: delivery of {tracking_no} is locked until "
                         "the merchant issues a new code (POST .../pickup-code)")
        try:
            return await self._record(tenant_id, tracking_no, h, kind, *claimed)
        except BaseException:
            await asyncio.to_thread(self._release, tenant_id, tracking_no)  # try again later
            raise

    async def _record(self, tenant_id: str, tracking_no: str, h: Handover, kind: str,
                      code: PickupCode, carrier: str) -> Delivered:
        sha = await asyncio.to_thread(self.blobs.put, h.photo)
        now = self.clock.now()
        event = TrackingEvent(  # one delivery per code: a retry is the same event, a duplicate
            event_id=derive_event_id("pod", tracking_no, times.from_us(code.issued_at_us),
                                     "delivered", "pickup_code", None),
            tracking_no=tracking_no, carrier=carrier,
            occurred_at=now, status=Status.DELIVERED, substatus="pickup_code",
            location=Location(lat=h.lat, lon=h.lon), operator_id=h.courier_id,
            device_id=h.device_id, description="收件人出示取件码，已核验签收", source="pod",
            raw={"pod": {"id_verified": True, "method": "pickup_code",
                         "photo_sha256": sha, "photo_type": kind, "photo_bytes": len(h.photo),
                         "courier_id": h.courier_id, "device_id": h.device_id,
                         "lat": h.lat, "lon": h.lon}})
        (outcome,) = await self.pipeline.submit([RecordScan(tenant_id, event, now)])
        if outcome.result not in (Result.ACCEPTED, Result.DUPLICATE):
            raise InvalidInput(outcome.field or "", outcome.reason or "the delivery was refused")
        return Delivered(event.event_id, times.iso(now), sha)

    def _check(self, tenant_id: str, tracking_no: str,
               code: str) -> tuple[PickupCode, str] | None:
        """The code row (and the parcel's carrier), claimed (spent) in the same transaction that
        found it right, so two hand-overs at once cannot both use it; None when this wrong
        try locked it; else an error."""
        now_us = times.to_us(self.clock.now())
        with self._lock, self.store.unit_of_work() as uow:
            # NotFound for other tenants' parcels
            carrier = queries.shipment(uow, tenant_id, tracking_no).shipment.carrier
            row = uow.deliveries.code(tenant_id, tracking_no)
            if row is None:
                raise Conflict("no pickup code was issued for this parcel: it is not out for "
                               "delivery, or it needs none")
            if row.used_at_us is not None:
                raise Conflict(f"delivered already, with its code, at {times.iso_us(row.used_at_us)}")
            if row.locked_at_us is not None:
                raise Locked(f"delivery is locked after {MAX_WRONG} wrong codes; the merchant "
                             "issues a new code to unlock it")
            if hmac.compare_digest(row.code_digest, self._digest(tenant_id, tracking_no, code)):
                uow.deliveries.save_code(replace(row, used_at_us=now_us))
                uow.commit()
                return row, carrier
            failures = row.failures + 1
            locked = now_us if failures >= MAX_WRONG else None
            uow.deliveries.save_code(replace(row, failures=failures, locked_at_us=locked))
            uow.commit()
        if locked is not None:
            return None
        raise InvalidInput("code", f"wrong pickup code; {MAX_WRONG - failures} tries left")

    def _release(self, tenant_id: str, tracking_no: str) -> None:
        """The delivery was not recorded: the claimed code is good again."""
        with self._lock, self.store.unit_of_work() as uow:
            row = uow.deliveries.code(tenant_id, tracking_no)
            if row is not None:
                uow.deliveries.save_code(replace(row, used_at_us=None))
                uow.commit()

