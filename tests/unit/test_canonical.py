"""Our RFC 8785 encoders against the reference implementation (the rfc8785 package)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from parcelguard.crypto import canonical as fast
from parcelguard.domain.ledger import canonical
from parcelguard.domain.ledger.canonical import NotCanonicalizable, Num, jnum

finite = st.floats(allow_nan=False, allow_infinity=False)
safe_int = st.integers(-(2**53) + 1, 2**53 - 1)
scalars = st.none() | st.booleans() | safe_int | finite | st.text()
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


def jnum_all(value: Any) -> Any:
    """What ledger entry builders do: every float through jnum."""
    if isinstance(value, float):
        return jnum(value)
    if isinstance(value, dict):
        return {k: jnum_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jnum_all(v) for v in value]
    return value


@given(json_values)
def test_reference_encoder_matches_rfc8785(value: Any) -> None:
    assert canonical.dumps(value) == rfc8785.dumps(value)


bmp_keys = st.text(alphabet=st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",)))
bmp_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(bmp_keys, inner, max_size=5),
    max_leaves=30,
)


@given(bmp_values)
def test_fast_encoder_matches_rfc8785_on_values_built_with_jnum(value: Any) -> None:
    """Keys are compared by code point, which equals UTF-16 order inside the BMP; ledger
    entries only have ASCII keys."""
    assert fast.encode(jnum_all(value)) == rfc8785.dumps(value)


@given(finite)
def test_jnum_keeps_the_number(x: float) -> None:
    n = jnum(x)
    as_float = float(n.text) if isinstance(n, Num) else float(n)  # type: ignore[arg-type]
    assert as_float == x or (x == 0 and as_float == 0)


@pytest.mark.parametrize(("x", "text"), [
    (1.0, "1"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (1e-7, "1e-7"),
    (1.5e-6, "0.0000015"), (31.23, "31.23"), (-0.0, "0"), (5e-324, "5e-324"),
])
def test_numbers_are_written_as_ecmascript_does(x: float, text: str) -> None:
    assert canonical.number(x) == text
    assert fast.encode(jnum(x)).decode() == text


def test_non_json_values_are_refused() -> None:
    for bad in (math.nan, 2**60, b"bytes", {1: "x"}):
        with pytest.raises(NotCanonicalizable):
            canonical.dumps(bad)


def test_keys_sort_by_utf16_code_units() -> None:
    value = {"\U0001f600": 1, "\uffff": 2, "a": 3}
    assert canonical.dumps(value) == rfc8785.dumps(value)
    assert canonical.dumps(value).startswith(b'{"a":3,"\xf0\x9f\x98\x80"')
