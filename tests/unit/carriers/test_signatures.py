"""Signature schemes: the published test vectors pass; a flipped byte or a wrong key fails closed."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from parcelguard.domain.errors import Unauthorized, Unparsable
from parcelguard.ingest.carriers import FORMATS, generic, kdniao, kuaidi100
from tests.unit.carriers.helpers import FORM_TYPE, SECRETS, full_form, light_form, signed

NOW = datetime(2026, 11, 20, 0, 20, tzinfo=UTC)
MINIMAL = {
    "kdniao": '{"EBusinessID":"1","Data":[]}',
    "kuaidi100": '{"status":"polling","lastResult":{"nu":"SF1400000001","data":[]}}',
    "aftership": '{"event":"tracking_update","msg":{"tracking_number":"SF1400000001","slug":"sf"}}',
    "track17": '{"event":"TRACKING_STOPPED","data":{"number":"SF1400000001"}}',
    "generic": '{"tracking_no":"SF1400000001","carrier":"sf","occurred_at":"2026-11-20T08:15:00+08:00",'
               '"status":"in_transit"}',
}

# ---- the published vectors (CARRIERS.md "Published test vectors") ----


def test_kdniao_data_sign_matches_the_published_vector() -> None:
    request_data = "{'OrderCode':'','ShipperCode':'SF','LogisticCode':'118954907573'}"
    assert kdniao.data_sign(request_data, "56da2cf8-c8a2-44b2-b6fa-476cd7d1ba17") == \
        "OWFhM2I5N2ViM2U2MGRkMjc4YzU2NmVlZWI3ZDk0MmE="


def test_kdniao_signs_the_hex_string_not_the_raw_digest_as_cainiao_does() -> None:
    request_data, key = "{}", "k"
    raw_digest = base64.b64encode(hashlib.md5(b"{}k").digest()).decode()
    assert kdniao.data_sign(request_data, key) != raw_digest


def test_standard_webhooks_signature_matches_the_published_vector() -> None:
    got = generic.signature("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}',
                            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_hmac_primitive_matches_githubs_published_vector() -> None:
    mac = hmac.new(b"It's a Secret to Everybody", b"Hello, World!", hashlib.sha256).hexdigest()
    assert mac == "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_standard_webhooks_vector_is_accepted_by_handle_within_five_minutes() -> None:
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    at = datetime.fromtimestamp(1614265330 + 299, UTC)
    assert generic.verify(b'{"test": 2432232314}', headers, SECRETS["generic"], at) == headers["webhook-id"]
    with pytest.raises(Unauthorized, match="more than 5 minutes"):
        generic.verify(b'{"test": 2432232314}', headers, SECRETS["generic"], at + timedelta(seconds=2))


# ---- every format: accepted as signed, refused when anything is off ----


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_correctly_signed_push_is_accepted(fmt: str) -> None:
    body, headers = signed(fmt, MINIMAL[fmt], SECRETS[fmt], NOW)
    push = FORMATS[fmt].handle(body, headers, SECRETS[fmt], now=NOW)
    assert push.format == fmt


def _flip(body: bytes, fmt: str) -> bytes:
    """One byte of the signed content changed (inside the JSON, not the form syntax)."""
    at = body.index(b"SF1400000001" if fmt != "kdniao" else b"EBusinessID") + 2
    return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1:]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_flipped_byte_is_refused(fmt: str) -> None:
    body, headers = signed(fmt, MINIMAL[fmt], SECRETS[fmt], NOW)
    with pytest.raises(Unauthorized, match="does not match"):
        FORMATS[fmt].handle(_flip(body, fmt), headers, SECRETS[fmt], now=NOW)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_push_signed_with_another_key_is_refused(fmt: str) -> None:
    other = "whsec_" + base64.b64encode(b"another key entirely").decode() if fmt == "generic" else "another"
    body, headers = signed(fmt, MINIMAL[fmt], other, NOW)
    with pytest.raises(Unauthorized, match="does not match"):
        FORMATS[fmt].handle(body, headers, SECRETS[fmt], now=NOW)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_without_a_configured_secret_nothing_is_accepted(fmt: str) -> None:
    body, headers = signed(fmt, MINIMAL[fmt], SECRETS[fmt], NOW)
    with pytest.raises(Unauthorized, match=r"no .* secret is configured"):
        FORMATS[fmt].handle(body, headers, "", now=NOW)


@pytest.mark.parametrize("fmt", ["aftership", "track17", "generic"])
def test_an_empty_signature_header_counts_as_missing(fmt: str) -> None:
    body, headers = signed(fmt, MINIMAL[fmt], SECRETS[fmt], NOW)
    name = {"aftership": "aftership-hmac-sha256", "track17": "sign", "generic": "webhook-signature"}[fmt]
    with pytest.raises(Unauthorized, match="missing"):
        FORMATS[fmt].handle(body, {**headers, name: ""}, SECRETS[fmt], now=NOW)


@pytest.mark.parametrize("fmt", ["aftership", "track17", "generic"])
def test_signature_headers_are_found_whatever_their_case(fmt: str) -> None:
    body, headers = signed(fmt, MINIMAL[fmt], SECRETS[fmt], NOW)
    shouted = {k.upper(): v for k, v in headers.items()}
    assert FORMATS[fmt].handle(body, shouted, SECRETS[fmt], now=NOW).format == fmt


def test_kdniao_accepts_a_data_sign_url_encoded_twice() -> None:
    data = MINIMAL["kdniao"]
    sign = kdniao.data_sign(data, SECRETS["kdniao"])
    assert "=" in sign  # so that encoding changes it
    twice = quote(quote(sign, safe=""), safe="")
    body = full_form({"RequestData": data, "RequestType": "101"}) + f"&DataSign={twice}".encode()
    assert kdniao.handle(body, {}, SECRETS["kdniao"], now=NOW).events == []


def test_kuaidi100_accepts_the_sign_in_lowercase_too() -> None:
    param = MINIMAL["kuaidi100"]
    body = light_form({"param": param, "sign": kuaidi100.sign(param, SECRETS["kuaidi100"]).lower()})
    assert kuaidi100.handle(body, {"Content-Type": FORM_TYPE}, SECRETS["kuaidi100"], now=NOW).events == []


def test_a_signed_form_field_sent_twice_is_refused() -> None:
    body, headers = signed("kdniao", MINIMAL["kdniao"], SECRETS["kdniao"], NOW)
    with pytest.raises(Unparsable, match="sent twice"):
        kdniao.handle(body + b"&RequestData=%7B%7D", headers, SECRETS["kdniao"], now=NOW)


def test_standard_webhooks_accepts_any_matching_entry_among_several() -> None:
    body, headers = signed("generic", MINIMAL["generic"], SECRETS["generic"], NOW)
    others = "v1,bm90IHRoaXMgb25l v1a,c29tZXRoaW5nIGVsc2U="
    headers["webhook-signature"] = f"{others} {headers['webhook-signature']}"
    assert len(generic.handle(body, headers, SECRETS["generic"], now=NOW).events) == 1


@pytest.mark.parametrize("stamp", ["", "soon", "1.5e9", "-1614265330", "١٦١٤٢٦٥٣٣٠"])
def test_standard_webhooks_refuses_a_timestamp_that_is_not_unix_seconds(stamp: str) -> None:
    body, headers = signed("generic", MINIMAL["generic"], SECRETS["generic"], NOW)
    with pytest.raises(Unauthorized, match="webhook-timestamp"):
        generic.handle(body, {**headers, "webhook-timestamp": stamp}, SECRETS["generic"], now=NOW)


def test_standard_webhooks_refuses_a_secret_that_is_not_base64() -> None:
    body, headers = signed("generic", MINIMAL["generic"], SECRETS["generic"], NOW)
    with pytest.raises(Unauthorized, match="not whsec_<base64>"):
        generic.handle(body, headers, "whsec_not base64!", now=NOW)
