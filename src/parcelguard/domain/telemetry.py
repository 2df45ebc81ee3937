"""Sensor readings from a box logger or a vehicle unit, and what the devices are bound to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

MEASURES = (
    "lat", "lon", "speed_kmh", "temperature_c", "humidity_pct", "shock_g", "light_lux",
    "battery_pct",
)


@dataclass(slots=True)  # made per event, so not frozen: see docs/decisions.md, hot-path records
class Reading:
    device_id: str
    ts: datetime
    seq: int | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None
    temperature_c: float | None = None
    humidity_pct: float | None = None
    shock_g: float | None = None
    light_lux: float | None = None
    battery_pct: float | None = None


class DeviceKind(StrEnum):
    BOX_SENSOR = "box_sensor"  # travels inside one parcel
    VEHICLE_UNIT = "vehicle_unit"  # GPS or reefer sensor of a vehicle
    FACILITY_SCANNER = "facility_scanner"  # sorter line or PDA of a facility


@dataclass(frozen=True, slots=True)
class Device:
    tenant_id: str
    device_id: str
    kind: DeviceKind
    tracking_no: str | None = None  # bound shipment, for box sensors
    vehicle_id: str | None = None  # bound vehicle, for vehicle units
    facility_id: str | None = None  # bound facility, for scanners
