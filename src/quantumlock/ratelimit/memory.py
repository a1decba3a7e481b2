"""Generic Cell Rate Algorithm, in process, exact.

Each bucket is one number, the theoretical arrival time (TAT). With emission interval
T = 60 s / rate and capacity B (the burst), a request at `now` is admitted iff
max(TAT, now) + T - now <= B·T, and then TAT becomes max(TAT, now) + T. Over any window of
length t this admits at most B + t/T requests. All arithmetic is in integer nanoseconds and
T is rounded up, so rounding can only make the limiter stricter, never looser.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from quantumlock.accounts.plans import RateLimit
from quantumlock.ratelimit.base import Decision

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
            return self._decide(key, limit, consume, self._clock())

    def _decide(self, key: str, limit: RateLimit, consume: bool, now: int) -> Decision:
        interval = emission_interval_ns(limit)
        capacity = limit.burst * interval
        # Caller holds the lock.
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + interval
        if new_tat - now <= capacity:
            if consume:
                self._tat[key] = new_tat
                after = new_tat
            else:
                after = tat
            remaining = (now + capacity - after) // interval
            decision = Decision(True, limit.burst, int(remaining), after / NS, 0.0)
        else:
            retry = (new_tat - now - capacity) / NS
            decision = Decision(False, limit.burst, 0, tat / NS, retry)
        if now - self._last_prune > _PRUNE_EVERY_NS:
            self._prune(now)
        return decision

    def _prune(self, now: int) -> None:
        # A bucket whose TAT has passed is full again: forgetting it changes nothing.
        self._tat = {k: v for k, v in self._tat.items() if v > now}
        self._last_prune = now

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        return self.decide(key, limit)

    async def peek(self, key: str, limit: RateLimit) -> Decision:
        return self.decide(key, limit, consume=False)

    async def admit(
        self, key: str, limit: RateLimit, *, guard: str, guard_limit: RateLimit
    ) -> tuple[Decision, Decision | None]:
        with self._lock:
            now = self._clock()
            checked = self._decide(guard, guard_limit, False, now)
            if not checked.allowed:
                return checked, None
            return checked, self._decide(key, limit, True, now)

    async def ping(self) -> None:
        return None  # the state is this process's own: nothing to reach

    async def close(self) -> None:
        return None
