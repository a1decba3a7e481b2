"""The in-process GCRA limiter: exact burst and rate, and never more than burst + rate·t."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantumlock.ratelimit.base import RateLimit
from quantumlock.ratelimit.memory import NS, GcraLimiter, emission_interval_ns


class FakeClock:
    def __init__(self, start: int = 1_700_000_000 * NS) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * NS)


def test_admits_exactly_the_burst_at_once_then_refuses() -> None:
    clock = FakeClock()
    limiter = GcraLimiter(clock)
    limit = RateLimit(per_minute=60, burst=100)
    decisions = [limiter.decide("k", limit) for _ in range(101)]
    assert all(d.allowed for d in decisions[:100])
    assert [d.remaining for d in decisions[:3]] == [99, 98, 97]
    assert decisions[99].remaining == 0
    refused = decisions[100]
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after == pytest.approx(1.0)


def test_refills_at_the_steady_rate() -> None:
    clock = FakeClock()
    limiter = GcraLimiter(clock)
    limit = RateLimit(per_minute=30, burst=50)
    for _ in range(50):
        assert limiter.decide("k", limit).allowed
    assert not limiter.decide("k", limit).allowed
    clock.advance(1.9)  # one token every 2 s
    assert not limiter.decide("k", limit).allowed
    clock.advance(0.1)
    assert limiter.decide("k", limit).allowed
    assert not limiter.decide("k", limit).allowed


def test_reset_is_when_the_bucket_is_full_again() -> None:
    clock = FakeClock()
    limiter = GcraLimiter(clock)
    limit = RateLimit(per_minute=60, burst=10)
    for _ in range(4):
        decision = limiter.decide("k", limit)
    assert decision.reset_at == pytest.approx(clock.now / NS + 4)


def test_peek_does_not_consume() -> None:
    clock = FakeClock()
    limiter = GcraLimiter(clock)
    limit = RateLimit(per_minute=60, burst=2)
    for _ in range(5):
        assert limiter.decide("k", limit, consume=False).allowed
    assert limiter.decide("k", limit).allowed
    assert limiter.decide("k", limit).allowed
    assert not limiter.decide("k", limit, consume=False).allowed


def test_buckets_are_independent() -> None:
    limiter = GcraLimiter(FakeClock())
    limit = RateLimit(per_minute=1, burst=1)
    assert limiter.decide("a", limit).allowed
    assert not limiter.decide("a", limit).allowed
    assert limiter.decide("b", limit).allowed


@settings(max_examples=300, deadline=None)
@given(
    per_minute=st.integers(min_value=1, max_value=20_000),
    burst=st.integers(min_value=1, max_value=200),
    gaps_ms=st.lists(st.integers(min_value=0, max_value=3_000), min_size=1, max_size=400),
)
def test_never_admits_more_than_burst_plus_rate_times_elapsed(
    per_minute: int, burst: int, gaps_ms: list[int]
) -> None:
    clock = FakeClock()
    limiter = GcraLimiter(clock)
    limit = RateLimit(per_minute=per_minute, burst=burst)
    admitted: list[int] = []
    for gap in gaps_ms:
        clock.now += gap * 1_000_000
        if limiter.decide("k", limit).allowed:
            admitted.append(clock.now)
    rate_per_ns = per_minute / (60 * NS)
    # Every window that starts at an admitted request and ends at a later one.
    for i in range(len(admitted)):
        for j in range(i, len(admitted)):
            count = j - i + 1
            elapsed = admitted[j] - admitted[i]
            assert count <= burst + math.floor(rate_per_ns * elapsed + 1e-9)


@settings(max_examples=100, deadline=None)
@given(per_minute=st.integers(min_value=1, max_value=100_000), burst=st.integers(1, 1000))
def test_a_full_bucket_admits_exactly_burst(per_minute: int, burst: int) -> None:
    limiter = GcraLimiter(FakeClock())
    limit = RateLimit(per_minute=per_minute, burst=burst)
    allowed = sum(limiter.decide("k", limit).allowed for _ in range(burst + 5))
    assert allowed == burst


def test_emission_interval_rounds_up() -> None:
    assert emission_interval_ns(RateLimit(60, 1)) == NS
    assert emission_interval_ns(RateLimit(7, 1)) * 7 >= 60 * NS


def test_admit_counts_a_request_in_every_bucket_or_in_none() -> None:
    """An account's ceiling and a key's share of it: a request the key's share refuses
    leaves the account's bucket untouched, so the account's other keys keep their room."""
    import asyncio

    clock = FakeClock()
    limiter = GcraLimiter(clock)
    account = RateLimit(per_minute=1, burst=4)
    share = RateLimit(per_minute=1, burst=2)

    async def scenario() -> None:
        shipped = (("acct", account), ("key:shipped", share))
        admin = (("acct", account), ("key:admin", share))
        first = await limiter.admit(shipped)
        # The tighter bucket is reported: the key's share, 1 left of 2.
        assert first.allowed and (first.limit, first.remaining) == (2, 1)
        assert (await limiter.admit(shipped)).remaining == 0
        for _ in range(5):  # refused by its own share, never reaching the account's
            refused = await limiter.admit(shipped)
            assert not refused.allowed and refused.limit == 2 and refused.retry_after > 0
        assert (await limiter.peek("acct", account)).remaining == 2
        # The other key gets the rest of the account's ceiling, and the ceiling holds.
        assert (await limiter.admit(admin)).remaining == 1  # account: 1 left of 4
        last = await limiter.admit(admin)
        assert last.allowed and (last.limit, last.remaining) == (4, 0)
        refused = await limiter.admit((("acct", account), ("key:third", share)))
        assert not refused.allowed and refused.limit == 4
        assert (await limiter.peek("key:third", share)).remaining == 2  # not consumed

    asyncio.run(scenario())


def test_a_changed_limit_starts_from_its_full_burst() -> None:
    """Issue #16 finding 17: a bucket drained at 60/min, read under 100,000/min, refused
    for ~40 s. The new limit has a bucket of its own, full."""
    import asyncio

    limiter = GcraLimiter(FakeClock())
    old, new = RateLimit(per_minute=60, burst=100), RateLimit(per_minute=100_000, burst=100_000)

    async def scenario() -> None:
        bucket = (("acct", old),)
        assert all([(await limiter.admit(bucket)).allowed for _ in range(100)])
        assert not (await limiter.admit(bucket)).allowed
        raised = await limiter.admit((("acct", new),))
        assert raised.allowed and raised.remaining == new.burst - 1
        assert (await limiter.hit("acct", new)).allowed
        # And lowering it again does not inherit the raised limit's state either.
        assert not (await limiter.hit("acct", old)).allowed  # the old bucket is still drained

    asyncio.run(scenario())
