"""Kept answers for Idempotency-Key: replayed for a day, refused for another request, one
answer at a time, nothing kept of a failure."""

from __future__ import annotations

import pytest

from parcelguard.domain.errors import Conflict, InvalidInput
from parcelguard.services import idempotency
from parcelguard.services.idempotency import KEEP_US, RequestKeys
from parcelguard.storage.memory import MemoryStore

WHO = ("acme", "key-1", "k")
NOW = 1_800_000_000_000_000


def test_an_answer_is_kept_for_a_day_and_only_for_its_own_request() -> None:
    keys = RequestKeys(MemoryStore())
    assert keys.begin(*WHO, "fp", NOW) is None
    keys.end(*WHO, "fp", NOW, (201, b'{"ok":1}'))
    kept = keys.begin(*WHO, "fp", NOW + KEEP_US - 1)
    assert kept is not None
    assert (kept.status, kept.body) == (201, b'{"ok":1}')
    with pytest.raises(InvalidInput) as refused:
        keys.begin(*WHO, "other", NOW)
    assert refused.value.field == "Idempotency-Key"
    assert keys.begin("acme", "key-2", "k", "other", NOW) is None  # another caller's key
    assert keys.begin(*WHO, "other", NOW + KEEP_US + 1) is None  # a day later: a new request


def test_a_key_being_answered_is_refused_until_it_is() -> None:
    keys = RequestKeys(MemoryStore())
    assert keys.begin(*WHO, "fp", NOW) is None
    with pytest.raises(Conflict):
        keys.begin(*WHO, "fp", NOW)
    keys.end(*WHO, "fp", NOW, None)  # no answer (an unexpected error): nothing kept
    assert keys.begin(*WHO, "fp", NOW) is None


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_failure_is_not_kept_so_its_retry_is_tried_again(status: int) -> None:
    keys = RequestKeys(MemoryStore())
    assert keys.begin(*WHO, "fp", NOW) is None
    keys.end(*WHO, "fp", NOW, (status, b"{}"))
    assert keys.begin(*WHO, "fp", NOW) is None


def test_old_answers_are_swept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idempotency, "PURGE_EVERY", 2)
    store = MemoryStore()
    keys = RequestKeys(store)
    for i, at in enumerate((NOW, NOW + KEEP_US + 1)):
        keys.begin("acme", "key-1", f"k{i}", "fp", at)
        keys.end("acme", "key-1", f"k{i}", "fp", at, (200, b"{}"))
    assert sorted(k for _, _, k in store.data.request_keys) == ["k1"]
