from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A GCRA bucket's shape: the steady rate and the burst (the bucket's size)."""

    per_minute: int
    burst: int


# (bucket name, its limit): one of the buckets a request must fit in.
Bucket = tuple[str, RateLimit]


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int  # the burst: what X-RateLimit-Limit reports
    remaining: int
    reset_at: float  # epoch seconds at which the bucket is full again
    retry_after: float  # seconds until one more request would be admitted; 0 when allowed


def bucket_id(name: str, limit: RateLimit) -> str:
    """The stored bucket of `name` under `limit`.

    The limit is part of the name because a bucket's state (its TAT) only means something
    under the rate it was written with: read under a changed limit, a bucket drained at
    60/min would refuse for up to a minute under 100,000/min. A changed limit therefore
    starts from its own full burst, on every node as soon as it sees the new limit; the old
    bucket simply expires.
    """
    return f"{name}@{limit.per_minute}/{limit.burst}"


def tightest(decisions: Sequence[Decision]) -> Decision:
    """The decision to report for a request checked against several buckets: a refusing
    bucket (the one that frees up last), else the bucket with the fewest requests left."""
    refused = [d for d in decisions if not d.allowed]
    if refused:
        return max(refused, key=lambda d: d.retry_after)
    return min(decisions, key=lambda d: (d.remaining, -d.reset_at))


class Limiter(Protocol):
    """Admission decisions. Backends: in-process GCRA, Redis (one Lua script per call)."""

    async def hit(self, key: str, limit: RateLimit) -> Decision: ...

    async def peek(self, key: str, limit: RateLimit) -> Decision: ...

    async def admit(self, buckets: Sequence[Bucket]) -> Decision:
        """One request against every bucket in `buckets`, as one atomic decision (one Redis
        round trip): admitted only if every bucket has room, and then counted in every
        bucket; a refused request is counted in none. Returns `tightest` of the buckets'
        decisions."""
        ...

    async def ping(self) -> bool | None:
        """Whether the backend's store answers; None when it has none outside the process."""
        ...

    async def close(self) -> None: ...
