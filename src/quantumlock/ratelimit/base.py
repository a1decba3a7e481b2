from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from quantumlock.accounts.plans import RateLimit


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int  # the burst: what X-RateLimit-Limit reports
    remaining: int
    reset_at: float  # epoch seconds at which the bucket is full again
    retry_after: float  # seconds until one more request would be admitted; 0 when allowed


class Limiter(Protocol):
    """One admission decision per call. Backends: in-process GCRA, Redis (one Lua script)."""

    async def hit(self, key: str, limit: RateLimit) -> Decision: ...

    async def peek(self, key: str, limit: RateLimit) -> Decision: ...

    async def admit(
        self, key: str, limit: RateLimit, *, guard: str, guard_limit: RateLimit
    ) -> tuple[Decision, Decision | None]:
        """`peek(guard)` then, only if the guard allows, `hit(key)`, as one decision (one
        Redis round trip). Returns (guard decision, key decision or None if the guard
        refused)."""
        ...

    async def ping(self) -> bool | None:
        """Whether the backend's store answers; None when it has none outside the process."""
        ...

    async def close(self) -> None: ...
