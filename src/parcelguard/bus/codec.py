"""Commands on the bus: msgspec JSON of the pipeline's own command types.

A recipient's personal data travels sealed under the data key, as storage keeps it, so the
stream's files on disk hold no phone number or address in the clear. Every message names
its command type and a format version; a worker refuses one it does not know.

A request's commands for one partition travel as one message (``BATCH``): a list of
(type, index in the request or -1, body), so an API node publishes (and waits for) one
JetStream acknowledgement per partition a request touches, not one per command.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.shipment import Recipient
from parcelguard.services import messages as m
from parcelguard.services.ports import Vault

VERSION = 1
_TYPES: dict[str, type] = {t.__name__: t for t in (
    m.RegisterShipment, m.RecordScan, m.RecordReading, m.RegisterDevice, m.AdvanceClock,
    m.ActOnAlert, m.NoteEstimate, m.RaiseAlert, m.RulesChanged, m.DisruptionsChanged)}
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {n: msgspec.json.Decoder(t) for n, t in _TYPES.items()}
_OUTCOMES = msgspec.json.Decoder(list[tuple[int, m.Outcome]])
_BATCH = msgspec.json.Decoder(list[tuple[str, int, msgspec.Raw]])
_encoder = msgspec.json.Encoder()
BATCH = "Batch"


class Codec:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def encode(self, cmd: m.Command) -> tuple[str, bytes]:
        """(type name, body) of a command."""
        if isinstance(cmd, m.RegisterShipment) and cmd.recipient is not None:
            sealed = self.vault.seal(_encoder.encode(cmd.recipient)).hex()
            data = msgspec.to_builtins(cmd)
            data["recipient"] = None
            data["sealed_recipient"] = sealed
            return type(cmd).__name__, _encoder.encode(data)
        return type(cmd).__name__, _encoder.encode(cmd)

    def decode(self, kind: str, body: bytes) -> m.Command:
        decoder = _DECODERS.get(kind)
        if decoder is None:
            raise InvalidInput("command", f"unknown command type {kind!r}")
        if kind == "RegisterShipment":
            data: dict[str, Any] = json.loads(body)
            sealed = data.pop("sealed_recipient", None)
            cmd: m.RegisterShipment = msgspec.convert(data, m.RegisterShipment)
            if sealed is None:
                return cmd
            recipient = msgspec.json.decode(self.vault.open(bytes.fromhex(sealed)), type=Recipient)
            return m.RegisterShipment(cmd.shipment, recipient, cmd.spec_digest, cmd.received_at)
        result: m.Command = decoder.decode(body)
        return result


def encode_batch(items: list[tuple[str, int, bytes]]) -> bytes:
    """(type, index of the command in its request or -1 when no one waits, body) each."""
    return _encoder.encode([(kind, index, msgspec.Raw(body)) for kind, index, body in items])


def decode_batch(body: bytes) -> list[tuple[str, int, bytes]]:
    return [(kind, index, bytes(raw)) for kind, index, raw in _BATCH.decode(body)]


def encode_outcomes(outcomes: list[tuple[int, m.Outcome]]) -> bytes:
    return _encoder.encode(outcomes)


def decode_outcomes(body: bytes) -> list[tuple[int, m.Outcome]]:
    return _OUTCOMES.decode(body)
