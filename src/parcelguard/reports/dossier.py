"""The evidence dossier: one PDF that settles a claim, and that anyone can check offline.

Pages: the parcel; the verdicts (incident, responsible party, reasoning, confidence); the
custody table; the timeline; the route on China's province outlines and, for cold chain, the
temperature curve (both drawn here as SVG); and an appendix with every cited ledger entry, its
leaf hash and inclusion proof, and the signed checkpoint they lead to.

The same proofs travel inside the PDF as an attached file, ``proofs.json``: the checkpoint note,
the verifier key, and each entry's exact canonical bytes with its proof. ``verify`` (the
``parcelguard ledger verify-dossier`` command) reads that attachment back and checks the
checkpoint's signature, every entry's leaf hash and every inclusion proof, and that every fact
the verdicts cite is among them. A changed byte anywhere in the bundle fails it. The printed
pages are for people; the attachment is what is verified.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from parcelguard.domain import privacy, times
from parcelguard.domain.ledger import checkpoint as notes
from parcelguard.domain.ledger import merkle
from parcelguard.domain.shipment import Category
from parcelguard.reports import geo
from parcelguard.reports.label import render_pdf
from parcelguard.rules.profiles import Profile
from parcelguard.services import liability
from parcelguard.services.ports import SignatureCheck, UnitOfWork

ZONE = ZoneInfo("Asia/Shanghai")
ATTACHMENT = "proofs.json"
Sign = Callable[[bytes], notes.Signature]
CHINA = Path("node_modules") / "echarts" / "map" / "json" / "china.json"
KINDS = {"shock": "剧烈冲击", "temperature_excursion": "温度超标", "damage": "破损",
         "misroute": "错分", "loss": "丢失", "wrong_recipient": "错投（未核验身份）"}
HOLDERS = {"facility": "网点/分拨中心", "vehicle": "车辆", "courier": "快递员",
           "linehaul": "干线运输", "customs": "海关", "locker": "快递柜",
           "recipient": "收件人", "sender": "寄件人"}
CSS = """
@page { size: A4; margin: 16mm 14mm; @bottom-right { content: counter(page) " / " counter(pages);
        font-size: 8pt; } }
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", sans-serif; font-size: 9.5pt;
       color: #111; }
