"""What each format does beyond its golden cases: snapshots, versions, zones, fallbacks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from parcelguard.domain.errors import InvalidInput, Unparsable
from parcelguard.domain.status import Status
from parcelguard.ingest.carriers import aftership, generic, kdniao, kuaidi100, track17
from parcelguard.ingest.carriers.common import Push
from tests.unit.carriers.helpers import SECRETS, signed

NOW = datetime(2026, 11, 20, 0, 20, tzinfo=UTC)
S = Status


def kdniao_push(traces: list[dict[str, Any]], request_type: str = "102", **item: Any) -> Push:
    data = {"EBusinessID": "1237100", "Data": [{"ShipperCode": "SF", "LogisticCode": "SF1400000001",
                                                "Success": True, "Traces": traces, **item}]}
    body, headers = signed("kdniao", json.dumps(data, ensure_ascii=False), SECRETS["kdniao"], NOW,
                           request_type=request_type)
    return kdniao.handle(body, headers, SECRETS["kdniao"], now=NOW)


T1 = {"AcceptTime": "2026-11-18 09:12:00", "AcceptStation": "顺丰速运 已收取快件"}
T2 = {"AcceptTime": "2026-11-19 06:30:00", "AcceptStation": "快件到达【上海虹桥中转场】"}
T3 = {"AcceptTime": "2026-11-20 08:15:00", "AcceptStation": "快件已签收"}
ITEM = {"ShipperCode": "SF", "LogisticCode": "SF1400000001"}


# ---- Kdniao ----


def test_kdniao_a_later_full_trace_push_keeps_the_ids_of_the_scans_already_seen() -> None:
    first = kdniao_push([T1, T2], "101", State="2")
    later = kdniao_push([T1, T2, T3], "101", State="3")
    assert [e.event_id for e in later.events[:2]] == [e.event_id for e in first.events]
    assert len({e.event_id for e in later.events}) == 3


def test_kdniao_without_actions_only_the_newest_trace_takes_the_state() -> None:
    push = kdniao_push([T2, T1], "101", State="2", StateEx="201")  # out of order on purpose
    assert [(e.status, e.carrier_code) for e in push.events] == [(S.IN_TRANSIT, "201"), (S.UNKNOWN, None)]
    assert push.unknown_codes == 0


def test_kdniao_stateex_wins_over_state() -> None:
    push = kdniao_push([T3], "102", State="3", StateEx="304")
    assert (push.events[0].substatus, push.events[0].carrier_code) == ("signed_by_proxy", "304")


def test_kdniao_an_older_table_version_can_be_chosen() -> None:
    data = {"EBusinessID": "1", "Data": [{**ITEM, "Traces": [{**T3, "Action": "311"}]}]}
    body, headers = signed("kdniao", json.dumps(data), SECRETS["kdniao"], NOW)
    old = kdniao.handle(body, headers, SECRETS["kdniao"], now=NOW, codes=kdniao.TABLES["k1"])
    new = kdniao.handle(body, headers, SECRETS["kdniao"], now=NOW)
    assert (old.events[0].substatus, new.events[0].substatus) == ("collected_from_locker", "signed_at_locker")
    assert old.events[0].event_id == new.events[0].event_id


def test_kdniao_times_are_read_in_the_configured_zone() -> None:
    data = {"EBusinessID": "1", "Data": [{**ITEM, "Traces": [T3]}]}
    body, headers = signed("kdniao", json.dumps(data), SECRETS["kdniao"], NOW)
    push = kdniao.handle(body, headers, SECRETS["kdniao"], now=NOW, zone=ZoneInfo("Asia/Tokyo"))
    assert push.events[0].occurred_at.isoformat() == "2026-11-20T08:15:00+09:00"
    assert json.loads(push.reply)["UpdateTime"] == "2026-11-20 09:20:00"


def test_kdniao_replies_as_kdniao_expects() -> None:
    reply = json.loads(kdniao_push([T1]).reply)
    assert reply == {"EBusinessID": "1237100", "UpdateTime": "2026-11-20 08:20:00", "Success": True,
                     "Reason": ""}


def test_kdniao_a_bad_accept_time_names_the_trace() -> None:
    with pytest.raises(InvalidInput) as info:
        kdniao_push([T1, {**T2, "AcceptTime": "2026-11-19"}])
    assert info.value.field == "RequestData.Data[0].Traces[1].AcceptTime"


def test_kdniao_a_request_type_it_does_not_know_is_unparsable() -> None:
    body, headers = signed("kdniao", '{"Data":[]}', SECRETS["kdniao"], NOW, request_type="107")
    with pytest.raises(Unparsable, match="RequestType"):
        kdniao.handle(body, headers, SECRETS["kdniao"], now=NOW)


# ---- Kuaidi100 ----


def kuaidi100_push(param: dict[str, Any]) -> Push:
    body, headers = signed("kuaidi100", json.dumps(param, ensure_ascii=False), SECRETS["kuaidi100"], NOW)
    return kuaidi100.handle(body, headers, SECRETS["kuaidi100"], now=NOW)


@pytest.mark.parametrize(("status", "stopped"), [("polling", False), ("updateall", False),
                                                 ("shutdown", True), ("abort", True)])
def test_kuaidi100_shutdown_and_abort_report_the_number_as_stopped(status: str, stopped: bool) -> None:
    param = {"status": status, "message": "3天查询无记录", "lastResult": {"nu": "YT7500000000002"}}
    push = kuaidi100_push(param)
    assert ("YT7500000000002" in push.stopped) is stopped


def test_kuaidi100_an_item_status_name_resolves_to_its_code() -> None:
    data = [{"ftime": "2026-11-19 09:00:00", "context": "已揽收", "status": "揽收"}]
    push = kuaidi100_push({"status": "polling", "lastResult": {"nu": "SF1400000003", "com": "shunfeng",
                                                               "state": "0", "data": data}})
    assert (push.events[0].status, push.events[0].carrier_code) == (S.PICKED_UP, "1")


def test_kuaidi100_a_carrier_correction_is_reported_only_when_auto_checked() -> None:
    base = {"status": "polling", "comOld": "yuantong", "comNew": "ems", "lastResult": {"nu": "V030344422"}}
    assert kuaidi100_push({**base, "autoCheck": "1"}).corrections == {"V030344422": "ems"}
    assert kuaidi100_push({**base, "autoCheck": "0"}).corrections == {}


# ---- AfterShip ----


def aftership_push(checkpoints: list[dict[str, Any]], **msg: Any) -> Push:
    env = {"event": "tracking_update", "event_id": "e-1",
           "msg": {"tracking_number": "YT2432100000000001", "slug": "yunexpress", "checkpoints": checkpoints,
                   **msg}}
    body, headers = signed("aftership", json.dumps(env).encode(), SECRETS["aftership"], NOW)
    return aftership.handle(body, headers, SECRETS["aftership"], now=NOW)


def test_aftership_a_time_without_offset_is_read_in_the_checkpoints_country() -> None:
    """One zone: that one; several: the easternmost main one (never read as later than it
    was); a country not known: the endpoint's zone."""
    point = {"checkpoint_time": "2026-07-01T09:00:00", "tag": "InTransit"}
    push = aftership_push([{**point, "country_region": c} for c in ("GBR", "USA", "AUS", "KAZ")])
    assert [e.occurred_at.isoformat() for e in push.events] == [
        "2026-07-01T09:00:00+01:00", "2026-07-01T09:00:00-04:00", "2026-07-01T09:00:00+10:00",
        "2026-07-01T09:00:00+08:00"]


