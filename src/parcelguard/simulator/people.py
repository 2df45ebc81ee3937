"""The people and numbers around a parcel: recipients, couriers, tracking numbers, plates.

All of it is made up, drawn from the seeded ``Dice``: names from common surnames and
given-name characters, 11-digit mobile numbers with real prefixes, addresses on common street
names. Tracking numbers follow each carrier's visible style so a log looks familiar.
"""

from __future__ import annotations

from dataclasses import dataclass

from parcelguard.simulator.dice import Dice
from parcelguard.simulator.network import Abroad, City, Facility

SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩"
            "冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
         "玉兰萍鹏辉建文斌宇浩凯婷雪琳晨欣怡子轩梓涵一诺")
ROADS = ("人民路", "中山路", "解放路", "建设路", "和平路", "新华路", "长江路", "文化路", "幸福路",
         "胜利路", "青年路", "朝阳路", "光明路", "公园路", "滨河路", "学府路")
ESTATES = ("阳光花园", "锦绣家园", "翠苑小区", "金色家园", "万科城", "碧桂园", "保利花园", "绿地新都会",
           "华润城", "龙湖天街公寓")
MOBILE_PREFIXES = ("134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158",
                   "159", "182", "183", "187", "188", "130", "131", "132", "155", "156", "185",
                   "186", "133", "153", "177", "180", "181", "189", "191", "199")
FOREIGN_NAMES = {
    "SG": ("Tan Wei Ming", "Lim Hui Min", "Ng Jun Jie", "Priya Raj"),
    "MY": ("Ahmad Faizal", "Nurul Aina", "Lee Chong Wei", "Siti Aminah"),
    "JP": ("Sato Haruto", "Suzuki Yui", "Takahashi Ren", "Tanaka Aoi"),
    "KR": ("Kim Min-jun", "Lee Seo-yeon", "Park Ji-ho", "Choi Yu-na"),
    "US": ("Emily Chen", "Michael Johnson", "Sarah Williams", "David Nguyen"),
    "AU": ("Olivia Smith", "Jack Brown", "Chloe Wilson", "Liam Taylor"),
    "GB": ("Oliver Jones", "Amelia Davies", "Harry Evans", "Isla Thomas"),
}
ROADS_EN = ("Main Street", "Park Road", "High Street", "Station Road", "King Street",
            "Church Road", "Hill View", "Garden Avenue")
NEW_AREAS = {"浦东": "浦东新区", "滨海": "滨海新区", "郑东": "郑东新区"}  # not plain 区
SIGNERS = ("本人", "本人", "本人", "家人代收", "同事代收", "前台代收")


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    phone: str
    address: str


def chinese_name(rng: Dice) -> str:
    given = rng.pick(GIVEN) + (rng.pick(GIVEN) if rng.random() < 0.7 else "")
    return rng.pick(SURNAMES) + given


def mobile(rng: Dice) -> str:
    return rng.pick(MOBILE_PREFIXES) + f"{rng.whole(0, 99_999_999):08d}"


def recipient(rng: Dice, city: City, district: str) -> Person:
    """A recipient living in ``district`` of ``city``; municipalities drop the province."""
    region = city.province if city.province.endswith("市") else f"{city.province}{city.name}市"
    district = NEW_AREAS.get(district, district if district.endswith("区") else district + "区")
    address = (f"{region}{district}{rng.pick(ROADS)}{rng.whole(1, 998)}号"
               f"{rng.pick(ESTATES)}{rng.whole(1, 29)}栋{rng.whole(1, 32)}"
               f"{rng.whole(1, 4):02d}室")
    return Person(chinese_name(rng), mobile(rng), address)


