"""LicenseValidator: the cache lookup, refresh-ahead and rules of online validation."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from quantumlock.licensing.cache import CacheKey, Loaded, ValidationCache
from quantumlock.licensing.repository import LicenseView
from quantumlock.licensing.service import SecretCache
from quantumlock.licensing.validation import LicenseValidator
from tests.fakes.clock import FakeClock, elapse, on_fake_time

SECRET = b"s" * 64
LICENSE = "QLOCK-AAAA-BBBB-CCCC"


def row(status: str = "active") -> LicenseView:
    now = datetime.now(UTC)
    view = LicenseView(
        LICENSE, "cust_a", "live", "someone", ["core"], {}, status, 1,
        now + timedelta(days=30), now, "", False,
    )  # fmt: skip
    object.__setattr__(view, "verified_with", SECRET)  # as if its HMAC was checked at load
    return view


class Validator(LicenseValidator):
    """Reads a dict instead of the database (no worker thread), and counts what the
    metrics would."""

    def __init__(self, cache: ValidationCache) -> None:
        self.counts = {"hit": 0, "miss": 0}
        super().__init__(
            cache, _no_sessions, _unused, SecretCache(),
            on_hit=lambda: self._tally("hit"), on_miss=lambda: self._tally("miss"),
        )  # fmt: skip
        self.table: dict[CacheKey, Loaded] = {}
        self.loads: list[list[CacheKey]] = []

    def _tally(self, what: str) -> None:
        self.counts[what] += 1

    async def _load_many(self, keys: Sequence[CacheKey]) -> dict[CacheKey, Loaded]:
        self.loads.append(list(keys))
        return {k: self.table[k] for k in keys if k in self.table}


def _no_sessions() -> Any:
    raise AssertionError("the stand-in opens no session")


_unused: Any = None


@on_fake_time
async def test_a_miss_loads_then_hits_are_served_from_the_cache(clock: FakeClock) -> None:
    validator = Validator(ValidationCache(2.0, clock=clock))
    validator.table[("cust_a", "live", LICENSE)] = (row(), SECRET)
    first = await validator.validate("cust_a", "live", f" {LICENSE.lower()} ", "someone")
    again = await validator.validate("cust_a", "live", LICENSE, "someone", ["core"])
    assert (first.code, again.code) == ("VALID", "VALID")
    assert validator.loads == [[("cust_a", "live", LICENSE)]]  # normalised, loaded once
    assert validator.counts == {"hit": 1, "miss": 1}
    wrong = await validator.validate("cust_a", "live", LICENSE, "someone else")
    assert wrong.code == "CUSTOMER_MISMATCH" and not wrong.valid
    assert (await validator.validate("cust_a", "test", LICENSE, "someone")).code == "NOT_FOUND"


@on_fake_time
async def test_a_due_entry_is_served_and_reloaded_in_the_background(clock: FakeClock) -> None:
    validator = Validator(ValidationCache(2.0, clock=clock))
    key = ("cust_a", "live", LICENSE)
    validator.table[key] = (row(), SECRET)
    await validator.validate("cust_a", "live", LICENSE, "someone")
    validator.table[key] = (row("revoked"), SECRET)  # changed behind the service
    clock.advance(1.6)  # past three quarters of the TTL: due
    served = await validator.validate("cust_a", "live", LICENSE, "someone")
    assert served.code == "VALID" and len(validator.loads) == 1  # no request waited
    await elapse(clock, 0.2)  # the refresh window (a tenth of the TTL) ends
    assert len(validator.loads) == 2
    assert (await validator.validate("cust_a", "live", LICENSE, "someone")).code == "REVOKED"
    assert validator.counts == {"hit": 2, "miss": 1}
