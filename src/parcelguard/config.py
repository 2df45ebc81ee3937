"""Settings: one frozen object, read once from PARCELGUARD_* environment variables.

Defaults work out of the box: SQLite under ./data, keys generated there on first start.
In production (PARCELGUARD_ENV=production) keys must be given and are never generated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARCELGUARD_", frozen=True, extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = Field(
        default=None,
        description="sqlite:///path, postgresql://user@host/db, or memory:// (tests, replay)",
    )
    auto_migrate: bool = True
    allow_unsafe_durability: bool = False

    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    # proxies whose X-Forwarded-For is believed (uvicorn's forwarded_allow_ips): behind a load
    # balancer, its address, or per-client throttles see one client, the balancer
    forwarded_allow_ips: str = "127.0.0.1"
    max_body_bytes: int = 1024 * 1024
    body_timeout_s: float = 30.0  # a body not read in full by then is answered 408
    max_batch: int = 1000
    log_level: str = "info"
    log_json: bool = False

    ledger_origin: str = "parcelguard.local/ledger"
    ledger_key: str | None = Field(default=None, description="base64 of a 32-byte Ed25519 seed")
    ledger_key_file: Path | None = None
    data_key: str | None = Field(default=None, description="base64 of a 32-byte AES key")
    data_key_file: Path | None = None
    checkpoint_every: int = 1000
    checkpoint_interval_s: float = 300.0

    track_cache: int = 200_000
    webhooks_enabled: bool = True  # run the delivery worker in this process
    notices_enabled: bool = Field(
        default=True, description="send consumer notifications from this process (in bus "
        "mode: from the worker that delivers webhooks)")
    webhooks_allow_private: bool = Field(
        default=False, description="deliver to loopback/private/link-local targets (tests, labs)")
    webhook_timeout_s: float = 10.0
    smtp_url: str | None = Field(
        default=None, description="smtp://host:port: pickup codes go by mail to recipients with an "
        "e-mail address (otherwise the log sender records that a text went out)")
    smtp_from: str = "ParcelGuard <parcelguard@localhost>"
    mqtt_enabled: bool = Field(
        default=True, description="subscribe to device telemetry and sorter scans over MQTT")
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_client_id: str = Field(
        default="parcelguard", description="stable across restarts: the broker keeps this "
        "session's unacknowledged messages; unique per server sharing a broker")
    bus_url: str | None = Field(
        default=None, description="nats://host:4222 (several, comma-separated) turns on bus "
        "mode: this node publishes commands to JetStream and `parcelguard worker` processes "
        "apply them (deploy/README.md)")
    bus_stream: str = "PARCELGUARD"
    bus_subject_prefix: str = "parcelguard.ingest"
    bus_partitions: int = Field(default=16, ge=1, le=1024)
    bus_replicas: int = Field(default=1, ge=1, le=5, description="3 on a NATS cluster")
    bus_reply_timeout_s: float = Field(
        default=10.0, description="how long a request waits for the worker's outcome after "
        "JetStream acknowledged it; later, the answer is `queued` (durable, not yet applied)")
    eta_learning: Literal["online", "start", "off"] = Field(
        default="online", description="online: the lane model learns every delivery as it is "
        "recorded; start: only from the store's history when the writer starts (the same in "
        "every process started together, so bus-mode workers and a replay predict alike); "
        "off: never (ETAs from distance alone: reproducible even when a worker restarts "
        "mid-run, since a restarted one would learn from what the run delivered so far)")
    profiles_file: Path | None = Field(
        default=None, description="alert profiles YAML; the shipped defaults when unset")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'parcelguard.db'}"

    @property
    def ledger_key_path(self) -> Path:
        return self.ledger_key_file or self.data_dir / "keys" / "ledger.ed25519"

    @property
    def data_key_path(self) -> Path:
        return self.data_key_file or self.data_dir / "keys" / "data.aes256"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def proxy_options(self) -> dict[str, Any]:
        """uvicorn's options for the client's address behind a load balancer."""
        return {"proxy_headers": True, "forwarded_allow_ips": self.forwarded_allow_ips}
