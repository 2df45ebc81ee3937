"""Issue 9's scenario with the simulator: a hub that slows down and a storm over a city,
replayed through the whole pipeline on event time, with the bottleneck check run every hour
(the server runs it every five minutes).

What must hold: the bottleneck alert for the congested hub opens before any parcel through
that hub misses its promise; parcels whose way crosses the storm get a delay_risk naming it,
parcels elsewhere get none that names it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parcelguard import bootstrap
from parcelguard.domain import times
from parcelguard.ingest.replay import Replay
from parcelguard.services import bottlenecks
from parcelguard.services.clock import ManualClock
from parcelguard.simulator.network import china
from parcelguard.simulator.scenario import SimConfig, Simulation
from tests.conftest import settings_for

HUB = "HUB-SHA-QP"  # Shanghai's hub
CITY = "杭州"
START = datetime(2026, 11, 18, tzinfo=times.zone(480))
CHECK_EVERY = timedelta(hours=1)
TENANT = "acme"


def _chunks(sim: Simulation) -> Iterator[tuple[datetime, list[bytes]]]:
    """The lines, in hours of arrival time."""
    chunk: list[bytes] = []
    due = START + CHECK_EVERY
    for arrival, line in sim.stream():
        while arrival >= due:
            yield due, chunk
            chunk, due = [], due + CHECK_EVERY
        chunk.append(json.dumps(line, ensure_ascii=False).encode())
    yield due, chunk


@pytest.fixture
def scenario(tmp_path: Path) -> Iterator[tuple[bootstrap.System, Replay, list[tuple[int, str]]]]:
    sim = Simulation(SimConfig(
        seed=11, shipments=1800, start=START, span=timedelta(days=3), anomaly_rate=0.0,
        telemetry=False, clock_every=timedelta(minutes=15), congested_hub=HUB,
        congestion_at=timedelta(hours=54), congestion_ramp=timedelta(hours=8),
        congestion_extra=timedelta(hours=24), weather_city=CITY, weather_at=timedelta(hours=54)))
    clock = ManualClock(START.astimezone(UTC))
    system = bootstrap.build(settings_for(f"sqlite:///{tmp_path / 'pg.db'}", tmp_path),
                             clock=clock)
    system.ingestor.start()
    with system.store.unit_of_work() as uow:
        uow.tenants.add(TENANT, TENANT, 0)
        uow.commit()
    run = Replay(system.ingestor, clock, TENANT, system.encode)
    opened: list[tuple[int, str]] = []
    for due, chunk in _chunks(sim):
        summary = run.feed(chunk)
        assert not summary.errors, summary.errors
        clock.advance_to(due.astimezone(UTC))
        for what, alert in bottlenecks.check_all(system.store, times.to_us(due)):
            if what == "opened":
                opened.append((alert.opened_at_us, alert.facility_id))
    try:
        yield system, run, opened
    finally:
        system.store.close()


def test_the_bottleneck_and_the_storm(
    scenario: tuple[bootstrap.System, Replay, list[tuple[int, str]]],
) -> None:
    system, run, opened = scenario
    net = china()
    hangzhou = {c.hub.id for c in net.cities.values() if c.name == CITY}
    engine = system.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        through_hub = {r[0] for r in conn.exec_driver_sql(
            "SELECT DISTINCT shipment_id FROM events WHERE facility_id = ?", (HUB,))}
        facts = {r[0]: (r[1], r[2], r[3], json.loads(r[4])) for r in conn.exec_driver_sql(
            "SELECT s.id, s.promised_by, st.delivered_at, s.tracking_no, s.destination "
            "FROM shipments s JOIN shipment_states st ON st.shipment_id = s.id")}
        hubs_of: dict[str, set[str]] = {}
        for tn, facility in conn.exec_driver_sql(
                "SELECT s.tracking_no, e.facility_id FROM events e JOIN shipments s "
                "ON s.id = e.shipment_id WHERE e.facility_id IS NOT NULL"):
            hubs_of.setdefault(tn, set()).add(facility)
    end = times.to_us(system.clock.now())
    # (a) the hub: the first miss of a promise by a parcel through it, and the alert before it
    missed = sorted(promised for sid, (promised, delivered, _, _) in facts.items()
                    if sid in through_hub and promised is not None
                    and (delivered or end) > promised)
    assert missed, "the congestion made no parcel through the hub late: the scenario is too mild"
    hub_alerts = [at for at, facility in opened if facility == HUB]
    assert hub_alerts, f"no bottleneck alert for {HUB}; opened: {opened}"
    print(f"\nbottleneck at {times.iso_us(hub_alerts[0])}, first promise missed "
          f"{times.iso_us(missed[0])}; {len(missed)} parcels through {HUB} late")
    assert hub_alerts[0] < missed[0]
    storm_hubs = {c.hub.id for c in net.cities.values() if c.name == CITY}
    assert {f for _, f in opened} <= {HUB} | storm_hubs  # the storm slows its own hub too
    # (b) the storm: delay_risk naming it only on parcels whose way crosses Hangzhou
    named = {c.alert.tracking_no for c in run.changes if c.what in ("opened", "repeated")
             and c.alert.kind.value == "delay_risk"
             and c.alert.evidence.get("disruption") == f"暴雨：{CITY}"}
    assert named, "no delay_risk names the storm"
    crossing = {tn for sid, (_, _, tn, dest) in facts.items()
                if dest.get("city") == CITY or hubs_of.get(tn, set()) & hangzhou}
    print(f"storm: {len(named)} parcels warned, {len(crossing)} cross {CITY}")
    assert named <= crossing
