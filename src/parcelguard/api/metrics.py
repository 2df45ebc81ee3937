"""Prometheus metrics: the pipeline's counters and per-route HTTP figures, per app."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from parcelguard.bus.publisher import BusPipeline
from parcelguard.ingest.hooks import HookReceiver
from parcelguard.ingest.mqtt import MqttSubscriber
from parcelguard.services.stats import Stats


class StatsCollector(Collector):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        s = self.stats
        items = CounterMetricFamily("parcelguard_ingest_items", "Items through the pipeline",
                                    labels=["kind", "result"])
        for (kind, result), n in sorted(s.outcomes.items()):
            items.add_metric([kind, result], n)
        yield items
        unknown = CounterMetricFamily(
            "parcelguard_unknown_status", "Events stored with status unknown: a carrier code "
            "not in our tables, or a scan that states no status (Kdniao's basic traces); codes "
            "missing from the tables: parcelguard_carrier_notices{notice=\"unknown_code\"}",
            labels=["source"])
        for source, n in sorted(s.unknown_status.items()):
            unknown.add_metric([source], n)
        yield unknown
        yield CounterMetricFamily("parcelguard_status_regressions",
                                  "Events that moved a status backwards", value=s.regressions)
        yield CounterMetricFamily("parcelguard_failed_batches", "Batches that failed to commit",
                                  value=s.failed_batches)
        h = s.batch_seconds
        buckets, running = [], 0
        for bound, count in zip((*h.buckets, float("inf")), h.counts, strict=True):
            running += count
            buckets.append((str(bound) if bound != float("inf") else "+Inf", running))
        yield HistogramMetricFamily("parcelguard_batch_commit_seconds",
                                    "Time to process and commit one batch", buckets=buckets,
                                    sum_value=h.total)
        yield GaugeMetricFamily("parcelguard_writer_queue_depth", "Submissions waiting",
                                value=s.queue_depth)
        yield GaugeMetricFamily("parcelguard_ledger_entries", "Entries in the custody ledger",
                                value=s.ledger_size)
        yield GaugeMetricFamily("parcelguard_tracked_shipments", "Shipments held in memory",
                                value=s.tracked_shipments)


class HooksCollector(Collector):
    """Carrier pushes by format and result, and what became of their items."""

    def __init__(self, hooks: HookReceiver) -> None:
        self.hooks = hooks

    def collect(self) -> Iterator[CounterMetricFamily]:
        pushes = CounterMetricFamily("parcelguard_carrier_pushes", "Carrier pushes received",
                                     labels=["format", "result"])
        for (fmt, result), n in sorted(self.hooks.pushes.items()):
            pushes.add_metric([fmt, result], n)
        yield pushes
        items = CounterMetricFamily("parcelguard_carrier_items", "Scans in carrier pushes, by "
                                    "what the pipeline did with them", labels=["format", "result"])
        for (fmt, result), n in sorted(self.hooks.items.items()):
            items.add_metric([fmt, result], n)
        yield items
        notices = CounterMetricFamily(
            "parcelguard_carrier_notices", "Parcels a carrier stopped tracking (Kuaidi100 "
            "abort/shutdown, 17TRACK TRACKING_STOPPED, AfterShip Expired) or failed to track "
            "(Kdniao Success=false), and scans whose carrier code is not in our tables "
            "(unknown_code)", labels=["format", "notice"])
        for (fmt, notice), n in sorted(self.hooks.notices.items()):
            if n:
                notices.add_metric([fmt, notice], n)
        yield notices


class MqttCollector(Collector):
    def __init__(self, subscriber: MqttSubscriber) -> None:
        self.subscriber = subscriber

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        items = CounterMetricFamily("parcelguard_mqtt_items", "Readings and scans received over "
                                    "MQTT, by topic kind and result", labels=["topic", "result"])
        for (kind, result), n in sorted(self.subscriber.counts.items()):
            items.add_metric([kind, result], n)
        yield items
        yield GaugeMetricFamily("parcelguard_mqtt_connected", "1 while connected to the broker",
                                value=1 if self.subscriber.connected.is_set() else 0)


class BusCollector(Collector):
    """Bus mode, on an API node: where each partition of the ingest stream stands."""

    def __init__(self, bus: BusPipeline) -> None:
        self.bus = bus

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            rows = self.bus.partitions()
        except Exception:  # a scrape must not fail because NATS is away
            rows = []
        lag = GaugeMetricFamily("parcelguard_bus_consumer_lag",
                                "Messages of the partition not yet applied by a worker",
                                labels=["partition"])
        committed = GaugeMetricFamily("parcelguard_bus_committed_seq",
                                      "Stream sequence the partition's last commit recorded",
                                      labels=["partition"])
        owned = GaugeMetricFamily("parcelguard_bus_partition_owned",
                                  "1 while a worker holds the partition", labels=["partition"])
        for r in rows:
            if r.lag is not None:
                lag.add_metric([str(r.partition)], r.lag)
            committed.add_metric([str(r.partition)], r.committed)
            owned.add_metric([str(r.partition)], 1 if r.owner else 0)
        yield from (lag, committed, owned)


class HttpMetrics:
    """Counts requests by method, route template and status; times them."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise
        self.app = app
        self.requests = Counter("parcelguard_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=registry)
        self.seconds = Histogram("parcelguard_http_request_seconds", "HTTP request time",
                                 ["method", "route"], registry=registry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = _route(scope)
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.seconds.labels(scope["method"], route).observe(time.perf_counter() - started)


def _route(scope: Scope) -> str:
    """The route template the router matched (it leaves it in the scope), not the raw path."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))