def test_aftership_the_checkpoint_hash_is_the_event_id_else_one_is_derived() -> None:
    point = {"checkpoint_time": "2026-11-19T07:45:00+00:00", "tag": "Delivered", "message": "Delivered"}
    push = aftership_push([{**point, "hash": "abc123"}, point])
    assert push.events[0].event_id == "abc123"
    assert push.events[1].event_id.startswith("h-")


def test_aftership_coordinates_are_kept_when_sound_and_dropped_when_not() -> None:
    point = {"checkpoint_time": "2026-11-19T07:45:00+00:00", "tag": "InTransit", "city": "London"}
    push = aftership_push([{**point, "coordinate": {"latitude": 51.5, "longitude": -0.12}},
                           {**point, "coordinate": {"latitude": 951.5, "longitude": -0.12}}])
    locations = [e.location for e in push.events]
    assert [(loc.lat, loc.lon) for loc in locations if loc] == [(51.5, -0.12), (None, None)]


def test_aftership_an_expired_tracking_is_reported_stopped() -> None:
    assert aftership_push([], tag="Expired", subtag="Expired_001").stopped == {
        "YT2432100000000001": "Expired (Expired_001)"}


# ---- 17TRACK ----


def track17_push(events: list[dict[str, Any]], event: str = "TRACKING_UPDATED", **info: Any) -> Push:
    env = {"event": event, "data": {"number": "1Z999AA10123456784", "carrier": 100002,
                                    "track_info": {"tracking": {"providers": [{"events": events}]}, **info}}}
    body, headers = signed("track17", json.dumps(env).encode(), SECRETS["track17"], NOW)
    return track17.handle(body, headers, SECRETS["track17"], now=NOW)


