"""The service's error vocabulary. Services raise these; the HTTP layer renders them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from quantumlock.core.clock import isoformat


class AppError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "INTERNAL_ERROR"
    default_detail: ClassVar[str] = "Internal server error."

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.default_detail
        self.extra = extra
        super().__init__(self.detail)


class ValidationFailed(AppError):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_detail = "Request validation failed."

    def __init__(self, detail: str | None = None, *, field: str | None = None) -> None:
        errors = [{"loc": ["body", field], "msg": detail, "type": "value_error"}] if field else []
        super().__init__(detail, errors=errors)


class DecryptionFailed(AppError):
    """Wrong key, tag, nonce, associated data or ciphertext: deliberately one answer."""

    status_code = 400
    code = "DECRYPTION_FAILED"
    default_detail = "Decryption failed: wrong key, nonce, tag, associated data or ciphertext."


class Unauthorized(AppError):
    status_code = 401
    code = "UNAUTHORIZED"
    default_detail = "Invalid or missing API key."


class KeyExpired(Unauthorized):
    code = "KEY_EXPIRED"
    default_detail = "API key has expired."


class KeyRevoked(Unauthorized):
    code = "KEY_REVOKED"
    default_detail = "API key has been revoked."


class InvalidAccessToken(Unauthorized):
    """An OAuth 2.0 access token that is not ours, malformed, or no longer names an active
    client, user or account. The code stays UNAUTHORIZED (as the contract's tokens share the
    API keys' 401 vocabulary); the detail says which of the three token refusals it is."""

    default_detail = "Invalid access token."


class AccessTokenExpired(InvalidAccessToken):
    default_detail = "Access token expired."


class AccessTokenRevoked(InvalidAccessToken):
    """Revoked itself, or its grant, or its user / client / service account disabled."""

    default_detail = "Access token revoked."


class InsufficientScope(AppError):
    status_code = 403
    code = "INSUFFICIENT_SCOPE"
    default_detail = "API key lacks the required scope."


class NotFound(AppError):
    status_code = 404
    code = "NOT_FOUND"
    default_detail = "Not found."


class Conflict(AppError):
    status_code = 409
    code = "CONFLICT"
    default_detail = "Conflict."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_detail = "Request body too large."


class RateLimited(AppError):
    """A per-minute (or per-address, or concurrency) limit: worth retrying after
    `retry_after` seconds. `reason` tells it apart from the monthly quota on the wire."""

    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"
    default_detail = "Rate limit exceeded."
    reason: ClassVar[str] = "rate_limit"

    def __init__(self, detail: str | None = None, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, retry_after=retry_after, reason=self.reason, **extra)
        self.retry_after = retry_after


class QuotaExceeded(RateLimited):
    """The monthly license quota is used up: same code as the reference's, but retrying
    before `quota_reset_at` (ISO-8601, UTC: the next calendar month's first instant) is
    pointless, so clients must not retry it automatically."""

    default_detail = "Monthly license quota reached."
    reason = "monthly_quota"

    def __init__(self, detail: str | None = None, *, retry_after: int, reset_at: datetime) -> None:
        super().__init__(detail, retry_after=retry_after, quota_reset_at=isoformat(reset_at))
        self.reset_at = reset_at


class QuantumUnavailable(AppError):
    status_code = 503
    code = "QUANTUM_UNAVAILABLE"
    default_detail = "Quantum backend unavailable."
