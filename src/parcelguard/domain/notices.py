"""Consumer notifications: what a recipient hears about their parcel, when, and in which words.

A subscription names one parcel, a channel (e-mail, SMS, or a signed webhook to a mini-program
or app backend), an address, a language and optional quiet hours. A notice is owed once per
status change the recipient cares about (picked up, out for delivery, delivered, waiting at a
pickup point, a failed attempt, an exception, on its way back) and once per alert opened that
changes their plans (a delay risk, a cold-chain temperature excursion). A notice falling in the
quiet hours waits until they end.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parcelguard.domain.alerts import Kind
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.status import TAXONOMY, Status

DEFAULT_TZ = "Asia/Shanghai"
LOCALES = ("zh", "en")


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WEBHOOK = "webhook"


class NoticeState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up after the last retry
    DROPPED = "dropped"  # unsubscribed before it went out


# the status changes a recipient is told about
STATUS_TOPICS = frozenset({
    Status.PICKED_UP, Status.OUT_FOR_DELIVERY, Status.DELIVERED, Status.AVAILABLE_FOR_PICKUP,
    Status.FAILED_ATTEMPT, Status.EXCEPTION, Status.RETURNING,
})
# the alerts (when opened) a recipient is told about
ALERT_TOPICS = frozenset({Kind.DELAY_RISK, Kind.TEMPERATURE_EXCURSION})

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def new_subscription_id() -> str:
    """Unguessable: the unsubscribe link carries it."""
    return "ns_" + secrets.token_urlsafe(18)


def check_address(channel: Channel, to: str) -> str:
    """The address, normalised; InvalidInput naming ``to`` otherwise. Webhook URLs are checked
    by the caller (``webhooks.check_url``), which knows whether private addresses are allowed."""
    to = to.strip()
    if channel is Channel.EMAIL:
        if len(to) > 254 or not _EMAIL.fullmatch(to):
            raise InvalidInput("to", "expected an e-mail address such as name@example.com")
        local, _, domain = to.partition("@")
        return f"{local}@{domain.lower()}"
    if channel is Channel.SMS:
        digits = re.sub(r"[\s\-]", "", to).removeprefix("+86")
        if not _MOBILE.fullmatch(digits):
            raise InvalidInput("to", "expected a mainland China mobile number: 11 digits "
                                     "starting with 1")
        return digits
    return to


def check_locale(locale: str) -> str:
    if locale not in LOCALES:
        raise InvalidInput("locale", f"expected one of {', '.join(LOCALES)}, got {locale!r}")
    return locale


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput("tz", f"expected an IANA time zone such as {DEFAULT_TZ}, "
                                 f"got {name!r}") from None


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local times between which nothing is sent; may span midnight (22:00-08:00)."""

    start_min: int
    end_min: int
    tz: str = DEFAULT_TZ

    @staticmethod
    def parse(text: str, tz: str = DEFAULT_TZ) -> QuietHours:
        """``HH:MM-HH:MM`` in ``tz``."""
        parts = text.strip().split("-")
        found = [_HHMM.fullmatch(p.strip()) for p in parts]
        if len(parts) != 2 or not all(found):
            raise InvalidInput("quiet_hours", f"expected HH:MM-HH:MM such as 22:00-08:00, "
                                              f"got {text!r}")
        (a, b) = [int(m.group(1)) * 60 + int(m.group(2)) for m in found if m]
        if a == b:
            raise InvalidInput("quiet_hours", "the start and the end are the same time")
        zone(tz)
        return QuietHours(a, b, tz)

    def text(self) -> str:
        return f"{self.start_min // 60:02d}:{self.start_min % 60:02d}-" \
               f"{self.end_min // 60:02d}:{self.end_min % 60:02d}"

    def ends_after(self, at: datetime) -> datetime | None:
        """When the quiet hours ``at`` falls in end; None when ``at`` is outside them."""
        local = at.astimezone(zone(self.tz))
        minute = local.hour * 60 + local.minute
        inside = (self.start_min <= minute < self.end_min if self.start_min < self.end_min
                  else minute >= self.start_min or minute < self.end_min)
        if not inside:
            return None
        end = datetime.combine(local.date(), time(self.end_min // 60, self.end_min % 60),
                               local.tzinfo)
        if end <= local:
            end += timedelta(days=1)
        return end


# ---- the words ----

_STATUS_WORDS: dict[str, dict[Status, str]] = {
    "zh": {
        Status.PICKED_UP: "您的包裹 {tn} 已揽收，我们会在派送时通知您。",
        Status.OUT_FOR_DELIVERY: "您的包裹 {tn} 正在派送，请保持电话畅通。",
        Status.DELIVERED: "您的包裹 {tn} 已签收。如有问题，可在查询页面申请理赔。",
        Status.AVAILABLE_FOR_PICKUP: "您的包裹 {tn} 已到达自提点，请及时取件。",
        Status.FAILED_ATTEMPT: "您的包裹 {tn} 派送未成功，快递员将再次派送或与您联系。",
        Status.EXCEPTION: "您的包裹 {tn} 出现异常：{detail}。我们正在跟进。",
        Status.RETURNING: "您的包裹 {tn} 正在退回发件人。",
    },
    "en": {
        Status.PICKED_UP: "Your parcel {tn} was picked up; we will tell you when it is out "
                          "for delivery.",
        Status.OUT_FOR_DELIVERY: "Your parcel {tn} is out for delivery today.",
        Status.DELIVERED: "Your parcel {tn} was delivered. If something is wrong, you can "
                          "file a claim on its tracking page.",
        Status.AVAILABLE_FOR_PICKUP: "Your parcel {tn} is waiting for you at the pickup point.",
        Status.FAILED_ATTEMPT: "Delivery of your parcel {tn} did not succeed; the courier will "
                               "try again or contact you.",
        Status.EXCEPTION: "There is a problem with your parcel {tn}: {detail}. We are on it.",
        Status.RETURNING: "Your parcel {tn} is on its way back to the sender.",
    },
}
_ALERT_WORDS: dict[str, dict[Kind, str]] = {
    "zh": {
        Kind.DELAY_RISK: "您的包裹 {tn} 可能延误{why}，预计送达时间 {eta}。",
        Kind.TEMPERATURE_EXCURSION: "您的冷链包裹 {tn} 运输途中温度超出范围（{detail}），"
                                    "签收时请检查商品。",
    },
    "en": {
        Kind.DELAY_RISK: "Your parcel {tn} may be late{why}; expected delivery {eta}.",
        Kind.TEMPERATURE_EXCURSION: "The temperature of your cold-chain parcel {tn} left its "
                                    "range on the way ({detail}); please check it at delivery.",
    },
}
_SUBJECT = {"zh": "包裹 {tn}：{what}", "en": "Parcel {tn}: {what}"}
_ALERT_NAMES = {"zh": {Kind.DELAY_RISK: "可能延误", Kind.TEMPERATURE_EXCURSION: "温度异常"},
                "en": {Kind.DELAY_RISK: "may be late", Kind.TEMPERATURE_EXCURSION:
                       "temperature alert"}}
_FOOTER = {"zh": "退订通知：{url}", "en": "Stop these messages: {url}"}
_SIGNATURE = {"zh": "【ParcelGuard】", "en": "[ParcelGuard] "}


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str  # with the signature and the unsubscribe line


def render(topic: str, data: Mapping[str, object], locale: str, unsubscribe_url: str,
           tz: str = DEFAULT_TZ) -> Rendered:
    """The message for a notice: ``topic`` is ``status:<status>`` or ``alert:<kind>``."""
    kind, _, name = topic.partition(":")
    tn = str(data.get("tracking_no", ""))
    eta = data.get("eta")
    fields = {"tn": tn,
              "detail": str(data.get("detail") or ("详情见查询页面" if locale == "zh"
                                                   else "see the tracking page")),
              "eta": _local(str(eta), tz, locale) if eta else (
                  "待定" if locale == "zh" else "to be confirmed"),
              "why": _why(data, locale)}
    if kind == "status":
        status = Status(name)
        body = _STATUS_WORDS[locale][status].format(**fields)
        info = TAXONOMY[status]
        what = info.zh if locale == "zh" else info.en
    else:
        alert = Kind(name)
        body = _ALERT_WORDS[locale][alert].format(**fields)
        what = _ALERT_NAMES[locale][alert]
    text = f"{_SIGNATURE[locale]}{body}\n{_FOOTER[locale].format(url=unsubscribe_url)}"
    return Rendered(_SUBJECT[locale].format(tn=tn, what=what), text)


def _local(iso: str, tz: str, locale: str) -> str:
    at = datetime.fromisoformat(iso).astimezone(zone(tz))
    if locale == "zh":
        return f"{at.month}月{at.day}日 {at:%H:%M}"
    return f"{at:%d %b %H:%M}"


def _why(data: Mapping[str, object], locale: str) -> str:
    reason = data.get("disruption")
    if not reason:
        return ""
    return f"（{reason}）" if locale == "zh" else f" ({reason})"
