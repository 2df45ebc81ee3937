"""Fuzzing every handle(): whatever arrives, only the documented errors come out.

Random bytes, random JSON, random form fields and mutated golden payloads are sent, signed
correctly where that lets parsing be reached. ``handle`` must return a well-formed Push or
raise ``Unauthorized`` or ``InvalidInput`` (``Unparsable`` is one); a KeyError, TypeError,
ValueError or anything else escaping is a failure, and so is a malformed event.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parcelguard.domain.errors import InvalidInput, Unauthorized
from parcelguard.domain.shipment import CODE
from parcelguard.domain.status import Status
from parcelguard.ingest.carriers import FORMATS, common
from parcelguard.ingest.carriers.common import Push
from tests.unit.carriers.helpers import DATA, FORM_FIELD, light_form, load_case, signed

NOW = datetime(2026, 11, 20, 0, 20, tzinfo=UTC)
FMTS = sorted(FORMATS)
DOCUMENTED = (Unauthorized, InvalidInput)
fuzz = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INTERESTING = st.sampled_from([
    "", " ", "0", "3", "202", "999", "InTransit_001", "Teleported_001", "polling", "abort",
    "TRACKING_UPDATED",
    "2026-11-20 08:15:00", "2026-11-20T08:15:00+08:00", "2026-02-30 25:61:00", "9999-12-31 23:59:59",
    "0001-01-01T00:00:00+14:00", "2026-11-20T08:15:00+99:99", "2026-11-20", "SF1400000001", "sf", "S F!",
    "x" * 300, "１２３", "\u0000", "\ud800",
])
LEAF = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
        | st.text(max_size=20) | INTERESTING)
JSON_VALUES = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)


def secret(fmt: str) -> str:
    return load_case(DATA / fmt / "happy.http").secret


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=True)  # ASCII: a lone surrogate travels as the escape \ud800


def check(fmt: str, body: bytes, headers: dict[str, str]) -> None:
    """``handle`` returns a sound Push or raises a documented error; nothing else."""
    try:
        push = FORMATS[fmt].handle(body, headers, secret(fmt), now=NOW)
    except DOCUMENTED:
        return
    assert isinstance(push, Push)
    assert push.format == fmt
    for e in push.events:
        assert e.occurred_at.utcoffset() is not None
        assert isinstance(e.status, Status)
        assert e.source == fmt
        assert 0 < len(e.event_id) <= 100
        assert CODE.fullmatch(e.carrier)
        assert e.carrier_code is None or len(e.carrier_code) <= 40


@pytest.mark.parametrize("fmt", FMTS)
@fuzz
@given(body=st.binary(max_size=400), headers=st.dictionaries(st.text(max_size=30), st.text(max_size=60)))
def test_random_bytes_raise_only_documented_errors(fmt: str, body: bytes, headers: dict[str, str]) -> None:
    check(fmt, body, headers)


@pytest.mark.parametrize("fmt", FMTS)
@fuzz
@given(payload=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_random_bytes_signed_correctly_raise_only_documented_errors(fmt: str, payload: bytes) -> None:
    text = payload.decode("utf-8", "replace")
    check(fmt, *signed(fmt, text if fmt in FORM_FIELD else payload, secret(fmt), NOW))


@pytest.mark.parametrize("fmt", FMTS)
@fuzz
@given(value=JSON_VALUES)
def test_random_json_signed_correctly_raises_only_documented_errors(fmt: str, value: Any) -> None:
    check(fmt, *signed(fmt, dumps(value), secret(fmt), NOW))


@pytest.mark.parametrize("fmt", FMTS)
@fuzz
@given(fields=st.dictionaries(st.text(max_size=12) | st.sampled_from(["RequestData", "RequestType", "param"]),
                              st.text(max_size=40) | INTERESTING.filter(str.isascii), max_size=5),
       sign=st.booleans())
def test_random_form_fields_raise_only_documented_errors(
    fmt: str, fields: dict[str, str], sign: bool,
) -> None:
    if sign and fmt in FORM_FIELD and FORM_FIELD[fmt][0] in fields:
        data, sig = FORM_FIELD[fmt]
        body, _ = signed(fmt, fields[data], secret(fmt), NOW)
        fields[sig] = dict(common.form(body, ()))[sig]
    check(fmt, light_form(fields), {"Content-Type": "application/x-www-form-urlencoded"})


# ---- mutations of the documented payloads ----


def happy_payload(fmt: str) -> Any:
    case = load_case(DATA / fmt / "happy.http")
    if fmt in FORM_FIELD:
        return json.loads(dict(common.form(case.body, ()))[FORM_FIELD[fmt][0]])
    return json.loads(case.body)


def _slots(node: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key) under ``node``: the places a mutation can hit."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield node, key
        yield from _slots(child)


@st.composite
def mutated(draw: st.DrawFn, doc: Any) -> Any:
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        slots = list(_slots(doc))
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "interesting", "delete", "duplicate"]))
        if action == "delete":
            del container[key]
        elif action == "duplicate" and isinstance(container, list):
            container.append(copy.deepcopy(container[key]))
        else:
            container[key] = draw(JSON_VALUES if action == "replace" else INTERESTING)
    return doc


@pytest.mark.parametrize("fmt", FMTS)
@fuzz
@given(data=st.data())
def test_mutated_documented_payloads_signed_correctly_raise_only_documented_errors(
    fmt: str, data: st.DataObject,
) -> None:
    doc = data.draw(mutated(happy_payload(fmt)))
    check(fmt, *signed(fmt, dumps(doc), secret(fmt), NOW))


def test_the_fuzzer_reaches_parsing_and_events() -> None:
    """The signing in these tests is right: the unmutated payloads give events."""
    for fmt in FMTS:
        body, headers = signed(fmt, dumps(happy_payload(fmt)), secret(fmt), NOW)
        assert FORMATS[fmt].handle(body, headers, secret(fmt), now=NOW).events, fmt
