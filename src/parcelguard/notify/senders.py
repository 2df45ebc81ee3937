"""How messages reach recipients: the log sender by default (the message itself is kept, sealed,
in the outbox table); an SMS gateway or SMTP sender plugs in with the same ``send``."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from urllib.parse import urlsplit

import structlog

from parcelguard.domain import privacy
from parcelguard.domain.errors import InvalidInput

log = structlog.get_logger(__name__)


class LogSender:
    """Writes that a message went out, never its text (a pickup code is a secret)."""

    channel = "sms"

    def send(self, to: str, text: str, subject: str | None = None,
             unsubscribe_url: str | None = None) -> bool:
        log.info("message.sent", channel=self.channel, to=privacy.mask_phone(to),
                 chars=len(text))
        return True


class SmtpSender:
    """Plain SMTP (STARTTLS when the server offers it), one connection per message."""

    channel = "email"

    def __init__(self, url: str, sender: str, timeout_s: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise InvalidInput("smtp_url", f"expected smtp://host:port, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or (465 if parts.scheme == "smtps" else 25)
        self.tls = parts.scheme == "smtps"
        self.user, self.password = parts.username, parts.password
        self.sender, self.timeout_s = sender, timeout_s

    def send(self, to: str, text: str, subject: str | None = None,
             unsubscribe_url: str | None = None) -> bool:
        msg = EmailMessage()
        msg["From"], msg["To"] = self.sender, to
        msg["Subject"] = subject or text.split("，")[0].removeprefix("【ParcelGuard】") or "ParcelGuard"
        if unsubscribe_url:  # RFC 2369 and RFC 8058 one-click unsubscribe
            msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(text)
        try:
            client = (smtplib.SMTP_SSL if self.tls else smtplib.SMTP)(
                self.host, self.port, timeout=self.timeout_s)
            with client:
                if not self.tls and client.has_extn("starttls"):
                    client.starttls()
                if self.user:
                    client.login(self.user, self.password or "")
                client.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("message.failed", channel=self.channel, error=str(exc))
            return False
        log.info("message.sent", channel=self.channel, to=privacy.mask_email(to), chars=len(text))
        return True

