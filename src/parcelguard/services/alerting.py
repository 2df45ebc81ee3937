"""The alert engine: rules in, alerts out, on the event-time clock.

It keeps each active shipment's :class:`Watch` (what the rules remember), a heap of the next
deadline per shipment, and the shipment's active alerts. Rule signals become alert changes:
a raise opens an alert (or updates the active one for that rule), a clear closes it. Alert ids
are derived from (tenant, tracking number, rule, moment), so a deadline that fires again after a
restart finds its alert already there instead of opening a second one.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from parcelguard.domain import alerts as al
from parcelguard.domain import times
from parcelguard.domain.alerts import Alert, Signal, State
from parcelguard.domain.disruptions import Disruption
from parcelguard.domain.shipment import Category
from parcelguard.domain.telemetry import Reading
from parcelguard.domain.tracking import Recorded, Track
from parcelguard.rules import risk, route, scans, sensors
from parcelguard.rules.eta import LaneModel
from parcelguard.rules.profiles import Profile
from parcelguard.rules.watch import MINUTE, Watch

Key = tuple[str, str]
ESCALATE = "escalate:"


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one alert, for storage, the ledger, notifications and replay output."""

    alert: Alert
    shipment_id: int
    what: str  # opened | repeated | acknowledged | resolved | cleared | escalated | assigned
    previous: State | None

    @property
    def is_transition(self) -> bool:
        return self.what in ("opened", "acknowledged", "resolved", "cleared")


@dataclass
class Watched:
    """A shipment as the engine sees it."""

    key: Key
    shipment_id: int
    watch: Watch
    active: dict[str, Alert] = field(default_factory=dict)  # rule -> its active alert
    # every alert id this shipment has had (stored ones loaded at rebuild): a deadline replayed
    # after a restart must not open an alert that was opened, and perhaps closed, before
    known: set[str] = field(default_factory=set)


def _one_partition(tracking_no: str) -> int:
    return 0


