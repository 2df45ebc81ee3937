"""The context merchant rules see, and which of its fields an expression reads.

A rule's CEL condition reads four variables: ``shipment``, ``event`` (rules on events),
``reading`` (rules on readings) and ``stats``. Each is a map whose fields are listed in
:data:`FIELDS` with what they hold. Converting values into CEL costs a few microseconds each, so
only the fields a tenant's rules read are built: :func:`references` finds them in the
expression's text (a variable used whole, e.g. ``"x" in event``, gets every field).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.events import TrackingEvent
from parcelguard.domain.shipment import Shipment
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import Reading
from parcelguard.rules.watch import HOUR, MINUTE, Watch


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a rule's context is built from, at one event or reading."""

    shipment: Shipment
    watch: Watch
    status: Status
    event_count: int
    open_alerts: int
    at_us: int
    event: TrackingEvent | None = None
    reading: Reading | None = None
    source: str | None = None  # device:<id> or vehicle:<id>, for readings


Getter = Callable[[Facts], object]


def _event(f: Facts) -> TrackingEvent:
    assert f.event is not None
    return f.event


def _reading(f: Facts) -> Reading:
    assert f.reading is not None
    return f.reading


def _event_city(f: Facts) -> str | None:
    location = _event(f).location
    return None if location is None else location.city


def _hours_since_pickup(f: Facts) -> float | None:
    pickup = f.watch.pickup_us
    return None if pickup is None else (f.at_us - pickup) / HOUR


def _hours_to_promise(f: Facts) -> float | None:
    promised = f.watch.promised_by_us
    return None if promised is None else (promised - f.at_us) / HOUR


def _dwell_minutes(f: Facts) -> float:
    dwell = f.watch.dwell
    return 0.0 if dwell is None else max(0, f.at_us - dwell[1]) / MINUTE


def _eta_hours_late(f: Facts) -> float | None:
    eta, promised = f.watch.eta, f.watch.promised_by_us
    return None if eta is None or promised is None else (eta[0] - promised) / HOUR


def _declared_value(f: Facts) -> float | None:
    fen = f.shipment.declared_value_fen
    return None if fen is None else fen / 100


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


# variable -> field -> (what it holds, how it is read). The docs table is generated from this.
FIELDS: dict[str, dict[str, tuple[str, Getter]]] = {
    "shipment": {
        "tracking_no": ("string", lambda f: f.shipment.tracking_no),
        "carrier": ("string: carrier code, e.g. \"sf\"", lambda f: f.shipment.carrier),
        "category": ("string: general, fragile, cold_chain, cross_border or high_value",
                     lambda f: f.shipment.category.value),
        "status": ("string: the status after this input (DESIGN.md taxonomy)",
                   lambda f: f.status.value),
        "origin_city": ("string", lambda f: f.shipment.origin.city),
        "destination_city": ("string", lambda f: f.shipment.destination.city),
        "origin_country": ("string: ISO 3166 alpha-2", lambda f: f.shipment.origin.country),
        "destination_country": ("string: ISO 3166 alpha-2",
                                lambda f: f.shipment.destination.country),
        "declared_value": ("double: CNY (yuan), or null", _declared_value),
        "order_ref": ("string or null", lambda f: f.shipment.order_ref),
        "promised_by": ("timestamp or null", lambda f: _utc(f.shipment.promised_by)),
        "route_plan": ("list of facility ids", lambda f: list(f.shipment.route_plan)),
    },
    "event": {
        "status": ("string: the event's status", lambda f: _event(f).status.value),
        "substatus": ("string or null", lambda f: _event(f).substatus),
        "carrier_code": ("string or null: the carrier's own code",
                         lambda f: _event(f).carrier_code),
        "facility_id": ("string or null", lambda f: _event(f).facility_id),
        "city": ("string or null", _event_city),
        "condition": ("string or null: intact, damaged, wet or opened",
                      lambda f: (c.value if (c := _event(f).condition) else None)),
        "operator_id": ("string or null", lambda f: _event(f).operator_id),
        "device_id": ("string or null", lambda f: _event(f).device_id),
        "vehicle_id": ("string or null", lambda f: _event(f).vehicle_id),
        "description": ("string or null: the carrier's text", lambda f: _event(f).description),
        "source": ("string: api, mqtt, or the carrier format", lambda f: _event(f).source),
        "occurred_at": ("timestamp", lambda f: _utc(_event(f).occurred_at)),
    },
    "reading": {
        "source": ("string: device:<id> (in the box) or vehicle:<id> (the truck it rides)",
                   lambda f: f.source),
        "device_id": ("string", lambda f: _reading(f).device_id),
        "ts": ("timestamp", lambda f: _utc(_reading(f).ts)),
        "seq": ("int or null", lambda f: _reading(f).seq),
        "lat": ("double or null", lambda f: _reading(f).lat),
        "lon": ("double or null", lambda f: _reading(f).lon),
        "speed_kmh": ("double or null", lambda f: _reading(f).speed_kmh),
        "temperature_c": ("double or null", lambda f: _reading(f).temperature_c),
        "humidity_pct": ("double or null", lambda f: _reading(f).humidity_pct),
        "shock_g": ("double or null", lambda f: _reading(f).shock_g),
        "light_lux": ("double or null", lambda f: _reading(f).light_lux),
        "battery_pct": ("double or null", lambda f: _reading(f).battery_pct),
    },
    "stats": {
        "event_count": ("int: scans recorded so far", lambda f: f.event_count),
        "open_alerts": ("int: alerts open or acknowledged on the shipment now",
                        lambda f: f.open_alerts),
        "hours_since_pickup": ("double or null (not picked up yet)", _hours_since_pickup),
        "hours_to_promise": ("double or null: negative once the promise has passed",
                             _hours_to_promise),
        "dwell_minutes": ("double: minutes at the current facility since its arrival scan, "
                          "0 when not dwelling", _dwell_minutes),
        "eta_hours_late": ("double or null: predicted arrival minus the promise, in hours",
                           _eta_hours_late),
    },
}