h1 { font-size: 17pt; margin: 0 0 2mm; } h2 { font-size: 12.5pt; margin: 6mm 0 2mm;
       border-bottom: .4mm solid #333; }
table { width: 100%; border-collapse: collapse; margin: 1mm 0 3mm; }
th, td { border: .2mm solid #999; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; }
.verdict td:nth-child(4) { white-space: nowrap; }
.mono { font-family: "DejaVu Sans Mono", monospace; font-size: 6.5pt; word-break: break-all; }
.note { white-space: pre-wrap; }
.appendix { page-break-before: always; }
.en { color: #555; font-size: 7.5pt; }
svg { width: 100%; }
"""


def _verdicts_body(tracking_no: str, verdicts: list[dict[str, Any]], size: int | None) -> bytes:
    """What the verdict note signs: the parcel, every verdict in full, the checkpoint size."""
    return json.dumps({"tracking_no": tracking_no, "verdicts": verdicts, "checkpoint_size": size},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def bundle(report: dict[str, Any], bodies: dict[int, str], checkpoint_note: str | None,
           checkpoint_size: int | None, sign: Sign) -> dict[str, Any]:
    """What ``proofs.json`` holds: the verdicts, signed with the ledger's key (so they cannot be
    edited or dropped), each cited entry's canonical text with its inclusion proof, and the
    signed checkpoint the proofs lead to."""
    verdicts = [{k: i[k] for k in ("kind", "at", "party", "confidence", "reasoning", "facts",
                                   "ledger")} for i in report["incidents"]]
    body = _verdicts_body(report["tracking_no"], verdicts, checkpoint_size)
    return {"version": 2, "tracking_no": report["tracking_no"],
            "verifier_key": report["verifier_key"], "checkpoint": checkpoint_note,
            "verdicts": verdicts, "verdict_note": notes.format_note(body, [sign(body)]),
            "entries": [{"index": e["index"], "body": bodies[e["index"]],
                         "leaf_hash": e["leaf_hash"], "proof": e["proof"]}
                        for e in report["entries"]]}


def dossier_pdf(report: dict[str, Any], parcel: dict[str, Any], route: Sequence[Sequence[float]],
                curve: dict[str, Any] | None, band: Sequence[float] | None,
                proofs: dict[str, Any], made_at_us: int) -> bytes:
    from weasyprint import Attachment  # with render_pdf: only when a dossier is made

    page = _page(report, parcel, route, curve, band, proofs, made_at_us)
    data = json.dumps(proofs, ensure_ascii=False, indent=1).encode()
    return render_pdf(page, attachments=[Attachment(string=data, name=ATTACHMENT,
                                                    description="ledger proofs")])


def make(uow: UnitOfWork, tenant_id: str, tracking_no: str,
         profiles: Mapping[Category, Profile], verifier_key: str, sign: Sign,
         now_us: int) -> bytes:
    """The dossier of one shipment, from the store."""
    found = liability.report(uow, tenant_id, tracking_no, profiles)
    report = liability.as_dict(found, verifier_key)
    tl, points = found.timeline, found.points
    s = tl.record.shipment
    route = [[st.event.location.lat, st.event.location.lon] for st in tl.events
             if st.event.location and st.event.location.lat is not None
             and st.event.location.lon is not None]
    temps = [p.stored.reading for p in points
             if p.source.startswith("device:") and p.stored.reading.temperature_c is not None]
    curve = {"t": [times.to_us(r.ts) / 1e6 for r in temps],
             "temp": [r.temperature_c for r in temps]} if temps else None
    profile = profiles[s.category].with_thresholds(s.thresholds)
    band = ([profile.temp_min_c, profile.temp_max_c]
            if profile.temp_min_c is not None and profile.temp_max_c is not None else None)
    parcel = {"origin": s.origin.city, "destination": s.destination.city,
              "status": tl.record.state.status.value, "timeline": [{
                  "at": _local(times.to_us(st.event.occurred_at)),
                  "status": st.event.status.value,
                  "place": " ".join(x for x in ((st.event.location.city, st.event.location.name)
                                                if st.event.location else ()) if x),
                  "text": privacy.mask_phones_in(st.event.description or "")}
                  for st in tl.events]}
    bodies = {i: c.entry.body.decode() for i, c in found.cited.items()}
    cp = found.checkpoint
    proofs = bundle(report, bodies, cp.note if cp else None, cp.size if cp else None, sign)
    return dossier_pdf(report, parcel, route, curve, band, proofs, now_us)


def _local(us: int | None) -> str:
    return "—" if us is None else f"{times.from_us(us).astimezone(ZONE):%Y-%m-%d %H:%M}"


def _iso_local(text: str | None) -> str:
    return "—" if not text else _local(times.to_us(times.parse(text, "at")))


def _page(report: dict[str, Any], parcel: dict[str, Any], route: Sequence[Sequence[float]],
          curve: dict[str, Any] | None, band: Sequence[float] | None, proofs: dict[str, Any],
          made_at_us: int) -> str:
    e = html.escape
    verdicts = "".join(
        f"<tr><td>{e(_iso_local(i['at']))}</td><td>{KINDS.get(i['kind'], e(i['kind']))}</td>"
        f"<td>{_party(i['party'])}</td><td>{round(i['confidence'] * 100)}%</td>"
        f"<td>{e(reasoning_zh(i))}<br><span class='en'>{e(i['reasoning'])}</span>"
        f"<br><span class='mono'>账本条目 "
        f"{', '.join(f'#{x}' for x in i['ledger'])}</span></td></tr>"
        for i in report["incidents"]) or "<tr><td colspan=5>记录中没有损害事件</td></tr>"
    custody = "".join(
        f"<tr><td>{s['index']}</td><td>{_party(s['holder'])}</td>"
        f"<td>{e(_iso_local(s['start']))}</td><td>{e(_iso_local(s['end']))}</td>"
        f"<td>{e(s['place'] or s['facility_id'] or '')}</td><td>{e(', '.join(s['operators']))}"
        f"</td><td class='mono'>{', '.join(f'#{x}' for x in s['ledger'])}</td></tr>"
        for s in report["segments"])
    timeline = "".join(
        f"<tr><td>{e(t['at'])}</td><td>{e(t['status'])}</td><td>{e(t['place'])}</td>"
        f"<td>{e(t['text'])}</td></tr>" for t in parcel["timeline"])
    entries = "".join(
        f"<tr><td>#{x['index']}</td><td class='mono'>{x['leaf_hash']}</td>"
        f"<td class='mono'>{' '.join(h[:16] for h in (x['proof'] or {}).get('hashes', []))}"
        f"</td></tr>" for x in proofs["entries"])
    cp = proofs["checkpoint"] or "（尚无签名检查点：证明待下一个检查点）"
    temp = ("" if curve is None or not curve.get("t") else
            f"<h2>温度曲线</h2>{_curve_svg(curve, band)}")
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>{CSS}</style></head><body>
<h1>证据卷宗 · {e(report['tracking_no'])}</h1>
<table><tr><th>承运商</th><td>{e(report['carrier'])}</td><th>类别</th>
<td>{e(report['category'])}</td></tr>
<tr><th>线路</th><td>{e(parcel['origin'])} → {e(parcel['destination'])}</td><th>状态</th>
<td>{e(parcel['status'])}</td></tr>
<tr><th>生成时间</th><td>{_local(made_at_us)}</td><th>验证公钥</th>
<td class="mono">{e(report['verifier_key'])}</td></tr></table>
<h2>责任认定</h2>
<table class="verdict"><colgroup><col style="width:13%"><col style="width:11%">
<col style="width:17%"><col style="width:8%"><col style="width:51%"></colgroup>
<tr><th>时间</th><th>事件</th><th>责任方</th><th>置信度</th><th>依据</th></tr>
{verdicts}</table>
<h2>交接记录（全程监管链）</h2>
<table><tr><th>#</th><th>持有方</th><th>起</th><th>止</th><th>地点</th><th>操作员</th>
<th>账本条目</th></tr>{custody}</table>
<h2>路线</h2>{_map_svg(route)}
{temp}
<h2>物流轨迹</h2>
<table><tr><th>时间</th><th>状态</th><th>地点</th><th>承运商描述</th></tr>{timeline}</table>
<div class="appendix"><h2>附录：账本证明</h2>
<p>每条被引用的账本条目（RFC 8785 规范 JSON）的叶哈希及其到下方签名检查点的包含证明
（RFC 9162）。完整数据作为附件 {ATTACHMENT} 嵌入本 PDF，可用
<code>parcelguard ledger verify-dossier 文件</code> 离线核验。</p>
<table><tr><th>条目</th><th>叶哈希</th><th>包含证明（各哈希前 16 位）</th></tr>{entries}</table>
<h2>签名检查点</h2><p class="mono note">{e(cp)}</p></div>
</body></html>"""


CONDITIONS = {"damaged": "破损", "wet": "受潮", "opened": "被拆开", "missing_items": "内件缺失"}


def _who(p: dict[str, Any] | None, joiner: str = "，") -> str:
    """A party in Chinese: 车辆 沪A1（sf），经手人 OP-3."""
    if p is None:
        return "（尚无扫描记录的持有方）"
    text = f"{HOLDERS.get(p['kind'], p['kind'])} {p['id']}"
    if p.get("carrier"):
        text += f"（{p['carrier']}）"
    if p.get("operator_id") and p["kind"] != "courier":
        text += f"{joiner}经手人 {p['operator_id']}"
    return text


def reasoning_zh(i: dict[str, Any]) -> str:
    """The verdict's reasoning in Chinese, from its kind, facts and party."""
    f, who = i["facts"], _who(i["party"])
    kind = i["kind"]
    if kind == "shock":
        return f"箱内传感器记录到 {f['peak_g']:g} g 冲击（上限 {f['limit_g']:g} g），当时包裹由{who}持有。"
    if kind == "temperature_excursion":
        lo, hi = (("—" if b is None else f"{b:g}") for b in f["band_c"])
        more = len(f.get("segments", [])) - 1
        tail = f"；超温持续期间又经过 {more} 段交接" if more > 0 else ""
        return (f"温度超出 {lo}–{hi} °C 安全区间，持续 {f['minutes']} 分钟（峰值 "
                f"{f['peak_c']:g} °C），开始时包裹由{who}持有{tail}。")
    if kind == "damage":
        seen = CONDITIONS.get(f.get("condition") or "", "异常")
        where = f.get("noted_at_facility_id") or "某次扫描"
        last = f.get("last_intact_facility_id")
        text = f"{where} 首次记录包裹{seen}；" + (f"上一次完好记录在 {last}" if last else
                                              "此前没有扫描记录包裹状况")
        if "shock_g" in f:
            return text + f"，其间记录到 {f['shock_g']:g} g 冲击，当时包裹由{who}持有。"
        many = f.get("holders_in_window", 1)
        return text + (f"，其后由{who}持有。" if many == 1 else
                       f"，其间共有 {many} 个持有方，无传感器证据区分，先归于{who}。")
    if kind == "misroute":
        return (f"包裹在路由计划之外的 {f['wrong_facility_id']} 被扫描，由 {f['sent_from']} 发出"
                f"（{who}）。")
    if kind == "loss":
        return (f"最后一次出现：{f['last_status']}"
                + (f"，地点 {f['last_facility_id']}" if f.get("last_facility_id") else "")
                + f"；当时包裹由{who}持有。")
    if kind == "wrong_recipient":
        return (f"快递员 {i['party']['id'] if i['party'] else '?'} 未核验收件人身份即完成签收"
                f"（签收人：{f.get('signer') or '未知'}）。")
    return str(i["reasoning"])


def _party(p: dict[str, Any] | None) -> str:
    """The same, as a table cell (HTML, the handler on a line of its own)."""
    return "—" if p is None else html.escape(_who(p, "\n")).replace("\n", "<br>")


def _map_svg(route: Sequence[Sequence[float]]) -> str:
    """The province outlines and the route, in a simple equirectangular projection."""
    width, height = 700.0, 520.0
    lon0, lon1, lat0, lat1 = 73.0, 135.5, 17.5, 54.0
    if route:
        lats, lons = [p[0] for p in route], [p[1] for p in route]
        pad = 3.0
        lon0, lon1 = max(73.0, min(lons) - pad), min(135.5, max(lons) + pad)
        lat0, lat1 = max(17.5, min(lats) - pad), min(54.0, max(lats) + pad)
    sx = width / (lon1 - lon0)
    sy = height / (lat1 - lat0)
    scale = min(sx, sy)

    def xy(lat: float, lon: float) -> str:
        return f"{(lon - lon0) * scale:.1f},{(lat1 - lat) * scale:.1f}"

    shapes = []
    if CHINA.is_file():
        data = json.loads(geo.china_geojson(CHINA))
        for f in data["features"]:
            g = f["geometry"]
            polys = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
            for poly in polys:
                for ring in poly:
                    pts = " ".join(xy(lat, lon) for lon, lat in ring[::2])
                    shapes.append(f'<polygon points="{pts}" fill="#f1f3f5" stroke="#999" '
                                  'stroke-width="0.6"/>')
    line = " ".join(xy(lat, lon) for lat, lon in route)
    ends = ""
    if route:
        first, last = route[0], route[-1]
        ends = (f'<circle cx="{xy(*first).split(",")[0]}" cy="{xy(*first).split(",")[1]}" '
                'r="5" fill="#1864ab"/>'
                f'<circle cx="{xy(*last).split(",")[0]}" cy="{xy(*last).split(",")[1]}" '
                'r="6" fill="#e8590c"/>')
    w, h = (lon1 - lon0) * scale, (lat1 - lat0) * scale
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}">'
            f'{"".join(shapes)}<polyline points="{line}" fill="none" stroke="#1971c2" '
            f'stroke-width="3"/>{ends}</svg>')


