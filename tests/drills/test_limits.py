"""Limits drill (issue 8, drill 9; OWASP API4): what is over a limit is refused with a clear
answer, a body trickled in too slowly is cut off, and the server keeps answering its health
check while it is loaded well past its own throughput.

The load: 16 senders posting batches of 200 scans as fast as they are answered (more than the
single writer can commit, so requests queue), for a few seconds; meanwhile a client polls
``/healthz`` and a slow client trickles a body. No figure is asserted on time (that is the
benchmarks' job); what must hold is that every health check is answered 200 and nothing is a
500.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from parcelguard import bootstrap
from parcelguard.domain.tenancy import Role
from parcelguard.services.clock import ManualClock
from tests.conftest import Server, serving, settings_for
from tests.factories import event_json, shipment_json

FULL = os.environ.get("PARCELGUARD_DRILL") == "full"
LOAD_S = 20.0 if FULL else 4.0
SENDERS = 16


def _trickle(url: str, key: str, seconds_between: float, chunks: int) -> tuple[int, bytes]:
    """Send headers promising a body, then a byte every ``seconds_between``."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Bearer " + key.encode() + b"\r\n"
                  b"Content-Length: 1000\r\n\r\n[")
        answer = b""
        s.settimeout(seconds_between)
        for _ in range(chunks):
            try:
                answer += s.recv(4096)
                if answer:
                    break
            except TimeoutError:
                try:
                    s.sendall(b" ")
                except OSError:
                    break
        s.settimeout(10)
        while b"\r\n\r\n" not in answer:
            more = s.recv(4096)
            if not more:
                break
            answer += more
    status = int(answer.split(b" ", 2)[1]) if answer else 0
    return status, answer


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_limits_hold_and_health_answers_under_load(db_url: str, tmp_path: Path,
                                                   clock: ManualClock) -> None:
    system = bootstrap.build(settings_for(db_url, tmp_path, body_timeout_s=2.0), clock=clock)
    system.start()
    try:
        with serving(system) as server:
            _drill(server)
    finally:
        system.stop()


def _drill(server: Server) -> None:
    api = server.client(Role.MERCHANT)
    # over a limit: refused, saying which
    big = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    r = api.post("/v1/events", content=big, headers={"Content-Type": "application/json"})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "too_large")
    r = api.post("/v1/events", json=[event_json("SF1", 1)] * 1001)
    assert r.status_code in (413, 422), r.text
    for path in ("/v1/shipments?limit=100000", "/v1/alerts?limit=100000",
                 "/v1/claims?limit=100000", "/v1/devices?limit=100000"):
        assert api.get(path).status_code == 422, path
    # a body trickled in: cut off with 408, while the server answers everyone else
    trickled: list[tuple[int, bytes]] = []
    key = server.keys.acme[Role.MERCHANT]
    slow = threading.Thread(target=lambda: trickled.append(_trickle(server.url, key, 0.5, 40)))
    slow.start()

    numbers = [f"SF20{i:08d}" for i in range(200)]
    assert api.post("/v1/shipments", json=[shipment_json(tn) for tn in numbers]
                    ).json()["accepted"] == 200
    stop = time.monotonic() + LOAD_S
    answers: Counter[int] = Counter()
    lock = threading.Lock()

    def sender(k: int) -> None:
        with httpx.Client(base_url=server.url, timeout=60, headers={
                "Authorization": f"Bearer {server.keys.acme[Role.MERCHANT]}"}) as c:
            n = 0
            while time.monotonic() < stop:
                batch = [event_json(numbers[(k * 7 + i) % 200], (n % 50) / 10,
                                    event_id=f"s{k}-{n}-{i}") for i in range(200)]
                status = c.post("/v1/events", json=batch).status_code
                with lock:
                    answers[status] += 1
                n += 1

    threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
    for t in threads:
        t.start()
    health: Counter[int] = Counter()
    with httpx.Client(base_url=server.url, timeout=30) as probe:
        while time.monotonic() < stop:
            health[probe.get("/healthz").status_code] += 1
            time.sleep(0.05)
    for t in threads:
        t.join()
    slow.join()
    assert set(health) == {200}, health
    assert set(answers) == {200}, answers
    ((status, head),) = trickled
    assert status == 408, head[:200]
    assert b'"code":"timeout"' in head or b"timeout" in head
    print(f"\nlimits drill: {sum(answers.values())} batches of 200 from {SENDERS} senders in "
          f"{LOAD_S:g} s -> {dict(answers)}; health checks {dict(health)}; a trickled body "
          f"-> {status}")