# What a trial run of an expression sees when it is saved: one value of each field's type.
SAMPLE: dict[str, dict[str, object]] = {
    "shipment": {"tracking_no": "SF1", "carrier": "sf", "category": "general",
                 "status": "in_transit", "origin_city": "深圳", "destination_city": "上海",
                 "origin_country": "CN", "destination_country": "CN", "declared_value": 1.0,
                 "order_ref": "o", "promised_by": datetime(2026, 1, 1, tzinfo=UTC),
                 "route_plan": ["f"]},
    "event": {"status": "in_transit", "substatus": "s", "carrier_code": "c", "facility_id": "f",
              "city": "c", "condition": "intact", "operator_id": "o", "device_id": "d",
              "vehicle_id": "v", "description": "d", "source": "api",
              "occurred_at": datetime(2026, 1, 1, tzinfo=UTC)},
    "reading": {"source": "device:d", "device_id": "d", "ts": datetime(2026, 1, 1, tzinfo=UTC),
                "seq": 1, "lat": 1.0, "lon": 1.0, "speed_kmh": 1.0, "temperature_c": 1.0,
                "humidity_pct": 1.0, "shock_g": 1.0, "light_lux": 1.0, "battery_pct": 1.0},
    "stats": {"event_count": 1, "open_alerts": 0, "hours_since_pickup": 1.0,
              "hours_to_promise": 1.0, "dwell_minutes": 1.0, "eta_hours_late": 1.0},
}

_STRING = re.compile(r"""[rRbB]{0,2}('''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")""",
                     re.S)
_REFERENCE = re.compile(r"(?<![\w.])(shipment|event|reading|stats)\b(\s*\.\s*([A-Za-z_]\w*))?")

Fields = dict[str, frozenset[str] | None]  # variable -> its fields read (None: all of them)


