"""Public lookup drill (issue 8, drill 6): guessing phone digits from many clients.

Fifty clients (told apart by ``X-Forwarded-For``, as behind the proxy) guess the last four
digits of the recipient's phone for a set of tracking numbers, some real and some made up, as
fast as the server answers. Whatever the order: at most five guesses are evaluated per
tracking number in 24 hours, an unknown number and a wrong guess get the same answer, and no
answer carries anything of the recipient. ``make test`` makes 1,000 guesses, ``make drills``
10,000.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter, defaultdict

import pytest

from tests.conftest import Server
from tests.factories import shipment_json
from tests.web.helpers import problem

FULL = os.environ.get("PARCELGUARD_DRILL") == "full"
GUESSES = 10_000 if FULL else 1_000
CLIENTS = 50
KNOWN = [f"SF15{i:08d}" for i in range(20)]
UNKNOWN = [f"SF16{i:08d}" for i in range(10)]
NAME = "欧阳娜娜"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_guessing_digits_from_many_clients_learns_nothing(server: Server) -> None:
    rng = random.Random(6)
    api = server.client()
    phones = {tn: f"139{rng.randrange(10 ** 8):08d}" for tn in KNOWN}
    for tn, phone in phones.items():
        body = shipment_json(tn) | {"recipient": {"name": NAME, "phone": phone,
                                                  "address": "上海市静安区南京西路1号"}}
        assert api.post("/v1/shipments", json=body).status_code == 201
    clients = [server.anonymous({"X-Forwarded-For": f"10.0.{k // 250}.{k % 250 + 1}"})
               for k in range(CLIENTS)]
    evaluated: Counter[str] = Counter()  # wrong guesses the server weighed, per number
    answers: dict[str, Counter[tuple[int, str]]] = defaultdict(Counter)
    statuses: Counter[int] = Counter()
    for k in range(GUESSES):
        tn = rng.choice(KNOWN + UNKNOWN)
        digits = f"{rng.randrange(10_000):04d}"
        if tn in phones and digits == phones[tn][-4:]:
            digits = f"{(int(digits) + 1) % 10_000:04d}"  # a guess, never the answer itself
        r = clients[k % CLIENTS].post("/t", data={"tracking_no": tn, "phone_last4": digits},
                                      follow_redirects=False)
        statuses[r.status_code] += 1
        assert r.status_code in (404, 423, 429), r.status_code
        assert NAME[0] not in r.text  # the recipient's surname, masked or not
        assert not any(p[-4:] in r.text and p[:3] + "****" in r.text for p in phones.values())
        assert re.search(r"1[3-9]\d{9}", r.text) is None  # no phone number at all
        if r.status_code == 404:
            evaluated[tn] += 1
        if r.status_code in (404, 423):
            said = re.sub(r"\d{2}-\d{2} \d{2}:\d{2}", "<until>", problem(r.text))
            answers["known" if tn in phones else "unknown"][(r.status_code, said)] += 1
    # the fifth wrong guess is weighed too, and locks: it answers 423 itself
    assert max(evaluated.values()) <= 4
    assert set(answers["known"]) == set(answers["unknown"])  # the same answers, whatever
    with server.system.store.unit_of_work(write=False) as uow:  # what the server counted
        weighed = {tn: f.failures for tn in KNOWN + UNKNOWN
                   if (f := uow.lookups.failures(tn)) is not None}
    assert max(weighed.values()) <= 5
    assert all(weighed[tn] == evaluated[tn] + 1 for tn in weighed if weighed[tn] == 5)
    print(f"\nlookup drill: {GUESSES:,} guesses from {CLIENTS} clients -> "
          f"{dict(sorted(statuses.items()))}; wrong guesses weighed per number at most "
          f"{max(evaluated.values()) + 1} (the fifth locks)")
