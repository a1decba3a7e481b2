"""What the SDK keeps of each HTTP answer: `client.last_response`, as in stripe-python."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from qcos._models import RateLimitInfo

UNLIMITED = "unlimited"


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def _epoch(value: str | None) -> datetime | None:
    seconds = _int(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):  # a header no real clock gives
        return None


@dataclass(frozen=True, slots=True)
class QuotaInfo:
    """The monthly license quota, from `X-Quota-*` (license responses, live mode).

    `limit` and `remaining` are None when the plan is unlimited.
    """

    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    @property
    def unlimited(self) -> bool:
        return self.limit is None


@dataclass(frozen=True, slots=True)
class ResponseInfo:
    """One HTTP answer: its status, headers, request id, and the limits it reported.

    `rate_limit` comes from `X-RateLimit-Limit/-Remaining/-Reset` (every authenticated
    answer), `quota` from `X-Quota-*` (license answers in live mode); each is None when the
    answer did not carry it. `headers` has lower-case names. Quote `request_id` when you
    report a problem.
    """

    status_code: int
    method: str
    path: str
    request_id: str | None
    rate_limit: RateLimitInfo | None
    quota: QuotaInfo | None
    headers: dict[str, str] = field(repr=False)

    @classmethod
    def of(cls, response: httpx.Response) -> ResponseInfo:
        headers = response.headers
        limit, remaining = (
            _int(headers.get("x-ratelimit-limit")),
            _int(headers.get("x-ratelimit-remaining")),
        )
        reset = _epoch(headers.get("x-ratelimit-reset"))
        rate_limit = (
            RateLimitInfo(limit, remaining, reset)
            if limit is not None and remaining is not None and reset is not None
            else None
        )
        quota = None
        if "x-quota-limit" in headers:
            quota = QuotaInfo(
                limit=_int(headers.get("x-quota-limit")),
                remaining=_int(headers.get("x-quota-remaining")),
                reset_at=_epoch(headers.get("x-quota-reset")),
            )
        try:
            method, path = response.request.method, response.request.url.path
        except RuntimeError:  # a Response built by hand (a test double) has no request
            method, path = "", ""
        return cls(
            status_code=response.status_code,
            method=method,
            path=path,
            request_id=headers.get("x-request-id"),
            rate_limit=rate_limit,
            quota=quota,
            headers=dict(headers.items()),
        )
