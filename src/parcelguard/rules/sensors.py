"""Rules on sensor readings: shock, light in a closed box, temperature and humidity out of
range (at once, for M minutes in one go, or for M minutes in all), temperature trends that
will cross the limit soon, and gaps in a sensor's readings.

A reading is judged at its own timestamp. Readings from a vehicle's reefer sensor reach every
parcel aboard; the caller passes each parcel's watch in turn.
"""

from __future__ import annotations

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind, Severity, Signal
from parcelguard.domain.telemetry import Reading
from parcelguard.rules.watch import MINUTE, DeviceWatch, Watch

BOX = "device:"  # readings of a sensor inside the parcel; "vehicle:<id>" for its vehicle's
TREND_POINTS = 6
TREND_MIN_SPAN = 10 * MINUTE


def on_reading(w: Watch, r: Reading, source: str, arrived_us: int | None = None) -> list[Signal]:
    """``arrived_us``: when the reading reached us (its timestamp when not given)."""
    if w.done:
        return []
    at = times.to_us(r.ts)
    dw = w.device(source)
    out: list[Signal] = []
    out += _gap(w, dw, r, at, source)
    out += _shock(w, r, at, source)
    out += _tamper(w, r, at, source)
    if r.temperature_c is not None:
        out += _temperature(w, dw, r.temperature_c, at, source)
    if r.humidity_pct is not None:
        out += _humidity(w, dw, r.humidity_pct, at, source)
    dw.last_ts_us = at if dw.last_ts_us is None else max(dw.last_ts_us, at)
    if r.seq is not None:
        dw.last_seq = r.seq if dw.last_seq is None else max(dw.last_seq, r.seq)
    if source.startswith(BOX):  # a vehicle's silence is not the parcel's sensor failing
        # silence is what we have not heard: a logger uploading its backlog late was recording
        # all along, so the timer runs from the later of the reading's time and its arrival
        heard = max(dw.last_ts_us, arrived_us or at)
        w.arm(f"sensor_gap:{source}", heard + int(w.profile.sensor_silence_min * MINUTE))
    return out


def _where(r: Reading, source: str) -> dict[str, object]:
    return {"source": source, "ts": times.iso(r.ts), "seq": r.seq, "lat": r.lat, "lon": r.lon}


def _gap(w: Watch, dw: DeviceWatch, r: Reading, at: int, source: str) -> list[Signal]:
    rule = f"{Kind.SENSOR_GAP}:{source}"
    out = w.clear(rule, Kind.SENSOR_GAP, at) if rule in w.raised else []
    if source.startswith(BOX) and r.seq is not None and dw.last_seq is not None and r.seq > dw.last_seq + 1:
        out.append(w.raise_(rule, Kind.SENSOR_GAP, at, Severity.INFO, {
            **_where(r, source), "missing_readings": r.seq - dw.last_seq - 1,
            "after_seq": dw.last_seq}))
    return out


def _shock(w: Watch, r: Reading, at: int, source: str) -> list[Signal]:
    limit = w.profile.shock_max_g
    if limit is None or r.shock_g is None or r.shock_g <= limit:
        return []
    severity = Severity.CRITICAL if r.shock_g >= 2 * limit else Severity.WARNING
    peak = max(w.peaks.get(Kind.SHOCK, 0.0), r.shock_g)  # a claim needs the worst knock
    w.peaks[Kind.SHOCK] = peak
    return [w.raise_(Kind.SHOCK, Kind.SHOCK, at, severity,
                     {**_where(r, source), "shock_g": r.shock_g, "peak_g": peak, "limit_g": limit})]


def _tamper(w: Watch, r: Reading, at: int, source: str) -> list[Signal]:
    limit = w.profile.tamper_lux
    if limit is None or r.light_lux is None or r.light_lux <= limit or not source.startswith(BOX):
        return []
    return [w.raise_(Kind.TAMPER, Kind.TAMPER, at, Severity.CRITICAL,
                     {**_where(r, source), "light_lux": r.light_lux, "limit_lux": limit})]


def _temperature(w: Watch, dw: DeviceWatch, temp: float, at: int, source: str) -> list[Signal]:
    lo, hi = w.profile.temp_min_c, w.profile.temp_max_c
    if lo is None and hi is None:
        return []
    rule = f"{Kind.TEMPERATURE_EXCURSION}:{source}"
    budget = w.profile.excursion_budget_min * MINUTE
    out_of_range = (lo is not None and temp < lo) or (hi is not None and temp > hi)
    spent_before = dw.temp_out_total_us
    if dw.last_temp_out and dw.last_temp_ts_us is not None and at > dw.last_temp_ts_us:
        dw.temp_out_total_us += at - dw.last_temp_ts_us  # out since the last temperature
    crossed_at = (dw.last_temp_ts_us or at) + int(budget - spent_before)
    dw.last_temp_out, dw.last_temp_ts_us = out_of_range, max(dw.last_temp_ts_us or at, at)
    signals = _trend(w, dw, temp, at, source, out_of_range)
    if not out_of_range:
        signals += _ended(w, dw, rule, at, crossed_at, spent_before, budget, lo, hi, source)
        dw.temp_out_since_us, dw.temp_peak = None, None
        return signals
    if dw.temp_out_since_us is None:
        dw.temp_out_since_us = at
    dw.temp_peak = temp if dw.temp_peak is None else (
        max(dw.temp_peak, temp) if hi is not None and temp > hi else min(dw.temp_peak, temp))
    continuous = at - dw.temp_out_since_us
    if continuous >= w.profile.excursion_continuous_min * MINUTE or dw.temp_out_total_us >= budget:
        signals.append(w.raise_(rule, Kind.TEMPERATURE_EXCURSION, at, Severity.CRITICAL,
                                _excursion(dw, source, lo, hi, continuous)))
    return signals


