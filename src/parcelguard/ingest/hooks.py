"""Carrier push receivers: ``POST /v1/hooks/<format>/<endpoint_id>``.

One path for every format: find the endpoint, let its adapter verify the raw bytes (failing
closed: a missing or wrong signature writes nothing), decode, and put the scans through the same
pipeline as our own API, answering only after they are committed. A carrier's own delivery
estimate is kept beside ours for the parcels we track, in the same commit as the scans. What
cannot be read is kept in the rejected-payload table and answered 400 (or 422 for a readable
push with a bad field) when its signature could be checked; a body unreadable before that (a
form that is not one) is answered 400 and counted but not kept, since anyone could have sent
it. The receiver itself never stops. Items for parcels nobody registered
are counted, not stored: a carrier pushes every parcel of the account, and sends the whole
trace again next time.

Because the whole trace comes again on every push, most of a push's items are ones we already
committed. The receiver remembers the ids of the items it saw committed (or found stored
already) for the formats whose ids come from the item's content, and does not send those to
the writer again: a push that brings one new item costs the writer one scan, not ten. Only
committed items are remembered, so skipping one never loses anything; a restart merely
forgets, and the writer's own de-duplication answers instead. The carrier's delivery estimate
is likewise sent only when it differs from the last one committed.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter, OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import structlog

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity
from parcelguard.domain.errors import InvalidInput, NotFound, TooLarge, Unauthorized
from parcelguard.ingest.carriers import FORMATS, Adapter
from parcelguard.ingest.carriers.common import Unverified
from parcelguard.services import integrations
from parcelguard.services.clock import Clock
from parcelguard.services.integrations import Endpoint
from parcelguard.services.messages import Command, NoteEstimate, RaiseAlert, RecordScan, Result
from parcelguard.services.pipeline import Submitter
from parcelguard.services.ports import Store, Vault

log = structlog.get_logger(__name__)
CACHE_SECONDS = 30.0  # a disabled endpoint stops answering within this
REMEMBERED = 200_000  # committed item ids kept per process (about 20 MB)
# formats whose item ids are derived from the item's content (or the carrier's hash of it):
# the same id is the same item. The generic format's ids are the sender's own.
CONTENT_IDS = frozenset({"kdniao", "kuaidi100", "aftership", "track17"})
KNOWN = frozenset({Result.ACCEPTED, Result.DUPLICATE})  # committed now, or before


class Remembered:
    """A bounded set, least recently seen evicted first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._keys: OrderedDict[Hashable, object] = OrderedDict()

    def get(self, key: Hashable) -> object | None:
        value = self._keys.get(key)
        if value is not None:
            self._keys.move_to_end(key)
        return value

    def put(self, key: Hashable, value: object = True) -> None:
        self._keys[key] = value
        self._keys.move_to_end(key)
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True, slots=True)
class Reply:
    body: bytes
    media_type: str


