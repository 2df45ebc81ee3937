"""The liability report of one shipment: custody segments, incidents and verdicts
(domain/liability.py), and for every ledger entry a fact cites, the entry itself and its
inclusion proof against the latest signed checkpoint, so anyone can check the facts with the
verifier key alone (``parcelguard ledger verify`` does the same for the whole ledger).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from parcelguard.domain import times
from parcelguard.domain.alerts import Kind
from parcelguard.domain.ledger.entry import Sealed
from parcelguard.domain.liability import Analysis, Party, Sample, Scan, analyse, party_of
from parcelguard.domain.shipment import Category
from parcelguard.rules.profiles import Profile
from parcelguard.services import queries
from parcelguard.services.ledger import Proof, StoreReader, describe, inclusion
from parcelguard.services.ports import AlertFilter, CheckpointRecord, UnitOfWork


@dataclass(frozen=True, slots=True)
class Cited:
    entry: Sealed
    proof: Proof | None  # None while the entry is newer than the latest checkpoint


@dataclass(frozen=True, slots=True)
class Report:
    tracking_no: str
    carrier: str
    category: str
    analysis: Analysis
    cited: dict[int, Cited]
    checkpoint: CheckpointRecord | None
    timeline: queries.Timeline  # what the analysis read, for documents built on it
    points: list[queries.Point]


def report(uow: UnitOfWork, tenant_id: str, tracking_no: str,
           profiles: Mapping[Category, Profile]) -> Report:
    tl, points, analysis = read(uow, tenant_id, tracking_no, profiles)
    s = tl.record.shipment
    cp = uow.ledger.latest_checkpoint()
    reader = StoreReader(uow.ledger)
    wanted = sorted({i for inc in analysis.incidents for i in inc.ledger}
                    | {sc.ledger_index for seg in analysis.segments for sc in seg.scans[:1]})
    cited = {}
    for index in wanted:
        entry = uow.ledger.entry(index)
        if entry is not None:
            proof = inclusion(uow, index, cp, reader) if cp and index < cp.size else None
            cited[index] = Cited(entry, proof)
    return Report(s.tracking_no, s.carrier, s.category.value, analysis, cited, cp, tl, points)


def read(uow: UnitOfWork, tenant_id: str, tracking_no: str, profiles: Mapping[Category, Profile],
         ) -> tuple[queries.Timeline, list[queries.Point], Analysis]:
    """What the analysis reads (the timeline and the sensor series) and the analysis itself,
    without proofs (the operations console groups many parcels' incidents)."""
    tl = queries.timeline(uow, tenant_id, tracking_no)
    s = tl.record.shipment
    points = queries.series(uow, tenant_id, tracking_no, None, None)
    scans = [Scan(times.to_us(st.event.occurred_at), st.event, st.ledger_index)
             for st in tl.events]
    samples = [Sample(p.source, times.to_us(p.stored.reading.ts), p.stored.reading,
                      p.stored.ledger_index) for p in points]
    profile = profiles[s.category].with_thresholds(s.thresholds)
    alerts, _ = queries.alerts(uow, tenant_id, AlertFilter(
        active=True, kind=Kind.LOST_SUSPECTED, tracking_no=tracking_no), None, 1)
    analysis = analyse(scans, samples, shock_max_g=profile.shock_max_g,
                       temp_max_c=profile.temp_max_c, temp_min_c=profile.temp_min_c,
                       route_plan=s.route_plan, lost=bool(alerts))
    return tl, points, analysis


def as_dict(r: Report, verifier_key: str) -> dict[str, Any]:
    """The report as JSON-ready data (the API's ``LiabilityOut``)."""
    a = r.analysis
    return {
        "tracking_no": r.tracking_no, "carrier": r.carrier, "category": r.category,
        "verifier_key": verifier_key,
        "checkpoint": None if r.checkpoint is None else describe(r.checkpoint),
        "segments": [{
            "index": s.index, "holder": _party(party_of(s)) | {"operator_id": None},
            "start": times.iso_us(s.start_us), "end": _iso(s.end_us),
            "facility_id": s.facility_id, "place": s.place, "operators": s.operators,
            "devices": s.devices, "ledger": [x.ledger_index for x in s.scans]}
            for s in a.segments],
        "incidents": [{
            "kind": i.kind, "at": times.iso_us(i.at_us), "end": _iso(i.end_us),
            "segment": i.segment, "party": None if i.party is None else _party(i.party),
            "confidence": i.confidence, "reasoning": i.reasoning, "facts": i.facts,
            "ledger": i.ledger} for i in a.incidents],
        "entries": [{
            "index": c.entry.index, "kind": c.entry.kind,
            "recorded_at": times.iso_us(c.entry.recorded_at_us), "leaf_hash": c.entry.leaf.hex(),
            "entry": json.loads(c.entry.body),
            "proof": None if c.proof is None else {
                "tree_size": c.proof.tree_size, "hashes": [h.hex() for h in c.proof.hashes]}}
            for _, c in sorted(r.cited.items())],
    }


def _party(p: Party) -> dict[str, Any]:
    return {"kind": p.kind, "id": p.id, "carrier": p.carrier, "operator_id": p.operator_id,
            "facility_id": p.facility_id, "vehicle_id": p.vehicle_id}


def _iso(us: int | None) -> str | None:
    return None if us is None else times.iso_us(us)
