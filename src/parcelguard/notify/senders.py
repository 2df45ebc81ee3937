"""How messages reach recipients: the log sender by default (the message itself is kept, sealed,
in the outbox table); an SMS gateway or SMTP sender plugs in with the same ``send``."""

from __future__ import annotations

import structlog

from parcelguard.domain import privacy

log = structlog.get_logger(__name__)


class LogSender:
    """Writes that a message went out, never its text (a pickup code is a secret)."""

    channel = "sms"

    def send(self, to: str, text: str) -> bool:
        log.info("message.sent", channel=self.channel, to=privacy.mask_phone(to),
                 chars=len(text))
        return True
