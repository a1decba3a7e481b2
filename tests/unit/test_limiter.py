"""The in-process GCRA limiter: exact burst and rate, and never more than burst + rate·t."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantumlock.accounts.plans import RateLimit
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


def test_admit_peeks_the_guard_then_hits_the_key() -> None:
    import asyncio

    clock = FakeClock()
    limiter = GcraLimiter(clock)
    guard_limit = RateLimit(per_minute=1, burst=2)
    limit = RateLimit(per_minute=60, burst=3)

    async def scenario() -> None:
        guard, decision = await limiter.admit("k", limit, guard="g", guard_limit=guard_limit)
        assert guard.allowed and guard.remaining == 2  # peeked, not consumed
        assert decision is not None and decision.allowed and decision.remaining == 2
        # Two failures fill the guard; from then on the key's bucket is not even touched.
        assert (await limiter.hit("g", guard_limit)).allowed
        assert (await limiter.hit("g", guard_limit)).allowed
        guard, decision = await limiter.admit("k", limit, guard="g", guard_limit=guard_limit)
        assert not guard.allowed and guard.retry_after > 0
        assert decision is None
        assert (await limiter.peek("k", limit)).remaining == 2
        # With the guard open again, admit spends the key's bucket down to a refusal.
        clock.advance(61)
        for remaining in (2, 1, 0):
            guard, decision = await limiter.admit("k", limit, guard="g", guard_limit=guard_limit)
            assert guard.allowed and decision is not None and decision.remaining == remaining
        _, decision = await limiter.admit("k", limit, guard="g", guard_limit=guard_limit)
        assert decision is not None and not decision.allowed

    asyncio.run(scenario())
