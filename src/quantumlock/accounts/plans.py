"""Plans and the limits they grant (ARCHITECTURE §4), and how overrides combine with them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

# Re-exported: a plan is made of rate limits, and callers name them from here.
from quantumlock.ratelimit.base import RateLimit as RateLimit

if TYPE_CHECKING:
    from quantumlock.accounts.models import Account


class Plan(StrEnum):
    FREE = "free"
    STARTUP = "startup"
    BUSINESS = "business"
    ENTERPRISE = "enterprise"


@dataclass(frozen=True, slots=True)
class PlanLimits:
    v2_per_key: RateLimit  # /api/v2, per live or restricted key
    v1_per_account: RateLimit  # /api/v1, per account (live mode)
    licenses_per_month: int | None  # None = unlimited


PLANS: dict[Plan, PlanLimits] = {
    Plan.FREE: PlanLimits(RateLimit(60, 100), RateLimit(10, 10), 100),
    Plan.STARTUP: PlanLimits(RateLimit(300, 500), RateLimit(100, 100), 10_000),
    Plan.BUSINESS: PlanLimits(RateLimit(300, 500), RateLimit(1_000, 1_000), 100_000),
    # "Custom" in the reference: these are the defaults until `accounts set-limits` says more.
    Plan.ENTERPRISE: PlanLimits(RateLimit(3_000, 5_000), RateLimit(10_000, 10_000), None),
}

# Test-mode keys get the sandbox figures on both families, whatever the plan.
TEST_MODE_LIMIT = RateLimit(30, 50)

# /api/v1 limits are per account and mode, and within that ceiling each key may use at most
# this share of it (rate and burst, rounded up): so the validate-only key a vendor ships
# inside its application can never use up what the vendor's own backend keys need.
V1_KEY_SHARE = (1, 2)


def key_share(limit: RateLimit) -> RateLimit:
    """One key's share of an account's /api/v1 limit (`V1_KEY_SHARE`, at least 1)."""
    num, den = V1_KEY_SHARE
    return RateLimit(
        max(1, -(-limit.per_minute * num // den)), max(1, -(-limit.burst * num // den))
    )


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    v2_live: RateLimit
    v1_live: RateLimit
    test: RateLimit
    licenses_per_month: int | None
    plan: str = ""  # the account's plan, for metrics labels


def effective_limits(
    plan: str,
    *,
    requests_per_minute: int | None,
    burst: int | None,
    licenses_per_month: int | None,
    licenses_unlimited: bool,
) -> EffectiveLimits:
    base = PLANS[Plan(plan)]

    def apply(limit: RateLimit) -> RateLimit:
        if requests_per_minute is None and burst is None:
            return limit
        rpm = requests_per_minute if requests_per_minute is not None else limit.per_minute
        # An explicit rate with no burst means "no more than that rate at once".
        default_burst = limit.burst if requests_per_minute is None else rpm
        return RateLimit(rpm, burst if burst is not None else default_burst)

    if licenses_unlimited:
        quota: int | None = None
    elif licenses_per_month is not None:
        quota = licenses_per_month
    else:
        quota = base.licenses_per_month
    return EffectiveLimits(
        apply(base.v2_per_key), apply(base.v1_per_account), TEST_MODE_LIMIT, quota, plan
    )


def limits_of_account(account: Account) -> EffectiveLimits:
    """The effective limits of an account row: its plan's, with its overrides applied."""
    return effective_limits(
        account.plan,
        requests_per_minute=account.requests_per_minute,
        burst=account.burst,
        licenses_per_month=account.licenses_per_month,
        licenses_unlimited=account.licenses_unlimited,
    )
