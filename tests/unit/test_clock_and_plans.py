from __future__ import annotations

from datetime import timedelta

import pytest

from quantumlock.accounts.plans import TEST_MODE_LIMIT, RateLimit, effective_limits
from quantumlock.auth.scopes import NON_ADMIN_SCOPES, Scope, expand, parse_scopes
from quantumlock.core.clock import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("1y", timedelta(days=365)),
        ("15m", timedelta(minutes=15)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "d", "30", "30x", "-1d", "1.5d", "11y", "0d", "ninety days"])
def test_bad_durations(bad: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(bad)


def test_zero_allowed_only_for_grace_periods() -> None:
    assert parse_duration("0s", allow_zero=True) == timedelta(0)


def test_plan_limits_match_the_contract() -> None:
    free = effective_limits(
        "free",
        requests_per_minute=None,
        burst=None,
        licenses_per_month=None,
        licenses_unlimited=False,
    )
    assert free.v2_live == RateLimit(60, 100)
    assert free.v1_live == RateLimit(10, 10)
    assert free.licenses_per_month == 100
    business = effective_limits(
        "business",
        requests_per_minute=None,
        burst=None,
        licenses_per_month=None,
        licenses_unlimited=False,
    )
    assert business.v2_live == RateLimit(300, 500)
    assert business.v1_live == RateLimit(1000, 1000)
    assert business.licenses_per_month == 100_000
    enterprise = effective_limits(
        "enterprise",
        requests_per_minute=None,
        burst=None,
        licenses_per_month=None,
        licenses_unlimited=False,
    )
    assert enterprise.licenses_per_month is None
    assert free.test == TEST_MODE_LIMIT == RateLimit(30, 50)


def test_overrides() -> None:
    limits = effective_limits(
        "free", requests_per_minute=1000, burst=None, licenses_per_month=5, licenses_unlimited=False
    )
    assert limits.v2_live == RateLimit(1000, 1000)
    assert limits.licenses_per_month == 5
    limits = effective_limits(
        "free", requests_per_minute=None, burst=7, licenses_per_month=5, licenses_unlimited=True
    )
    assert limits.v2_live == RateLimit(60, 7)
    assert limits.licenses_per_month is None


def test_admin_implies_everything_else() -> None:
    assert expand({Scope.ADMIN}) == frozenset(Scope)
    assert Scope.ADMIN not in NON_ADMIN_SCOPES
    assert Scope.LICENSES_VALIDATE in expand({Scope.LICENSES_WRITE})


def test_unknown_scope_is_named() -> None:
    with pytest.raises(ValueError, match="billing:write"):
        parse_scopes(["licenses:read", "billing:write"])