def _position(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def references(expression: str) -> Fields:
    """The fields of each variable the expression reads; unknown fields are an error."""
    blanked = _STRING.sub(lambda m: " " * len(m.group(0)), expression)
    used: dict[str, set[str] | None] = {}
    for m in _REFERENCE.finditer(blanked):
        name, field_name = m.group(1), m.group(3)
        if field_name is None:
            used[name] = None
            continue
        if field_name not in FIELDS[name]:
            raise InvalidInput("expression", f"{_position(expression, m.start(3))}: {name} has "
                               f"no field {field_name!r}; it has {', '.join(FIELDS[name])}")
        if name not in used:
            used[name] = set()
        fields = used[name]
        if fields is not None:
            fields.add(field_name)
    return {k: (None if v is None else frozenset(v)) for k, v in used.items()}


def merge(into: Fields, more: Fields) -> None:
    for name, fields in more.items():
        if name in into:
            had = into[name]
            into[name] = None if had is None or fields is None else had | fields
        else:
            into[name] = fields


def context(facts: Facts, wanted: Mapping[str, frozenset[str] | None]) -> dict[str, object]:
    """The variables ``wanted`` with their fields, as plain Python values."""
    out: dict[str, object] = {}
    for name, fields in wanted.items():
        catalogue = FIELDS[name]
        names = catalogue.keys() if fields is None else fields
        out[name] = {k: catalogue[k][1](facts) for k in names}
    return out


def evidence(ctx: Mapping[str, object], fields: Fields) -> dict[str, object]:
    """The values one rule read, for its alert's evidence (timestamps as ISO 8601)."""
    out: dict[str, object] = {}
    for name, wanted in fields.items():
        values = ctx.get(name)
        if not isinstance(values, dict):
            continue
        for k in sorted(values if wanted is None else wanted):
            v = values.get(k)
            out[f"{name}.{k}"] = times.iso_us(times.to_us(v)) if isinstance(v, datetime) else v
    return out


# ---- guards: which rules can hold at all, before CEL runs ----

Guard = tuple[str, str, frozenset[str]]  # variable, field, the strings it must equal one of

_LITERAL = r"""'[^'\\\n]*'|"[^"\\\n]*\""""
_FIELD = r"(shipment|event|reading)\s*\.\s*([A-Za-z_]\w*)"
_EQUALS = re.compile(rf"\s*(?:{_FIELD}\s*==\s*({_LITERAL})|({_LITERAL})\s*==\s*{_FIELD})\s*", re.S)
_IN = re.compile(rf"\s*{_FIELD}\s+in\s*\[\s*((?:{_LITERAL})(?:\s*,\s*(?:{_LITERAL}))*)\s*,?\s*\]\s*",
                 re.S)
_ONE_LITERAL = re.compile(_LITERAL)
_OPEN, _CLOSE = "([{", ")]}"


def _conjuncts(expression: str) -> list[str] | None:
    """The expression's top-level ``&&`` operands, or None when its top level has ``||`` or
    ``?:`` (then no single operand decides it)."""
    blanked = _STRING.sub(lambda m: "_" * len(m.group(0)), expression)
    depth, start, out = 0, 0, []
    i = 0
    while i < len(blanked):
        ch = blanked[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0 and blanked.startswith("&&", i):
            out.append(expression[start:i])
            start = i + 2
            i += 1
        elif depth == 0 and (blanked.startswith("||", i) or ch == "?"):
            return None
        i += 1
    out.append(expression[start:])
    return out


def guards(expression: str) -> list[Guard]:
    """Conditions of the form ``event.status == 'exception'`` or ``event.condition in
    ['damaged', 'wet']`` that the whole expression ANDs with the rest, on string fields.

    When a guard's field holds none of its strings (null included), the expression is false
    whatever the rest says (CEL's ``false && error`` is false too), so the rule need not run.
    """
    parts = _conjuncts(expression)
    out: list[Guard] = []
    for part in parts or ():
        if m := _EQUALS.fullmatch(part):
            name, field_name = (m.group(1), m.group(2)) if m.group(1) else (m.group(5), m.group(6))
            values = frozenset({(m.group(3) or m.group(4))[1:-1]})
        elif m := _IN.fullmatch(part):
            name, field_name = m.group(1), m.group(2)
            values = frozenset(lit[1:-1] for lit in _ONE_LITERAL.findall(m.group(3)))
        else:
            continue
        if isinstance(SAMPLE.get(name, {}).get(field_name), str):
            out.append((name, field_name, values))
    return out
