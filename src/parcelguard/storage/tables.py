"""The schema, in SQLAlchemy Core. Alembic migrations are written against this metadata.

Times are stored as UTC microseconds (BIGINT) with the sender's offset in minutes beside
them: the same type, ordering and precision on SQLite and PostgreSQL (see docs/decisions.md).
The ledger tables are append-only; migrations add triggers that refuse UPDATE and DELETE.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# a 64-bit key that is SQLite's rowid alias (and so cheap) on SQLite
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Micros = sa.BigInteger


def _id() -> sa.Column[int]:
    return sa.Column("id", RowId, primary_key=True, autoincrement=True)


tenants = sa.Table(
    "tenants", metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", Micros, nullable=False),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("label", sa.String(200), nullable=False, server_default=""),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("revoked_at", Micros),
    sa.Column("network", sa.String(32)),  # a carrier key spanning this carrier's parcels
    sa.Index(None, "tenant_id"),
)

shipments = sa.Table(
    "shipments", metadata,
    _id(),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("tracking_no", sa.String(64), nullable=False),
    sa.Column("carrier", sa.String(32), nullable=False),
    sa.Column("category", sa.String(16), nullable=False),
    sa.Column("order_ref", sa.String(100)),
    sa.Column("origin", sa.Text, nullable=False),  # JSON {city, lat, lon, country}
    sa.Column("destination", sa.Text, nullable=False),
    sa.Column("promised_by", Micros),
    sa.Column("promised_offset", sa.SmallInteger),
    sa.Column("declared_value_fen", sa.BigInteger),
    sa.Column("route_plan", sa.Text, nullable=False, server_default="[]"),
    sa.Column("devices", sa.Text, nullable=False, server_default="[]"),
    sa.Column("thresholds", sa.Text, nullable=False, server_default="{}"),
    sa.Column("recipient_masked", sa.Text),  # JSON {name, phone, address}, masked
    sa.Column("recipient_sealed", sa.LargeBinary),  # AES-GCM; never plaintext
    sa.Column("lookup_digest", sa.String(64)),  # keyed digest of tracking no + phone last 4
    sa.Column("spec_digest", sa.String(64), nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.UniqueConstraint("tenant_id", "tracking_no"),
    sa.Index(None, "tracking_no"),  # the public lookup knows the number, not the tenant
    sa.Index(None, "tenant_id", "created_at"),  # the dashboard's period
    sa.Index(None, "carrier", "created_at"),  # a carrier network's console, across tenants
)

# What events change, kept apart from the wide, write-once shipment row: a batch rewrites the
# state of up to a thousand shipments, and narrow rows keep that to a few dozen pages.
shipment_states = sa.Table(
    "shipment_states", metadata,
    sa.Column("shipment_id", sa.BigInteger, sa.ForeignKey("shipments.id"), primary_key=True,
              autoincrement=False),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("status", sa.String(24), nullable=False, server_default="info_received"),
    sa.Column("status_changed_at", Micros),
    sa.Column("last_event_at", Micros),
    sa.Column("event_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("holder_kind", sa.String(16)),
    sa.Column("holder_id", sa.String(64)),
    sa.Column("vehicle_id", sa.String(64)),
    sa.Column("location", sa.Text),  # JSON of the last known location
    sa.Column("condition", sa.String(16)),
    sa.Column("next_deadline_at", Micros),  # the earliest armed rule timer: swept on start
    sa.Column("picked_up_at", Micros),
    sa.Column("delivered_at", Micros),
    sa.Column("lane", sa.String(200)),  # origin|destination|carrier|category: ETA history
    sa.Column("band", sa.String(40)),
    sa.Column("eta_at", Micros),
    sa.Column("eta_low_at", Micros),
    sa.Column("eta_high_at", Micros),
    sa.Column("eta_basis", sa.String(16)),
    sa.Index(None, "tenant_id", "status"),
    sa.Index(None, "tenant_id", "vehicle_id"),
    sa.Index(None, "next_deadline_at"),
    sa.Index(None, "delivered_at"),
)

events = sa.Table(
    "events", metadata,
    _id(),
    sa.Column("shipment_id", sa.BigInteger, sa.ForeignKey("shipments.id"), nullable=False),
    sa.Column("event_id", sa.String(100), nullable=False),
    sa.Column("occurred_at", Micros, nullable=False),
    sa.Column("occurred_offset", sa.SmallInteger, nullable=False),
    sa.Column("received_at", Micros, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("substatus", sa.String(40)),
    sa.Column("carrier", sa.String(32), nullable=False),
    sa.Column("carrier_code", sa.String(40)),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("facility_id", sa.String(64)),
    sa.Column("location_name", sa.String(200)),
    sa.Column("city", sa.String(100)),
    sa.Column("lat", sa.Float),
    sa.Column("lon", sa.Float),
    sa.Column("operator_id", sa.String(64)),
    sa.Column("device_id", sa.String(64)),
    sa.Column("vehicle_id", sa.String(64)),
    sa.Column("condition", sa.String(16)),
    sa.Column("description", sa.Text),
    sa.Column("raw", sa.Text),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    # one index serves both the timeline query and duplicate protection
    sa.UniqueConstraint("shipment_id", "occurred_at", "event_id"),
)

quarantined_events = sa.Table(
    "quarantined_events", metadata,
    _id(),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("tracking_no", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(100), nullable=False),
    sa.Column("event", sa.Text, nullable=False),  # the event as JSON, as received
    sa.Column("received_at", Micros, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
    sa.Index(None, "tenant_id", "tracking_no"),
)

def _measurements() -> list[sa.Column[Any]]:
    """What a reading says, as columns (the same in every table that keeps readings)."""
    return [
        sa.Column("ts_offset", sa.SmallInteger, nullable=False),
        sa.Column("seq", sa.BigInteger),
        *(sa.Column(name, sa.Float) for name in (
            "lat", "lon", "speed_kmh", "temperature_c", "humidity_pct", "shock_g", "light_lux",
            "battery_pct")),
    ]


readings = sa.Table(
    "readings", metadata,
    _id(),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("device_id", sa.String(64), nullable=False),
    sa.Column("ts", Micros, nullable=False),
    *_measurements(),
    sa.Column("shipment_id", sa.BigInteger),
    sa.Column("vehicle_id", sa.String(64)),
    sa.Column("received_at", Micros, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("position", sa.BigInteger),  # applied before this ledger entry (rebuild order)
    sa.UniqueConstraint("tenant_id", "device_id", "ts"),
    sa.Index(None, "shipment_id", "ts"),
    sa.Index(None, "tenant_id", "vehicle_id", "ts"),
)

devices = sa.Table(
    "devices", metadata,
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("tracking_no", sa.String(64)),
    sa.Column("vehicle_id", sa.String(64)),
    sa.Column("facility_id", sa.String(64)),
)

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("alert_id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("shipment_id", sa.BigInteger, sa.ForeignKey("shipments.id"), nullable=False),
    sa.Column("tracking_no", sa.String(64), nullable=False),
    sa.Column("rule", sa.String(100), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("opened_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Column("acknowledged_at", Micros),
    sa.Column("closed_at", Micros),
    sa.Column("escalated_at", Micros),
    sa.Column("assignee", sa.String(100)),
    sa.Column("repeats", sa.Integer, nullable=False, server_default="0"),
    sa.Column("evidence", sa.Text, nullable=False),  # JSON
    sa.Index(None, "tenant_id", "state", "opened_at"),
    sa.Index(None, "shipment_id", "state"),
    sa.Index(None, "kind", "opened_at"),  # a carrier network's incidents, across tenants
)

alert_notes = sa.Table(
    "alert_notes", metadata,
    _id(),
    sa.Column("alert_id", sa.String(32), sa.ForeignKey("alerts.alert_id"), nullable=False),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("at", Micros, nullable=False),
    sa.Column("author", sa.String(100), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Index(None, "alert_id"),
)

# merchant rules: deleted ones keep their row (their alerts name them) with deleted_at set
merchant_rules = sa.Table(
    "merchant_rules", metadata,
    sa.Column("rule_id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("expression", sa.Text, nullable=False),
    sa.Column("on_input", sa.String(16), nullable=False),  # event | reading
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Column("deleted_at", Micros),
    sa.Column("revision", sa.Integer, nullable=False),  # +1 per change: writers notice changes
    sa.Index(None, "tenant_id"),
)

webhook_subscriptions = sa.Table(
    "webhook_subscriptions", metadata,
    sa.Column("subscription_id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),  # AES-GCM: it signs, so not a hash
    sa.Column("events", sa.Text, nullable=False),  # JSON list of event types
    sa.Column("kinds", sa.Text, nullable=False),  # JSON list of alert kinds; [] for all
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.String(200)),
    sa.Column("created_at", Micros, nullable=False),
    sa.Index(None, "tenant_id"),
)

# the outbox: written in the same commit as the change it announces
webhook_messages = sa.Table(
    "webhook_messages", metadata,
    sa.Column("message_id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("subscription_id", sa.String(40),
              sa.ForeignKey("webhook_subscriptions.subscription_id"), nullable=False),
    sa.Column("event", sa.String(40), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("next_attempt_at", Micros, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("last_error", sa.String(500)),
    sa.Column("delivered_at", Micros),
    sa.Index(None, "state", "next_attempt_at"),
    sa.Index(None, "subscription_id", "created_at"),
)

webhook_attempts = sa.Table(
    "webhook_attempts", metadata,
    _id(),
    sa.Column("message_id", sa.String(40), sa.ForeignKey("webhook_messages.message_id"),
              nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", Micros, nullable=False),
    sa.Column("status_code", sa.Integer),
    sa.Column("error", sa.String(500)),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Index(None, "message_id"),
)

ledger_entries = sa.Table(
    "ledger_entries", metadata,
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("tracking_no", sa.String(64)),
    sa.Column("recorded_at", Micros, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),  # canonical JSON, exactly as hashed
    sa.Column("leaf", sa.LargeBinary(32), nullable=False),
    sa.Index(None, "tenant_id", "tracking_no", "idx"),
)

ledger_nodes = sa.Table(
    "ledger_nodes", metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
)

ledger_checkpoints = sa.Table(
    "ledger_checkpoints", metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

APPEND_ONLY = ("ledger_entries", "ledger_nodes", "ledger_checkpoints")

# where carriers push: one row per tenant and format (and per account, if a tenant has several)
carrier_endpoints = sa.Table(
    "carrier_endpoints", metadata,
    sa.Column("endpoint_id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("format", sa.String(32), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("secret_sealed", sa.LargeBinary, nullable=False),
    sa.Column("zone", sa.String(64), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Index(None, "tenant_id"),
)

# input that could not be read; the body is sealed (carrier payloads carry phone numbers)
rejected_payloads = sa.Table(
    "rejected_payloads", metadata,
    _id(),
    sa.Column("tenant_id", sa.String(40)),
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("ref", sa.String(300)),
    sa.Column("received_at", Micros, nullable=False),
    sa.Column("field", sa.String(200)),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("content_type", sa.String(200)),
    sa.Column("body_sealed", sa.LargeBinary, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Index(None, "tenant_id", "id"),
)

# the carriers' own delivery estimates (Kdniao EstimatedDeliveryTime, AfterShip, 17TRACK)
carrier_estimates = sa.Table(
    "carrier_estimates", metadata,
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("tracking_no", sa.String(64), primary_key=True),
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("estimate", sa.String(40), nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
)

# wrong answers to the public lookup per tracking number (known to us or not: the same answer)
lookup_failures = sa.Table(
    "lookup_failures", metadata,
    sa.Column("tracking_no", sa.String(64), primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("first_at", Micros, nullable=False),
    sa.Column("locked_until", Micros),
)

# the answers to requests sent with an Idempotency-Key, replayed to their retries for a day
request_keys = sa.Table(
    "request_keys", metadata,
    sa.Column("tenant_id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Micros, nullable=False, index=True),
)

# one-time pickup codes (keyed digests only) for identity-verified delivery
pickup_codes = sa.Table(
    "pickup_codes", metadata,
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("tracking_no", sa.String(64), primary_key=True),
    sa.Column("code_digest", sa.String(64), nullable=False),
    sa.Column("issued_at", Micros, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("locked_at", Micros),
    sa.Column("used_at", Micros),
)

# messages to recipients, sealed (the outbox the senders work from)
consumer_messages = sa.Table(
    "consumer_messages", metadata,
    _id(),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("tracking_no", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("to_sealed", sa.LargeBinary, nullable=False),
    sa.Column("body_sealed", sa.LargeBinary, nullable=False),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Index(None, "tenant_id", "tracking_no"),
)

# consumer notifications: who follows which parcel, and the notices owed them (an outbox
# written in the commit of the change announced; what went out is kept in consumer_messages)
notice_subscriptions = sa.Table(
    "notice_subscriptions", metadata,
    sa.Column("subscription_id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("tracking_no", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("to_sealed", sa.LargeBinary, nullable=False),
    sa.Column("to_digest", sa.String(64), nullable=False),
    sa.Column("locale", sa.String(8), nullable=False),
    sa.Column("quiet", sa.String(11)),
    sa.Column("tz", sa.String(40), nullable=False),
    sa.Column("secret_sealed", sa.LargeBinary),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("unsubscribed_at", Micros),
    sa.Index(None, "tenant_id", "tracking_no"),
    sa.Index("uq_notice_subscriptions_live", "tenant_id", "tracking_no", "to_digest",
             unique=True, sqlite_where=sa.text("unsubscribed_at IS NULL"),
             postgresql_where=sa.text("unsubscribed_at IS NULL")),
)

notices = sa.Table(
    "notices", metadata,
    _id(),
    sa.Column("subscription_id", sa.String(40),
              sa.ForeignKey("notice_subscriptions.subscription_id"), nullable=False),
    sa.Column("topic", sa.String(48), nullable=False),
    sa.Column("ref", sa.String(100), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("send_after", Micros, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("sent_at", Micros),
    sa.Column("message_id", sa.BigInteger),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("subscription_id", "topic", "ref"),
    sa.Index(None, "state", "send_after"),
)

# operations alerts: about a facility, not a parcel (a bottleneck forming)
ops_alerts = sa.Table(
    "ops_alerts", metadata,
    sa.Column("alert_id", sa.String(48), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("facility_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("opened_at", Micros, nullable=False),
    sa.Column("cleared_at", Micros),
    sa.Column("evidence", sa.Text, nullable=False),  # JSON
    sa.Column("network", sa.String(32)),  # found over a carrier network, not the tenant
    sa.Index(None, "tenant_id", "opened_at"),
)

# disruptions (weather, traffic, a facility closed, a customs backlog) that delay parcels
disruptions = sa.Table(
    "disruptions", metadata,
    sa.Column("disruption_id", sa.String(40), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("starts_at", Micros, nullable=False),
    sa.Column("ends_at", Micros, nullable=False),
    sa.Column("extra_h", sa.Float, nullable=False),
    sa.Column("cities", sa.Text, nullable=False),  # JSON array
    sa.Column("facility_id", sa.String(64)),
    sa.Column("polygon", sa.Text),  # JSON [[lon, lat], ...]
    sa.Column("created_at", Micros, nullable=False),
    sa.Column("created_by", sa.String(100), nullable=False),
    sa.Column("cancelled_at", Micros),
    sa.Index(None, "tenant_id", "created_at"),
    sa.Index(None, "ends_at"),
)

# where facilities are, from scans that gave a position: route corridors are drawn with them
facilities = sa.Table(
    "facilities", metadata,
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("facility_id", sa.String(64), primary_key=True),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
)

# bus mode: how far each partition of the ingest stream is committed, written in the same
# transaction as what it covers, so a worker resumes exactly after its last commit
bus_offsets = sa.Table(
    "bus_offsets", metadata,
    sa.Column("stream", sa.String(64), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

# bus mode: a vehicle's readings as a partition other than the vehicle's own applied them to
# its parcels aboard. That partition rebuilds its parcels from these after a restart (the
# vehicle's own partition stores the reading itself in `readings`, on its own schedule).
vehicle_copies = sa.Table(
    "vehicle_copies", metadata,
    sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("tenant_id", sa.String(40), primary_key=True),
    sa.Column("device_id", sa.String(64), primary_key=True),
    sa.Column("ts", Micros, primary_key=True, autoincrement=False),
    *_measurements(),
    sa.Column("vehicle_id", sa.String(64), nullable=False),
    sa.Column("received_at", Micros, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),  # its batch's place in the log
    sa.Column("position", sa.BigInteger),  # applied before this ledger entry (rebuild order)
    sa.Index(None, "partition", "tenant_id", "vehicle_id", "ts"),
)

# claims for compensation and their timelines; the description and notes are sealed (a
# consumer writes what they like in them), the liability analysis they carry is JSON
claims = sa.Table(
    "claims", metadata,
    sa.Column("claim_id", sa.String(32), primary_key=True),
    sa.Column("tenant_id", sa.String(40), nullable=False),
    sa.Column("shipment_id", sa.BigInteger, sa.ForeignKey("shipments.id"), nullable=False),
    sa.Column("tracking_no", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("claimant", sa.String(16), nullable=False),
    sa.Column("opened_by", sa.String(100), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount_claimed", sa.BigInteger, nullable=False),
    sa.Column("amount_approved", sa.BigInteger),
    sa.Column("amount_paid", sa.BigInteger),
    sa.Column("payment_ref", sa.String(100)),
    sa.Column("liable", sa.Text),  # JSON
    sa.Column("finding", sa.Text),  # JSON
    sa.Column("analysis", sa.Text, nullable=False),  # JSON
    sa.Column("opened_at", Micros, nullable=False),
    sa.Column("updated_at", Micros, nullable=False),
    sa.Column("decided_at", Micros),
    sa.Column("settled_at", Micros),
    sa.Index(None, "tenant_id", "opened_at"),
    sa.Index(None, "tenant_id", "settled_at"),
    sa.Index(None, "tenant_id", "tracking_no"),
    # one unsettled claim of a kind per claimant on a shipment: the database settles a race
    sa.Index("uq_claims_active", "shipment_id", "kind", "claimant", unique=True,
             sqlite_where=sa.text("state <> 'settled'"),
             postgresql_where=sa.text("state <> 'settled'")),
)

claim_steps = sa.Table(
    "claim_steps", metadata,
    _id(),
    sa.Column("claim_id", sa.String(32), sa.ForeignKey("claims.claim_id"), nullable=False),
    sa.Column("at", Micros, nullable=False),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("note", sa.Text),
    sa.Column("data", sa.Text, nullable=False),  # JSON
    sa.Index(None, "claim_id"),
)
