from __future__ import annotations

import pytest

from parcelguard.domain import privacy
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.shipment import Recipient


@pytest.mark.parametrize(("phone", "shown"), [
    ("13812345678", 3), ("+86 138-1234-5678", 3), ("021-6234 5678", 3), ("88881234", 2),
    ("8881234", 1), ("123456789", 3),
])
def test_masked_phones_hide_at_least_six_digits_and_never_the_lookup_digits(
    phone: str, shown: int,
) -> None:
    masked = privacy.mask_phone(phone)
    digits = privacy.digits(phone)
    assert masked == digits[:shown] + "*" * (len(digits) - shown)
    assert masked.count("*") >= 6
    assert not masked.endswith(digits[-4:])


@pytest.mark.parametrize(("name", "masked"), [("张三", "张*"), ("欧阳娜娜", "欧***"), ("A", "A*")])
def test_names_keep_only_their_first_character(name: str, masked: str) -> None:
    assert privacy.mask_name(name) == masked


def test_addresses_keep_the_city_and_hide_the_street() -> None:
    assert privacy.mask_address("北京市朝阳区建国路88号") == "北京市****"
    r = privacy.mask(Recipient("张三", "13812345678", "北京市朝阳区建国路88号"))
    assert "88" not in r.address
    assert "5678" not in r.phone
    assert "三" not in r.name


@pytest.mark.parametrize("phone", ["12", "phone", "1" * 16])
def test_implausible_phone_numbers_are_rejected(phone: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        privacy.check_phone(phone)
    assert exc.value.field == "recipient.phone"
