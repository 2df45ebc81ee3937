"""The shared pieces: status lookup, carrier-local times, ids, carrier codes, envelope decoding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parcelguard.domain.errors import InvalidInput, Unparsable
from parcelguard.domain.status import Status
from parcelguard.ingest.carriers import common, kdniao, localtime
from parcelguard.ingest.carriers.common import Code

SHANGHAI = ZoneInfo("Asia/Shanghai")
TABLE = {"1": Code(Status.PICKED_UP, None, "已揽收"), "InTransit": Code(Status.IN_TRANSIT, None)}


def test_a_listed_code_maps_to_its_meaning() -> None:
    assert common.lookup(TABLE, "1") == (TABLE["1"], False)


def test_an_unlisted_code_is_unknown_and_reported_missing() -> None:
    assert common.lookup(TABLE, "999") == (common.UNKNOWN, True)


def test_an_unlisted_code_takes_its_listed_parents_status_and_is_still_reported() -> None:
    code, missing = common.lookup(TABLE, "InTransit_011", "InTransit")
    assert (code.status, code.substatus, missing) == (Status.IN_TRANSIT, None, True)


def test_no_code_at_all_is_unknown_but_not_a_missing_code() -> None:
    assert common.lookup(TABLE, None) == (common.UNKNOWN, False)


def test_batch_counts_missing_codes_and_keeps_the_raw_code() -> None:
    batch = common.Batch("test")
    at = datetime(2026, 11, 20, 8, 15, tzinfo=timezone(timedelta(hours=8)))
    for code in ("1", "999", None):
        batch.add("SF1400000001", "sf", at, common.lookup(TABLE, code), code, location=None,
                  description=f"scan {code}", raw=None)
    push = batch.done(b"{}")
    assert [(e.status, e.carrier_code) for e in push.events] == [
        (Status.PICKED_UP, "1"), (Status.UNKNOWN, "999"), (Status.UNKNOWN, None)]
    assert push.unknown_codes == 1


def test_a_time_without_offset_is_read_in_the_configured_zone() -> None:
    at = localtime.local_time("2026-11-20 08:15:00", "t", SHANGHAI)
    assert at.isoformat() == "2026-11-20T08:15:00+08:00"
    assert localtime.local_time("2026-07-01 08:15:00", "t", ZoneInfo("Europe/London")).isoformat() == \
        "2026-07-01T08:15:00+01:00"


@pytest.mark.parametrize(("text", "iso"), [
    ("2026-11-20T08:15:00-05:00", "2026-11-20T08:15:00-05:00"),
    ("2026-11-20T08:15:00Z", "2026-11-20T08:15:00+00:00"),
    ("2026/11/20 08:15:00", "2026-11-20T08:15:00+08:00"),
    ("2026-11-20 08:15", "2026-11-20T08:15:00+08:00"),
    ("2026-11-20 08:15:00.250", "2026-11-20T08:15:00.250000+08:00"),
])
def test_a_time_with_its_own_offset_keeps_it_and_common_spellings_are_read(text: str, iso: str) -> None:
    assert localtime.local_time(text, "t", SHANGHAI).isoformat() == iso


@pytest.mark.parametrize("text", [
    "2026-11-20", "2026-02-30 08:00:00", "2026-11-20 25:00:00", "yesterday", "1969-12-31 23:59:59",
    "2026-11-20T08:15:00+25:00", "２０２６-11-20 08:15:00",
])
def test_an_unreadable_time_names_its_field(text: str) -> None:
    with pytest.raises(InvalidInput) as info:
        localtime.local_time(text, "Data[0].Traces[2].AcceptTime", SHANGHAI)
    assert info.value.field == "Data[0].Traces[2].AcceptTime"


def test_an_estimate_given_as_a_date_means_the_end_of_that_day() -> None:
    assert localtime.estimate("2026-11-20", SHANGHAI) == datetime(2026, 11, 20, 23, 59, 59,
                                                                 tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.parametrize("value", [None, "", "soon", 20261120, "2026-13-01"])
def test_an_unreadable_estimate_is_left_out_not_an_error(value: object) -> None:
    assert localtime.estimate(value, SHANGHAI) is None


def test_content_ids_do_not_depend_on_how_the_instant_is_spelled() -> None:
    local = datetime(2026, 11, 20, 8, 15, tzinfo=timezone(timedelta(hours=8)))
    same = common.content_id("kdniao", "SF1", local, "scan")
    assert same == common.content_id("kdniao", "SF1", local.astimezone(UTC), "scan")
    assert same != common.content_id("kdniao", "SF1", local, "scan!")


def test_the_newest_time_wins_and_the_last_of_equals() -> None:
    t = datetime(2026, 11, 20, tzinfo=UTC)
    assert common.newest([t, t + timedelta(hours=1), t + timedelta(hours=1), t]) == 2
    assert common.newest([]) == -1


@pytest.mark.parametrize(("raw", "code"), [("SF", "sf"), (" ZTO ", "zto"), ("china-post", "china-post"),
                                           ("100002", "100002")])
def test_carrier_codes_are_the_providers_lowercased(raw: str, code: str) -> None:
    assert common.carrier_code(raw, "ShipperCode") == code


@pytest.mark.parametrize("raw", ["", "China Post", "顺丰", "x" * 33, None])
def test_a_carrier_code_we_cannot_use_names_its_field(raw: str | None) -> None:
    with pytest.raises(InvalidInput, match="ShipperCode"):
        common.carrier_code(raw, "ShipperCode")


def test_coordinates_out_of_range_or_not_numbers_are_left_out() -> None:
    assert common.coordinates(31.23, 121.47) == (31.23, 121.47)
    assert common.coordinates(91.0, 121.47) == (None, None)
    assert common.coordinates("31.23", 121.47) == (None, None)
    assert common.coordinates(True, 121.47) == (None, None)


def test_a_form_body_that_is_not_utf8_is_unparsable() -> None:
    with pytest.raises(Unparsable, match="UTF-8"):
        common.form(b"param=\xff\xfe", ())


def test_a_field_of_the_wrong_type_names_its_path_under_the_prefix() -> None:
    data = {"Data": [{"LogisticCode": "SF1400000001"}, {"LogisticCode": 5}]}
    with pytest.raises(InvalidInput) as info:
        common.convert(data, kdniao.RequestData, "RequestData")
    assert info.value.field == "RequestData.Data[1].LogisticCode"
    with pytest.raises(Unparsable):
        common.convert([], kdniao.RequestData, "RequestData")


def test_json_nested_beyond_reason_is_unparsable_not_a_crash() -> None:
    with pytest.raises(Unparsable):
        common.decode_json(b"[" * 100_000, "body")


FORM_PIECES = [b"%", b"&", b"=", b"+", b"\\", b"x", b"%4", b"%41", b"%e4%b8%ad", b"%E6", b"%zz", b"\\x41",
               "中".encode(), b"\xff", b" ", b"RequestData"]
FORM_BYTES = st.lists(st.sampled_from(FORM_PIECES), max_size=30).map(b"".join)


@settings(max_examples=400, deadline=None)
@given(body=FORM_BYTES | st.binary(max_size=60))
def test_form_reads_a_body_exactly_as_parse_qsl_does(body: bytes) -> None:
    try:
        expected: dict[str, str] | None = {}
        for name, value in parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict"):
            expected.setdefault(name, value)  # type: ignore[union-attr]
    except UnicodeDecodeError:
        expected = None
    try:
        got: dict[str, str] | None = common.form(body, ())
    except Unparsable:
        got = None
    assert got == expected
