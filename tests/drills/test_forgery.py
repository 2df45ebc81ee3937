"""Forgery drill (issue 8, drill 4): forged and mutated carrier pushes across every format.

From each format's genuine golden push, requests are forged the ways an attacker would: signed
with a wrong key, one byte of the body flipped, one character of the signature changed, the
signature left out, and (where the scheme has one) a correctly signed but stale timestamp. None
may be accepted: each is refused (401, or 400 for a body that cannot even be read), and none
brings an event the genuine push did not. A flip that leaves the signed content as it was (a
percent-escape spelled in other case, say) is the genuine push again: it is counted apart, as a
replay, and must bring nothing new.

``make test`` runs 2,000 forgeries through the adapters and 300 over HTTP; ``make drills`` runs
10,000 of each (PARCELGUARD_DRILL=full).
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from parcelguard.domain.errors import InvalidInput, Unauthorized
from parcelguard.ingest.carriers import FORMATS, common, generic
from parcelguard.services.clock import ManualClock
from parcelguard.storage import tables
from tests.conftest import Server
from tests.factories import shipment_json
from tests.integration.test_carrier_hooks import expected, send
from tests.unit.carriers.helpers import DATA, FORM_FIELD, Case, load_case, signed


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 1, tzinfo=UTC))  # before every golden case's clock


FULL = os.environ.get("PARCELGUARD_DRILL") == "full"
ADAPTER_FORGERIES = 10_000 if FULL else 2_000
HTTP_FORGERIES = 10_000 if FULL else 300
FMTS = sorted(FORMATS)
SIGNATURE = {"aftership": "aftership-hmac-sha256", "track17": "sign",
             "generic": "webhook-signature"}
WAYS = ("wrong_key", "flipped_body", "flipped_signature", "missing_signature", "stale")


def genuine(fmt: str) -> Case:
    return load_case(DATA / fmt / "happy.http")


def _signature_field(body: bytes, fmt: str) -> tuple[int, int]:
    """Where the form's signature value sits in the body (start, end)."""
    name = FORM_FIELD[fmt][1].encode() + b"="
    start = body.index(name) + len(name)
    end = body.find(b"&", start)
    return start, len(body) if end < 0 else end


