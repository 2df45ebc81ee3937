"""Consumer notifications: quiet hours, addresses, the words, and what a batch owes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parcelguard.domain import times
from parcelguard.domain.alerts import Alert, Kind, Severity, State
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.notices import Channel, QuietHours, check_address, render
from parcelguard.domain.status import Status
from parcelguard.services import notices
from parcelguard.services.alerting import Change
from parcelguard.services.notify import StatusChange
from parcelguard.services.ports import NoticeSubscription
from parcelguard.storage.memory import MemoryStore

SH = "Asia/Shanghai"


def utc(h: int, m: int = 0, day: int = 20) -> datetime:
    return datetime(2026, 11, day, h, m, tzinfo=UTC)


@pytest.mark.parametrize(("text", "at", "ends"), [
    ("22:00-08:00", utc(15, 30), utc(0, 0, 21)),  # 23:30 local: until 08:00 tomorrow
    ("22:00-08:00", utc(19, 0), utc(0, 0, 21)),  # 03:00 local: until 08:00 the same day
    ("22:00-08:00", utc(13, 59), None),  # 21:59 local
    ("22:00-08:00", utc(14, 0), utc(0, 0, 21)),  # 22:00 local: quiet starts
    ("22:00-08:00", utc(0, 0, 21), None),  # 08:00 local: quiet over
    ("12:00-14:00", utc(4, 30), utc(6, 0)),  # a lunch break, not spanning midnight
    ("12:00-14:00", utc(6, 0), None),
])
def test_quiet_hours(text: str, at: datetime, ends: datetime | None) -> None:
    assert QuietHours.parse(text, SH).ends_after(at) == ends


@pytest.mark.parametrize(("text", "problem"), [
    ("22-08", "expected HH:MM-HH:MM"), ("24:00-08:00", "expected HH:MM-HH:MM"),
    ("08:00-08:00", "the same time"), ("22:00-08:00-09:00", "expected HH:MM-HH:MM"),
])
def test_quiet_hours_are_read_strictly(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem) as err:
        QuietHours.parse(text)
    assert err.value.field == "quiet_hours"


def test_addresses_are_checked_and_normalised() -> None:
    assert check_address(Channel.EMAIL, " Li.Si@Example.COM ") == "Li.Si@example.com"
    assert check_address(Channel.SMS, "+86 139-0000-1111") == "13900001111"
    for channel, bad in [(Channel.EMAIL, "a@b"), (Channel.EMAIL, "@example.com"),
                         (Channel.SMS, "1390000111"), (Channel.SMS, "23900001111")]:
        with pytest.raises(InvalidInput) as err:
            check_address(channel, bad)
        assert err.value.field == "to"


def test_the_words_in_both_languages() -> None:
    link = "https://t.example/n/ns_x/unsubscribe"
    zh = render("alert:delay_risk", {"tracking_no": "SF1", "eta": "2026-11-21T10:00:00Z",
                                     "disruption": "暴雨"}, "zh", link)
    assert zh.subject == "包裹 SF1：可能延误"
    assert zh.text == (f"【ParcelGuard】您的包裹 SF1 可能延误（暴雨），预计送达时间 11月21日 18:00。\n"
                       f"退订通知：{link}")
    en = render("status:exception", {"tracking_no": "SF1"}, "en", link)
    assert en.subject == "Parcel SF1: Exception"
    assert en.text.startswith("[ParcelGuard] There is a problem with your parcel SF1: see the "
                              "tracking page. We are on it.\n")


def _sub(store: MemoryStore, sid: str, tn: str, quiet: str | None = None) -> None:
    with store.unit_of_work() as uow:
        uow.notices.subscribe(NoticeSubscription(sid, "acme", tn, "email", b"x", sid, "zh", 0,
                                                 "consumer", quiet))
        uow.commit()


def _alert(kind: Kind, tn: str, evidence: dict[str, object]) -> Alert:
    return Alert(f"al_{kind}", "acme", tn, kind.value, kind, Severity.WARNING, State.OPEN, 0, 0,
                 evidence)


def test_a_batch_owes_its_followers_one_notice_per_change() -> None:
    store = MemoryStore()
    _sub(store, "ns_a", "SF1")
    _sub(store, "ns_b", "SF1", quiet="22:00-08:00")
    _sub(store, "ns_c", "SF2")
    now = times.to_us(utc(15, 30))  # 23:30 in Shanghai
    statuses = [StatusChange("acme", "SF1", Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, now,
                             "ev1", "sf"),
                StatusChange("acme", "SF1", Status.PICKED_UP, Status.IN_TRANSIT, now, "ev2",
                             "sf"),  # nobody is told about in_transit
                StatusChange("other", "SF2", Status.IN_TRANSIT, Status.DELIVERED, now, "ev3",
                             "sf")]  # another tenant's SF2
    changes = [Change(_alert(Kind.DELAY_RISK, "SF2", {"eta": "2026-11-22T00:00:00Z",
                                                      "probability_late": 0.8}), 2, "opened",
                      None),
               Change(_alert(Kind.DWELL_EXCEEDED, "SF1", {}), 1, "opened", None),
               Change(_alert(Kind.DELAY_RISK, "SF1", {}), 1, "acknowledged", State.OPEN)]
    with store.unit_of_work() as uow:
        owed = notices.owed(uow, changes, statuses, now)
    assert sorted((n.subscription_id, n.topic, n.ref, n.send_after_us) for n in owed) == [
        ("ns_a", "status:out_for_delivery", "ev1", now),
        ("ns_b", "status:out_for_delivery", "ev1", times.to_us(utc(0, 0, 21))),
        ("ns_c", "alert:delay_risk", "al_delay_risk", now),
    ]
    (risk,) = [n for n in owed if n.topic == "alert:delay_risk"]
    assert risk.data == {"tracking_no": "SF2", "kind": "delay_risk", "at": times.iso_us(0),
                         "eta": "2026-11-22T00:00:00Z"}
    with store.unit_of_work() as uow:  # owed twice (a replay): kept once
        uow.notices.add(owed)
        uow.notices.add(owed)
        uow.commit()
    with store.unit_of_work(write=False) as uow:
        assert len(uow.notices.due(times.to_us(utc(1, 0, 21)), 100)) == 3
