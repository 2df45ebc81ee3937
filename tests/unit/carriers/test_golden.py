"""Golden files: every raw push under tests/data/carriers gives exactly its expected result.

To change an expected file on purpose, run with PARCELGUARD_REGENERATE_GOLDEN=1: the files are
rewritten and every rewritten case FAILS with a note, so a regeneration never passes silently.
Review the diff, then run again without the variable.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from parcelguard.domain.errors import InvalidInput, ParcelGuardError, Unauthorized
from parcelguard.ingest.carriers import FORMATS
from tests.unit.carriers.helpers import DATA, Case, cases, load_case, render, render_error

REGENERATE = os.environ.get("PARCELGUARD_REGENERATE_GOLDEN") == "1"
EVERY_FORMAT_HAS = ("happy", "error", "unknown_code", "bad_signature", "missing_signature", "replay")


def outcome(case: Case) -> dict[str, Any]:
    try:
        push = FORMATS[case.fmt].handle(case.body, case.headers, case.secret, now=case.now, zone=case.zone)
    except ParcelGuardError as exc:
        return render_error(exc)
    return render(push)


@pytest.mark.parametrize("path", cases(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_push_gives_its_expected_result(path: Path) -> None:
    case = load_case(path)
    got = outcome(case)
    if REGENERATE:
        case.expected_path.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n")
        pytest.fail(f"rewrote {case.expected_path.name}: review the diff, then rerun without "
                    "PARCELGUARD_REGENERATE_GOLDEN")
    if not case.expected_path.exists():
        pytest.fail(f"no {case.expected_path.name}: write it on purpose with PARCELGUARD_REGENERATE_GOLDEN=1")
    assert got == json.loads(case.expected_path.read_text())


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_has_the_standard_cases(fmt: str) -> None:
    present = {p.stem for p in (DATA / fmt).glob("*.http")}
    assert set(EVERY_FORMAT_HAS) <= present


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_replayed_push_gives_the_same_event_ids(fmt: str) -> None:
    first, again = (outcome(load_case(DATA / fmt / f"{name}.http")) for name in ("happy", "replay"))
    assert first["events"], "the happy case must have events to compare"
    assert [e["event_id"] for e in again["events"]] == [e["event_id"] for e in first["events"]]
    assert again["events"] == first["events"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", ["bad_signature", "missing_signature"])
def test_an_unsigned_or_missigned_push_is_refused(fmt: str, name: str) -> None:
    case = load_case(DATA / fmt / f"{name}.http")
    with pytest.raises(Unauthorized):
        FORMATS[fmt].handle(case.body, case.headers, case.secret, now=case.now, zone=case.zone)


@pytest.mark.parametrize("fmt", sorted(set(FORMATS) - {"generic"}))
def test_an_unknown_code_is_kept_raw_as_unknown_and_counted(fmt: str) -> None:
    got = outcome(load_case(DATA / fmt / "unknown_code.http"))
    assert got["unknown_codes"] >= 1
    raw_codes = {e["carrier_code"] for e in got["events"]}
    assert {"999", "9999", "Teleported_001", "Warp"} & raw_codes
    assert any(e["status"] == "unknown" for e in got["events"])


def test_our_own_format_refuses_a_status_it_does_not_define() -> None:
    case = load_case(DATA / "generic" / "unknown_code.http")
    with pytest.raises(InvalidInput, match="status: expected one of"):
        FORMATS["generic"].handle(case.body, case.headers, case.secret, now=case.now)
