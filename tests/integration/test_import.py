"""Bulk import through a real server: NDJSON and CSV, refused rows aside, resuming."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.tenancy import Role
from parcelguard.ingest.importer import Importer, State
from tests.conftest import T0, Server, free_port
from tests.factories import shipment_json
from tests.integration.test_cli import EXE

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the API is what differs


def scan(tn: str, minutes: float, **extra: Any) -> dict[str, Any]:
    return {"type": "event", "tracking_no": tn, "carrier": "sf", "status": "in_transit",
            "occurred_at": times.iso(T0 - timedelta(hours=5) + timedelta(minutes=minutes)),
            **extra}


def ndjson(path: Path, lines: list[object]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False))
                            + "\n" for x in lines))
    return path


def importer(server: Server, path: Path, **kw: Any) -> Importer:
    key = server.keys.acme[Role.MERCHANT]
    return Importer(server.url, key, path, pause=lambda s: None, **kw)


def timeline(server: Server, tn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = server.client().get(
        f"/v1/shipments/{tn}/timeline").json()["events"]
    return events


@SQLITE
def test_a_mixed_ndjson_file_is_imported_and_refused_rows_are_set_aside(
    server: Server, tmp_path: Path,
) -> None:
    f = ndjson(tmp_path / "history.ndjson", [
        {"type": "shipment", **shipment_json("SF1400000001")},
        {"type": "shipment", **shipment_json("SF1400000002")},
        scan("SF1400000001", 0), scan("SF1400000001", 30),
        scan("SF1400000002", 10, occurred_at="2026-11-20 08:00:00"),  # no offset
        "{not json",
        {"type": "parcel", "tracking_no": "x"},
        scan("SF1400000002", 40, received_at="2026-11-20T08:00:00+08:00"),  # export stamps go
    ])
    state = importer(server, f).run()
    assert state.done
    assert dict(state.results) == {"accepted": 5, "duplicate": 0, "quarantined": 0,
                                   "rejected": 3}
    assert len(timeline(server, "SF1400000001")) == 2
    assert len(timeline(server, "SF1400000002")) == 1
    refused = [json.loads(x) for x in (tmp_path / "history.ndjson.rejected.ndjson").read_text()
               .splitlines()]
    assert sorted(r["line"] for r in refused) == [5, 6, 7]
    by_line = {r["line"]: r for r in refused}
    assert by_line[5]["field"] == "occurred_at"
    assert by_line[5]["item"]["tracking_no"] == "SF1400000002"
    assert by_line[6]["reason"].startswith("not a JSON object")
    assert by_line[7]["reason"] == "unknown type 'parcel'"
    again = importer(server, f).run()  # done already: nothing is sent twice
    assert again.results == state.results


@SQLITE
def test_an_interrupted_import_resumes_where_it_stopped(server: Server, tmp_path: Path) -> None:
    lines: list[object] = [{"type": "shipment", **shipment_json(f"SF14000{i:05d}")}
                           for i in range(10)]
    lines += [scan(f"SF14000{i % 10:05d}", i / 12) for i in range(2500)]  # 5 s apart
    f = ndjson(tmp_path / "scans.ndjson", lines)
    first = importer(server, f, max_batches=2).run()  # the shipments, then 1,000 scans
    assert not first.done
    assert first.line == 1010
    saved = State.load(tmp_path / "scans.ndjson.import-state")
    assert (saved.offset, saved.line) == (first.offset, 1010)
    done = importer(server, f).run()
    assert done.done
    assert done.results["accepted"] == 2510
    assert done.results["duplicate"] == 0  # nothing was sent twice
    assert sum(len(timeline(server, f"SF14000{i:05d}")) for i in range(10)) == 2500


@SQLITE
def test_a_resumed_import_sets_each_refused_line_aside_once(server: Server, tmp_path: Path) -> None:
    lines: list[object] = [{"type": "shipment", **shipment_json("SF1400000001")}, "{broken"]
    lines += [scan("SF1400000001", i / 12) for i in range(1000)]
    lines += ["{after the first batch", scan("SF1400000001", 90), "[1]"]
    f = ndjson(tmp_path / "scans.ndjson", lines)
    first = importer(server, f, max_batches=2).run()  # read past the line, stopped before it
    assert (first.line, first.done) == (1002, False)
    done = importer(server, f).run()
    assert done.done
    assert (done.results["accepted"], done.results["rejected"]) == (1002, 3)
    refused = [json.loads(x) for x in (tmp_path / "scans.ndjson.rejected.ndjson").read_text()
               .splitlines()]
    assert [r["line"] for r in refused] == [2, 1003, 1005]


@SQLITE
def test_csv_rows_map_dotted_columns_lists_and_numbers(server: Server, tmp_path: Path) -> None:
    shipments = tmp_path / "orders.csv"
    shipments.write_text(
        "tracking_no,carrier,category,origin.city,destination.city,destination.lat,"
        "destination.lon,route_plan,declared_value_cny\n"
        "SF1400000007,sf,fragile,上海,北京,39.9,116.4,HUB-SHA|HUB-PEK,1299.5\n"
        "SF1400000008,sf,general,上海,\"北京, 朝阳\",,,,\n"
        "SF1400000009,sf,general,上海,北京,not-a-number,116.4,,\n")
    state = importer(server, shipments, kind="shipment").run()
    assert (state.results["accepted"], state.results["rejected"]) == (2, 1)
    got = server.client().get("/v1/shipments/SF1400000007").json()
    assert got["route_plan"] == ["HUB-SHA", "HUB-PEK"]
    assert got["declared_value_cny"] == 1299.5
    assert got["destination"]["lat"] == 39.9
    assert server.client().get("/v1/shipments/SF1400000008").json()["destination"]["city"] == (
        "北京, 朝阳")
    [refused] = [json.loads(x) for x in (tmp_path / "orders.csv.rejected.ndjson").read_text()
                 .splitlines()]
    assert (refused["line"], refused["field"]) == (4, "destination.lat")

    scans = tmp_path / "scans.csv"
    scans.write_text("tracking_no,carrier,status,occurred_at,location.facility_id\n"
                     f"SF1400000007,sf,in_transit,{times.iso(T0 - timedelta(hours=1))},HUB-SHA\n")
    assert importer(server, scans, kind="event").run().results["accepted"] == 1
    assert timeline(server, "SF1400000007")[0]["location"]["facility_id"] == "HUB-SHA"


@SQLITE
def test_a_csv_without_a_kind_is_refused(server: Server, tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("tracking_no\nSF1\n")
    with pytest.raises(InvalidInput, match="kind"):
        importer(server, f).run()


def test_an_unreachable_server_is_retried_then_reported(tmp_path: Path) -> None:
    f = ndjson(tmp_path / "x.ndjson", [{"type": "shipment", **shipment_json("SF1400000001")}])
    waits: list[float] = []
    job = Importer(f"http://127.0.0.1:{free_port()}", "pgk_x", f, pause=waits.append)
    with pytest.raises(InvalidInput, match="gave up after 8 tries"):
        job.run()
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert not (tmp_path / "x.ndjson.import-state").exists()  # nothing was acknowledged


@SQLITE
def test_the_command_prints_a_summary(server: Server, tmp_path: Path) -> None:
    f = ndjson(tmp_path / "one.ndjson", [{"type": "shipment", **shipment_json("SF1400000001")},
                                         scan("SF1400000001", 0), "{bad"])
    done = subprocess.run([*EXE, "import", str(f), "--url", server.url, "--key",
                           server.keys.acme[Role.MERCHANT]], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr
    assert re.search(r"accepted\s+│\s+2", done.stdout)
    assert re.search(r"rejected\s+│\s+1", done.stdout)
    assert "one.ndjson.rejected.ndjson" in done.stdout
    again = subprocess.run([*EXE, "import", str(f), "--url", server.url, "--key",
                            server.keys.acme[Role.MERCHANT]], capture_output=True, text=True,
                           timeout=120)
    assert "imported already" in again.stderr