def foreign_recipient(rng: Dice, place: Abroad, station: Facility) -> Person:
    area = station.name[len(place.name):].removesuffix("派送站")
    digits = f"{rng.whole(8, 9)}{rng.whole(0, 9_999_999):07d}"
    return Person(rng.pick(FOREIGN_NAMES[place.country]),
                  f"{place.phone_prefix} {digits[:4]} {digits[4:]}",
                  f"{rng.whole(1, 299)} {rng.pick(ROADS_EN)}, {area}, {place.city_en}")


def s10_check(serial: str) -> str:
    """The UPU S10 check digit of an 8-digit serial (EMS international numbers)."""
    total = sum(int(d) * w for d, w in zip(serial, (8, 6, 4, 2, 3, 5, 9, 7), strict=True))
    check = 11 - total % 11
    return {10: "0", 11: "5"}.get(check, str(check))


class TrackingNumbers:
    """Unique, carrier-styled tracking numbers: a per-carrier counter stepping by 1-9."""

    def __init__(self, rng: Dice) -> None:
        self._rng = rng
        self._counters: dict[str, int] = {}

    def next(self, carrier: str, international: bool = False) -> str:
        n = self._counters.get(carrier, self._rng.whole(10_000, 89_999))
        n += self._rng.whole(1, 9)
        self._counters[carrier] = n
        return self._format(carrier, n, international)

    @staticmethod
    def _format(carrier: str, n: int, international: bool) -> str:
        if carrier == "sf":
            return f"SF{140_000_000_000 + n:012d}"
        if carrier == "zto":
            return f"7314{n:010d}"
        if carrier == "yto":
            return f"YT{7_500_000_000_000 + n:013d}"
        if carrier == "jd":
            return f"JD{n:013d}"
        if carrier == "ems":
            if international:
                serial = f"{n % 100_000_000:08d}"
                return f"EA{serial}{s10_check(serial)}CN"
            return f"11{n:011d}"
        return f"{carrier.upper()}{n:012d}"


class Staff:
    """Operator and PDA ids per facility, shared strings so millions of scans stay small.

    Hub workers are numbered from 1000, station couriers from ten times the station number,
    so ``EMP-SHA-0120`` is a courier of ``STN-SHA-012``.
    """

    def __init__(self, rng: Dice) -> None:
        self._rng = rng
        self._pools: dict[str, list[tuple[str, str]]] = {}

    def worker(self, facility: Facility) -> tuple[str, str]:
        """(operator_id, device_id) of one of the 80 workers scanning at a hub or gateway."""
        pool = self._pools.get(facility.id)
        if pool is None:
            pool = self._pools[facility.id] = self._pool(facility.city_code, 1000, 80)
        return pool[int(self._rng.random() * 80)]

    def courier(self, station: Facility) -> tuple[str, str]:
        """(operator_id, device_id) of one of a station's 8 couriers."""
        pool = self._pools.get(station.id)
        if pool is None:
            number = int(station.id.rsplit("-", 1)[1])
            pool = self._pools[station.id] = self._pool(station.city_code, number * 10, 8)
        return pool[int(self._rng.random() * 8)]

    @staticmethod
    def _pool(code: str, first: int, size: int) -> list[tuple[str, str]]:
        return [(f"EMP-{code}-{n:04d}", f"PDA-{code}-{n:04d}") for n in range(first, first + size)]


def courier_name(operator_id: str) -> str:
    """The courier's surname, fixed by the id, as in '快递员【王师傅】'."""
    n = int(operator_id.rsplit("-", 1)[1])
    return SURNAMES[(n * 7) % len(SURNAMES)] + "师傅"


class Plates:
    """Licence plates for trucks and vans, unique per trip: 沪A·D1234, 粤B·V0042."""

    LETTERS = "DFHKLMNPRT"

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}

    def next(self, prefix: str, van: bool = False) -> str:
        key = prefix + ("V" if van else "")
        n = self._counters.get(key, 0)
        self._counters[key] = n + 1
        letter = "V" if van else self.LETTERS[(n // 10_000) % len(self.LETTERS)]
        return f"{prefix}·{letter}{n % 10_000:04d}"