def _curve_svg(curve: dict[str, Any], band: Sequence[float] | None) -> str:
    ts, temps = curve["t"], curve["temp"]
    values = [v for v in temps if v is not None] + list(band or [])
    lo, hi = min(values) - 1, max(values) + 1
    w, h = 700.0, 200.0
    t0, t1 = ts[0], ts[-1] if ts[-1] > ts[0] else ts[0] + 1

    def pt(t: float, v: float) -> str:
        return f"{(t - t0) / (t1 - t0) * w:.1f},{(hi - v) / (hi - lo) * h:.1f}"

    line = " ".join(pt(t, v) for t, v in zip(ts, temps, strict=True) if v is not None)
    guides = ""
    if band:
        for b in band:
            y = (hi - b) / (hi - lo) * h
            guides += (f'<line x1="0" x2="{w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#74c0fc" '
                       f'stroke-dasharray="6 4"/><text x="4" y="{y - 3:.1f}" font-size="11" '
                       f'fill="#1864ab">{b:g} °C</text>')
        over = " ".join(pt(t, v) for t, v in zip(ts, temps, strict=True)
                        if v is not None and not band[0] <= v <= band[1])
        if over:
            guides += "".join(f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" '
                              'fill="#c92a2a"/>' for p in over.split())
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}">'
            f'<rect width="{w}" height="{h}" fill="#fff" stroke="#ccc"/>{guides}'
            f'<polyline points="{line}" fill="none" stroke="#e8590c" stroke-width="2"/></svg>')


