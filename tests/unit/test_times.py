from __future__ import annotations

import pytest

from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput


def test_offset_is_kept_beside_the_instant() -> None:
    dt = times.parse("2026-11-20T08:15:00+08:00", "occurred_at")
    assert times.offset_min(dt) == 480
    assert times.iso(dt) == "2026-11-20T08:15:00+08:00"
    assert times.iso_us(times.to_us(dt)) == "2026-11-20T00:15:00Z"
    assert times.from_us(times.to_us(dt), 480) == dt


def test_time_without_offset_is_rejected_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as exc:
        times.parse("2026-11-20T08:15:00", "occurred_at")
    assert exc.value.field == "occurred_at"
    assert "no offset" in exc.value.problem


@pytest.mark.parametrize("text", ["2026-11-20", "yesterday", "2026-11-20T25:00:00Z",
                                  "2026-02-30T00:00:00Z", "2026-11-20T08:15:00+24:00"])
def test_malformed_times_are_rejected(text: str) -> None:
    with pytest.raises(InvalidInput):
        times.parse(text, "ts")


def test_fractions_beyond_microseconds_are_truncated_and_z_means_utc() -> None:
    dt = times.parse("2026-11-20T00:00:00.123456789Z", "ts")
    assert dt.microsecond == 123456
    assert times.offset_min(dt) == 0


def test_same_instant_in_two_offsets_gives_one_utc_key() -> None:
    a = times.parse("2026-11-20T08:00:00+08:00", "t")
    b = times.parse("2026-11-20T00:00:00Z", "t")
    assert times.to_us(a) == times.to_us(b)