class HookReceiver:
    def __init__(self, store: Store, vault: Vault, pipeline: Submitter, clock: Clock,
                 formats: Mapping[str, Adapter] = FORMATS) -> None:
        self.store, self.vault, self.pipeline, self.clock = store, vault, pipeline, clock
        self.formats = formats
        self.pushes: Counter[tuple[str, str]] = Counter()  # (format, result), for /metrics
        self.items: Counter[tuple[str, str]] = Counter()  # (format, pipeline result)
        self.notices: Counter[tuple[str, str]] = Counter()  # (format, stopped | problem | ...)
        self._cache: dict[str, tuple[Endpoint | None, float]] = {}
        self.committed = Remembered(REMEMBERED)  # (tenant, event id) of committed items
        self.estimates = Remembered(REMEMBERED // 10)  # (tenant, number, format) -> last

    def endpoint(self, endpoint_id: str) -> Endpoint | None:
        now = time.monotonic()
        hit = self._cache.get(endpoint_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.store.unit_of_work(write=False) as uow:
            row = uow.integrations.endpoint(endpoint_id)
        found = None if row is None else integrations.opened(row, self.vault)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[endpoint_id] = (found, now + CACHE_SECONDS)
        return found

    def forget(self, endpoint_id: str) -> None:
        """The endpoint changed in this process: read it again on the next push."""
        self._cache.pop(endpoint_id, None)

    async def receive(self, fmt: str, endpoint_id: str, body: bytes,
                      headers: Mapping[str, str]) -> Reply:
        adapter = self.formats.get(fmt)
        ep = self.endpoint(endpoint_id) if adapter is not None else None
        if adapter is None or ep is None or ep.format != fmt or not ep.enabled:
            self.pushes[(fmt if adapter else "?", "no_endpoint")] += 1
            raise NotFound(f"no enabled {fmt} endpoint {endpoint_id!r}: create one with "
                           "POST /v1/carrier-endpoints and give its URL to the carrier")
        now = self.clock.now()
        try:
            push = adapter.handle(body, headers, ep.secret, now=now, zone=ep.zone)
        except Unauthorized:
            self.pushes[(fmt, "unauthorized")] += 1
            raise
        except Unverified as exc:  # unreadable before its signature: anyone's, so not kept
            self.pushes[(fmt, "unverified")] += 1
            log.warning("hooks.unverified", format=fmt, endpoint_id=endpoint_id,
                        size=len(body), reason=exc.message)
            raise
        except (InvalidInput, TooLarge) as exc:  # Unparsable is an InvalidInput
            self.pushes[(fmt, "rejected")] += 1
            field = exc.field if isinstance(exc, InvalidInput) else None
            rejected_id = await asyncio.to_thread(  # a write: off the event loop
                integrations.reject, self.store, self.vault, ep.tenant_id, f"hooks/{fmt}",
                endpoint_id, times.to_us(now), field, exc.message, headers.get("content-type"),
                body)
            log.warning("hooks.rejected", format=fmt, endpoint_id=endpoint_id,
                        rejected_id=rejected_id, reason=exc.message)
            raise
        tenant = ep.tenant_id
        remember = fmt in CONTENT_IDS
        # oldest first: Kuaidi100 and 17TRACK list a parcel's scans newest first, and the rules
        # read a scan older than one already applied as late (it says nothing about now)
        new = sorted((e for e in push.events
                      if not remember or self.committed.get((tenant, e.event_id)) is None),
                     key=lambda e: (e.occurred_at, e.event_id))
        self.items[(fmt, Result.DUPLICATE.value)] += len(push.events) - len(new)
        commands: list[Command] = [RecordScan(tenant, e, now) for e in new]
        # the carrier's estimates ride in the same commit (one transaction per push, not two)
        moved = [(tn, at) for tn, at in sorted(push.estimated_delivery.items())
                 if self.estimates.get((tenant, tn, fmt)) != at]
        commands += [NoteEstimate(tenant, tn, fmt, at, now) for tn, at in moved]
        # a carrier that stopped tracking a parcel, or could not track it, before it arrived:
        # someone has to find out where it is (after the scans, so a delivery in the same push
        # comes first)
        commands += [
            RaiseAlert(tenant, tn, f"{Kind.CARRIER_EXCEPTION}:tracking_{what}",
                       Kind.CARRIER_EXCEPTION, Severity.WARNING,
                       {"source": fmt, "tracking": what, "reason": reason}, now,
                       while_travelling=True)
            for what, notes in (("stopped", push.stopped), ("failed", push.problems))
            for tn, reason in sorted(notes.items())]
        # a push sent again whole is a retry: its estimates' messages are named after its body
        request = f"hook:{endpoint_id}\x1f{hashlib.sha256(body).hexdigest()}"
        outcomes = await self.pipeline.submit(commands, request=request) if commands else []
        for e, out in zip(new, outcomes, strict=False):
            self.items[(fmt, out.result.value)] += 1
            if remember and out.result in KNOWN:
                self.committed.put((tenant, e.event_id))
        for (tn, at), out in zip(moved, outcomes[len(new):len(new) + len(moved)], strict=True):
            if out.result in KNOWN:
                self.estimates.put((tenant, tn, fmt), at)
        self.pushes[(fmt, "accepted")] += 1
        self.notices[(fmt, "stopped")] += len(push.stopped)
        self.notices[(fmt, "problem")] += len(push.problems)
        # codes not in our tables (a carrier's new subtag): stored as unknown or as their
        # parent status; counted here so the tables get updated
        self.notices[(fmt, "unknown_code")] += push.unknown_codes
        if push.problems or push.stopped:  # the carrier stopped or failed tracking a parcel
            log.warning("hooks.carrier_notes", format=fmt, endpoint_id=endpoint_id,
                     problems=push.problems, stopped=push.stopped)
        return Reply(push.reply, push.reply_type)
