"""Requests sent with an Idempotency-Key: the first answer is kept, and replayed to retries.

A client that got no answer (a timeout, a dropped connection) sends the request again with the
same key. Within a day its retry is answered with the first answer, status and body, instead
of being applied again; the same key with another route or body is refused (422), and a retry
that arrives while the first is still being answered in this process waits for nothing: 409.
Answers of 5xx and 429 are not kept (nothing was done, or it is not known what was: in bus
mode the commands' message ids, named after the key, make JetStream drop a second copy). Keys
are the caller's: scoped by tenant and API key, so two callers' keys never meet.
"""

from __future__ import annotations

import threading

from parcelguard.domain.errors import Conflict, InvalidInput
from parcelguard.services.ports import KeptAnswer, Store

KEEP_US = 24 * 3_600_000_000  # a day
PURGE_EVERY = 1000  # answers kept between sweeps of those past KEEP_US


class RequestKeys:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._answering: set[tuple[str, str, str]] = set()
        self._since_purge = 0

    def begin(self, tenant_id: str, key_id: str, key: str, fingerprint: str,
              now_us: int) -> KeptAnswer | None:
        """The kept answer to replay, or None: answer the request, then ``end`` it."""
        slot = (tenant_id, key_id, key)
        with self._lock:
            if slot in self._answering:
                raise Conflict("a request with this Idempotency-Key is still being answered; "
                               "send the retry once it has been")
            self._answering.add(slot)
        try:
            with self.store.unit_of_work(write=False) as uow:
                kept = uow.request_keys.get(tenant_id, key_id, key)
            if kept is not None and kept.created_at_us < now_us - KEEP_US:
                kept = None
            if kept is not None and kept.fingerprint != fingerprint:
                raise InvalidInput("Idempotency-Key", "this key was used for another request "
                                   "(another route or body) in the last 24 h: send a new key "
                                   "with a new request, the same key only with its retries")
        except BaseException:
            self._release(slot)
            raise
        if kept is not None:
            self._release(slot)
        return kept

    def end(self, tenant_id: str, key_id: str, key: str, fingerprint: str, now_us: int,
            answer: tuple[int, bytes] | None) -> None:
        """``answer``: (status, body) to keep, or None (a 5xx, or no answer) to keep nothing."""
        try:
            if answer is None or answer[0] >= 500 or answer[0] == 429:  # try again later
                return
            with self.store.unit_of_work() as uow:
                uow.request_keys.keep(KeptAnswer(tenant_id, key_id, key, fingerprint,
                                                 answer[0], answer[1], now_us))
                self._since_purge += 1
                if self._since_purge >= PURGE_EVERY:
                    self._since_purge = 0
                    uow.request_keys.purge(now_us - KEEP_US)
                uow.commit()
        finally:
            self._release((tenant_id, key_id, key))

    def _release(self, slot: tuple[str, str, str]) -> None:
        with self._lock:
            self._answering.discard(slot)
