"""The composition root: the only place where adapters are chosen and wired together."""

from __future__ import annotations

import gc
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from parcelguard.bus.codec import Codec
from parcelguard.bus.publisher import BusPipeline, Router
from parcelguard.bus.stream import StreamSpec
from parcelguard.config import Settings
from parcelguard.crypto import canonical
from parcelguard.crypto.keys import (
    AesGcmVault,
    Ed25519Check,
    Ed25519Signer,
    decode_key,
    load_or_create,
)
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.shipment import Category
from parcelguard.expressions.cel import CelExpressions
from parcelguard.ingest.hooks import HookReceiver
from parcelguard.ingest.mqtt import MqttSubscriber
from parcelguard.notify.consumers import Notifier
from parcelguard.notify.senders import LogSender, SmtpSender
from parcelguard.notify.worker import Deliverer
from parcelguard.rules import profiles
from parcelguard.rules.profiles import Profile
from parcelguard.services import bottlenecks
from parcelguard.services.alerting import Alerting
from parcelguard.services.auth import Authenticator
from parcelguard.services.claims import ClaimDesk
from parcelguard.services.clock import Clock, SystemClock
from parcelguard.services.delivery import Deliveries
from parcelguard.services.idempotency import RequestKeys
from parcelguard.services.ingest import Ingestor
from parcelguard.services.ledger import LedgerWriter
from parcelguard.services.lookup import PublicLookup
from parcelguard.services.merchant import MerchantRules
from parcelguard.services.messages import DisruptionsChanged, RulesChanged
from parcelguard.services.pipeline import Pipeline, Submitter
from parcelguard.services.ports import Encoder, Sender, SignatureCheck, Store, Vault
from parcelguard.services.stats import Stats
from parcelguard.storage import migrate
from parcelguard.storage.blobs import DirectoryBlobs
from parcelguard.storage.memory import MemoryStore
from parcelguard.storage.sql import SqlStore

GC_YOUNG_THRESHOLD = 10_000


@dataclass
class System:
    """Everything the entry points (API, CLI, replay, bench) need, wired once."""

    settings: Settings
    store: Store
    clock: Clock
    encode: Encoder
    signer: Ed25519Signer
    check: SignatureCheck
    vault: Vault
    stats: Stats
    ingestor: Ingestor
    pipeline: Submitter  # the local writer, or in bus mode (an API node) the bus
    auth: Authenticator
    deliverer: Deliverer
    hooks: HookReceiver
    lookup: PublicLookup
    deliveries: Deliveries
    notifier: Notifier
    bottlenecks: bottlenecks.Watch
    claims: ClaimDesk
    request_keys: RequestKeys
    mqtt: MqttSubscriber | None = None

    @property
    def bus_node(self) -> bool:
        """An API node in bus mode: commands go to JetStream, workers apply them."""
        return not isinstance(self.pipeline, Pipeline)

    @property
    def writer(self) -> Pipeline:
        """The local writer (not on a bus-mode API node)."""
        if not isinstance(self.pipeline, Pipeline):
            raise TypeError("a bus-mode API node has no local writer")
        return self.pipeline

    def rules_changed(self, tenant_id: str) -> None:
        """A tenant's merchant rules changed in the store: this process's writer reads them
        again, and in bus mode every partition's worker does, in stream order."""
        self.ingestor.rules.invalidate()
        if self.bus_node:
            self.pipeline.submit_sync([RulesChanged(tenant_id, self.clock.now())])

    def disruptions_changed(self, tenant_id: str) -> None:
        """A tenant's disruptions changed in the store: the writer (every partition's worker in
        bus mode) reads them again and estimates again the shipments whose way they cross."""
        self.pipeline.submit_sync([DisruptionsChanged(tenant_id, self.clock.now())])

    def start(self, *, deliver: bool | None = None) -> None:
        """Start the writer and, where this process is the one that sends (``deliver``; by
        default an embedded system is, an API node is not), the webhook deliverer and the
        consumer notifier, each if its setting has it on."""
        # The writer keeps every active shipment's state in memory: collect the young
        # generation less often, or the collector rescans that state every few hundred
        # allocations (measured: a third of ingest time with the default threshold of 700).
        gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
        self.pipeline.start()
        # in bus mode the workers apply the commands, send codes and deliver webhooks
        sender = not self.bus_node if deliver is None else deliver
        # pickup codes go out at out-for-delivery on a serving system only: replays and
        # evaluations drive the ingestor themselves and send no one anything
        self.ingestor.status_watchers.append(self.deliveries.on_status)
        self._delivering = self.settings.webhooks_enabled and sender
        if self._delivering:
            self.deliverer.start()
            self.bottlenecks.start()  # operations alerts go out with the webhooks
        # consumer notifications go out from where webhooks do (one process in bus mode)
        self._notifying = self.settings.notices_enabled and sender
        if self._notifying:
            self.notifier.start()
        if self.mqtt is not None:
            self.mqtt.start()  # connects in the background, and keeps trying

    def stop(self) -> None:
        if self.mqtt is not None:
            self.mqtt.stop()
        if getattr(self, "_delivering", False):
            self.deliverer.stop()
            self.bottlenecks.stop()
        if getattr(self, "_notifying", False):
            self.notifier.stop()
        self.pipeline.stop()
        self.deliveries.close()  # codes being issued finish before the store closes
        self.store.close()