class Alerting:
    def __init__(self, profiles: dict[Category, Profile]) -> None:
        self.profiles = profiles
        self.lanes = LaneModel()
        self.places: dict[str, dict[str, tuple[float, float]]] = {}  # tenant -> facility -> pos
        self.learn_online = True  # the lane model learns each delivery as it is recorded
        self.learn_at_start = True  # ... and the store's history when the writer starts
        # Timers run per partition of the ingest stream (one in embedded mode): a partition
        # fires its parcels' deadlines as its own commands move event time, not another's.
        self.part_of: Callable[[str], int] = _one_partition
        self._heaps: dict[int, list[tuple[int, Key]]] = {}
        self._scheduled: dict[Key, int] = {}
        self.disruptions: dict[str, list[Disruption]] = {}  # tenant -> in force

    # ---- disruptions ----

    def delays(self, w: Watched, now_us: int) -> list[Disruption]:
        """The disruptions in force on this shipment's way."""
        found = self.disruptions.get(w.key[0])
        if not found:
            return []
        way = w.watch.way(self.places.get(w.key[0]))
        # one that starts after the parcel should be through (its latest estimate) is not on
        # its way; without an estimate, two days ahead
        reach = w.watch.eta[2] if w.watch.eta else now_us + 48 * 3600 * 1_000_000
        return [d for d in found
                if d.in_force(now_us) and d.starts_us <= reach and d.affects(way)]

    def _assess(self, w: Watched, now_us: int) -> list[Signal]:
        return risk.assess(w.watch, self.lanes, now_us, self.delays(w, now_us))

    def reassess(self, w: Watched, now_us: int, sink: Sink) -> bool:
        """After the disruptions changed: estimate again if the ones on its way did."""
        if w.watch.done:
            return False
        if tuple(d.disruption_id for d in self.delays(w, now_us)) == w.watch.delayed_by:
            return False
        self.apply(w, self._assess(w, now_us), sink)
        self.schedule(w)
        return True

    # ---- building a shipment's watch ----

    def watch_for(self, track: Track) -> Watch:
        s = track.shipment
        return Watch.of(s, self.profiles[s.category])

    def schedule(self, w: Watched) -> None:
        due = w.watch.next_due()
        if due is None:
            self._scheduled.pop(w.key, None)
        elif self._scheduled.get(w.key) != due:
            self._scheduled[w.key] = due
            self._push(due, w.key)

    def remember(self, key: Key, due_us: int) -> None:
        """A deadline of a shipment not in memory (from the store, at start)."""
        if key not in self._scheduled or due_us < self._scheduled[key]:
            self._scheduled[key] = due_us
            self._push(due_us, key)

    def _push(self, due_us: int, key: Key) -> None:
        heap = self._heaps.get(part := self.part_of(key[1]))
        if heap is None:
            heap = self._heaps[part] = []
        heapq.heappush(heap, (due_us, key))

    def next_due(self, part: int | None = None) -> int | None:
        """The earliest deadline of one partition, or of all."""
        if part is not None:
            heap = self._heaps.get(part)
            return heap[0][0] if heap else None
        return min((h[0][0] for h in self._heaps.values() if h), default=None)

    def due_keys(self, now_us: int, part: int | None = None) -> list[tuple[int, Key]]:
        """Pop the shipments of one partition (or of all) with a deadline at or before
        ``now_us``, in due order (stale entries dropped)."""
        out = []
        for p in (part,) if part is not None else tuple(self._heaps):
            heap = self._heaps.get(p)
            while heap and heap[0][0] <= now_us:
                due, key = heapq.heappop(heap)
                if self._scheduled.get(key) == due:
                    del self._scheduled[key]
                    out.append((due, key))
        if part is None and len(self._heaps) > 1:
            out.sort()
        return out

    # ---- rules to changes ----

    def register(self, w: Watched, at_us: int, sink: Sink) -> None:
        scans.on_register(w.watch, at_us)
        self.apply(w, self._assess(w, at_us), sink)
        self.schedule(w)

    def event(self, w: Watched, rec: Recorded, track: Track, now_us: int, sink: Sink) -> None:
        was_done = w.watch.done
        loc = rec.event.location
        if loc is not None and not rec.late:
            w.watch.seen_at(loc.facility_id, loc.city, loc.lat, loc.lon)
        signals = scans.on_event(w.watch, rec, track.holder, now_us)
        if w.watch.done and not was_done and not sink.quiet and self.learn_online:
            risk.learn(w.watch, self.lanes)  # rebuilt history was learnt at start already
        self.apply(w, signals + self._assess(w, now_us), sink)
        self.schedule(w)

    def reading(self, w: Watched, r: Reading, source: str, sink: Sink,
                arrived_us: int | None = None) -> None:
        signals = sensors.on_reading(w.watch, r, source, arrived_us)
        if r.lat is not None and w.watch.plan:
            if w.watch.corridor is None:
                w.watch.corridor = route.corridor_of(w.watch.plan, self.places.get(w.key[0], {}))
            signals += route.on_fix(w.watch, r, source)
        self.apply(w, signals, sink)
        self.schedule(w)

    def learn_place(self, tenant_id: str, facility_id: str, lat: float, lon: float) -> bool:
        """Where a facility is, from a scan that said so: route corridors are drawn with it.
        True when that is news (a new facility, or one that moved)."""
        known = self.places.setdefault(tenant_id, {})
        if known.get(facility_id) == (lat, lon):
            return False
        known[facility_id] = (lat, lon)
        return True

    def forget_place(self, tenant_id: str, facility_id: str) -> None:
        self.places.get(tenant_id, {}).pop(facility_id, None)

    def fire(self, w: Watched, now_us: int, sink: Sink) -> None:
        """Every deadline of this shipment due by ``now_us``, in time order, including those
        that firing arms (an alert opened at its deadline may be due to escalate already)."""
        while (pending := w.watch.due(now_us)):
            due, name = pending[0]
            if name.startswith(ESCALATE):
                self._escalate(w, name.removeprefix(ESCALATE), due, sink)
            elif name == "eta":
                self.apply(w, self._assess(w, due), sink)
            elif name.startswith("sensor_gap:"):
                self.apply(w, sensors.on_silence(w.watch, name.removeprefix("sensor_gap:"), due),
                           sink)
            else:
                self.apply(w, scans.on_due(w.watch, name, due), sink)
        self.schedule(w)

    def apply(self, w: Watched, signals: Iterable[Signal], sink: Sink) -> None:
        tenant, tracking_no = w.key
        for s in signals:
            current = w.active.get(s.rule)
            if s.raised:
                if current is not None and s.at_us == current.opened_at_us:
                    continue  # the same occurrence again (a deadline replayed after a restart)
                if current is not None:
                    w.active[s.rule] = updated = al.repeat(current, s)
                    sink.change(Change(updated, w.shipment_id, "repeated", current.state))
                    continue
                alert = al.open_alert(tenant, tracking_no, s)
                if alert.alert_id in w.known:
                    continue  # opened before (a deadline replayed after a restart)
                w.known.add(alert.alert_id)
                w.active[s.rule] = alert
                w.watch.arm(ESCALATE + s.rule,
                            s.at_us + int(w.watch.profile.escalate_after_min * MINUTE))
                sink.change(Change(alert, w.shipment_id, "opened", None))
            elif current is not None:
                del w.active[s.rule]
                w.watch.disarm(ESCALATE + s.rule)
                at = max(s.at_us, current.opened_at_us)  # late evidence clears it, not the past
                sink.change(Change(al.clear(current, at), w.shipment_id, "cleared", current.state))

    def _escalate(self, w: Watched, rule: str, due: int, sink: Sink) -> None:
        w.watch.disarm(ESCALATE + rule)
        current = w.active.get(rule)
        if current is not None and current.state is State.OPEN and current.escalated_at_us is None:
            w.active[rule] = escalated = al.escalate(current, due)
            sink.change(Change(escalated, w.shipment_id, "escalated", current.state))

    def act(self, w: Watched, alert: Alert, action: Callable[[Alert], Alert], what: str,
            sink: Sink) -> Alert:
        """A person acts on an alert: acknowledge, resolve, assign."""
        after = action(alert)
        if after.active:
            w.active[after.rule] = after
        else:
            w.active.pop(after.rule, None)
            w.watch.disarm(ESCALATE + after.rule)
        if after.state is not State.OPEN:
            w.watch.disarm(ESCALATE + after.rule)
        self.schedule(w)
        sink.change(Change(after, w.shipment_id, what, alert.state))
        return after


class Sink:
    """Where the engine puts its changes while a batch runs; the writer persists them."""

    quiet = False

    def __init__(self) -> None:
        self.changes: list[Change] = []

    def change(self, c: Change) -> None:
        self.changes.append(c)


class Quiet(Sink):
    """Swallows changes: used while rebuilding a watch from stored history."""

    quiet = True

    def change(self, c: Change) -> None:
        pass


def replay_line(c: Change) -> dict[str, object]:
    """The replay output contract: one line per alert state change."""
    a = c.alert
    return {"alert_id": a.alert_id, "tracking_no": a.tracking_no, "kind": a.kind.value,
            "severity": a.severity.value, "state": a.state.value,
            "at": times.iso_us(a.updated_at_us), "evidence": a.evidence}
