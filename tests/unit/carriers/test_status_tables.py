"""Status tables: every code CARRIERS.md lists maps to a real status; the taxonomy of DESIGN.md holds.

The lists below are copied from /work/shared/CARRIERS.md (section "Status codes"), so a code
dropped from a table, or one the docs add, shows up here.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from parcelguard.domain.status import Status
from parcelguard.ingest.carriers import aftership, kdniao, kuaidi100, track17
from parcelguard.ingest.carriers.common import Table

KDNIAO_STATE = ["0", "1", "2", "3", "4", "5", "6", "201"]  # b1, K4/K7, and K1's older 201
KDNIAO_STATE_EX = [  # b2, K3
    "1", "10", "201", "202", "211", "204", "205", "206", "2", "301", "302", "304", "311", "3", "5",
    "401", "402", "403", "404", "405", "406", "407", "412", "413", "414", "415", "416", "417", "418",
    "419", "420", "421", "422", "423", "4", "6", "601", "602", "603", "604", "0",
]
KDNIAO_K1 = ["1", "2", "201", "202", "211", "3", "311", "4", "401", "402", "403", "404", "412"]
KUAIDI100 = [  # b3 (apifox) and Q5 (map track), with b3's mention of 8
    "1", "101", "102", "103", "0", "1001", "1002", "1003", "5", "501", "3", "301", "302", "303", "304",
    "6", "4", "401", "14", "7", "2", "8", "10", "11", "12", "13",
]
KUAIDI100_NAMES = [
    "在途", "揽收", "疑难", "签收", "退签", "派件", "退回", "转单", "转投", "待清关", "清关中", "已清关",
    "清关异常", "收件人拒签", "拒签", "投柜或站签收", "已下单", "待揽收", "已揽收", "到达派件城市", "干线",
    "转递", "投柜或驿站", "本人签收", "派件异常后签收", "代签", "已销单",
]
AFTERSHIP = [  # b4 tags, b5 subtags (official, A4 mirror, A3)
    "InfoReceived", "InTransit", "OutForDelivery", "AttemptFail", "Delivered", "AvailableForPickup",
    "Exception", "Expired", "Pending",
    "Delivered_001", "Delivered_002", "Delivered_003", "Delivered_004", "Delivered_005",
    "AvailableForPickup_001",
    *(f"Exception_{n:03d}" for n in [*range(1, 14), 16, 17, 18]),
    "AttemptFail_001", "AttemptFail_002", "AttemptFail_003",
    *(f"InTransit_{n:03d}" for n in range(1, 10)),
    "InfoReceived_001", "OutForDelivery_001", "OutForDelivery_003", "OutForDelivery_004",
    "Pending_001", "Expired_001",
]
TRACK17 = [  # b6: main statuses, sub-statuses, milestone key stages
    "NotFound", "InfoReceived", "InTransit", "Expired", "AvailableForPickup", "OutForDelivery",
    "DeliveryFailure", "Delivered", "Exception",
    "NotFound_Other", "NotFound_InvalidCode", "InTransit_PickedUp", "InTransit_Other",
    "InTransit_Departure", "InTransit_Arrival", "InTransit_CustomsProcessing", "InTransit_CustomsReleased",
    "InTransit_CustomsRequiringInformation", "Expired_Other", "AvailableForPickup_Other",
    "OutForDelivery_Other", "DeliveryFailure_Other", "DeliveryFailure_NoBody", "DeliveryFailure_Security",
    "DeliveryFailure_Rejected", "DeliveryFailure_InvalidAddress", "Delivered_Other", "Exception_Other",
    "Exception_Returning", "Exception_Returned", "Exception_NoBody", "Exception_Security", "Exception_Damage",
    "Exception_Rejected", "Exception_Delayed", "Exception_Lost", "Exception_Destroyed", "Exception_Cancel",
    "PickedUp", "Departure", "Arrival", "Returning", "Returned",
]
LISTED: list[tuple[str, Table, list[str]]] = [
    ("kdniao State", kdniao.STATUS_CODES, KDNIAO_STATE),
    ("kdniao StateEx", kdniao.STATUS_CODES, KDNIAO_STATE_EX),
    ("kdniao StateEx, K1 version", kdniao.TABLES["k1"], KDNIAO_K1),
    ("kuaidi100", kuaidi100.STATUS_CODES, KUAIDI100),
    ("aftership", aftership.STATUS_CODES, AFTERSHIP),
    ("track17", track17.STATUS_CODES, TRACK17),
]


@pytest.mark.parametrize(("name", "table", "codes"), LISTED, ids=[n for n, _, _ in LISTED])
def test_every_documented_code_maps_to_a_real_status(name: str, table: Table, codes: list[str]) -> None:
    missing = [c for c in codes if c not in table]
    unknown = [c for c in codes if c in table and table[c].status is Status.UNKNOWN]
    assert (missing, unknown) == ([], [])


@pytest.mark.parametrize("module", [kdniao, kuaidi100, aftership, track17], ids=lambda m: m.FORMAT)
def test_tables_hold_no_code_the_docs_do_not_list(module: ModuleType) -> None:
    """Kdniao's K1 version is K3 with the older meaning of 311, so both share one list."""
    tables = getattr(module, "TABLES", {"current": module.STATUS_CODES}).values()
    documented = {c for _, t, cs in LISTED if any(t is table for table in tables) for c in cs}
    assert {c for table in tables for c in table} - documented == set()


