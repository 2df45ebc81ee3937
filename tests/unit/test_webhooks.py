"""Standard Webhooks signing, the retry schedule, target checks and the outbox's filters."""

from __future__ import annotations

import random

import pytest

from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.webhooks import (
    FIRST_RETRY_S,
    MAX_BACKOFF_S,
    EventType,
    Subscription,
    backoff_s,
    check_url,
    sign,
)


def test_the_published_standard_webhooks_vector_signs_identically() -> None:
    assert sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330, b'{"test": 2432232314}') == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_a_changed_id_timestamp_or_body_changes_the_signature() -> None:
    secret, base = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ("msg_1", 1614265330, b"{}")
    reference = sign(secret, *base)
    assert sign(secret, "msg_2", 1614265330, b"{}") != reference
    assert sign(secret, "msg_1", 1614265331, b"{}") != reference
    assert sign(secret, "msg_1", 1614265330, b"{ }") != reference


def test_backoff_doubles_from_thirty_seconds_with_jitter_and_caps_at_six_hours() -> None:
    rng = random.Random(1)
    for attempt in range(1, 30):
        wait = backoff_s(attempt, rng)
        base = min(MAX_BACKOFF_S, FIRST_RETRY_S * 2 ** (attempt - 1))
        assert base / 2 <= wait <= base
    assert backoff_s(1, rng) <= FIRST_RETRY_S


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/hook", "https://10.1.2.3/hook",
                                 "https://169.254.169.254/latest", "https://[::1]/x",
                                 "ftp://example.com/x", "not a url"])
def test_private_and_odd_targets_are_refused_by_default(url: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_url(url, allow_private=False)
    assert exc.value.field == "url"


def test_private_targets_are_allowed_only_when_settings_say_so() -> None:
    assert check_url("http://127.0.0.1:9000/hook", allow_private=True)
    assert check_url("https://hooks.example.com/pg", allow_private=False)


def test_a_subscription_wants_its_events_and_kinds_only() -> None:
    sub = Subscription("sub_1", "acme", "https://x", "whsec_AA==",
                       frozenset({EventType.ALERT_OPENED}), frozenset({"shock"}))
    assert sub.wants(EventType.ALERT_OPENED, "shock")
    assert not sub.wants(EventType.ALERT_OPENED, "dwell_exceeded")
    assert not sub.wants(EventType.ALERT_RESOLVED, "shock")
    every_kind = Subscription("sub_2", "acme", "https://x", "whsec_AA==",
                              frozenset({EventType.STATUS_CHANGED}), frozenset())
    assert every_kind.wants(EventType.STATUS_CHANGED, None)
