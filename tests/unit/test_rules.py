"""The alert engine through the real writer: lifecycle, de-duplication, escalation, people's
actions, alert ids, rebuilding from the store and replay.

Time is event time only: scans and readings carry their ``received_at``, the ``AdvanceClock``
command moves the clock, and the ManualClock follows, so every moment below is exact. The
per-rule tests are in ``test_rules_scans.py`` and ``test_rules_sensors.py``; they share the
:class:`Rig` defined here.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parcelguard import bootstrap
from parcelguard.domain import alerts as al
from parcelguard.domain import times
from parcelguard.domain.alerts import Alert, Kind, Severity, State
from parcelguard.domain.telemetry import DeviceKind
from parcelguard.ingest import wire
from parcelguard.ingest.replay import Replay, write_alerts
from parcelguard.rules.watch import MINUTE
from parcelguard.services.alerting import Change
from parcelguard.services.clock import ManualClock
from parcelguard.services.messages import (
    ActOnAlert,
    AdvanceClock,
    AlertAction,
    Command,
    Outcome,
    RecordReading,
    RecordScan,
    Result,
)
from parcelguard.services.ports import AlertFilter
from tests.conftest import T0, settings_for

TN = "PG0000000001"
HOUR = 60  # minutes: every moment in these tests is in minutes after T0


def t(minutes: float) -> datetime:
    """``minutes`` after T0 (where the test clock starts), in China time as carriers send it."""
    return (T0 + timedelta(minutes=minutes)).astimezone(times.zone(8 * 60))


def us(minutes: float) -> int:
    return times.to_us(t(minutes))


def iso(minutes: float) -> str:
    """How evidence spells an instant: UTC, 'Z'."""
    return times.iso_us(us(minutes))


def shipment_body(tracking_no: str = TN, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tracking_no": tracking_no, "carrier": "sf", "category": "general",
        "origin": {"city": "上海", "lat": 31.23, "lon": 121.47},
        "destination": {"city": "北京", "lat": 39.9, "lon": 116.4},
    }
    body.update(extra)
    return body


class Rig:
    """The real system on the in-memory store, driven in minutes of event time."""

    def __init__(self, system: bootstrap.System, clock: ManualClock) -> None:
        self.system, self.clock = system, clock
        self.changes: list[Change] = []
        system.ingestor.listeners.append(self.changes.extend)

    # ---- commands ----

    def send(self, *cmds: Command) -> list[Outcome]:
        (outcomes,) = self.system.ingestor.process([list(cmds)])
        assert [o.result for o in outcomes] == [Result.ACCEPTED] * len(cmds), outcomes
        return outcomes

    def register(self, tracking_no: str = TN, at: float = 0, **extra: Any) -> None:
        w = wire.decode(json.dumps(shipment_body(tracking_no, **extra)).encode(), wire.WireShipment)
        self.clock.advance_to(t(at))
        self.send(wire.to_register(w, "acme", self.system.encode, t(at)))

    def scan_cmd(self, minutes: float, status: str = "in_transit", *, received: float | None = None,
                 tracking_no: str = TN, facility: str | None = None, **extra: Any) -> RecordScan:
        body: dict[str, Any] = {"tracking_no": tracking_no, "carrier": "sf",
                                "occurred_at": times.iso(t(minutes)), "status": status, **extra}
        if facility is not None:
            body["location"] = {"facility_id": facility}
        event = wire.to_event(wire.decode(json.dumps(body).encode(), wire.WireEvent))
        arrival = t(minutes if received is None else received)
        self.clock.advance_to(arrival)
        return RecordScan("acme", event, arrival)

    def scan(self, minutes: float, status: str = "in_transit", **kw: Any) -> None:
        """A scan that arrives the moment it happens, unless ``received`` says later."""
        self.send(self.scan_cmd(minutes, status, **kw))

    def reading(self, device: str, minutes: float, *, received: float | None = None,
                **measures: Any) -> None:
        body = {"device_id": device, "ts": times.iso(t(minutes)), **measures}
        r = wire.to_reading(wire.decode(json.dumps(body).encode(), wire.WireReading))
        arrival = t(minutes if received is None else received)
        self.clock.advance_to(arrival)
        self.send(RecordReading("acme", r, arrival))

    def vehicle_unit(self, device: str, vehicle: str) -> None:
        self.send(wire.to_device(wire.WireDevice(device, DeviceKind.VEHICLE_UNIT,
                                                 vehicle_id=vehicle), "acme"))

    def advance(self, minutes: float) -> None:
        """Event time moves on to ``minutes``, as a replay ``clock`` line moves it."""
        self.clock.advance_to(t(minutes))
        self.send(AdvanceClock(t(minutes)))

    def act(self, alert_id: str, action: AlertAction, text: str | None = None,
            at: float | None = None, actor: str = "ops-li") -> None:
        if at is not None:
            self.clock.advance_to(t(at))
        self.send(ActOnAlert("acme", alert_id, action, actor, text))

    # ---- what happened ----

    def alerts(self, kind: Kind | None = None, tracking_no: str = TN) -> list[Alert]:
        """Stored alerts, oldest first."""
        with self.system.store.unit_of_work(write=False) as uow:
            rows = uow.alerts.page("acme", AlertFilter(kind=kind, tracking_no=tracking_no), None, 1000)
        return rows[::-1]

    def only(self, kind: Kind, tracking_no: str = TN) -> Alert:
        rows = self.alerts(kind, tracking_no)
        assert len(rows) == 1, rows
        return rows[0]

    def history(self, kind: Kind | None = None) -> list[tuple[str, float]]:
        """(change, minute) of every change, in the order the engine made them."""
        return [(c.what, (c.alert.updated_at_us - us(0)) / MINUTE) for c in self.changes
                if kind is None or c.alert.kind is kind]


@pytest.fixture
def rig(mem: bootstrap.System, clock: ManualClock) -> Rig:
    return Rig(mem, clock)


def fresh_rig(tmp_path: Path) -> Rig:
    """A second, independent system: what the same data gives elsewhere."""
    clock = ManualClock(T0)
    system = bootstrap.build(settings_for("memory://", tmp_path, checkpoint_every=10), clock=clock)
    system.ingestor.start()
    with system.store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.commit()
    return Rig(system, clock)


def alert_changes(rig: Rig, kind: Kind, what: str) -> list[Alert]:
    return [c.alert for c in rig.changes if c.alert.kind is kind and c.what == what]


def open_carrier_exception(rig: Rig, at: float = 0) -> Alert:
    """A warning-level alert opened by a scan at ``at``: the subject of the lifecycle tests."""
    rig.scan(at, "exception", facility="HUB-SHA")
    return rig.only(Kind.CARRIER_EXCEPTION)


# ---- alert ids ----


def test_an_alert_id_is_derived_from_tenant_parcel_rule_and_opening_moment(
    rig: Rig, tmp_path: Path,
) -> None:
    def dwell(r: Rig) -> Alert:
        r.register()
        r.scan(0, facility="HUB-SHA", substatus="arrived")
        r.advance(130)
        return r.only(Kind.DWELL_EXCEEDED)

    here, elsewhere = dwell(rig), dwell(fresh_rig(tmp_path))
    assert here.alert_id == al.alert_id("acme", TN, "dwell_exceeded", us(120))
    assert here.alert_id.startswith("al-")
    assert len(here.alert_id) == 23
    assert elsewhere.alert_id == here.alert_id
    assert al.alert_id("other", TN, "dwell_exceeded", us(120)) != here.alert_id
    assert al.alert_id("acme", TN, "dwell_exceeded", us(121)) != here.alert_id


# ---- escalation ----


def test_an_alert_not_acknowledged_within_escalate_after_min_escalates_to_critical(rig: Rig) -> None:
    rig.register()
    opened = open_carrier_exception(rig, at=10)
    assert (opened.severity, opened.escalated_at_us) == (Severity.WARNING, None)
    rig.advance(69)
    assert rig.only(Kind.CARRIER_EXCEPTION).escalated_at_us is None
    rig.advance(70)
    after = rig.only(Kind.CARRIER_EXCEPTION)
    assert (after.state, after.severity, after.escalated_at_us) == (State.OPEN, Severity.CRITICAL,
                                                                    us(70))
    assert rig.history(Kind.CARRIER_EXCEPTION) == [("opened", 10), ("escalated", 70)]
    rig.advance(300)
    assert rig.history(Kind.CARRIER_EXCEPTION) == [("opened", 10), ("escalated", 70)]  # once


def test_an_acknowledged_alert_does_not_escalate(rig: Rig) -> None:
    rig.register()
    opened = open_carrier_exception(rig)
    rig.act(opened.alert_id, AlertAction.ACKNOWLEDGE, at=30)
    rig.advance(600)
    after = rig.only(Kind.CARRIER_EXCEPTION)
    assert (after.state, after.severity, after.escalated_at_us) == (
        State.ACKNOWLEDGED, Severity.WARNING, None)
    assert rig.history(Kind.CARRIER_EXCEPTION) == [("opened", 0), ("acknowledged", 30)]


def test_a_cleared_alert_does_not_escalate(rig: Rig) -> None:
    rig.register()
    open_carrier_exception(rig)
    rig.scan(20, facility="HUB-SHA", substatus="sorted")
    rig.advance(600)
    assert rig.history(Kind.CARRIER_EXCEPTION) == [("opened", 0), ("cleared", 20)]


def test_an_escalation_already_due_in_the_clock_jump_that_opened_the_alert_fires_in_it(
    rig: Rig,
) -> None:
    rig.register()
    rig.scan(0, facility="HUB-SHA", substatus="arrived")
    rig.advance(300)  # dwell due at 120, its escalation at 180: both passed
    assert rig.only(Kind.DWELL_EXCEEDED).escalated_at_us == us(180)


def test_an_acknowledgement_after_the_escalation_deadline_comes_after_the_escalation(
    rig: Rig,
) -> None:
    rig.register()
    opened = open_carrier_exception(rig)
    rig.act(opened.alert_id, AlertAction.ACKNOWLEDGE, at=90)  # no command in between
    after = rig.only(Kind.CARRIER_EXCEPTION)
    assert (after.state, after.escalated_at_us, after.acknowledged_at_us) == (
        State.ACKNOWLEDGED, us(60), us(90))


# ---- people acting on alerts ----


def test_people_assign_comment_acknowledge_and_resolve_an_alert(rig: Rig) -> None:
    rig.register()
    opened = open_carrier_exception(rig)
    rig.act(opened.alert_id, AlertAction.ASSIGN, "wang", at=10)
    rig.act(opened.alert_id, AlertAction.COMMENT, "called the hub", at=15)
    rig.act(opened.alert_id, AlertAction.ACKNOWLEDGE, at=20, actor="ops-li")
    acked = rig.only(Kind.CARRIER_EXCEPTION)
    assert (acked.state, acked.acknowledged_at_us, acked.assignee) == (
        State.ACKNOWLEDGED, us(20), "wang")  # an assignee is kept, not replaced by the actor
    rig.act(opened.alert_id, AlertAction.RESOLVE, at=45)
    done = rig.only(Kind.CARRIER_EXCEPTION)
    assert (done.alert_id, done.state, done.closed_at_us, done.opened_at_us) == (
        opened.alert_id, State.RESOLVED, us(45), us(0))
    assert rig.history(Kind.CARRIER_EXCEPTION) == [
        ("opened", 0), ("assigned", 10), ("acknowledged", 20), ("resolved", 45)]
    with rig.system.store.unit_of_work(write=False) as uow:
        notes = uow.alerts.notes(opened.alert_id)
    assert [(n.author, n.text, n.at_us) for n in notes] == [("ops-li", "called the hub", us(15))]


def test_acknowledging_without_an_assignee_makes_the_actor_the_assignee(rig: Rig) -> None:
    rig.register()
    opened = open_carrier_exception(rig)
    rig.act(opened.alert_id, AlertAction.ACKNOWLEDGE, at=5, actor="ops-zhao")
    assert rig.only(Kind.CARRIER_EXCEPTION).assignee == "ops-zhao"


@pytest.mark.parametrize("action", [AlertAction.ACKNOWLEDGE, AlertAction.RESOLVE])
def test_acting_on_a_resolved_alert_is_a_conflict_and_changes_nothing(
    rig: Rig, action: AlertAction,
) -> None:
    rig.register()
    opened = open_carrier_exception(rig)
    rig.act(opened.alert_id, AlertAction.RESOLVE, at=10)
    before = rig.only(Kind.CARRIER_EXCEPTION)
    size = rig.system.ingestor.ledger.size
    rig.clock.advance_to(t(20))
    (outcomes,) = rig.system.ingestor.process([[ActOnAlert("acme", opened.alert_id, action, "x")]])
    assert outcomes[0].result is Result.CONFLICT
    assert "resolved" in (outcomes[0].reason or "")
    assert rig.only(Kind.CARRIER_EXCEPTION) == before
    assert rig.system.ingestor.ledger.size == size


def test_acknowledging_a_cleared_alert_is_a_conflict(rig: Rig) -> None:
    rig.register()
    opened = open_carrier_exception(rig)
    rig.scan(20, facility="HUB-SHA", substatus="sorted")
    (outcomes,) = rig.system.ingestor.process([[
        ActOnAlert("acme", opened.alert_id, AlertAction.ACKNOWLEDGE, "x")]])
    assert outcomes[0].result is Result.CONFLICT
    assert rig.only(Kind.CARRIER_EXCEPTION).state is State.CLEARED


def test_another_tenants_alert_is_not_found(rig: Rig) -> None:
    rig.register()
    opened = open_carrier_exception(rig)
    (outcomes,) = rig.system.ingestor.process([[
        ActOnAlert("other", opened.alert_id, AlertAction.RESOLVE, "x")]])
    assert outcomes[0].result is Result.NOT_FOUND
    assert rig.only(Kind.CARRIER_EXCEPTION).state is State.OPEN


def test_after_a_person_resolves_an_alert_a_new_occurrence_opens_a_new_one(rig: Rig) -> None:
    rig.register()
    first = open_carrier_exception(rig)
    rig.act(first.alert_id, AlertAction.RESOLVE, at=10)
    rig.scan(30, "exception", facility="HUB-SHA", description="再次异常")
    rows = rig.alerts(Kind.CARRIER_EXCEPTION)
    assert [(a.alert_id, a.state, a.opened_at_us) for a in rows] == [
        (first.alert_id, State.RESOLVED, us(0)),
        (al.alert_id("acme", TN, "carrier_exception", us(30)), State.OPEN, us(30))]


# ---- rebuilt from the store ----


def test_a_dwell_deadline_that_fires_again_after_a_rebuild_finds_its_alert(rig: Rig) -> None:
    key = ("acme", TN)
    rig.register()
    rig.scan(0, facility="HUB-SHA", substatus="arrived")
    rig.advance(130)
    first = rig.only(Kind.DWELL_EXCEEDED)
    rig.system.ingestor.live.evict(key)
    assert key not in list(rig.system.ingestor.live)
    rig.clock.advance_to(t(200))
    rig.system.ingestor.tick()
    assert key in list(rig.system.ingestor.live)  # rebuilt from the store, deadlines re-armed
    after = rig.only(Kind.DWELL_EXCEEDED)
    assert (after.alert_id, after.state, after.opened_at_us) == (first.alert_id, State.OPEN, us(120))
    assert after.escalated_at_us == us(180)  # the rebuilt alert still escalates, once
    assert len(alert_changes(rig, Kind.DWELL_EXCEEDED, "opened")) == 1
    rig.scan(240, facility="HUB-SHA", substatus="departed", vehicle_id="沪A1")
    assert rig.only(Kind.DWELL_EXCEEDED).state is State.CLEARED


def _dwell(rig: Rig) -> None:
    rig.scan(0, facility="HUB-SHA", substatus="arrived")


def _silence(rig: Rig) -> None:
    rig.scan(0, "available_for_pickup", facility="LOCKER-7")


def _customs(rig: Rig) -> None:
    rig.scan(0, "customs", facility="CUS-PVG", substatus="declared")


def _box_silence(rig: Rig) -> None:
    rig.reading("LOG-1", 0, seq=1, temperature_c=5.0)


@pytest.mark.parametrize(("kind", "setup", "due", "extra"), [
    (Kind.DWELL_EXCEEDED, _dwell, 120, {}),
    (Kind.NO_UPDATE, _silence, 18 * HOUR, {}),
    (Kind.LOST_SUSPECTED, _silence, 72 * HOUR, {}),
    (Kind.CUSTOMS_DELAY, _customs, 48 * HOUR, {"category": "cross_border"}),
    (Kind.DELIVERY_LATE, _silence, 10 * HOUR, {"promised_by": times.iso(t(10 * HOUR))}),
    (Kind.SENSOR_GAP, _box_silence, 60, {"devices": ["LOG-1"]}),
])
def test_every_deadline_fired_again_after_a_rebuild_finds_its_alert(
    rig: Rig, kind: Kind, setup: Any, due: int, extra: dict[str, Any],
) -> None:
    key = ("acme", TN)
    rig.register(**extra)
    setup(rig)
    rig.advance(due)
    first = rig.only(kind)
    assert first.opened_at_us == us(due)
    rig.system.ingestor.live.evict(key)
    rig.advance(due + 90)
    assert key in list(rig.system.ingestor.live)
    after = rig.only(kind)
    assert (after.alert_id, after.opened_at_us, after.escalated_at_us) == (
        first.alert_id, us(due), us(due + 60))
    assert len(alert_changes(rig, kind, "opened")) == 1


def test_a_deadline_fired_again_after_a_rebuild_is_not_counted_as_a_repeat(rig: Rig) -> None:
    rig.register()
    rig.scan(0, facility="HUB-SHA", substatus="arrived")
    rig.advance(130)
    rig.system.ingestor.live.evict(("acme", TN))
    rig.advance(200)  # the escalation at 180 brings the shipment back into memory
    assert ("acme", TN) in list(rig.system.ingestor.live)
    assert rig.only(Kind.DWELL_EXCEEDED).repeats == 0
    assert alert_changes(rig, Kind.DWELL_EXCEEDED, "repeated") == []


# ---- replay ----

REPLAY = """\
{"type":"shipment","tracking_no":"PG0000000001","carrier":"sf","category":"general","origin":{"city":"上海"},"destination":{"city":"北京"},"received_at":"2026-11-20T20:00:00+08:00"}
{"type":"shipment","tracking_no":"PG0000000002","carrier":"sf","category":"fragile","origin":{"city":"上海"},"destination":{"city":"北京"},"devices":["LOG-9"],"received_at":"2026-11-20T20:00:00+08:00"}
{"type":"event","tracking_no":"PG0000000001","carrier":"sf","occurred_at":"2026-11-20T20:00:00+08:00","status":"in_transit","substatus":"arrived","location":{"facility_id":"HUB-SHA"}}
{"type":"telemetry","device_id":"LOG-9","ts":"2026-11-20T20:30:00+08:00","seq":1,"shock_g":12.5}
{"type":"telemetry","device_id":"LOG-9","ts":"2026-11-20T20:40:00+08:00","seq":2,"shock_g":0.2}
{"type":"clock","at":"2026-11-20T22:30:00+08:00"}
{"type":"event","tracking_no":"PG0000000001","carrier":"sf","occurred_at":"2026-11-20T23:10:00+08:00","status":"in_transit","substatus":"departed","vehicle_id":"沪A1","location":{"facility_id":"HUB-SHA"},"received_at":"2026-11-21T02:00:00+08:00"}
"""


def replay_once(tmp_path: Path, text: str | list[bytes]) -> str:
    clock = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))
    system = bootstrap.build(settings_for("memory://", tmp_path), clock=clock)
    system.ingestor.start()
    with system.store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.commit()
    run = Replay(system.ingestor, clock, "acme", system.encode)
    lines = text if isinstance(text, list) else text.encode().splitlines()
    summary = run.feed(lines)
    assert summary.errors == []
    out = io.StringIO()
    write_alerts(out, run.alert_lines())
    return out.getvalue()


def test_replay_of_the_same_input_twice_is_byte_identical(tmp_path: Path) -> None:
    first = replay_once(tmp_path / "a", REPLAY)
    assert first == replay_once(tmp_path / "b", REPLAY)
    lines = [json.loads(line) for line in first.splitlines()]
    assert [(x["tracking_no"], x["kind"], x["state"], x["severity"], x["at"]) for x in lines] == [
        ("PG0000000002", "shock", "open", "critical", "2026-11-20T12:30:00Z"),
        ("PG0000000002", "sensor_gap", "open", "warning", "2026-11-20T13:40:00Z"),
        ("PG0000000001", "dwell_exceeded", "open", "warning", "2026-11-20T14:00:00Z"),
        # escalated at 15:00 (not a state change, so no line of its own), cleared at departure
        ("PG0000000001", "dwell_exceeded", "cleared", "critical", "2026-11-20T15:10:00Z"),
    ]
    assert first.splitlines()[2] == (
        '{"alert_id":"al-e28061b1aa615b147b53","at":"2026-11-20T14:00:00Z","evidence":'
        '{"arrived_at":"2026-11-20T12:00:00Z","deadline":"2026-11-20T14:00:00Z",'
        '"dwell_max_min":120,"facility_id":"HUB-SHA"},"kind":"dwell_exceeded",'
        '"severity":"warning","state":"open","tracking_no":"PG0000000001"}')
    assert lines[2]["alert_id"] == al.alert_id("acme", TN, "dwell_exceeded", us(120))
    assert first.endswith("\n")
    assert first.count("\n") == 4


def test_replay_of_a_simulated_run_twice_is_byte_identical(tmp_path: Path) -> None:
    from parcelguard.simulator import SimConfig, Simulation

    config = SimConfig(seed=5, shipments=12, anomaly_rate=0.8, clock_every=timedelta(hours=1))
    lines = [json.dumps(line, ensure_ascii=False).encode() for line in Simulation(config).lines()]
    first = replay_once(tmp_path / "a", lines)
    assert first == replay_once(tmp_path / "b", lines)
    kinds = {json.loads(line)["kind"] for line in first.splitlines()}
    assert len(kinds) >= 3, kinds  # a run with alerts of several kinds, not an empty file