def test_every_kuaidi100_state_name_resolves_to_a_listed_code() -> None:
    assert {n: kuaidi100.NAMES.get(n) in kuaidi100.STATUS_CODES for n in KUAIDI100_NAMES} == \
        dict.fromkeys(KUAIDI100_NAMES, True)


def test_table_sizes() -> None:
    sizes = {"kdniao": len(kdniao.STATUS_CODES), "kuaidi100": len(kuaidi100.STATUS_CODES),
             "aftership": len(aftership.STATUS_CODES), "track17": len(track17.STATUS_CODES)}
    assert sizes == {"kdniao": 41, "kuaidi100": 26, "aftership": 49, "track17": 43}


S = Status
DESIGN_KDNIAO = {  # DESIGN.md "Unified status taxonomy", Kdniao column (10 excepted, see kdniao.py)
    S.INFO_RECEIVED: ["0"], S.PICKED_UP: ["1"], S.IN_TRANSIT: ["2", "201", "204", "205", "206"],
    S.CUSTOMS: ["6", "601", "602", "603", "604"], S.OUT_FOR_DELIVERY: ["202"],
    S.AVAILABLE_FOR_PICKUP: ["211"], S.DELIVERED: ["3", "301", "302", "304", "311"],
    S.EXCEPTION: ["4", "401", "402", "403", "405", *map(str, range(412, 424))],
    S.RETURNING: ["404", "407"], S.RETURNED: ["406"], S.FORWARDED: ["5"],
}
DESIGN_AFTERSHIP = {  # DESIGN.md, AfterShip column
    S.INFO_RECEIVED: ["InfoReceived"], S.PICKED_UP: ["InTransit_002"], S.IN_TRANSIT: ["InTransit"],
    S.CUSTOMS: ["InTransit_005", "InTransit_006", "Exception_004"], S.OUT_FOR_DELIVERY: ["OutForDelivery"],
    S.AVAILABLE_FOR_PICKUP: ["AvailableForPickup"], S.DELIVERED: ["Delivered"],
    S.FAILED_ATTEMPT: ["AttemptFail"], S.EXCEPTION: ["Exception"],
    S.RETURNING: ["Exception_010"], S.RETURNED: ["Exception_011"],
}


@pytest.mark.parametrize(("table", "design"), [(kdniao.STATUS_CODES, DESIGN_KDNIAO),
                                                (aftership.STATUS_CODES, DESIGN_AFTERSHIP)],
                         ids=["kdniao", "aftership"])
def test_tables_follow_the_design_taxonomy(table: Table, design: dict[Status, list[str]]) -> None:
    got = {status: [c for c in codes if table[c].status is not status] for status, codes in design.items()}
    assert got == {status: [] for status in design}


def test_kdniao_311_differs_between_table_versions() -> None:
    old, new = kdniao.TABLES["k1"]["311"], kdniao.TABLES["k3"]["311"]
    assert (old.status, new.status) == (Status.DELIVERED, Status.DELIVERED)
    assert (old.label, new.label) == ("已取出快递柜或驿站", "快递柜或驿站签收")
    assert old.substatus != new.substatus
    assert kdniao.STATUS_CODES is kdniao.TABLES[kdniao.CURRENT]


def test_damage_codes_also_mark_the_parcel_damaged() -> None:
    damaged = [kdniao.STATUS_CODES["414"], aftership.STATUS_CODES["Exception_012"],
               track17.STATUS_CODES["Exception_Damage"]]
    assert [c.condition for c in damaged] == ["damaged"] * 3
