"""KPIs on the in-memory store: the same counts the SQL stores give (tests/web/test_dashboard)."""

from __future__ import annotations

from parcelguard import bootstrap
from parcelguard.domain import times
from parcelguard.services import reports
from tests.conftest import T0
from tests.factories import at
from tests.unit.test_ingest import register, results, scan


def test_carrier_counts_and_rates(mem: bootstrap.System) -> None:
    results(mem, register(mem, tracking_no="SF1"), register(
        mem, tracking_no="SF2", promised_by=times.iso(at(10))),
        register(mem, tracking_no="JD1", carrier="jd", category="cold_chain"))
    results(mem, scan(tracking_no="SF1", hours=0, status="picked_up", operator_id="C-1"),
            scan(tracking_no="SF1", hours=6, status="delivered"),
            scan(tracking_no="SF2", hours=0, status="picked_up", operator_id="C-1"),
            scan(tracking_no="SF2", hours=11, status="delivered"),
            scan(tracking_no="JD1", hours=1, status="in_transit", carrier="jd",
                 condition="damaged"))
    now = times.to_us(T0) + 1
    with mem.store.unit_of_work(write=False) as uow:
        total, each = reports.kpis(uow, "acme", now - 86_400_000_000, now)
    assert (total.shipments, total.on_time_rate, total.breakage_rate) == (3, 0.5, 1 / 3)
    assert total.excursion_rate == 0.0
    assert total.loss_rate == 0.0
    assert total.mean_transit_h == 8.5
    assert [(k.name, k.shipments) for k in each] == [("sf", 2), ("jd", 1)]
    assert each[1].alerts_by_kind["damaged"] == 1
    assert each[1].mtta_min is None  # nothing acknowledged
    with mem.store.unit_of_work(write=False) as uow:
        assert [r.shipment.tracking_no for r in uow.reports.predicted_late("acme", 10)] == []
        assert uow.reports.active_alerts("acme")["damaged"] == 1
        assert uow.reports.active_alerts("other") == {}