def _ended(w: Watch, dw: DeviceWatch, rule: str, at: int, crossed_at: int, spent_before: int,
           budget: float, lo: float | None, hi: float | None, source: str) -> list[Signal]:
    """Back in range: the excursion clears, unless it used up the trip's budget (even if it
    was this very reading that told us so)."""
    if dw.temp_out_total_us < budget:
        if dw.temp_out_since_us is not None:
            dw.trend.clear()  # the way back from an excursion is no trend to the other limit
        return w.clear(rule, Kind.TEMPERATURE_EXCURSION, at)
    if spent_before < budget and dw.temp_out_since_us is not None:
        return [w.raise_(rule, Kind.TEMPERATURE_EXCURSION, crossed_at, Severity.CRITICAL,
                         _excursion(dw, source, lo, hi, at - dw.temp_out_since_us))]
    return []


def _excursion(dw: DeviceWatch, source: str, lo: float | None, hi: float | None,
               continuous: int) -> dict[str, object]:
    return {"source": source, "since": times.iso_us(dw.temp_out_since_us or 0),
            "peak_c": dw.temp_peak, "range_c": [lo, hi],
            "minutes_out_now": round(continuous / MINUTE, 1),
            "minutes_out_total": round(dw.temp_out_total_us / MINUTE, 1)}


def _trend(w: Watch, dw: DeviceWatch, temp: float, at: int, source: str,
           out_of_range: bool) -> list[Signal]:
    """Least-squares slope of the last readings; warn if it reaches a limit within the horizon."""
    dw.trend.append((at, temp))
    del dw.trend[:-TREND_POINTS]
    rule = f"{Kind.TEMPERATURE_TREND}:{source}"
    hi, lo = w.profile.temp_max_c, w.profile.temp_min_c
    if not source.startswith(BOX):
        return []  # a reefer's air swings with its defrost cycles; the goods' own sensor tells
    if out_of_range or len(dw.trend) < 3 or dw.trend[-1][0] - dw.trend[0][0] < TREND_MIN_SPAN:
        return w.clear(rule, Kind.TEMPERATURE_TREND, at)
    slope = _slope(dw.trend)  # °C per microsecond
    ahead = temp + slope * w.profile.trend_horizon_min * MINUTE
    crosses = (hi is not None and slope > 0 and ahead > hi) or (lo is not None and slope < 0 and ahead < lo)
    if not crosses:
        return w.clear(rule, Kind.TEMPERATURE_TREND, at)
    limit = hi if slope > 0 else lo
    minutes = (limit - temp) / slope / MINUTE if limit is not None and slope else 0.0
    return [w.raise_(rule, Kind.TEMPERATURE_TREND, at, Severity.WARNING, {
        "source": source, "temperature_c": temp, "slope_c_per_hour": round(slope * 60 * MINUTE, 2),
        "limit_c": limit, "minutes_to_limit": round(minutes, 1)})]


def _slope(points: list[tuple[int, float]]) -> float:
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return 0.0 if var == 0 else sum((t - mx) * (v - my) for t, v in points) / var


def _humidity(w: Watch, dw: DeviceWatch, humidity: float, at: int, source: str) -> list[Signal]:
    limit = w.profile.humidity_max_pct
    rule = f"{Kind.HUMIDITY_EXCURSION}:{source}"
    if limit is None:
        return []
    if humidity <= limit:
        dw.humid_out_since_us = None
        return w.clear(rule, Kind.HUMIDITY_EXCURSION, at)
    if dw.humid_out_since_us is None:
        dw.humid_out_since_us = at
    if at - dw.humid_out_since_us < w.profile.excursion_continuous_min * MINUTE:
        return []
    return [w.raise_(rule, Kind.HUMIDITY_EXCURSION, at, Severity.WARNING, {
        "source": source, "humidity_pct": humidity, "limit_pct": limit,
        "since": times.iso_us(dw.humid_out_since_us)})]


def on_silence(w: Watch, source: str, due_us: int) -> list[Signal]:
    """A sensor said nothing for too long while the parcel was on its way."""
    w.disarm(f"sensor_gap:{source}")
    if w.done:
        return []
    return [w.raise_(f"{Kind.SENSOR_GAP}:{source}", Kind.SENSOR_GAP, due_us, Severity.WARNING, {
        "source": source, "silent_since": times.iso_us(w.device(source).last_ts_us or due_us),
        "silence_min": w.profile.sensor_silence_min})]
