"""``parcelguard evaluate``: replay labelled simulator data and score the alerts against the labels.

For every alert kind it counts true positives (a labelled shipment expected that kind and got
it), false positives (an alert the labels did not expect; kinds a label lists in
``may_also_raise`` as a knock-on effect are neither counted for nor against), and misses. It
reports precision and recall per kind, the detection delay (first alert minus the start of the
labelled harm) and, for ``delay_risk``, the lead time before the promised time. Every shipment
labelled to end late (``delivery_late`` expected) is expected to get ``delay_risk`` first.
"""

from __future__ import annotations

import base64
import json
import os
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from parcelguard import bootstrap
from parcelguard.config import Settings
from parcelguard.domain import times
from parcelguard.ingest.replay import Replay
from parcelguard.services.clock import ManualClock

TENANT = "eval"


@dataclass
class Score:
    kind: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    delays_h: list[float] = field(default_factory=list)  # first alert - harm start, hours
    leads_h: list[float] = field(default_factory=list)  # promise - first alert (delay_risk)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    def row(self) -> dict[str, Any]:
        def med(xs: list[float]) -> float | None:
            return round(statistics.median(xs), 2) if xs else None

        return {"kind": self.kind, "tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": _r(self.precision), "recall": _r(self.recall),
                "median_delay_h": med(self.delays_h), "median_lead_h": med(self.leads_h)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def replay_alerts(events: Path) -> list[dict[str, Any]]:
    key = base64.b64encode(os.urandom(32)).decode()
    clock = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))
    system = bootstrap.build(Settings(database_url="memory://", ledger_key=key, data_key=key),
                             clock=clock)
    system.ingestor.start()
    with system.store.unit_of_work() as uow:
        uow.tenants.add(TENANT, TENANT, 0)
        uow.commit()
    run = Replay(system.ingestor, clock, TENANT, system.encode)
    with events.open("rb") as f:
        run.feed(f)
    return run.alert_lines()


def score(alerts: list[dict[str, Any]], labels: list[dict[str, Any]],
          promises: dict[str, int]) -> list[Score]:
    first: dict[tuple[str, str], int] = {}
    for a in alerts:
        if a["state"] == "open":
            k = (a["tracking_no"], a["kind"])
            at = times.to_us(times.parse(a["at"], "at"))
            first[k] = min(first.get(k, at), at)
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    tolerated: set[tuple[str, str]] = set()
    for label in labels:
        kinds = list(label["expected_alerts"])
        if "delivery_late" in kinds:
            kinds.append("delay_risk")  # a shipment that ends late should have been predicted to
        for kind in kinds:
            expected[(label["tracking_no"], kind)] = label
        for kind in label.get("details", {}).get("may_also_raise", []):
            tolerated.add((label["tracking_no"], kind))
    scores: dict[str, Score] = {}
    for (tn, kind), at in first.items():
        s = scores.setdefault(kind, Score(kind))
        hit = expected.get((tn, kind))
        if hit is not None:
            s.tp += 1
            s.delays_h.append((at - times.to_us(times.parse(hit["start"], "start"))) / 3.6e9)
        elif (tn, kind) not in tolerated:
            s.fp += 1
        if kind == "delay_risk" and tn in promises:
            s.leads_h.append((promises[tn] - at) / 3.6e9)
    for (tn, kind) in expected:
        if (tn, kind) not in first:
            scores.setdefault(kind, Score(kind)).fn += 1
    return sorted(scores.values(), key=lambda s: s.kind)


def late_promises(events: Path, labels: list[dict[str, Any]]) -> dict[str, int]:
    """The promised time of every shipment labelled as ending late."""
    late = {label["tracking_no"] for label in labels if "delivery_late" in label["expected_alerts"]}
    out: dict[str, int] = {}
    with events.open(encoding="utf-8") as f:
        for line in f:
            if '"type":"shipment"' not in line:
                continue
            d = json.loads(line)
            if d["tracking_no"] in late and d.get("promised_by"):
                out[d["tracking_no"]] = times.to_us(times.parse(d["promised_by"], "promised_by"))
    return out


def evaluate(folder: Path) -> list[Score]:
    events, labels_path = folder / "events.ndjson", folder / "labels.ndjson"
    labels = [json.loads(line) for line in labels_path.read_text(encoding="utf-8").splitlines()
              if line.strip()]
    return score(replay_alerts(events), labels, late_promises(events, labels))