# ---- checking a dossier ----

def read_bundle(pdf: bytes) -> dict[str, Any]:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    files = reader.attachments
    if ATTACHMENT not in files:
        raise ValueError(f"no {ATTACHMENT} attached: not a ParcelGuard dossier")
    data: dict[str, Any] = json.loads(files[ATTACHMENT][0])
    return data


def verify(pdf: bytes, checker: Callable[[str], SignatureCheck],
           pinned_key: str | None = None) -> list[str]:
    """Problems found; empty when the verdicts are signed by the key, every entry they cite is
    this parcel's and is proven against the signed checkpoint. ``checker`` makes a signature
    check from a verifier key (crypto.keys.Ed25519Check)."""
    try:
        b = read_bundle(pdf)
    except Exception as exc:  # an unreadable PDF or bundle is a finding, not a crash
        return [f"cannot read the dossier: {exc}"]
    problems: list[str] = []
    key = pinned_key or str(b.get("verifier_key", ""))
    if pinned_key and b.get("verifier_key") != pinned_key:
        problems.append("the dossier names another verifier key than the one given")
    if b.get("version") != 2 or not b.get("checkpoint") or not b.get("verdict_note"):
        return [*problems, "no signed checkpoint or signed verdicts: nothing to prove"]
    try:
        check = checker(key)
        body, signatures = notes.parse_note(b["checkpoint"])
        if not check(body, signatures):
            problems.append("the checkpoint's signature does not verify with the verifier key")
        cp = notes.parse_body(body)
        vbody, vsigs = notes.parse_note(b["verdict_note"])
        if not check(vbody, vsigs):
            problems.append("the verdicts' signature does not verify with the verifier key")
    except notes.NoteError as exc:
        return [*problems, f"a signed note cannot be read: {exc}"]
    tn, verdicts = b.get("tracking_no"), b.get("verdicts")
    if not isinstance(verdicts, list) or vbody != _verdicts_body(str(tn), verdicts, cp.size):
        problems.append("the verdicts, the parcel or the checkpoint differ from what was signed")
        verdicts = []
    proven: set[int] = set()
    tenants: set[str] = set()
    for entry in b.get("entries", []):
        index = entry["index"]
        leaf = merkle.leaf_hash(entry["body"].encode())
        if leaf.hex() != entry["leaf_hash"]:
            problems.append(f"entry #{index}: its body does not hash to its leaf hash")
            continue
        data = json.loads(entry["body"])
        if data.get("tracking_no") not in (None, tn):
            problems.append(f"entry #{index}: it is about {data.get('tracking_no')}, not {tn}")
            continue
        tenants.add(str(data.get("tenant")))
        if entry.get("proof") is None:
            problems.append(f"entry #{index}: no inclusion proof")
            continue
        try:
            merkle.verify_inclusion(index, cp.size, leaf,
                                    [bytes.fromhex(h) for h in entry["proof"]["hashes"]],
                                    cp.root)
            proven.add(index)
        except (merkle.ProofError, ValueError) as exc:
            problems.append(f"entry #{index}: {exc}")
    if len(tenants) > 1:
        problems.append("the entries belong to more than one tenant")
    for v in verdicts:
        missing = [i for i in v["ledger"] if i not in proven]
        if not v["ledger"] or missing:
            problems.append(f"the {v['kind']} verdict cites unproven entries {missing or '(none)'}")
    return problems
