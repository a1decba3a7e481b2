"""A free account's 101st license, through the SDK against a real `quantumlock serve`:
QuotaExceededError with the reset date and the remedy, sent once (never retried)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from qcos import Client, QuotaExceededError, RateLimitError
from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def next_month_start(now: datetime) -> datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def test_free_accounts_101st_license_raises_quota_exceeded(server: Server) -> None:
    created = server.cli_json(
        "accounts", "create", "--name", "Free Vendor", "--email", "f@example.com", "--plan", "free"
    )
    assert isinstance(created, dict)
    # The free plan's 10 requests a minute would make 100 generates take ten minutes: only
    # the request rate is raised, the plan (and its 100 licenses a month) stays free.
    server.cli(
        "accounts", "set-limits", created["id"], "--requests-per-minute", "6000", "--burst", "400"
    )
    generates: list[str] = []

    def count(request: httpx.Request) -> None:
        if request.url.path == "/api/v1/licenses/generate":
            generates.append(request.method)

    http = httpx.Client(timeout=30, event_hooks={"request": [count]})
    with Client(api_key=created["api_key"], base_url=server.base_url, http_client=http) as sdk:
        assert sdk.customers.me().plan == "free"
        for n in range(100):
            sdk.licenses.generate(f"customer-{n}@example.com")
        stats = sdk.customers.stats()
        assert (stats.max_licenses_month, stats.licenses_remaining_month) == (100, 0)

        generates.clear()
        before = next_month_start(datetime.now(UTC))
        with pytest.raises(QuotaExceededError) as info:
            sdk.licenses.generate("customer-101@example.com")
        after = next_month_start(datetime.now(UTC))
        err = info.value
        assert isinstance(err, RateLimitError) and err.reason == "monthly_quota"
        assert (err.status_code, err.code) == (429, "RATE_LIMIT_EXCEEDED")
        assert err.detail == "Monthly limit reached (100 licenses)."
        assert err.reset_at in {before, after}
        assert err.reset_at is not None and err.reset_at.isoformat() in {
            before.isoformat(),
            after.isoformat(),
        }
        assert "upgrade" in str(err) and "--licenses-per-month" in str(err)
        assert generates == ["POST"]  # never retried, whatever the Retry-After
        assert sdk.customers.stats().licenses_generated_month == 100

        # Test mode has no quota: the same account's test key still issues licenses.
        test_key = sdk.keys.create("sandbox", type="test").key
    with Client(api_key=test_key, base_url=server.base_url) as sandbox:
        assert sandbox.licenses.generate("customer-102@example.com").license_key
