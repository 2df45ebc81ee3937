"""Consumer notifications (``domain.notices``): subscribing, unsubscribing, and the notices a
batch owes, written in the batch's own commit (so a notice exists if and only if its change
does, and a change replayed or delivered twice owes nothing new)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from parcelguard.domain import notices, times
from parcelguard.domain.errors import Conflict, InvalidInput, NotFound
from parcelguard.domain.notices import ALERT_TOPICS, STATUS_TOPICS, Channel, QuietHours
from parcelguard.domain.webhooks import check_url, new_secret
from parcelguard.services import queries
from parcelguard.services.alerting import Change
from parcelguard.services.notify import StatusChange
from parcelguard.services.ports import Notice, NoticeSubscription, Store, UnitOfWork, Vault

MAX_PER_PARCEL = 5  # live subscriptions: one share link cannot fan a parcel out to a crowd


@dataclass(frozen=True, slots=True)
class Wish:
    """What a subscriber asks for, as given (checked by ``subscribe``)."""

    channel: str
    to: str
    locale: str = "zh"
    quiet_hours: str | None = None  # HH:MM-HH:MM
    tz: str = notices.DEFAULT_TZ


def subscribe(store: Store, vault: Vault, tenant_id: str, tracking_no: str, wish: Wish,
              created_by: str, allow_private: bool,
              now_us: int) -> tuple[NoticeSubscription, str | None]:
    """A new subscription, and for a webhook its signing secret (shown this once)."""
    try:
        channel = Channel(wish.channel)
    except ValueError:
        raise InvalidInput("channel", "expected email, sms or webhook") from None
    to = notices.check_address(channel, wish.to)
    if channel is Channel.WEBHOOK:
        try:
            check_url(to, allow_private)
        except InvalidInput as exc:
            raise InvalidInput("to", exc.problem) from None
    locale = notices.check_locale(wish.locale)
    notices.zone(wish.tz)
    quiet = QuietHours.parse(wish.quiet_hours, wish.tz).text() if wish.quiet_hours else None
    secret = new_secret() if channel is Channel.WEBHOOK else None
    sub = NoticeSubscription(
        notices.new_subscription_id(), tenant_id, tracking_no, channel.value,
        vault.seal(to.encode()), vault.digest(f"notice\x1f{channel.value}\x1f{to}"), locale,
        now_us, created_by, quiet, wish.tz,
        None if secret is None else vault.seal(secret.encode()))
    with store.unit_of_work() as uow:
        queries.shipment(uow, tenant_id, tracking_no)  # NotFound for another tenant's parcel
        live = [s for s in uow.notices.of_parcel(tenant_id, tracking_no)
                if s.unsubscribed_at_us is None]
        if len(live) >= MAX_PER_PARCEL and all(s.to_digest != sub.to_digest for s in live):
            raise Conflict(f"a parcel has at most {MAX_PER_PARCEL} subscriptions; stop one "
                           "first")
        uow.notices.subscribe(sub)
        uow.commit()
    return sub, secret


def unsubscribe(store: Store, subscription_id: str, now_us: int,
                tenant_id: str | None = None) -> NoticeSubscription:
    """Stop a subscription (the link in every message, or the merchant for its tenant);
    stopping one stopped already is fine. NotFound for an unknown id."""
    with store.unit_of_work() as uow:
        sub = uow.notices.subscription(subscription_id)
        if sub is None or (tenant_id is not None and sub.tenant_id != tenant_id):
            raise NotFound("no such notification subscription")
        uow.notices.unsubscribe(subscription_id, now_us)
        uow.commit()
        found = uow.notices.subscription(subscription_id)
    assert found is not None
    return found


def owed(uow: UnitOfWork, changes: Iterable[Change], statuses: Iterable[StatusChange],
         now_us: int) -> list[Notice]:
    """The notices this batch's status changes and opened alerts owe their parcels' followers;
    a notice falling in a follower's quiet hours waits for their end."""
    wanted: list[tuple[str, str, str, str, dict[str, object]]] = []
    for s in statuses:
        if s.after in STATUS_TOPICS:
            wanted.append((s.tenant_id, s.tracking_no, f"status:{s.after.value}", s.event_id,
                           {"tracking_no": s.tracking_no, "status": s.after.value,
                            "at": times.iso_us(s.at_us)}))
    for c in changes:
        a = c.alert
        if c.what == "opened" and a.kind in ALERT_TOPICS:
            data: dict[str, object] = {"tracking_no": a.tracking_no, "kind": a.kind.value,
                                       "at": times.iso_us(a.opened_at_us)}
            ev = a.evidence
            for key in ("eta", "promised_by", "disruption", "peak_c", "range_c"):
                if ev.get(key) is not None:
                    data[key] = ev[key]
            if ev.get("peak_c") is not None:
                data["detail"] = f"{ev['peak_c']} °C"
            wanted.append((a.tenant_id, a.tracking_no, f"alert:{a.kind.value}", a.alert_id, data))
    if not wanted:
        return []
    followers: dict[tuple[str, str], list[NoticeSubscription]] = {}
    for sub in uow.notices.following({(w[0], w[1]) for w in wanted}):
        followers.setdefault((sub.tenant_id, sub.tracking_no), []).append(sub)
    out = []
    for tenant_id, tracking_no, topic, ref, data in wanted:
        for sub in followers.get((tenant_id, tracking_no), ()):
            out.append(Notice(sub.subscription_id, topic, ref, data, now_us,
                              send_after(sub, now_us)))
    return out


def send_after(sub: NoticeSubscription, now_us: int) -> int:
    """Now, or the end of the subscriber's quiet hours when now is inside them."""
    if sub.quiet is None:
        return now_us
    end = QuietHours.parse(sub.quiet, sub.tz).ends_after(times.from_us(now_us))
    return now_us if end is None else times.to_us(end)
