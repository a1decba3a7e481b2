"""GCRA in Redis: one Lua script per decision, Redis TIME as the clock.

The algorithm is the in-process one (see `memory.py`): one number per bucket, the
theoretical arrival time (TAT), admitted iff max(TAT, now) + T - now <= B·T. Here the TAT
lives in Redis, and the whole read-decide-write runs as one script, atomically, with the
clock of the Redis server: every node shares one bucket and one clock, so N nodes together
admit exactly what one would (no per-node over-admission, no clock skew between nodes).

Times are integer microseconds (Lua numbers are doubles: exact to 2^53 µs, ~285 years).
The emission interval is rounded up, so rounding only makes the limit stricter. A bucket
key expires when its TAT has passed, the moment it is full again, so idle keys cost nothing.

When Redis cannot be reached the limiter fails open: the request is admitted, a warning is
logged (at most once per `_WARN_EVERY_S`) and `quantumlock_redis_errors_total` counts it.
After an error Redis is not asked again for `_BACKOFF_S`, so a dead Redis costs requests
no timeouts. Monthly license quotas are unaffected: they are counted in the database.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from quantumlock.observability.metrics import Metrics
from quantumlock.ratelimit.base import Bucket, Decision, RateLimit, bucket_id, tightest

log = structlog.get_logger(__name__)

US = 1_000_000
_BACKOFF_S = 1.0
_WARN_EVERY_S = 10.0

# One GCRA decision on `key` at `now` (µs), consuming if `consume`.
# Returns {allowed, remaining, tat-after µs, retry-after µs}.
_GCRA_FUNCTION = """
local function gcra(key, now, interval, burst, consume)
  local capacity = burst * interval
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  if new_tat - now <= capacity then
    local after = tat
    if consume then
      after = new_tat
      local ttl_ms = math.ceil((new_tat - now) / 1000)
      redis.call('SET', key, string.format('%d', new_tat), 'PX', ttl_ms)
    end
    return {1, math.floor((now + capacity - after) / interval), string.format('%d', after), 0}
  end
  return {0, 0, string.format('%d', tat), string.format('%d', new_tat - now - capacity)}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
"""

# KEYS[1] bucket; ARGV: interval µs, burst, consume (1|0).
_GCRA = (
    _GCRA_FUNCTION
    + """
return gcra(KEYS[1], now, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1')
"""
)

# KEYS: the buckets; ARGV: interval µs and burst of each, in the same order. Admits only
# if every bucket has room, then consumes from each; a refused request writes nothing.
# Returns one decision per bucket, in order.
_ADMIT = (
    _GCRA_FUNCTION
    + """
local checked = {}
local admitted = true
for i = 1, #KEYS do
  checked[i] = gcra(KEYS[i], now, tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]), false)
  if checked[i][1] == 0 then admitted = false end
end
if not admitted then
  return checked
end
for i = 1, #KEYS do
  checked[i] = gcra(KEYS[i], now, tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i]), true)
end
return checked
"""
)


def emission_interval_us(limit: RateLimit) -> int:
    return -(-60 * US // limit.per_minute)  # ceil


class RedisLimiter:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "ql:rl:",
        metrics: Metrics | None = None,
        timeout: float = 1.0,
        max_connections: int = 64,
    ) -> None:
        # A blocking pool: under a burst, decisions queue for a connection (up to `timeout`)
        # instead of failing; a script round trip takes well under a millisecond. The timeout
        # is generous on purpose: on a saturated node the event loop itself can lag by
        # hundreds of milliseconds, and a timeout there would fail open, i.e. over-admit.
        # A Redis that is down refuses connections at once; only a black-holed one costs
        # up to `timeout`, once per back-off period.
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
        self._redis: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._script = self._redis.register_script(_GCRA)
        self._admit = self._redis.register_script(_ADMIT)
        self._prefix = prefix
        self._counts = (
            None
            if metrics is None
            else tuple(
                metrics.limiter_decisions.labels("redis", r)
                for r in ("refused", "allowed", "failed_open")
            )
        )
        self._errors = None if metrics is None else metrics.redis_errors.labels("ratelimit")
        self._down_until = 0.0
        self._last_warning = 0.0

    async def hit(self, key: str, limit: RateLimit) -> Decision:
        return await self._decide(key, limit, consume=True)

    async def peek(self, key: str, limit: RateLimit) -> Decision:
        return await self._decide(key, limit, consume=False)

    async def admit(self, buckets: Sequence[Bucket]) -> Decision:
        """Every bucket's check and consumption in one script: one round trip per request."""
        if time.monotonic() < self._down_until:
            return self._fail_open_all(buckets)
        args: list[int] = []
        for _, limit in buckets:
            args += [emission_interval_us(limit), limit.burst]
        try:
            reply: Any = await self._admit(
                keys=[self._prefix + bucket_id(name, limit) for name, limit in buckets], args=args
            )
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + _BACKOFF_S
            self._note_error(exc)
            return self._fail_open_all(buckets)
        decision = tightest(
            [
                self._decision(r, limit, count=False)
                for r, (_, limit) in zip(reply, buckets, strict=True)
            ]
        )
        self._count(decision.allowed)
        return decision

    async def _decide(self, key: str, limit: RateLimit, *, consume: bool) -> Decision:
        if time.monotonic() < self._down_until:
            return self._fail_open(limit)
        interval = emission_interval_us(limit)
        try:
            reply: Any = await self._script(
                keys=[self._prefix + bucket_id(key, limit)],
                args=[interval, limit.burst, 1 if consume else 0],
            )
        except (RedisError, OSError) as exc:
            self._down_until = time.monotonic() + _BACKOFF_S
            self._note_error(exc)
            return self._fail_open(limit)
        return self._decision(reply, limit)

    def _decision(self, reply: Any, limit: RateLimit, *, count: bool = True) -> Decision:
        allowed, remaining, tat_us, retry_us = (int(v) for v in reply)
        if count:
            self._count(bool(allowed))
        if allowed:
            return Decision(True, limit.burst, remaining, tat_us / US, 0.0)
        return Decision(False, limit.burst, 0, tat_us / US, retry_us / US)

    def _count(self, allowed: bool) -> None:
        if self._counts is not None:
            self._counts[1 if allowed else 0].inc()

    def _fail_open_all(self, buckets: Sequence[Bucket]) -> Decision:
        # One request, one count, however many buckets it was checked against.
        decisions = [self._fail_open(limit, count=i == 0) for i, (_, limit) in enumerate(buckets)]
        return tightest(decisions)

    def _fail_open(self, limit: RateLimit, *, count: bool = True) -> Decision:
        if count and self._counts is not None:
            self._counts[2].inc()
        return Decision(True, limit.burst, limit.burst, time.time(), 0.0)

    def _note_error(self, exc: BaseException) -> None:
        if self._errors is not None:
            self._errors.inc()
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            log.warning(
                "rate_limiter_failing_open",
                reason=type(exc).__name__,
                detail="Redis unreachable: requests are admitted without rate limits",
            )

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