def forge(case: Case, way: str, rng: random.Random) -> tuple[bytes, dict[str, str]]:
    body, headers = bytearray(case.body), dict(case.headers)
    fmt = case.fmt
    if way == "wrong_key":
        payload = _payload(case)
        other = "whsec_" + "A" * 32 if fmt == "generic" else f"not-{case.secret}"
        forged, forged_headers = signed(fmt, payload, other, case.now)
        return forged, forged_headers
    if way == "flipped_body":
        i = rng.randrange(len(body))
        body[i] ^= 1 << rng.randrange(8)
        return bytes(body), headers
    if way == "flipped_signature":
        # a character of the first half changed to one that differs in any case: hex digests
        # are compared without regard to case, and base64's last character may carry padding
        # bits, so those spellings are the same signature, not another one
        if fmt in FORM_FIELD:
            start, end = _signature_field(case.body, fmt)
            i = rng.randrange(start, start + (end - start) // 2)
            body[i] = _other(body[i], rng)
            return bytes(body), headers
        name = next(k for k in headers if k.lower() == SIGNATURE[fmt])
        value = bytearray(headers[name].encode())
        start = value.find(b",") + 1  # generic: "v1,<base64>"
        j = rng.randrange(start, start + (len(value) - start) // 2)
        value[j] = _other(value[j], rng)
        headers[name] = value.decode()
        return bytes(body), headers
    if way == "missing_signature":
        if fmt in FORM_FIELD:
            start, end = _signature_field(case.body, fmt)
            return bytes(body[:start] + body[end:]), headers
        return bytes(body), {k: v for k, v in headers.items() if k.lower() != SIGNATURE[fmt]}
    # stale: correctly signed, but the timestamp is old (the generic scheme's)
    stamp = str(int((case.now - timedelta(minutes=rng.randint(6, 600))).timestamp()))
    msg_id = headers["webhook-id"]
    return bytes(body), headers | {"webhook-timestamp": stamp, "webhook-signature":
                                   generic.signature(msg_id, stamp, bytes(body), case.secret)}


def _other(byte: int, rng: random.Random) -> int:
    return ord(rng.choice([c for c in "ABCDEFGHXYZ0123456789+/" if c.lower() != chr(byte).lower()]))


def _payload(case: Case) -> bytes:
    """The signed payload inside a genuine push (the form's data field, or the JSON body)."""
    if case.fmt not in FORM_FIELD:
        return case.body
    return common.form(case.body, ())[FORM_FIELD[case.fmt][0]].encode()


def forgeries(n: int, seed: int = 8) -> Iterator[tuple[Case, str, bytes, dict[str, str]]]:
    rng = random.Random(seed)
    cases = {fmt: genuine(fmt) for fmt in FMTS}
    for k in range(n):
        case = cases[FMTS[k % len(FMTS)]]
        way = WAYS[(k // len(FMTS)) % len(WAYS)]
        if way == "stale" and case.fmt != "generic":  # no timestamp: a flipped bit instead
            way = "flipped_body"
        body, headers = forge(case, way, rng)
        yield case, way, body, headers


def _events(push: Any) -> set[tuple[str, str]]:
    return {(e.tracking_no, e.event_id) for e in push.events}


def test_no_forged_push_gets_through_an_adapter() -> None:
    outcome: Counter[tuple[str, str]] = Counter()
    known = {fmt: _events(FORMATS[fmt].handle(genuine(fmt).body, genuine(fmt).headers,
                                              genuine(fmt).secret, now=genuine(fmt).now,
                                              zone=genuine(fmt).zone)) for fmt in FMTS}
    for case, way, body, headers in forgeries(ADAPTER_FORGERIES):
        try:
            push = FORMATS[case.fmt].handle(body, headers, case.secret, now=case.now,
                                            zone=case.zone)
        except Unauthorized:
            outcome[(way, "refused")] += 1
            continue
        except InvalidInput:
            outcome[(way, "unreadable")] += 1
            continue
        # through: only as the genuine push again (the flip left the signed content as it was)
        assert _events(push) <= known[case.fmt], (case.fmt, way)
        outcome[(way, "replay")] += 1
    accepted_forgeries = sum(n for (way, result), n in outcome.items()
                             if result == "replay" and way != "flipped_body")
    assert accepted_forgeries == 0, outcome
    assert sum(outcome.values()) == ADAPTER_FORGERIES
    print("\nforgery drill (adapters):", dict(sorted(outcome.items())))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_forged_push_writes_anything_over_http(server: Server, clock: ManualClock) -> None:
    admin = server.client()
    paths = {}
    for fmt in FMTS:
        case = genuine(fmt)
        r = admin.post("/v1/carrier-endpoints", json={"format": fmt, "secret": case.secret,
                                                      "zone": str(case.zone)})
        assert r.status_code == 201, r.text
        paths[fmt] = r.json()["path"]
    anonymous = server.anonymous()
    forged = list(forgeries(HTTP_FORGERIES, seed=44))
    answers: Counter[tuple[str, int]] = Counter()
    written: dict[str, int] = {}
    # generic first: its timestamps are checked against the server's clock, which the other
    # formats' genuine pushes move on (to their scans' times)
    for fmt in sorted(FMTS, key=lambda f: f != "generic"):
        case = genuine(fmt)  # the genuine push first: what a forgery could at most repeat
        for tn, carrier in sorted({(e["tracking_no"], e["carrier"])
                                   for e in expected(case)["events"]}):
            admin.post("/v1/shipments", json=shipment_json(tn, carrier=carrier))
        assert send(server, paths[fmt], case, clock).status_code == 200
        before = _counts(server)
        for forged_case, way, body, headers in forged:
            if forged_case.fmt != fmt:
                continue
            r = anonymous.post(paths[fmt], content=body, headers=headers)
            answers[(way, r.status_code)] += 1
            assert r.status_code != 500
        after = _counts(server)
        for table in ("events", "ledger_entries", "readings"):
            assert after[table] == before[table], (fmt, table, answers)
        for table, n in after.items():
            written[table] = written.get(table, 0) + n - before[table]
    assert answers[("wrong_key", 200)] == answers[("missing_signature", 200)] == 0
    assert answers[("stale", 200)] == 0
    assert sum(answers.values()) == HTTP_FORGERIES
    assert written == dict.fromkeys(written, 0)  # nothing kept, not even as
    # a rejected payload: what could not be read before its signature is anyone's
    print("\nforgery drill (HTTP):", dict(sorted(answers.items())),
          "rows written by forgeries:", written)


def _counts(server: Server) -> dict[str, int]:
    engine = sa.create_engine(server.system.settings.db_url)
    try:
        with engine.connect() as conn:
            return {t.name: int(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
                    for t in (tables.events, tables.ledger_entries, tables.readings,
                              tables.rejected_payloads)}
    finally:
        engine.dispose()
