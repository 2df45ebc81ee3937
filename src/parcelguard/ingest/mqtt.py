"""MQTT: box sensors, vehicle units and sorter lines publish straight to the broker.

Topics (QoS 1)::

    parcelguard/<tenant>/devices/<device_id>/telemetry     one reading, or an array
    parcelguard/<tenant>/facilities/<facility_id>/scans    an array of scans from a sorter or PDA

A message is acknowledged (PUBACK) only after what it carried is committed, so the broker keeps
redelivering until then; the session is persistent (a stable client id, ``clean_session`` off),
so messages published while we are down wait in the broker. Redelivered readings are duplicates
by (device, ts) and scans by event id, so at-least-once delivery stores each exactly once.

A reading must come from a device registered to the topic's tenant, and name the topic's device;
scans must be at the topic's facility. What cannot be read, or is refused, goes to the
rejected-payload table and is acknowledged: sending it again would not make it better. If the
store cannot commit, the message stays unacknowledged and is submitted again with backoff (0.5 s
doubling to 30 s); if we stop meanwhile, the broker delivers it again to the next session.
A lost connection is re-made with backoff (1 to 30 seconds).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from parcelguard.domain import times
from parcelguard.domain.errors import InvalidInput, ParcelGuardError
from parcelguard.ingest import wire
from parcelguard.services import integrations
from parcelguard.services.clock import Clock
from parcelguard.services.messages import Command, Outcome, RecordReading, RecordScan, Result
from parcelguard.services.pipeline import Submitter
from parcelguard.services.ports import Store, Vault

log = structlog.get_logger(__name__)
TOPICS = ("parcelguard/+/devices/+/telemetry", "parcelguard/+/facilities/+/scans")
KEEPALIVE_S = 30


@dataclass(frozen=True, slots=True)
class Topic:
    tenant_id: str
    kind: str  # devices | facilities
    id: str  # device or facility id


def parse_topic(topic: str) -> Topic | None:
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != "parcelguard" or not parts[1] or not parts[3]:
        return None
    if (parts[2], parts[4]) not in (("devices", "telemetry"), ("facilities", "scans")):
        return None
    return Topic(parts[1], parts[2], parts[3])


def _check(topic: Topic, commands: Sequence[Command | wire.Rejection]) -> None:
    """Every item must belong where its topic says."""
    for i, cmd in enumerate(commands):
        if isinstance(cmd, RecordReading) and cmd.reading.device_id != topic.id:
            raise InvalidInput(f"[{i}].device_id", f"is {cmd.reading.device_id!r} but the topic "
                                                   f"is device {topic.id!r}")
        if isinstance(cmd, RecordScan):
            loc = cmd.event.location
            if loc is None or loc.facility_id != topic.id:
                raise InvalidInput(f"[{i}].location.facility_id",
                                   f"expected {topic.id!r}, the topic's facility")


class MqttSubscriber:
    def __init__(self, url: str, client_id: str, pipeline: Submitter, store: Store, vault: Vault,
                 clock: Clock) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise InvalidInput("mqtt_url", f"expected mqtt://host:port, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 1883
        self.pipeline, self.store, self.vault, self.clock = pipeline, store, vault, clock
        self.counts: Counter[tuple[str, str]] = Counter()  # (topic kind, result), for /metrics
        self.connected = threading.Event()
        self._aside = ThreadPoolExecutor(1, thread_name_prefix="mqtt-rejected")
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                   clean_session=False, manual_ack=True)
        if parts.username:
            self._client.username_pw_set(parts.username, parts.password)
        self._client.reconnect_delay_set(min_delay=1, max_delay=30)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        self._client.connect_async(self.host, self.port, keepalive=KEEPALIVE_S)
        self._client.loop_start()

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
        self._aside.shutdown()
        self.connected.clear()

    # ---- the network thread ----

    def _on_connect(self, client: mqtt.Client, _: object, flags: mqtt.ConnectFlags,
                    reason: ReasonCode, __: object) -> None:
        if reason.is_failure:
            log.warning("mqtt.refused", reason=str(reason))
            return
        client.subscribe([(t, 1) for t in TOPICS])
        log.info("mqtt.connected", host=self.host, port=self.port,
                 session_present=flags.session_present)

    def _on_subscribe(self, _: mqtt.Client, __: object, ___: int,
                      reasons: list[ReasonCode], ____: object) -> None:
        """Connected means subscribed: a message published before the broker acknowledged the
        subscription would find nobody to deliver it to (and is gone, for a new session)."""
        refused = [r for r in reasons if r.is_failure]
        if refused:
            log.warning("mqtt.subscribe_refused", reasons=[str(r) for r in refused])
            return
        self.connected.set()

    def _on_disconnect(self, _: mqtt.Client, __: object, ___: mqtt.DisconnectFlags,
                       reason: ReasonCode, ____: object) -> None:
        self.connected.clear()
        if reason.is_failure:
            log.warning("mqtt.disconnected", reason=str(reason))

    def _on_message(self, client: mqtt.Client, _: object, msg: mqtt.MQTTMessage) -> None:
        try:
            self._receive(msg)
        except Exception:  # a receiver never stops: leave it unacked, the broker retries
            log.exception("mqtt.message_failed", topic=msg.topic)

    def _receive(self, msg: mqtt.MQTTMessage) -> None:
        topic = parse_topic(msg.topic)
        now = self.clock.now()
        if topic is None:
            self._refuse(msg, None, "topic", f"unexpected topic {msg.topic!r}", "unknown")
            return
        payload = bytes(msg.payload)
        decoded: Sequence[Command | wire.Rejection]
        try:
            if topic.kind == "devices":
                decoded, _ = wire.readings(payload, topic.tenant_id, now)
            else:
                decoded, _ = wire.events(payload, topic.tenant_id, now, source="mqtt")
            refused = [d for d in decoded if isinstance(d, wire.Rejection)]
            if refused:
                raise InvalidInput(refused[0].field or "", refused[0].problem)
            _check(topic, decoded)
        except ParcelGuardError as exc:
            field = exc.field if isinstance(exc, InvalidInput) else None
            self._refuse(msg, topic.tenant_id, field, exc.message, topic.kind)
            return
        self._submit(msg, topic, [d for d in decoded if not isinstance(d, wire.Rejection)], 0)

    def _submit(self, msg: mqtt.MQTTMessage, topic: Topic, commands: list[Command],
                tries: int) -> None:
        future = self.pipeline.submit_future(commands)
        future.add_done_callback(lambda f: self._committed(msg, topic, commands, tries, f))

    def _committed(self, msg: mqtt.MQTTMessage, topic: Topic, commands: list[Command],
                   tries: int, future: Future[list[Outcome]]) -> None:
        try:
            outcomes = future.result()
        except Exception as exc:  # not committed: keep it unacknowledged and try again
            delay = min(30.0, 0.5 * 2 ** tries)
            log.warning("mqtt.commit_failed", topic=msg.topic, error=str(exc), retry_in_s=delay)
            self.counts[(topic.kind, "retry")] += 1
            timer = threading.Timer(delay, self._submit, (msg, topic, commands, tries + 1))
            timer.daemon = True
            timer.start()
            return
        for out in outcomes:
            self.counts[(topic.kind, out.result.value)] += 1
        problems = [o for o in outcomes if o.result is Result.REJECTED]
        if not problems:
            self._client.ack(msg.mid, msg.qos)
            return
        first = problems[0]  # kept aside off the writer's thread, then acknowledged

        def keep_then_ack() -> None:
            self._keep(msg, topic.tenant_id, first.field, first.reason or "rejected")
            self._client.ack(msg.mid, msg.qos)

        self._aside.submit(keep_then_ack)

    def _refuse(self, msg: mqtt.MQTTMessage, tenant_id: str | None, field: str | None,
                reason: str, kind: str) -> None:
        self.counts[(kind, "rejected")] += 1
        self._keep(msg, tenant_id, field, reason)
        self._client.ack(msg.mid, msg.qos)

    def _keep(self, msg: mqtt.MQTTMessage, tenant_id: str | None, field: str | None,
              reason: str) -> None:
        try:
            integrations.reject(self.store, self.vault, tenant_id, "mqtt", msg.topic,
                                times.to_us(self.clock.now()), field, reason, None,
                                bytes(msg.payload))
        except Exception:
            log.exception("mqtt.reject_failed", topic=msg.topic)
