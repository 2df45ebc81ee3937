"""Commands on the bus: every command type comes back equal; personal data travels sealed;
partitions are stable and ranges are read strictly."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from parcelguard.bus.codec import Codec, decode_batch, decode_outcomes, encode_batch, encode_outcomes
from parcelguard.bus.publisher import MAX_MESSAGE, Router, _chunks, _Item
from parcelguard.crypto.keys import AesGcmVault, KeyProblem
from parcelguard.domain.alerts import Kind, Severity
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.shipment import Recipient
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import Device, DeviceKind, Reading
from parcelguard.services import messages as m
from parcelguard.services.partitions import parse_range, partition_of
from tests.factories import event, shipment

NOW = datetime(2026, 11, 20, 20, 0, tzinfo=timezone(timedelta(hours=8)))
codec = Codec(AesGcmVault(b"\x07" * 32))


def commands() -> list[m.Command]:
    scan = dataclasses.replace(event("e1", 2, Status.IN_TRANSIT, facility="HUB-SHA", vehicle="V1"),
                               raw={"a": [1, 2.5, "x"], "b": None, "c": {"d": "中"}})
    return [
        m.RegisterShipment(shipment(), Recipient("张三", "13800138000", "上海市"), "digest", NOW),
        m.RegisterShipment(shipment(), None, "digest"),
        m.RecordScan("acme", scan, NOW),
        m.RecordReading("acme", Reading("D1", NOW, 3, temperature_c=4.5, shock_g=0.5), NOW),
        m.RegisterDevice(Device("acme", "V1", DeviceKind.VEHICLE_UNIT, vehicle_id="V1")),
        m.AdvanceClock(NOW),
        m.ActOnAlert("acme", "a1", m.AlertAction.COMMENT, "key-1", "看过了"),
        m.NoteEstimate("acme", "SF1", "kdniao", NOW, NOW),
        m.RaiseAlert("acme", "SF1", "pod", Kind.POD_UNVERIFIED, Severity.CRITICAL, {"tries": 5}, NOW),
    ]


@pytest.mark.parametrize("cmd", commands(), ids=lambda c: type(c).__name__)
def test_every_command_comes_back_equal(cmd: m.Command) -> None:
    kind, body = codec.encode(cmd)
    back = codec.decode(kind, body)
    assert type(back) is type(cmd)
    assert back == cmd


def test_times_keep_their_offset_and_enums_their_type() -> None:
    scan = commands()[2]
    back = codec.decode(*codec.encode(scan))
    assert isinstance(back, m.RecordScan)
    assert back.received_at.utcoffset() == timedelta(hours=8)
    assert type(back.event.status) is Status


def test_a_recipient_travels_sealed() -> None:
    kind, body = codec.encode(commands()[0])
    assert b"13800138000" not in body
    assert "张三".encode() not in body
    assert b"sealed_recipient" in body
    other = Codec(AesGcmVault(b"\x08" * 32))
    with pytest.raises(KeyProblem, match="does not open with this data key"):
        other.decode(kind, body)


def test_an_unknown_command_type_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        codec.decode("DropTables", b"{}")
    assert exc.value.field == "command"
    assert "DropTables" in exc.value.message


def test_a_batch_carries_each_command_with_who_waits_for_it() -> None:
    items = [(*codec.encode(cmd), i if i % 2 else -1) for i, cmd in enumerate(commands())]
    body = encode_batch([(kind, index, data) for kind, data, index in items])
    back = decode_batch(body)
    assert [(kind, index) for kind, index, _ in back] == [(k, i) for k, _, i in items]
    assert [codec.decode(kind, data) for kind, _, data in back] == commands()


def test_batches_stay_under_the_message_limit() -> None:
    items = [_Item("RecordScan", i, b"x" * (MAX_MESSAGE * 2 // 5), f"ev:{i}") for i in range(7)]
    chunks = _chunks(items)
    assert [[x.index for x in c] for c in chunks] == [[0, 1], [2, 3], [4, 5], [6]]
    assert all(sum(len(x.body) for x in c) <= MAX_MESSAGE for c in chunks)
    one_big = _chunks([_Item("RecordScan", 0, b"x" * (MAX_MESSAGE + 1), "ev:0")])
    assert [len(c) for c in one_big] == [1]  # alone, as before (NATS judges it)


def test_outcomes_round_trip() -> None:
    outs = [(0, m.ACCEPTED), (3, m.rejected("e9", "tracking_no", "unknown tracking_no"))]
    assert decode_outcomes(encode_outcomes(outs)) == outs


def test_partitions_are_stable_and_spread() -> None:
    pinned = 11  # it must never change: stored data and running workers rely on it
    assert partition_of("SF1400000001", 16) == partition_of("SF1400000001", 16) == pinned
    counts = [0] * 16
    for i in range(16_000):
        counts[partition_of(f"SF{1400000000 + i}", 16)] += 1
    assert min(counts) > 800
    assert max(counts) < 1200


def test_partition_ranges() -> None:
    assert parse_range("0-3,8,10-11", 16) == [0, 1, 2, 3, 8, 10, 11]
    assert parse_range("5", 16) == [5]
    for bad, says in (("0-16", "between 0 and 15"), ("x", "ranges like"), ("3-1", "between")):
        with pytest.raises(InvalidInput) as exc:
            parse_range(bad, 16)
        assert exc.value.field == "partitions"
        assert says in exc.value.message


def test_a_command_without_an_id_is_named_after_its_request() -> None:
    """A retried request names its messages as the first did, so JetStream drops the copy; a
    carrier's estimate is named by what it says, not by its place in the push."""
    router = Router(None, 16)  # type: ignore[arg-type]  # these commands need no store
    at = datetime(2026, 11, 11, 18, tzinfo=UTC)
    estimate = m.NoteEstimate("acme", "SF1", "kdniao", at, at)
    raised = m.RaiseAlert("acme", "SF1", "door", Kind.DAMAGED, Severity.CRITICAL, {}, at)
    name = lambda cmd, *key: router.route(cmd, *key).msg_id  # noqa: E731
    assert name(estimate, "push-1", 3) == name(estimate, "push-1", 0)  # fewer scans before it
    assert name(estimate, "push-1", 0) != name(estimate, "push-2", 0)
    later = dataclasses.replace(estimate, estimated_at=at + timedelta(hours=1))
    assert name(later, "push-1", 0) != name(estimate, "push-1", 0)
    assert name(raised, "push-1", 4) == name(raised, "push-1", 1) != name(raised, "push-2", 1)
    other = dataclasses.replace(raised, rule="carrier_exception:tracking_failed")
    assert name(other, "push-1", 1) != name(raised, "push-1", 1)
    assert name(raised) != name(raised)  # no key: a fresh name each time