def test_track17_time_utc_is_used_when_there_is_no_time_iso() -> None:
    event = {"time_iso": None, "time_utc": "2026-11-20T16:35:22Z", "sub_status": "Delivered_Other"}
    push = track17_push([event])
    assert push.events[0].occurred_at == datetime(2026, 11, 20, 16, 35, 22, tzinfo=UTC)


def test_track17_milestones_are_ignored_when_there_are_events() -> None:
    stone = {"key_stage": "Delivered", "time_utc": "2026-11-20T16:35:22Z"}
    event = {"time_utc": "2026-11-18T10:15:00Z", "sub_status": "InTransit_Other"}
    push = track17_push([event], milestone=[stone])
    assert [e.status for e in push.events] == [S.IN_TRANSIT]


def test_track17_the_newest_event_without_a_code_takes_the_latest_status() -> None:
    push = track17_push([{"time_utc": "2026-11-18T10:15:00Z"}, {"time_utc": "2026-11-17T10:15:00Z"}],
                        latest_status={"status": "InTransit", "sub_status": "InTransit_Arrival"})
    assert [e.carrier_code for e in push.events] == ["InTransit_Arrival", None]


def test_track17_stopped_tracking_is_reported() -> None:
    assert track17_push([], event="TRACKING_STOPPED").stopped == {"1Z999AA10123456784": "TRACKING_STOPPED"}


# ---- our own format ----

EVENT = {"tracking_no": "SF1400000001", "carrier": "sf", "occurred_at": "2026-11-20T08:15:00+08:00",
         "status": "out_for_delivery"}


def generic_push(body: Any, msg_id: str = "msg_1") -> Push:
    raw, headers = signed("generic", json.dumps(body).encode(), SECRETS["generic"], NOW, msg_id=msg_id)
    return generic.handle(raw, headers, SECRETS["generic"], now=NOW)


def test_generic_one_object_or_an_array_both_work_and_the_webhook_id_is_the_delivery_id() -> None:
    assert len(generic_push(EVENT).events) == 1
    push = generic_push([EVENT, {**EVENT, "status": "delivered"}], msg_id="msg_2")
    assert ([e.status for e in push.events], push.delivery_id) == ([S.OUT_FOR_DELIVERY, S.DELIVERED], "msg_2")


def test_generic_one_bad_item_refuses_the_whole_delivery_naming_the_item() -> None:
    with pytest.raises(InvalidInput) as info:
        generic_push([EVENT, {**EVENT, "carrier": "SF Express"}])
    assert info.value.field == "[1].carrier"


def test_generic_a_server_stamp_is_refused() -> None:
    with pytest.raises(InvalidInput, match="received_at"):
        generic_push({**EVENT, "received_at": "2026-11-20T08:15:00+08:00"})


def test_generic_an_event_sent_as_unknown_is_counted() -> None:
    assert generic_push({**EVENT, "status": "unknown"}).unknown_codes == 1
