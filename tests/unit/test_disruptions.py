"""Which parcels a disruption touches, and what it does to their estimate."""

from __future__ import annotations

from dataclasses import replace

import pytest

from parcelguard.domain.disruptions import Disruption, DisruptionKind, Way, check
from parcelguard.domain.errors import InvalidInput

HOUR = 3_600_000_000
SHANGHAI, NINGBO, BEIJING = (121.47, 31.23), (121.54, 29.87), (116.4, 39.9)
RING = ((121.2, 29.6), (121.9, 29.6), (121.9, 30.1), (121.2, 30.1))  # around Ningbo


def disruption(**region: object) -> Disruption:
    return Disruption("dis_1", "acme", DisruptionKind.WEATHER, "storm", 0, 10 * HOUR, 6.0, 0,
                      "ops", **region)  # type: ignore[arg-type]


def way(cities: set[str] = frozenset(), facilities: set[str] = frozenset(),
        points: tuple[tuple[float, float], ...] = ()) -> Way:
    return Way(frozenset(cities), frozenset(facilities), points)


def test_cities_facilities_and_a_polygon() -> None:
    assert disruption(cities=frozenset({"杭州"})).affects(way({"上海", "杭州"}))
    assert not disruption(cities=frozenset({"杭州"})).affects(way({"上海", "北京"}))
    assert disruption(facility_id="HUB-HZ").affects(way(facilities={"HUB-HZ", "HUB-BJ"}))
    assert not disruption(facility_id="HUB-HZ").affects(way(facilities={"HUB-NJ"}))
    ring = disruption(polygon=RING)
    assert ring.affects(way(points=(SHANGHAI, NINGBO)))  # it ends inside
    assert ring.affects(way(points=(NINGBO,)))  # it is inside
    assert not ring.affects(way(points=(SHANGHAI, BEIJING)))
    assert not ring.affects(way())


def test_in_force_until_its_end_or_called_off() -> None:
    d = disruption(cities=frozenset({"杭州"}))
    assert d.in_force(0)
    assert d.in_force(-HOUR)  # announced for later: a parcel heading there meets it
    assert not d.in_force(10 * HOUR)
    called_off = replace(d, cancelled_at_us=HOUR)
    assert not called_off.in_force(0)


@pytest.mark.parametrize(("args", "field"), [
    (("hail", "t", 0, 1, 1.0, ["杭州"], None, None), "kind"),
    (("weather", " ", 0, 1, 1.0, ["杭州"], None, None), "title"),
    (("weather", "t", 1, 1, 1.0, ["杭州"], None, None), "ends_at"),
    (("weather", "t", 0, 1, 0.0, ["杭州"], None, None), "extra_delay_hours"),
    (("weather", "t", 0, 1, 1.0, [], None, None), "region"),
    (("weather", "t", 0, 1, 1.0, ["杭州"], "HUB", None), "region"),
    (("weather", "t", 0, 1, 1.0, [], None, [[0, 0], [1, 1]]), "polygon"),
    (("weather", "t", 0, 1, 1.0, [], None, [[0, 0], [1, 1], [1, 0], [0, 1]]), "polygon"),
    (("weather", "t", 0, 1, 1.0, [], None, [[0, 0], [1, 95], [1, 0]]), "polygon"),
])
def test_a_bad_disruption_names_its_field(args: tuple[object, ...], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check(*args)  # type: ignore[arg-type]
    assert err.value.field == field
