"""Waybill labels: the PDF's size and text (poppler), and both codes decoded back (zbar)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from parcelguard.domain.tenancy import Role
from tests.conftest import BUS, Server
from tests.factories import shipment_json
from tests.integration.test_cli import EXE

SQLITE = pytest.mark.parametrize("db_url", ["sqlite", BUS], indirect=True)
TOOLS = ("pdftotext", "pdfinfo", "pdftoppm", "zbarimg")


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"the label tests need {', '.join(missing)}: "
                    "apt-get install poppler-utils zbar-tools")


def text_of(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def decoded(pdf: Path) -> set[str]:
    subprocess.run(["pdftoppm", "-png", "-r", "300", str(pdf), str(pdf.with_suffix(""))],
                   check=True)
    png = next(pdf.parent.glob(f"{pdf.stem}*.png"))
    out = subprocess.run(["zbarimg", "-q", str(png)], capture_output=True, text=True).stdout
    return set(out.split())


@SQLITE
@pytest.mark.parametrize(("category", "mark"), [("fragile", "易碎品"), ("cold_chain", "冷链"),
                                                ("high_value", "贵重"), ("cross_border", "跨境")])
def test_the_label_is_100_by_150_mm_masked_marked_and_scannable(
    server: Server, tmp_path: Path, category: str, mark: str,
) -> None:
    api = server.client(Role.MERCHANT)
    tn = "SF1400000001"
    assert api.post("/v1/shipments", json=shipment_json(tn, category=category,
                                                        order_ref="ORD-88")).status_code == 201
    r = api.get(f"/v1/shipments/{tn}/label.pdf")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/pdf")
    pdf = tmp_path / "label.pdf"
    pdf.write_bytes(r.content)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert "Page size:       283.465 x 425.197 pts" in info  # 100 x 150 mm
    assert "Pages:           1" in info
    text = text_of(pdf)
    assert mark in text
    assert "上海 → 北京" in text
    assert "张** 138********" in text
    assert "北京市****" in text
    assert "订单 ORD-88" in text
    for secret in ("13812345678", "5678", "三丰", "建国路"):
        assert secret not in text
    assert decoded(pdf) == {f"CODE-128:{tn}", f"QR-Code:{tn}"}


@SQLITE
def test_a_general_parcel_has_no_mark_and_another_tenants_is_not_found(server: Server) -> None:
    api = server.client(Role.MERCHANT)
    assert api.post("/v1/shipments", json=shipment_json("SF1400000002")).status_code == 201
    assert server.client(Role.MERCHANT, tenant="other").get(
        "/v1/shipments/SF1400000002/label.pdf").status_code == 404
    assert server.anonymous().get("/v1/shipments/SF1400000002/label.pdf").status_code == 401


@SQLITE
def test_the_command_writes_the_label(server: Server, tmp_path: Path) -> None:
    server.client(Role.MERCHANT).post("/v1/shipments", json=shipment_json("SF1400000003"))
    s = server.system.settings
    env = {**os.environ, "PARCELGUARD_DATABASE_URL": s.db_url,
           "PARCELGUARD_DATA_DIR": str(s.data_dir), "PARCELGUARD_LEDGER_KEY": s.ledger_key or "",
           "PARCELGUARD_DATA_KEY": s.data_key or ""}
    out = tmp_path / "w.pdf"
    done = subprocess.run([*EXE, "label", "SF1400000003", "--tenant", "acme", "--out", str(out)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert decoded(out) == {"CODE-128:SF1400000003", "QR-Code:SF1400000003"}
