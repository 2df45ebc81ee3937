"""Benchmark: Kdniao pushes of one 10-trace parcel through ``handle()``, in pushes per second.

    .venv/bin/python -m parcelguard.ingest.carriers.bench [seconds]

Prints the rate of the whole adapter (form decoding, MD5 signature check, JSON decoding,
typed conversion, 10 local times, 10 status lookups, 10 derived ids, the reply) and, as a
baseline run in the same process, the rate of only decoding the same body (form + JSON), with
their ratio: the cost of everything the adapter adds on top of reading the bytes.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import msgspec

from parcelguard.ingest.carriers import common, kdniao

APP_KEY = "56da2cf8-c8a2-44b2-b6fa-476cd7d1ba17"
NOW = datetime(2026, 11, 20, 0, 20, tzinfo=UTC)
CODES = ["1", "206", "2", "204", "2", "204", "205", "201", "202", "301"]


def build(traces: int = 10, tracking_no: str = "SF1400000001", start: datetime | None = None,
          step: timedelta = timedelta(hours=7)) -> bytes:
    """A signed push of one parcel with ``traces`` traces, as Kdniao sends it: the first at
    ``start`` (Beijing time, as Kdniao writes it), one every ``step``."""
    start = start or datetime(2026, 11, 17, 9, 0)
    items = [{"AcceptTime": f"{start + step * i:%Y-%m-%d %H:%M:%S}",
              "AcceptStation": f"快件到达【第{i}中转场】，准备发往下一站", "Location": "上海市",
              "Action": CODES[i % len(CODES)]} for i in range(traces)]
    data = json.dumps({"EBusinessID": "1237100", "PushTime": "2026-11-20 08:19:58", "Count": "1", "Data": [
        {"ShipperCode": "SF", "LogisticCode": tracking_no, "Success": True, "State": "2", "StateEx": "202",
         "EstimatedDeliveryTime": "2026-11-20 18:00:00", "Traces": items}]}, ensure_ascii=False)
    return urlencode({"RequestData": data, "RequestType": "102",
                      "DataSign": kdniao.data_sign(data, APP_KEY)}).encode()


def rate(run: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``run`` over about ``seconds``."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for _ in range(200):
            run()
        done += 200
    return done / elapsed


def main(argv: list[str] | None = None) -> None:
    seconds = float((argv if argv is not None else sys.argv[1:] or ["3"])[0])
    body = build()
    push = kdniao.handle(body, {}, APP_KEY, now=NOW)
    if len(push.events) != 10 or push.unknown_codes:
        raise SystemExit("the benchmark push did not decode as expected")

    def baseline() -> object:
        return msgspec.json.decode(common.form(body, ())["RequestData"])

    base = rate(baseline, seconds)
    full = rate(lambda: kdniao.handle(body, {}, APP_KEY, now=NOW), seconds)
    print(f"kdniao push, 1 parcel x 10 traces, {len(body)} bytes")
    print(f"  handle():          {full:10,.0f} pushes/s  {full * 10:10,.0f} events/s")
    print(f"  decode only:       {base:10,.0f} pushes/s  (baseline, same process)")
    print(f"  handle / baseline: {full / base:10.2f}")


if __name__ == "__main__":
    main()
