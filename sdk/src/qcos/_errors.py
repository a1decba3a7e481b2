"""One exception hierarchy for every failure the SDK reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from qcos._models import parse_datetime

# The `reason` of a 429: a per-minute (or concurrency) limit, worth a short wait and a
# retry, or the monthly license quota, which no retry before its reset date can help.
RATE_LIMIT = "rate_limit"
MONTHLY_QUOTA = "monthly_quota"


class QCOSError(Exception):
    """Base class. API errors carry the server's code, detail and request id."""

    def __init__(
        self,
        detail: str,
        *,
        status_code: int | None = None,
        code: str = "UNKNOWN",
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.detail = detail
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body
        super().__init__(str(self))

    def __str__(self) -> str:
        status = f" ({self.status_code})" if self.status_code is not None else ""
        request = f" [request_id={self.request_id}]" if self.request_id else ""
        return f"{self.code}{status}: {self.detail}{request}"

    def __reduce__(self) -> tuple[Any, ...]:
        # The keyword-only constructor would break the default pickling (and with it
        # multiprocessing / concurrent.futures), so rebuild from the instance's attributes.
        return (_rebuild, (type(self), self.args), self.__dict__)


class APIError(QCOSError):
    """The server answered with an error not covered by a subclass (5xx and others)."""


class APIConnectionError(QCOSError):
    """No usable answer came back: the server could not be reached, or the connection failed
    mid-request. The base of the transport errors; httpx's exception is the `__cause__`."""


class APITimeoutError(APIConnectionError):
    """Connecting, sending, reading or waiting for a pooled connection took too long."""


class DecodingError(APIConnectionError):
    """An answer came back whose content encoding (gzip, brotli, ...) cannot be decoded.
    Not retried: the server did answer, and a broken body is likely to come back broken."""


class ConfigurationError(QCOSError):
    """The client is missing something it needs, such as an API key."""


class ValidationError(APIError):
    """400 VALIDATION_ERROR. `errors` lists the offending fields (`loc`, `msg`, `type`)."""

    @property
    def errors(self) -> list[dict[str, Any]]:
        if isinstance(self.body, dict) and isinstance(self.body.get("errors"), list):
            return list(self.body["errors"])
        return []


class AuthenticationError(APIError):
    """401: UNAUTHORIZED, KEY_EXPIRED or KEY_REVOKED."""


class PermissionDeniedError(APIError):
    """403 INSUFFICIENT_SCOPE."""


class NotFoundError(APIError):
    """404 NOT_FOUND (also another account's object)."""


class ConflictError(APIError):
    """409 CONFLICT."""


class RateLimitError(APIError):
    """429 RATE_LIMIT_EXCEEDED. `retry_after` is in seconds.

    `reason` is "rate_limit" for a per-minute limit (retried by the client when the wait is
    at most a minute and retries are left) or "monthly_quota" (raised as the subclass
    `QuotaExceededError`, never retried); None if the server did not say."""

    def __init__(self, detail: str, *, retry_after: int, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(detail, **kwargs)

    @property
    def reason(self) -> str | None:
        reason = self.body.get("reason") if isinstance(self.body, dict) else None
        return reason if isinstance(reason, str) else None


class QuotaExceededError(RateLimitError):
    """429 RATE_LIMIT_EXCEEDED with reason "monthly_quota": the account's licenses for this
    calendar month (UTC) are used up. The SDK never retries it.

    `reset_at`: when the quota resets (an aware UTC datetime; None if the server did not
    say). `remedy`: what to do about it, also in `str(error)`."""

    def __init__(
        self, detail: str, *, retry_after: int, reset_at: datetime | None = None, **kwargs: Any
    ) -> None:
        self.reset_at = reset_at
        super().__init__(detail, retry_after=retry_after, **kwargs)

    @property
    def reason(self) -> str:
        return MONTHLY_QUOTA

    @property
    def remedy(self) -> str:
        when = (
            f"on {self.reset_at.isoformat().replace('+00:00', 'Z')}"
            if self.reset_at is not None
            else "on the first day of next month (UTC)"
        )
        return (
            f"The quota resets {when}: wait until then, or upgrade the account's plan (on a"
            " self-hosted server, ask the operator: `quantumlock accounts set-limits"
            " ACCOUNT_ID --plan startup` or `--licenses-per-month N`)."
        )

    def __str__(self) -> str:
        request = f" [request_id={self.request_id}]" if self.request_id else ""
        return f"{self.code} ({self.status_code}): {self.detail} {self.remedy}{request}"


class DecryptionError(ValidationError):
    """400 DECRYPTION_FAILED: wrong key, iv, tag, aad or ciphertext (deliberately not which)."""


class QuantumUnavailableError(APIError):
    """503 QUANTUM_UNAVAILABLE: the entropy source asked for is not installed, reachable or
    healthy. Ask again without `source` to let the server fall back."""


def _rebuild(cls: type[QCOSError], args: tuple[Any, ...]) -> QCOSError:
    error = cls.__new__(cls)
    error.args = args
    return error


def rate_limit_error(detail: str, *, retry_after: int, **common: Any) -> RateLimitError:
    """The error for a 429: `QuotaExceededError` when the body's reason is monthly_quota."""
    body = common.get("body")
    if isinstance(body, dict) and body.get("reason") == MONTHLY_QUOTA:
        try:
            reset_at = parse_datetime(body.get("quota_reset_at"))
        except (TypeError, ValueError):  # a garbled date must not hide the quota error
            reset_at = None
        return QuotaExceededError(detail, retry_after=retry_after, reset_at=reset_at, **common)
    return RateLimitError(detail, retry_after=retry_after, **common)


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    # Not part of the contract (which uses 400), but what a stock FastAPI route answers.
    422: ValidationError,
}
# Codes that name a narrower failure than their status does.
_BY_CODE: dict[str, type[APIError]] = {
    "DECRYPTION_FAILED": DecryptionError,
    "QUANTUM_UNAVAILABLE": QuantumUnavailableError,
}
