"""Liability placement on hand-made journeys: the rules of domain/liability.py one by one."""

from __future__ import annotations

from parcelguard.domain import times
from parcelguard.domain.events import Condition, Location
from parcelguard.domain.liability import Sample, Scan, analyse, segments
from parcelguard.domain.telemetry import Reading
from tests.factories import at, event

HUB_A, HUB_B = Location(facility_id="HUB-A"), Location(facility_id="HUB-B")


def scans(*specs: tuple[float, str, dict[str, object]]) -> list[Scan]:
    out = []
    for i, (hours, status, kw) in enumerate(specs):
        location = kw.pop("location", None)
        e = event(f"e{i}", hours, status, **kw)  # type: ignore[arg-type]
        if location is not None:
            e.location = location  # type: ignore[assignment]
        out.append(Scan(times.to_us(at(hours)), e, i + 1))
    return out


JOURNEY = [
    (0.0, "picked_up", {"operator": "C-1", "condition": Condition.INTACT}),
    (2.0, "in_transit", {"location": HUB_A, "substatus": "sorting", "operator": "OP-A",
                         "condition": Condition.INTACT}),
    (3.0, "in_transit", {"location": HUB_A, "substatus": "loaded", "vehicle": "V1",
                         "operator": "OP-L"}),
    (8.0, "in_transit", {"location": HUB_B, "substatus": "unloaded", "vehicle": "V1",
                         "operator": "OP-B", "condition": Condition.DAMAGED}),
]


def shock(hours: float, g: float, index: int = 90) -> Sample:
    return Sample("device:SK-1", times.to_us(at(hours)),
                  Reading("SK-1", at(hours), shock_g=g), index)


def run(samples: list[Sample] | None = None, **kw: object) -> list[tuple[str, str, float]]:
    found = analyse(scans(*[(h, s, dict(k)) for h, s, k in JOURNEY]), samples or [],
                    shock_max_g=5.0, temp_max_c=None, temp_min_c=None, **kw)  # type: ignore[arg-type]
    return [(i.kind, f"{i.party.kind}:{i.party.id}" if i.party else "-", i.confidence)
            for i in found.incidents]


def test_custody_segments_follow_the_holders() -> None:
    segs = segments(scans(*[(h, s, dict(k)) for h, s, k in JOURNEY]))
    assert [(s.holder.kind.value, s.holder.id) for s in segs] == [
        ("courier", "C-1"), ("facility", "HUB-A"), ("vehicle", "V1"), ("facility", "HUB-B")]
    assert (segs[1].end_us, segs[2].start_us) == (times.to_us(at(3)), times.to_us(at(3)))
    assert segs[1].operators == ["OP-A"]
    assert segs[3].end_us is None


def test_a_shock_between_the_intact_and_the_damaged_scan_names_its_holder() -> None:
    assert run([shock(5, 9.0)]) == [("shock", "vehicle:V1", 0.9), ("damage", "vehicle:V1", 0.9)]


def test_a_shock_at_the_hub_names_the_hub_and_the_operator_who_last_scanned_it() -> None:
    found = analyse(scans(*[(h, s, dict(k)) for h, s, k in JOURNEY]), [shock(2.5, 7.0)],
                    shock_max_g=5.0, temp_max_c=None, temp_min_c=None)
    first = found.incidents[0]
    assert (first.kind, first.party.id, first.party.operator_id) == (  # type: ignore[union-attr]
        "shock", "HUB-A", "OP-A")
    assert first.ledger == [90]


def test_without_sensor_evidence_damage_goes_to_the_holders_after_the_last_intact_scan() -> None:
    # intact at the hub's sorting scan, then the hub and the vehicle had it: the first one
    assert run() == [("damage", "facility:HUB-A", 0.5)]


def test_a_knock_below_the_limit_is_no_incident() -> None:
    assert run([shock(5, 4.9)])[0] == ("damage", "facility:HUB-A", 0.5)


def test_a_loss_is_placed_only_when_the_parcel_is_suspected_lost() -> None:
    journey = scans(*[(h, s, dict(k)) for h, s, k in JOURNEY[:3]])
    assert analyse(journey, [], shock_max_g=None, temp_max_c=None, temp_min_c=None).incidents == []
    lost = analyse(journey, [], shock_max_g=None, temp_max_c=None, temp_min_c=None, lost=True)
    (loss,) = lost.incidents
    assert (loss.kind, loss.party.kind, loss.party.id) == (  # type: ignore[union-attr]
        "loss", "vehicle", "V1")


def test_an_excursion_is_placed_where_it_began() -> None:
    temps = [Sample("device:LOG-1", times.to_us(at(h)), Reading("LOG-1", at(h), temperature_c=t), 50)
             for h, t in ((1, 5.0), (4, 9.5), (5, 12.0), (9, 5.0))]
    found = analyse(scans(*[(h, s, dict(k)) for h, s, k in JOURNEY]), temps, shock_max_g=None,
                    temp_max_c=8.0, temp_min_c=2.0)
    exc = [i for i in found.incidents if i.kind == "temperature_excursion"]
    assert len(exc) == 1
    assert (exc[0].party.id, exc[0].facts["peak_c"], exc[0].facts["minutes"]) == (  # type: ignore[union-attr]
        "V1", 12.0, 300)
    assert exc[0].facts["segments"] == [2, 3]
