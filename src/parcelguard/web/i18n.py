"""Page wording in Chinese (first) and English. Status names come from the status taxonomy."""

from __future__ import annotations

from collections.abc import Mapping

from parcelguard.domain.status import TAXONOMY, Status

LANGS = ("zh", "en")

TEXT: Mapping[str, Mapping[str, str]] = {
    "zh": {
        "title": "包裹追踪",
        "lookup_lead": "输入运单号和收件人手机号后四位查询包裹。",
        "tracking_no": "运单号",
        "phone_last4": "手机号后四位",
        "look_up": "查询",
        "not_found": "未找到与该运单号和手机号后四位匹配的包裹。",
        "locked": "该运单号查询错误次数过多，已锁定至 {until}。",
        "tries_left": "还可尝试 {n} 次。",
        "too_many": "查询过于频繁，请稍后再试。",
        "eta": "预计送达",
        "eta_range": "最早 {low}，最晚 {high}",
        "promised": "承诺送达",
        "delivered_at": "签收时间",
        "carrier": "承运商",
        "route": "线路",
        "recipient": "收件人",
        "timeline": "物流轨迹",
        "map": "位置",
        "current": "当前位置",
        "destination": "目的地",
        "temperature": "温度曲线",
        "temp_band": "安全温区 {lo}–{hi} °C",
        "excursions": "超温 {n} 次，共 {minutes} 分钟",
        "no_excursion": "全程在安全温区内",
        "humidity": "湿度",
        "customs": "清关进度",
        "customs_submitted": "已申报",
        "customs_in_progress": "查验中",
        "customs_cleared": "已放行",
        "customs_held": "海关扣留",
        "shock": "检测到冲击 {g} g",
        "condition": "包裹状况：{c}",
        "share": "分享链接",
        "share_hint": "持有此链接的人可查看同一页面（隐藏个人信息），14 天内有效。",
        "live": "实时更新",
        "no_events": "暂无物流信息",
        "fragile": "易碎品",
        "cold_chain": "冷链",
        "cross_border": "跨境",
        "high_value": "贵重",
        "general": "普通",
        "switch": "English",
    },
    "en": {
        "title": "Track a parcel",
        "lookup_lead": "Enter the tracking number and the last 4 digits of the recipient's phone.",
        "tracking_no": "Tracking number",
        "phone_last4": "Last 4 digits of the phone",
        "look_up": "Look up",
        "not_found": "No parcel matches this tracking number and these digits.",
        "locked": "Too many wrong tries for this tracking number: locked until {until}.",
        "tries_left": "{n} tries left.",
        "too_many": "Too many lookups; please wait a minute.",
        "eta": "Estimated delivery",
        "eta_range": "between {low} and {high}",
        "promised": "Promised by",
        "delivered_at": "Delivered",
        "carrier": "Carrier",
        "route": "Route",
        "recipient": "Recipient",
        "timeline": "Journey",
        "map": "Where it is",
        "current": "Current position",
        "destination": "Destination",
        "temperature": "Temperature",
        "temp_band": "safe band {lo}–{hi} °C",
        "excursions": "{n} excursions, {minutes} minutes out of range",
        "no_excursion": "within the safe band all the way",
        "humidity": "Humidity",
        "customs": "Customs",
        "customs_submitted": "Submitted",
        "customs_in_progress": "In progress",
        "customs_cleared": "Cleared",
        "customs_held": "Held",
        "shock": "Shock of {g} g detected",
        "condition": "Condition: {c}",
        "share": "Share link",
        "share_hint": "Anyone with this link sees this page (personal data masked) for 14 days.",
        "live": "Live",
        "no_events": "No scans yet",
        "fragile": "Fragile",
        "cold_chain": "Cold chain",
        "cross_border": "Cross-border",
        "high_value": "High value",
        "general": "General",
        "switch": "中文",
    },
}

CONDITIONS: Mapping[str, Mapping[str, str]] = {
    "zh": {"intact": "完好", "damaged": "破损", "wet": "受潮", "opened": "被拆开",
           "missing_items": "内件缺失"},
    "en": {"intact": "intact", "damaged": "damaged", "wet": "wet", "opened": "opened",
           "missing_items": "items missing"},
}


def lang_of(value: str | None) -> str:
    return value if value in LANGS else "zh"


def status_name(status: Status, lang: str) -> str:
    info = TAXONOMY[status]
    return info.zh if lang == "zh" else info.en
