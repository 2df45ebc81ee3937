"""Rules overhead: the ingest benchmark with no rules, the built-in rules, and 100 CEL rules.

The three runs stream the same simulated scans into fresh SQLite stores in one process, so the
differences are what the rules cost per event. "No rules" replaces the alert engine with one
that does nothing; the merchant rules are a realistic mix that mostly do not fire.
"""

from __future__ import annotations

from collections.abc import Callable

from parcelguard import bootstrap
from parcelguard.bench import common
from parcelguard.bench.ingest import TENANT, Figures, pipeline_run
from parcelguard.domain.alerts import Severity
from parcelguard.domain.custom import Trigger
from parcelguard.domain.telemetry import Reading
from parcelguard.domain.tracking import Recorded, Track
from parcelguard.services import merchant
from parcelguard.services.alerting import Alerting, Sink, Watched

CITIES = ["上海", "北京", "广州", "深圳", "杭州", "成都", "武汉", "西安", "南京", "重庆"]
CATEGORIES = ["general", "fragile", "cold_chain", "cross_border", "high_value"]


class NoRules(Alerting):
    """The engine with every rule switched off: the baseline."""

    def register(self, w: Watched, at_us: int, sink: Sink) -> None:
        pass

    def event(self, w: Watched, rec: Recorded, track: Track, now_us: int, sink: Sink) -> None:
        pass

    def reading(self, w: Watched, r: Reading, source: str, sink: Sink,
                arrived_us: int | None = None) -> None:
        pass

    def fire(self, w: Watched, now_us: int, sink: Sink) -> None:
        pass


def expressions(n: int = 100) -> list[str]:
    """``n`` merchant rules of the kinds merchants write, over a spread of fields."""
    shapes: list[Callable[[int], str]] = [
        lambda i: f"shipment.declared_value > {1000 + i * 100}.0 && "
                  f"event.condition in ['damaged', 'opened']",
        lambda i: f"event.city == '{CITIES[i % 10]}' && stats.dwell_minutes > {60 + i}.0",
        lambda i: f"shipment.category == '{CATEGORIES[i % 5]}' && event.status == 'exception'",
        lambda i: f"stats.hours_since_pickup > {48 + i}.0 && shipment.status != 'delivered'",
        lambda i: f"event.facility_id == 'HUB-{i:03d}' && shipment.destination_city == "
                  f"'{CITIES[(i + 3) % 10]}'",
    ]
    return [shapes[i % len(shapes)](i) for i in range(n)]


def _no_rules(system: bootstrap.System) -> None:
    silent = NoRules(system.ingestor.alerting.profiles)
    system.ingestor.alerting = system.ingestor.live.alerting = silent


def _with_cel(n: int) -> Callable[[bootstrap.System], None]:
    def prepare(system: bootstrap.System) -> None:
        for i, expr in enumerate(expressions(n)):
            merchant.create(system.store, system.ingestor.rules.expressions, TENANT, f"rule {i}",
                            expr, Trigger.EVENT, Severity.WARNING, 0)
        system.ingestor.rules.invalidate()
    return prepare


def run(events: int, cel_rules: int) -> list[Figures]:
    variants: list[tuple[str, Callable[[bootstrap.System], None] | None]] = [
        ("no rules", _no_rules), ("built-in rules", None),
        (f"built-in + {cel_rules} CEL rules", _with_cel(cel_rules)),
    ]
    out = []
    for name, prepare in variants:
        figures = Figures(name)
        with common.fresh_store("sqlite", "") as (url, data_dir):
            pipeline_run("sqlite", url, data_dir, events, figures, prepare)
        out.append(figures)
    return out


def report(runs: list[Figures]) -> list[str]:
    base = runs[0]
    per_event = [f.seconds / f.events * 1e6 for f in runs]
    lines = [f"rules overhead, SQLite, {base.events:,} events per run"]
    for f, us in zip(runs, per_event, strict=True):
        extra = (us - per_event[0]) / per_event[0] * 100
        lines.append(f"  {f.backend:<28} {f.rate:>8,.0f} events/s  {us:6.1f} µs/event  "
                     f"{'' if f is base else f'+{extra:.0f}% vs no rules'}")
    if len(runs) == 3:
        cel = (per_event[2] - per_event[1]) / per_event[1] * 100
        lines.append(f"  the CEL rules add {per_event[2] - per_event[1]:.1f} µs/event "
                     f"(+{cel:.0f}% over the built-in rules)")
    return lines
