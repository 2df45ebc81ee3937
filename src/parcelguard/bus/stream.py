"""The JetStream stream that carries ingest commands, and the checks that keep it durable.

One stream, one subject per partition (``<prefix>.<p>``). ParcelGuard creates the stream
when it is missing, with file storage and a duplicate window, and refuses to run on a
stream configured so that an acknowledged message could be lost or slip past de-duplication.
The server's own flush policy is set in its configuration (``jetstream { sync_interval:
always }``, see deploy/nats.conf); a client cannot read it from the stream.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import structlog
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import NotFoundError

from parcelguard.domain.errors import Unavailable

log = structlog.get_logger(__name__)

PARTITIONS = re.compile(r": (\d+) partitions$")  # the count the stream was made for
OLD_DESCRIPTION = "ParcelGuard ingest commands, partitioned by tracking number"


@dataclass(frozen=True)
class StreamSpec:
    name: str = "PARCELGUARD"
    prefix: str = "parcelguard.ingest"
    partitions: int = 16
    replicas: int = 1
    duplicate_window_s: float = 600.0
    max_age_s: float = 7 * 24 * 3600.0

    def subject(self, partition: int) -> str:
        return f"{self.prefix}.{partition}"

    @property
    def changes(self) -> str:
        """Core NATS (not the stream): shipments a worker's commit changed, for live pages."""
        return f"{self.prefix}-changes"

    @property
    def subjects(self) -> list[str]:
        return [f"{self.prefix}.*"]

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name, subjects=self.subjects, storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS, num_replicas=self.replicas,
            duplicate_window=self.duplicate_window_s, max_age=self.max_age_s,
            description=f"ParcelGuard ingest commands, partitioned by tracking number: "
                        f"{self.partitions} partitions",
        )


def problems(config: StreamConfig, spec: StreamSpec) -> list[str]:
    """What in an existing stream's configuration would lose or duplicate acknowledged data."""
    found = []
    if config.storage != StorageType.FILE:
        found.append("it keeps messages in memory, so a NATS restart loses acknowledged events: "
                     "use file storage")
    if config.no_ack:
        found.append("it does not acknowledge publishes (no_ack): turn no_ack off")
    if config.retention == RetentionPolicy.INTEREST:
        found.append("interest retention drops messages no consumer is bound to yet: use limits")
    if (config.duplicate_window or 0) < spec.duplicate_window_s:
        found.append(f"its duplicate window is {config.duplicate_window or 0:g} s, shorter than "
                     f"the {spec.duplicate_window_s:g} s senders may retry in: raise it")
    if (config.num_replicas or 1) < spec.replicas:
        found.append(f"it has {config.num_replicas or 1} replica(s), {spec.replicas} are required")
    if set(config.subjects or []) != set(spec.subjects):
        found.append(f"its subjects are {config.subjects}, expected {spec.subjects}")
    made = PARTITIONS.search(config.description or "")
    if made and int(made.group(1)) != spec.partitions:
        found.append(  # a parcel's commands would go where another worker holds its state
            f"it was made for {made.group(1)} partitions and this process is set for "
            f"{spec.partitions}: set PARCELGUARD_BUS_PARTITIONS={made.group(1)} on every "
            "process (changing the count needs the stream drained and made again)")
    return found


async def ensure(js: JetStreamContext, spec: StreamSpec) -> StreamInfo:
    """The stream, created if it is missing; an unsafe existing one is refused."""
    try:
        info = await js.stream_info(spec.name)
    except NotFoundError:
        return await js.add_stream(spec.config())
    found = problems(info.config, spec)
    if not found and not PARTITIONS.search(info.config.description or ""):
        info = await _record_partitions(js, info, spec, found)
    if found:
        raise Unavailable(
            f"refusing to use NATS stream {spec.name!r}: " + "; ".join(found) + ". Fix it with "
            f"`nats stream edit {spec.name}` where NATS allows the change, or delete the stream "
            "(after draining it) and start again so ParcelGuard creates it durable: file "
            "storage, limits retention, a duplicate window, and `sync_interval: always` in the "
            "server's jetstream block.")
    return info


async def _record_partitions(js: JetStreamContext, info: StreamInfo, spec: StreamSpec,
                             found: list[str]) -> StreamInfo:
    """A stream made before the count was recorded: record this process's count, unless the
    stream's subjects show more partitions, or an operator wrote the description."""
    if (info.config.description or "") not in ("", OLD_DESCRIPTION):
        return info
    used = await js.stream_info(spec.name, subjects_filter=f"{spec.prefix}.*")
    highest = max((int(s.rsplit(".", 1)[1]) for s in (used.state.subjects or {})
                   if s.rsplit(".", 1)[1].isdigit()), default=-1)
    if highest >= spec.partitions:
        found.append(f"it holds messages for partition {highest}, and this process is set for "
                     f"{spec.partitions} partitions: set PARCELGUARD_BUS_PARTITIONS to the count "
                     "the stream was made for on every process")
        return info
    try:
        return await js.update_stream(replace(info.config, description=spec.config().description))
    except Exception as exc:  # credentials without STREAM.UPDATE: checked again next start
        log.warning("bus.partitions_not_recorded", stream=spec.name, error=str(exc))
        return info
