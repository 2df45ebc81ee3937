"""The liability analysis against the simulator's ground truth: for every parcel the simulator
harmed (rough handling, reefer failure, loss, misroute, wrong recipient), the report names the
custody segment and the party the label names, and proves its facts against the ledger."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from parcelguard import bootstrap
from parcelguard.config import Settings
from parcelguard.crypto.keys import Ed25519Check
from parcelguard.domain import times
from parcelguard.domain.ledger import merkle
from parcelguard.domain.liability import Incident
from parcelguard.ingest.replay import Replay
from parcelguard.reports import dossier
from parcelguard.services import liability
from parcelguard.services.clock import ManualClock
from parcelguard.simulator.scenario import SimConfig, Simulation

TENANT = "acme"
KINDS = {"rough_handling": "shock", "reefer_failure": "temperature_excursion", "lost": "loss",
         "misroute": "misroute", "wrong_recipient": "wrong_recipient"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory,
          ) -> tuple[bootstrap.System, list[dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("sim")
    config = SimConfig(seed=4, shipments=400, anomaly_rate=0.4,
                       start=datetime(2026, 11, 20, tzinfo=times.zone(480)),
                       clock_every=timedelta(minutes=15))
    events, labels = Simulation(config).write(folder)
    key = base64.b64encode(os.urandom(32)).decode()
    clock = ManualClock(datetime(1970, 1, 1, tzinfo=UTC))
    system = bootstrap.build(Settings(database_url="memory://", ledger_key=key, data_key=key,
                                      checkpoint_every=500), clock=clock)
    system.ingestor.start()
    with system.store.unit_of_work() as uow:
        uow.tenants.add(TENANT, TENANT, 0)
        uow.commit()
    with events.open("rb") as f:
        Replay(system.ingestor, clock, TENANT, system.encode).feed(f)
    system.ingestor.process([])  # sign a checkpoint over everything
    found = [json.loads(line) for line in labels.read_text(encoding="utf-8").splitlines()]
    return system, [x for x in found if x["anomaly"] in KINDS]


def analysed(system: bootstrap.System, tn: str) -> liability.Report:
    with system.store.unit_of_work(write=False) as uow:
        return liability.report(uow, TENANT, tn, system.ingestor.alerting.profiles)


def verdict(report: liability.Report, kind: str) -> Incident:
    found = [i for i in report.analysis.incidents if i.kind == kind]
    assert found, f"{report.tracking_no}: no {kind} incident in {report.analysis.incidents}"
    return found[0]


@pytest.mark.parametrize("anomaly", sorted(KINDS))
def test_the_report_names_the_labelled_party(
    world: tuple[bootstrap.System, list[dict[str, Any]]], anomaly: str,
) -> None:
    system, labels = world
    cases = [x for x in labels if x["anomaly"] == anomaly]
    assert len(cases) >= 3, f"the simulation gave only {len(cases)} {anomaly} cases"
    for label in cases:
        report = analysed(system, label["tracking_no"])
        inc = verdict(report, KINDS[anomaly])
        assert inc.party is not None
        p = inc.party
        where = f"{label['tracking_no']} {anomaly}: {inc.reasoning}"
        if label["vehicle_id"] and anomaly in ("reefer_failure", "lost"):
            assert (p.kind, p.id) == ("vehicle", label["vehicle_id"]), where
        if label["facility_id"]:
            assert label["facility_id"] in (p.id, p.facility_id), where
        if label["operator_id"]:
            assert p.operator_id == label["operator_id"], where
        if anomaly == "misroute":
            assert p.vehicle_id == label["vehicle_id"], where
        assert p.carrier == label["carrier"], where
        start = times.to_us(times.parse(label["start"], "start"))
        end = times.to_us(times.parse(label["end"], "end")) if label["end"] else None
        if anomaly in ("rough_handling", "reefer_failure"):  # placed inside the harm's window
            assert start <= inc.at_us <= (end or inc.at_us), where
        assert inc.segment is not None
        seg = report.analysis.segments[inc.segment]
        assert seg.holds(inc.at_us) or anomaly in ("misroute", "wrong_recipient", "lost"), where


def test_every_cited_fact_is_proven_against_the_signed_checkpoint(
    world: tuple[bootstrap.System, list[dict[str, Any]]],
) -> None:
    system, labels = world
    for label in labels[:10]:
        report = analysed(system, label["tracking_no"])
        cp = report.checkpoint
        assert cp is not None
        cited = {i for inc in report.analysis.incidents for i in inc.ledger}
        assert cited
        assert cited <= set(report.cited)
        for index in cited:
            c = report.cited[index]
            assert c.proof is not None
            merkle.verify_inclusion(index, cp.size, c.entry.leaf, c.proof.hashes, cp.root)
            tampered = bytes([c.entry.leaf[0] ^ 1]) + c.entry.leaf[1:]
            with pytest.raises(merkle.ProofError):
                merkle.verify_inclusion(index, cp.size, tampered, c.proof.hashes, cp.root)


def _dossier(system: bootstrap.System, tn: str) -> bytes:
    with system.store.unit_of_work(write=False) as uow:
        return dossier.make(uow, TENANT, tn, system.ingestor.alerting.profiles,
                            system.signer.verifier_key(), system.signer.sign, 0)


def test_the_dossier_renders_in_chinese_and_its_proofs_verify_offline(
    world: tuple[bootstrap.System, list[dict[str, Any]]], tmp_path: Path,
) -> None:
    system, labels = world
    case = next(x for x in labels if x["anomaly"] == "reefer_failure")
    pdf = tmp_path / "d.pdf"
    pdf.write_bytes(_dossier(system, case["tracking_no"]))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    for words in ("证据卷宗", "责任认定", "温度超标", f"车辆 {case['vehicle_id']}", "交接记录",
                  "附录：账本证明", "签名检查点", case["tracking_no"]):
        assert words in text, words
    plain = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert "温度超出 2–8 °C 安全区间" in plain  # the verdict's reasoning, in Chinese
    assert "开始时包裹由车辆" in plain
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")],
                   check=True)
    assert len(list(tmp_path.glob("page-*.png"))) >= 2
    assert dossier.verify(pdf.read_bytes(), Ed25519Check) == []
    assert dossier.verify(pdf.read_bytes(), Ed25519Check, system.signer.verifier_key()) == []


def test_one_altered_byte_in_a_proof_fails_verification(
    world: tuple[bootstrap.System, list[dict[str, Any]]],
) -> None:
    system, labels = world
    case = next(x for x in labels if x["anomaly"] == "rough_handling")
    good = _dossier(system, case["tracking_no"])
    key = system.signer.verifier_key()
    assert dossier.verify(good, Ed25519Check, key) == []

    def forged(change: Callable[[dict[str, Any]], None]) -> list[str]:
        bundle = dossier.read_bundle(good)
        change(bundle)
        report = {"tracking_no": bundle["tracking_no"], "carrier": "sf", "category": "fragile",
                  "verifier_key": bundle["verifier_key"], "incidents": [], "segments": [],
                  "entries": []}
        pdf = dossier.dossier_pdf(report, {"origin": "", "destination": "", "status": "",
                                           "timeline": []}, [], None, None, bundle, 0)
        return dossier.verify(pdf, Ed25519Check, key)

    def flip_proof(b: dict[str, Any]) -> None:
        hashes = b["entries"][0]["proof"]["hashes"]
        hashes[0] = ("0" if hashes[0][0] != "0" else "1") + hashes[0][1:]  # one hex digit

    def drop_verdicts(b: dict[str, Any]) -> None:
        b["verdicts"] = []

    def blame_another(b: dict[str, Any]) -> None:
        b["verdicts"][0]["party"]["id"] = "HUB-ELSEWHERE"

    def empty_citations(b: dict[str, Any]) -> None:
        for v in b["verdicts"]:
            v["ledger"] = []

    assert any("entry #" in p for p in forged(flip_proof))
    for change in (drop_verdicts, blame_another, empty_citations):
        assert any("differ from what was signed" in p for p in forged(change)), change.__name__
    flipped = bytearray(good)
    at = flipped.index(b"stream\n", flipped.index(b"/EmbeddedFile")) + 60  # in its data
    flipped[at] ^= 0x01
    assert dossier.verify(bytes(flipped), Ed25519Check, key) != []
    other_key = "other+00000000+" + "A" * 44
    assert dossier.verify(good, Ed25519Check, other_key) != []
