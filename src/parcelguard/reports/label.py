"""Waybill labels (面单): 100 × 150 mm PDF, one per parcel.

A Code 128 barcode and a QR code of the tracking number (python-barcode and segno draw them as
SVG), the carrier, origin and destination cities, the recipient masked as on a privacy waybill
(隐私面单: the courier calls through a virtual number; the label never shows the phone's last
four digits, which open the public lookup), the promised date, and the category marks
易碎品 / 冷链 / 贵重 / 跨境. WeasyPrint lays it out with a CJK font from the system
(WenQuanYi Micro Hei or Noto Sans CJK).
"""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import segno
from barcode import Code128
from barcode.writer import SVGWriter

from parcelguard.domain.errors import Unavailable
from parcelguard.domain.shipment import Category, Shipment

ZONE = ZoneInfo("Asia/Shanghai")
MARKS = {Category.FRAGILE: "易碎品", Category.COLD_CHAIN: "冷链", Category.HIGH_VALUE: "贵重",
         Category.CROSS_BORDER: "跨境"}
CSS = """
@page { size: 100mm 150mm; margin: 4mm; }
* { box-sizing: border-box; }
body { margin: 0; font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC",
       sans-serif; font-size: 9pt; color: #000; }
.row { border: 0.4mm solid #000; padding: 2mm; margin-bottom: 1.5mm; }
.carrier { font-size: 16pt; font-weight: bold; display: flex; justify-content: space-between; }
.route { font-size: 24pt; font-weight: bold; text-align: center; letter-spacing: 1mm;
         padding: 3mm; }
.bars img { width: 100%; height: 30mm; }
.no { text-align: center; font-size: 13pt; font-weight: bold; letter-spacing: .6mm; }
.who { display: flex; justify-content: space-between; align-items: center; font-size: 11pt;
       min-height: 34mm; }
.who img { width: 30mm; height: 30mm; }
.marks span { display: inline-block; border: 0.5mm solid #000; padding: .5mm 1.5mm;
              margin-right: 1.5mm; font-size: 13pt; font-weight: bold; }
.small { font-size: 7pt; }
"""


def _svg_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()


def code128_svg(text: str) -> bytes:
    out = io.BytesIO()
    Code128(text, writer=SVGWriter()).write(out, {"module_height": 15.0, "font_size": 0,
                                                  "quiet_zone": 2.0, "text_distance": 0})
    return out.getvalue()


def qr_svg(text: str) -> bytes:
    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="svg", scale=4, border=2)
    return out.getvalue()


def label_html(s: Shipment, printed_at: datetime) -> str:
    e = html.escape
    r = s.recipient
    marks = "".join(f"<span>{m}</span>" for c, m in MARKS.items() if s.category is c)
    notes = []
    if s.promised_by:
        notes.append(f"承诺送达 {s.promised_by.astimezone(ZONE):%Y-%m-%d %H:%M}")
    if s.order_ref:
        notes.append(e(f"订单 {s.order_ref}"))
    printed = f"{printed_at.astimezone(ZONE):%Y-%m-%d %H:%M}"
    who = (f"<div><b>收件人</b> {e(r.name)} {e(r.phone)}<br>{e(r.address)}</div>"
           if r else "<div><b>收件人</b> —</div>")
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>{CSS}</style></head><body>
<div class="row carrier"><span>{e(s.carrier.upper())}</span><span class="marks">{marks}</span></div>
<div class="row route">{e(s.origin.city)} → {e(s.destination.city)}</div>
<div class="row bars"><img alt="barcode" src="{_svg_uri(code128_svg(s.tracking_no))}">
  <div class="no">{e(s.tracking_no)}</div></div>
<div class="row who">{who}<img alt="QR" src="{_svg_uri(qr_svg(s.tracking_no))}"></div>
<div class="row small">{" · ".join(notes)}
  <br>隐私面单：收件人电话已隐藏，派件时请使用虚拟号联系 · 打印于 {printed}</div>
</body></html>"""


def label_pdf(s: Shipment, printed_at: datetime) -> bytes:
    return render_pdf(label_html(s, printed_at))


def render_pdf(page: str, **options: Any) -> bytes:
    """HTML to PDF. WeasyPrint is imported here, not at start-up: a server on a machine without
    Debian's pango still serves everything else, and says what to install."""
    try:
        from weasyprint import HTML
    except OSError as exc:  # the pango library did not load
        raise Unavailable("PDF rendering needs pango: apt-get install libpango-1.0-0 "
                          f"libpangoft2-1.0-0 ({exc})") from None
    pdf: bytes = HTML(string=page).write_pdf(**options)
    return pdf
