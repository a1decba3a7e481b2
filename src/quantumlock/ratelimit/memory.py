"""Generic Cell Rate Algorithm, in process, exact.

Each bucket is one number, the theoretical arrival time (TAT). With emission interval
T = 60 s / rate and capacity B (the burst), a request at `now` is admitted iff
max(TAT, now) + T - now <= B·T, and then TAT becomes max(TAT, now) + T. Over any window of
length t this admits at most B + t/T requests. All arithmetic is in integer nanoseconds and
T is rounded up, so rounding can only make the limiter stricter, never looser.

`admit` checks one request against several buckets at once (an account's ceiling and the
calling key's share of it): admitted only if every bucket has room, counted in all of them
then, in none of them when refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from quantumlock.ratelimit.base import Bucket, Decision, RateLimit, bucket_id, tightest

NS = 1_000_000_000
_PRUNE_EVERY_NS = 60 * NS


def emission_interval_ns(limit: RateLimit) -> int:
    return -(-60 * NS // limit.per_minute)  # ceil


class GcraLimiter:
    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock_ns
        self._tat: dict[str, int] = {}
        self._lock = threading.Lock()
        self._last_prune = clock_ns()

    def decide(self, key: str, limit: RateLimit, *, consume: bool = True) -> Decision:
        with self._lock:
            now = self._clock()
            decision, new_tat = self._check(bucket_id(key, limit), limit, now)
            if consume and new_tat is not None:
                self._tat[bucket_id(key, limit)] = new_tat
                decision = self._after(limit, now, new_tat)
            self._maybe_prune(now)
            return decision

    def _check(self, bucket: str, limit: RateLimit, now: int) -> tuple[Decision, int | None]:
        """The decision without consuming, and the TAT a consuming request would leave (None
        when refused). Caller holds the lock."""
        interval = emission_interval_ns(limit)
        capacity = limit.burst * interval
        tat = max(self._tat.get(bucket, now), now)
        new_tat = tat + interval
        if new_tat - now <= capacity:
            return self._after(limit, now, tat), new_tat
        retry = (new_tat - now - capacity) / NS
        return Decision(False, limit.burst, 0, tat / NS, retry), None

    @staticmethod
    def _after(limit: RateLimit, now: int, tat: int) -> Decision:
        interval = emission_interval_ns(limit)
        remaining = (now + limit.burst * interval - tat) // interval
        return Decision(True, limit.burst, int(remaining), tat / NS, 0.0)

    def _maybe_prune(self, now: int) -> None:
        # A bucket whose TAT has passed is full again: forgetting it changes nothing.
        if now - self._last_prune > _PRUNE_EVERY_NS:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
            self._last_prune = now

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        return self.decide(key, limit)

    async def peek(self, key: str, limit: RateLimit) -> Decision:
        return self.decide(key, limit, consume=False)

    async def admit(self, buckets: Sequence[Bucket]) -> Decision:
        with self._lock:
            now = self._clock()
            checked = [
                (bucket_id(name, limit), limit, *self._check(bucket_id(name, limit), limit, now))
                for name, limit in buckets
            ]
            decisions = [decision for _, _, decision, _ in checked]
            if all(new_tat is not None for _, _, _, new_tat in checked):
                decisions = []
                for bucket, limit, _, new_tat in checked:
                    assert new_tat is not None  # noqa: S101 - checked just above
                    self._tat[bucket] = new_tat
                    decisions.append(self._after(limit, now, new_tat))
            self._maybe_prune(now)
            return tightest(decisions)

    async def ping(self) -> None:
        return None  # the state is this process's own: nothing to reach

    async def close(self) -> None:
        return None
