"""Webhook delivery against a real, flaky receiver on loopback (private targets allowed here)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from parcelguard import bootstrap
from parcelguard.domain import times
from parcelguard.domain.webhooks import MessageState, sign
from parcelguard.services import notify
from parcelguard.services.clock import ManualClock
from tests.conftest import BOTH_MODES, bus_mode, in_bus_mode, settings_for
from tests.unit.test_ingest import register, scan


class Receiver:
    """Answers each webhook-id with ``plan`` in turn (status codes), then 200; keeps what came."""

    def __init__(self, plan: list[int], retry_after: str | None = None) -> None:
        self.plan, self.retry_after = plan, retry_after
        self.seen: Counter[str] = Counter()
        self.accepted: Counter[str] = Counter()
        self.bodies: dict[str, bytes] = {}
        self.bad_signatures = 0
        self.secret = ""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                mid, ts = self.headers["webhook-id"], int(self.headers["webhook-timestamp"])
                if self.headers["webhook-signature"] != sign(receiver.secret, mid, ts, body):
                    receiver.bad_signatures += 1
                attempt = receiver.seen[mid]
                receiver.seen[mid] += 1
                code = receiver.plan[attempt] if attempt < len(receiver.plan) else 200
                if code == 200:
                    receiver.accepted[mid] += 1
                    receiver.bodies[mid] = body
                self.send_response(code)
                if receiver.retry_after and code != 200:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/pg"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def system_on(db_url: str, tmp_path: Path, clock: ManualClock) -> bootstrap.System:
    sys = bootstrap.build(settings_for(db_url, tmp_path, webhooks_allow_private=True), clock=clock)
    sys.start(deliver=False)  # the test drives delivery rounds itself
    return sys


@pytest.fixture
def hooked(request: pytest.FixtureRequest, db_url: str, tmp_path: Path,
           clock: ManualClock) -> Iterator[bootstrap.System]:
    if in_bus_mode(request):  # the worker writes the outbox; the test drives delivery rounds
        with bus_mode(db_url, tmp_path, clock, webhooks_allow_private=True) as node:
            _tenant(node)
            yield node
        return
    sys = system_on(db_url, tmp_path, clock)
    _tenant(sys)
    try:
        yield sys
    finally:
        sys.stop()


def _tenant(sys: bootstrap.System) -> None:
    with sys.store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.commit()


def subscribe(sys: bootstrap.System, receiver: Receiver, **kw: list[str]) -> str:
    row, secret = notify.subscribe(sys.store, sys.vault, "acme", receiver.url,
                                   kw.get("events", []), kw.get("kinds", []), True, 0)
    receiver.secret = secret
    return row.subscription_id


def make_news(sys: bootstrap.System) -> None:
    """A shipment picked up, found damaged at a hub, then delivered: alerts and statuses."""
    sys.pipeline.submit_sync([register(sys), scan(hours=1, status="picked_up"),
                              scan(hours=2, condition="damaged", location={"facility_id": "H1"}),
                              scan(hours=3, status="delivered")])


def drain(sys: bootstrap.System, clock: ManualClock, rounds: int = 40) -> None:
    for _ in range(rounds):
        sys.deliverer.deliver_due()
        clock.advance_to(clock.now() + timedelta(minutes=30))


def all_messages(sys: bootstrap.System) -> list[object]:
    with sys.store.unit_of_work(write=False) as uow:
        return list(uow.webhooks.messages("acme", None, None, 200))


def test_a_flaky_receiver_gets_every_message_exactly_once_after_failures_and_a_restart(
    db_url: str, tmp_path: Path, clock: ManualClock, hooked: bootstrap.System,
) -> None:
    receiver = Receiver([500, 503, 502])
    try:
        subscribe(hooked, receiver)
        make_news(hooked)
        messages = all_messages(hooked)
        assert len(messages) >= 4  # status changes and the damaged alert
        hooked.deliverer.deliver_due()
        hooked.stop()  # the sender restarts with every message still owed
        again = system_on(db_url, tmp_path, clock)
        try:
            drain(again, clock)
            ids = {m.message_id for m in all_messages(again)}  # type: ignore[attr-defined]
            assert set(receiver.accepted) == ids
            assert set(receiver.accepted.values()) == {1}
            assert set(receiver.seen.values()) == {4}  # three failures, then once accepted
            assert receiver.bad_signatures == 0
            states = {m.state for m in all_messages(again)}  # type: ignore[attr-defined]
            assert states == {MessageState.DELIVERED}
            kinds = Counter(json.loads(b)["type"] for b in receiver.bodies.values())
            assert kinds["alert.opened"] == 1
            assert kinds["shipment.status_changed"] >= 3
        finally:
            again.stop()
    finally:
        receiver.close()
        hooked.start(deliver=False)  # the fixture stops it again


@BOTH_MODES  # embedded and through the bus
def test_retry_after_is_honoured(hooked: bootstrap.System, clock: ManualClock) -> None:
    receiver = Receiver([429], retry_after="7200")
    try:
        subscribe(hooked, receiver, events=["alert.opened"])
        make_news(hooked)
        hooked.deliverer.deliver_due()
        (m,) = all_messages(hooked)
        assert m.next_attempt_at_us - times.to_us(clock.now()) >= 7200 * 1_000_000  # type: ignore[attr-defined]
        clock.advance_to(clock.now() + timedelta(minutes=119))
        hooked.deliverer.deliver_due()
        assert receiver.seen[m.message_id] == 1  # type: ignore[attr-defined]
        clock.advance_to(clock.now() + timedelta(minutes=2))
        hooked.deliverer.deliver_due()
        assert receiver.accepted[m.message_id] == 1  # type: ignore[attr-defined]
    finally:
        receiver.close()


@BOTH_MODES  # embedded and through the bus
def test_a_410_disables_the_subscription_and_kills_the_message(
    hooked: bootstrap.System, clock: ManualClock,
) -> None:
    receiver = Receiver([410])
    try:
        sub_id = subscribe(hooked, receiver, events=["alert.opened"])
        make_news(hooked)
        drain(hooked, clock, rounds=3)
        (m,) = all_messages(hooked)
        assert (m.state, m.attempts) == (MessageState.DEAD, 1)  # type: ignore[attr-defined]
        with hooked.store.unit_of_work(write=False) as uow:
            row = uow.webhooks.subscription("acme", sub_id)
        assert row is not None
        assert (row.enabled, row.disabled_reason) == (False, "the endpoint answered 410 Gone")
    finally:
        receiver.close()


@BOTH_MODES  # embedded and through the bus
def test_a_message_that_never_gets_through_is_dead_lettered_after_72_hours(
    hooked: bootstrap.System, clock: ManualClock,
) -> None:
    receiver = Receiver([500] * 1000)
    try:
        subscribe(hooked, receiver, events=["alert.opened"])
        make_news(hooked)
        for _ in range(200):
            hooked.deliverer.deliver_due()
            clock.advance_to(clock.now() + timedelta(hours=1))
        (m,) = all_messages(hooked)
        assert m.state is MessageState.DEAD  # type: ignore[attr-defined]
        assert 5 <= m.attempts <= 30  # type: ignore[attr-defined]
        with hooked.store.unit_of_work(write=False) as uow:
            history = uow.webhooks.attempts(m.message_id)  # type: ignore[attr-defined]
        assert [a.status_code for a in history] == [500] * len(history)
    finally:
        receiver.close()
