"""Sends consumer notifications (``services.notices``): every second, and when nudged, the
notices due go out through their subscription's channel — mail, the SMS sender, or a signed
POST to an app backend — and each is recorded with what went out (sealed, in
``consumer_messages``).

A notice found inside its subscriber's quiet hours waits for their end; one whose subscriber
unsubscribed meanwhile is dropped; a failed send is tried again with backoff, six times over
about an hour, then marked failed. A notice is recorded after its send, so a crash between the
two can send it twice (at least once, never lost).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import replace

import httpx
import structlog

from parcelguard.domain import notices, times
from parcelguard.domain.notices import Channel, NoticeState
from parcelguard.domain.webhooks import sign
from parcelguard.notify.worker import USER_AGENT, _public
from parcelguard.services.clock import Clock
from parcelguard.services.notices import send_after
from parcelguard.services.ports import (
    ConsumerMessage,
    Notice,
    NoticeSubscription,
    Sender,
    Store,
    Vault,
)
from parcelguard.services.rounds import Rounds

log = structlog.get_logger(__name__)
BATCH = 100
MAX_ATTEMPTS = 6
FIRST_RETRY_S = 60.0  # then doubling: 1, 2, 4, 8, 16 minutes


def unsubscribe_url(base_url: str, subscription_id: str) -> str:
    return f"{base_url.rstrip('/')}/n/{subscription_id}/unsubscribe"


class Notifier:
    def __init__(self, store: Store, vault: Vault, clock: Clock, senders: Mapping[str, Sender],
                 base_url: str, allow_private: bool, every_s: float = 1.0,
                 timeout_s: float = 10.0) -> None:
        self.store, self.vault, self.clock, self.senders = store, vault, clock, senders
        self.base_url, self.allow_private, self.every_s = base_url, allow_private, every_s
        self._client = httpx.Client(timeout=timeout_s, headers={"user-agent": USER_AGENT},
                                    follow_redirects=False)
        self._round = threading.Lock()  # the loop and a test's send_due never overlap
        self._rounds = Rounds("notifier", every_s, lambda: self.send_due() == BATCH)

    def start(self) -> None:
        self._rounds.start()

    def nudge(self) -> None:
        self._rounds.nudge()

    def stop(self) -> None:
        self._rounds.stop()
        self._client.close()

    def send_due(self) -> int:
        """One round: every notice due now. Returns how many were looked at."""
        with self._round:
            now_us = times.to_us(self.clock.now())
            with self.store.unit_of_work(write=False) as uow:
                due = uow.notices.due(now_us, BATCH)
                subs = {n.subscription_id: uow.notices.subscription(n.subscription_id)
                        for n in due}
            for notice in due:
                sub = subs.get(notice.subscription_id)
                if sub is None:
                    continue
                try:
                    self._one(notice, sub, now_us)
                except Exception:  # one notice must not hold up the others
                    log.exception("notice.failed", notice_id=notice.notice_id)
                    self._park(notice, now_us)
            return len(due)

    def _park(self, notice: Notice, now_us: int) -> None:
        """After an unexpected failure: try it again later, as after a failed send."""
        try:
            self._save(replace(notice, attempts=notice.attempts + 1,
                               last_error="internal error, see the log",
                               send_after_us=now_us + int(FIRST_RETRY_S * 1_000_000),
                               state=NoticeState.FAILED.value
                               if notice.attempts + 1 >= MAX_ATTEMPTS else notice.state))
        except Exception:
            log.exception("notice.park_failed", notice_id=notice.notice_id)

    def _one(self, notice: Notice, sub: NoticeSubscription, now_us: int) -> None:
        if sub.unsubscribed_at_us is not None:
            self._save(replace(notice, state=NoticeState.DROPPED.value))
            return
        later = send_after(sub, now_us)  # a retry may land in the quiet hours
        if later > now_us:
            self._save(replace(notice, send_after_us=later))
            return
        to = self.vault.open(sub.to_sealed).decode()
        link = unsubscribe_url(self.base_url, sub.subscription_id)
        words = notices.render(notice.topic, notice.data, sub.locale, link, sub.tz)
        error = self._send(notice, sub, to, words, link)
        attempts = notice.attempts + 1
        message = ConsumerMessage(sub.tenant_id, sub.tracking_no, sub.channel,
                                  sub.to_sealed, self.vault.seal(words.text.encode()),
                                  f"notice:{notice.topic}", now_us,
                                  "sent" if error is None else "failed")
        if error is None:
            after = replace(notice, state=NoticeState.SENT.value, attempts=attempts,
                            sent_at_us=now_us, last_error=None)
        elif attempts >= MAX_ATTEMPTS:
            after = replace(notice, state=NoticeState.FAILED.value, attempts=attempts,
                            last_error=error)
        else:
            wait_us = int(FIRST_RETRY_S * 2 ** (attempts - 1) * 1_000_000)
            after = replace(notice, attempts=attempts, last_error=error,
                            send_after_us=now_us + wait_us)
        self._save(after, message)

    def _send(self, notice: Notice, sub: NoticeSubscription, to: str,
              words: notices.Rendered, link: str) -> str | None:
        """None when it went out, else why not."""
        if sub.channel == Channel.WEBHOOK:
            return self._post(notice, sub, to, words, link)
        sender = self.senders.get(sub.channel)
        if sender is None:
            return f"no {sub.channel} sender is configured"
        try:
            sent = sender.send(to, words.text, subject=words.subject, unsubscribe_url=link)
        except Exception as exc:  # a sender's bug must not stop the others
            log.exception("notice.send_failed", channel=sub.channel)
            return type(exc).__name__
        return None if sent else f"the {sub.channel} sender could not deliver it"

    def _post(self, notice: Notice, sub: NoticeSubscription, url: str,
              words: notices.Rendered, link: str) -> str | None:
        assert sub.secret_sealed is not None
        secret = self.vault.open(sub.secret_sealed).decode()
        message_id = f"ntc_{notice.notice_id}"
        body = json.dumps({
            "type": "consumer.notice", "subscription_id": sub.subscription_id,
            "tracking_no": sub.tracking_no, "topic": notice.topic, "locale": sub.locale,
            "subject": words.subject, "text": words.text, "data": dict(notice.data),
            "unsubscribe_url": link}, ensure_ascii=False, sort_keys=True).encode()
        ts = int(times.to_us(self.clock.now()) // 1_000_000)
        try:
            if not self.allow_private:
                _public(url)
            r = self._client.post(url, content=body, headers={
                "content-type": "application/json", "webhook-id": message_id,
                "webhook-timestamp": str(ts), "webhook-signature": sign(secret, message_id, ts, body)})
        except Exception as exc:  # unreachable, refused, a name that does not encode ...
            return str(exc)[:300] or type(exc).__name__
        return None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"

    def _save(self, notice: Notice, message: ConsumerMessage | None = None) -> None:
        with self.store.unit_of_work() as uow:
            if message is not None:
                notice = replace(notice, message_id=uow.deliveries.add_message(message))
            uow.notices.save(notice)
            uow.commit()
