"""The exception tree. Every error says what was wrong and what to send instead.

    ParcelGuardError
    ├── InvalidInput      a field is missing or malformed       → 422
    │   └── Unparsable    the body is not the expected format   → 400
    ├── Unauthorized      no API key, or an unknown one          → 401
    ├── Forbidden         the key's role may not do this         → 403
    ├── NotFound          no such object for this tenant         → 404
    ├── Conflict          the object exists with other content   → 409
    ├── TooLarge          body, batch or page over its limit     → 413
    ├── RateLimited       too many requests                      → 429
    └── Unavailable       storage or a service is down; retry    → 503

The mapping to HTTP lives in exactly one place: ``parcelguard.api.errors``.
"""

from __future__ import annotations


class ParcelGuardError(Exception):
    """Base of every error ParcelGuard raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ParcelGuardError):
    """A field is missing or malformed; ``field`` is its dotted path."""

    code = "invalid_input"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


class Unparsable(InvalidInput):
    """The payload cannot be decoded at all (not JSON, wrong envelope)."""

    code = "unparsable"


class Unauthorized(ParcelGuardError):
    code = "unauthorized"


class Forbidden(ParcelGuardError):
    code = "forbidden"


class NotFound(ParcelGuardError):
    code = "not_found"


class Conflict(ParcelGuardError):
    code = "conflict"


class TooLarge(ParcelGuardError):
    code = "too_large"


class RateLimited(ParcelGuardError):
    code = "rate_limited"


class Locked(ParcelGuardError):
    """Refused until someone with the right unlocks it (a pickup code after five wrong tries)."""

    code = "locked"


class Unavailable(ParcelGuardError):
    code = "unavailable"
