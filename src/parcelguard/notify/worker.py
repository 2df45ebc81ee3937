"""Delivers the outbox: signed POSTs with retries, until delivered or out of time.

Every second, and at once when the writer commits a batch, it takes the messages due, posts each
one signed as the Standard Webhooks spec says (the message id is the ``webhook-id`` on every
attempt, so receivers de-duplicate), and records the attempt. A 2xx delivers it. A 410 says the
endpoint is gone: the message is dead and the subscription disabled. Anything else is retried
with exponential backoff and jitter, no sooner than a ``Retry-After`` asks, for 72 hours; then
the message is dead-lettered and stays visible through the API. Targets on loopback, private or
link-local networks are refused (checked on every attempt, after resolving the name) unless
settings allow them.
"""

from __future__ import annotations

import email.utils
import ipaddress
import random
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import httpx
import structlog

from parcelguard.domain import times
from parcelguard.domain.webhooks import (
    RETRY_FOR_US,
    Message,
    MessageState,
    Subscription,
    backoff_s,
    is_public,
    sign,
)
from parcelguard.services import notify
from parcelguard.services.clock import Clock
from parcelguard.services.ports import Attempt, Store, Vault
from parcelguard.services.rounds import Rounds

log = structlog.get_logger(__name__)
BATCH = 50
PARALLEL = 8  # subscriptions delivered to in parallel within a round
USER_AGENT = "ParcelGuard-Webhooks/1"


class Blocked(Exception):
    pass


def _public(url: str) -> None:
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise Blocked(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not is_public(address):
            raise Blocked(f"{host} resolves to {address}, not a public address")


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - now
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class Tried:
    """One delivery attempt, before it is recorded."""

    message: Message
    subscription_id: str
    at_us: int
    status: int | None
    error: str | None
    retry_after: float | None
    took_ms: int


class Deliverer:
    def __init__(self, store: Store, vault: Vault, clock: Clock, allow_private: bool,
                 timeout_s: float = 10.0, every_s: float = 1.0, seed: int | None = None) -> None:
        self.store, self.vault, self.clock = store, vault, clock
        self.allow_private, self.timeout_s, self.every_s = allow_private, timeout_s, every_s
        self.rng = random.Random(seed)
        self._client = httpx.Client(timeout=timeout_s, headers={"user-agent": USER_AGENT},
                                    follow_redirects=False)
        self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="webhook")
        self._rounds = Rounds("webhook-deliverer", every_s, lambda: self.deliver_due() == BATCH)

    def start(self) -> None:
        self._rounds.start()

    def nudge(self) -> None:
        """New messages may be in the outbox: deliver now rather than at the next round."""
        self._rounds.nudge()

    def stop(self) -> None:
        self._rounds.stop()
        self._pool.shutdown()
        self._client.close()

    def deliver_due(self) -> int:
        """One round: every message due now, each subscription's in order, different
        subscriptions in parallel; the attempts are recorded in one transaction (so the round
        takes the database's write lock once). Returns how many were attempted."""
        now_us = times.to_us(self.clock.now())
        with self.store.unit_of_work(write=False) as uow:
            due = uow.webhooks.due(now_us, BATCH)
            subs = {sid: uow.webhooks.subscription(tenant_id, sid)
                    for tenant_id, sid in {(m.tenant_id, m.subscription_id) for m in due}}
        queues: dict[str, list[Message]] = {}
        for m in due:
            if subs.get(m.subscription_id) is not None:
                queues.setdefault(m.subscription_id, []).append(m)

        def send(messages: list[Message]) -> list[Tried]:
            row = subs[messages[0].subscription_id]
            assert row is not None
            sub = notify.subscription(row, self.vault)
            return [self._attempt(m, sub) for m in messages]

        tried = [t for done in self._pool.map(send, queues.values()) for t in done]
        if tried:
            self._record(tried)
        return len(due)

    def _attempt(self, message: Message, sub: Subscription) -> Tried:
        started, now_us = time.perf_counter(), times.to_us(self.clock.now())
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        if not sub.enabled:
            error = f"subscription disabled: {sub.disabled_reason}"
        else:
            try:
                if not self.allow_private:
                    _public(sub.url)
                ts = int(now_us // 1_000_000)
                r = self._client.post(sub.url, content=message.body, headers={
                    "content-type": "application/json", "webhook-id": message.message_id,
                    "webhook-timestamp": str(ts),
                    "webhook-signature": sign(sub.secret, message.message_id, ts, message.body)})
                status = r.status_code
                retry_after = _retry_after(r.headers.get("retry-after"), time.time())
                if not 200 <= status < 300:
                    error = f"HTTP {status}"
            except (httpx.HTTPError, Blocked, UnicodeError, ValueError) as exc:
                error = str(exc)[:300] or type(exc).__name__
        took = int((time.perf_counter() - started) * 1000)
        return Tried(message, sub.subscription_id, now_us, status, error, retry_after, took)

    def _record(self, tried: list[Tried]) -> None:
        tries: list[Attempt] = []
        updated: list[Message] = []
        with self.store.unit_of_work() as uow:
            for t in tried:
                m = t.message
                attempts = m.attempts + 1
                if t.error is None:
                    after = replace(m, attempts=attempts, state=MessageState.DELIVERED,
                                    last_error=None, delivered_at_us=t.at_us)
                elif t.status == 410 or t.at_us - m.created_at_us >= RETRY_FOR_US:
                    after = replace(m, attempts=attempts, state=MessageState.DEAD,
                                    last_error=t.error)
                else:
                    wait = max(backoff_s(attempts, self.rng), t.retry_after or 0.0)
                    after = replace(m, attempts=attempts, last_error=t.error,
                                    next_attempt_at_us=t.at_us + int(wait * 1_000_000))
                tries.append(Attempt(m.message_id, attempts, t.at_us, t.status, t.error,
                                     t.took_ms))
                updated.append(after)
                if t.status == 410:
                    uow.webhooks.set_enabled(t.subscription_id, False,
                                             "the endpoint answered 410 Gone")
            uow.webhooks.add_attempts(tries)
            uow.webhooks.update_messages(updated)
            uow.commit()