def open_store(settings: Settings) -> Store:
    url = settings.db_url
    if url.startswith("memory:"):
        return MemoryStore()
    store = SqlStore.connect(url, allow_unsafe=settings.allow_unsafe_durability)
    if settings.auto_migrate:
        migrate.upgrade(store.engine)
    return store


def load_profiles(path: Path | None) -> dict[Category, Profile]:
    """The alert profiles: the shipped defaults, or a deployment's own YAML file."""
    text = path.read_text() if path else resources.files("parcelguard.profiles").joinpath(
        "default.yaml").read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise InvalidInput("profiles", "expected a mapping of category to settings")
    return profiles.from_mapping(data)


def _secret(value: str | None, path: Path, what: str, settings: Settings) -> bytes:
    if value is not None:
        return decode_key(value, what, 32)
    return load_or_create(path, 32, create=settings.env == "development")


def open_vault(settings: Settings) -> Vault:
    """The data key's vault, for commands that seal or open personal data and secrets."""
    return AesGcmVault(_secret(settings.data_key, settings.data_key_path, "data key", settings))


def ledger_signer(settings: Settings) -> Ed25519Signer:
    """The ledger's signing key (its verifier key is what reports and checkpoints cite)."""
    return Ed25519Signer(
        settings.ledger_origin,
        _secret(settings.ledger_key, settings.ledger_key_path, "ledger key", settings),
    )


def bus_spec(settings: Settings) -> StreamSpec:
    return StreamSpec(settings.bus_stream, settings.bus_subject_prefix, settings.bus_partitions,
                      settings.bus_replicas)


def build(settings: Settings, *, clock: Clock | None = None, store: Store | None = None,
          worker: bool = False) -> System:
    """The system of one process: an embedded server, a bus-mode API node (``bus_url`` set),
    or a bus-mode worker (``worker``: the local writer, applying what the bus carries)."""
    clock = clock or SystemClock()
    store = store or open_store(settings)
    signer = ledger_signer(settings)
    vault = open_vault(settings)
    stats = Stats()
    ledger = LedgerWriter(
        canonical.encode, signer, settings.ledger_origin, every=settings.checkpoint_every,
        interval_us=int(settings.checkpoint_interval_s * 1_000_000),
    )
    alerting = Alerting(load_profiles(settings.profiles_file))
    alerting.learn_online = settings.eta_learning == "online"
    alerting.learn_at_start = settings.eta_learning != "off"
    rules = MerchantRules(CelExpressions())
    ingestor = Ingestor(store, clock, canonical.encode, ledger, vault, stats, alerting, rules,
                        capacity=settings.track_cache)
    deliverer = Deliverer(store, vault, clock, settings.webhooks_allow_private,
                          settings.webhook_timeout_s)
    ingestor.listeners.append(lambda changes: deliverer.nudge())  # new outbox messages
    pipeline: Submitter = Pipeline(ingestor)
    if settings.bus_url and not worker:
        bus = BusPipeline(settings.bus_url, bus_spec(settings), Codec(vault),
                          Router(store, settings.bus_partitions), settings.bus_reply_timeout_s)
        bus.watchers = ingestor.watchers  # the pages watch the writer; here the workers commit
        pipeline = bus
    senders: dict[str, Sender] = {"sms": LogSender()}
    if settings.smtp_url:
        senders["email"] = SmtpSender(settings.smtp_url, settings.smtp_from)
    deliveries = Deliveries(store, vault, DirectoryBlobs(settings.data_dir / "blobs"), senders,
                            pipeline, clock)
    notifier = Notifier(store, vault, clock, senders, settings.base_url,
                        settings.webhooks_allow_private)
    ingestor.listeners.append(lambda changes: notifier.nudge())  # notices may be owed
    return System(
        settings=settings, store=store, clock=clock, encode=canonical.encode, signer=signer,
        check=Ed25519Check(signer.verifier_key()), vault=vault, stats=stats, ingestor=ingestor,
        pipeline=pipeline, auth=Authenticator(store), deliverer=deliverer,
        hooks=HookReceiver(store, vault, pipeline, clock), lookup=PublicLookup(store, vault),
        deliveries=deliveries, notifier=notifier, bottlenecks=bottlenecks.Watch(store, clock, vault),
        claims=ClaimDesk(store, vault, ingestor.alerting.profiles, signer.verifier_key()),
        request_keys=RequestKeys(store),
        mqtt=MqttSubscriber(settings.mqtt_url, settings.mqtt_client_id, pipeline, store, vault,
                            clock) if settings.mqtt_enabled and not worker else None,
    )
