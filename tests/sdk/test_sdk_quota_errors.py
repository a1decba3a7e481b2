"""The two kinds of 429: a per-minute limit (RateLimitError, retried when short) and the
monthly license quota (QuotaExceededError: a reset date, a remedy, never retried)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import httpx
import pytest

import qcos
from qcos import QuotaExceededError, RateLimitError
from tests.sdk.conftest import Recorder, api_error, call
from tests.sdk.test_sdk_licensing import CUSTOMER, GENERATED, GENERATED_MODEL, v1


def quota_429(retry_after: int = 5, reset_at: str = "2027-01-01T00:00:00Z") -> httpx.Response:
    return api_error(
        429,
        "RATE_LIMIT_EXCEEDED",
        retry_after=retry_after,
        reason="monthly_quota",
        quota_reset_at=reset_at,
    )


def test_monthly_quota_raises_quota_exceeded_with_reset_date_and_remedy(
    mode: str, slept: list[float]
) -> None:
    # A short Retry-After (the last seconds of a month) would be retried as a rate limit.
    rec = Recorder(quota_429(retry_after=5))
    with pytest.raises(QuotaExceededError) as info:
        call(mode, rec, "licenses.generate", CUSTOMER)
    err = info.value
    assert isinstance(err, RateLimitError) and err.reason == "monthly_quota"
    assert (err.status_code, err.code, err.retry_after) == (429, "RATE_LIMIT_EXCEEDED", 5)
    assert err.reset_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert err.detail == "RATE_LIMIT_EXCEEDED happened"  # the server's, untouched
    assert "2027-01-01T00:00:00Z" in err.remedy and "--licenses-per-month" in err.remedy
    assert "upgrade" in err.remedy
    assert str(err) == (
        f"RATE_LIMIT_EXCEEDED (429): RATE_LIMIT_EXCEEDED happened {err.remedy} [request_id=req_1]"
    )
    assert len(rec.requests) == 1 and slept == []  # never retried


def test_quota_without_reset_date_still_says_what_to_do(mode: str) -> None:
    with pytest.raises(QuotaExceededError) as info:
        call(mode, Recorder(quota_429(reset_at="not a date")), "licenses.generate", CUSTOMER)
    assert info.value.reset_at is None and "first day of next month" in info.value.remedy


def test_rate_limit_reason_is_still_retried(mode: str, slept: list[float]) -> None:
    rec = Recorder(
        api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=2, reason="rate_limit"),
        v1(GENERATED, 201),
    )
    assert call(mode, rec, "licenses.generate", CUSTOMER) == GENERATED_MODEL
    assert slept == [2.0] and len(rec.requests) == 2


def test_rate_limit_error_names_its_reason(mode: str) -> None:
    rec = Recorder(api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=2, reason="rate_limit"))
    with pytest.raises(RateLimitError) as info:
        call(mode, rec, "me", client_kwargs={"max_retries": 0})
    assert type(info.value) is RateLimitError and info.value.reason == "rate_limit"
    # An older server that does not say: a plain RateLimitError without a reason.
    with pytest.raises(RateLimitError) as older:
        call(mode, Recorder(api_error(429, "RATE_LIMIT_EXCEEDED", retry_after=2)), "me",
             client_kwargs={"max_retries": 0})  # fmt: skip
    assert type(older.value) is RateLimitError and older.value.reason is None


def test_quota_error_is_exported_and_pickles() -> None:
    assert qcos.QuotaExceededError is QuotaExceededError and "QuotaExceededError" in qcos.__all__
    assert QuotaExceededError.__module__ == "qcos"
    error = QuotaExceededError(
        "Monthly limit reached (100 licenses).",
        retry_after=3600,
        reset_at=datetime(2027, 1, 1, tzinfo=UTC),
        status_code=429,
        code="RATE_LIMIT_EXCEEDED",
        request_id="req_q",
        body={"reason": "monthly_quota"},
    )
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert type(copy) is QuotaExceededError and str(copy) == str(error)
    assert copy.__dict__ == error.__dict__ and copy.reset_at == error.reset_at
    assert copy.reason == "monthly_quota" and "2027-01-01T00:00:00Z" in str(copy)
