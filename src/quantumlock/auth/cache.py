"""In-memory caches on the authentication hot path.

KeyCache maps a presented key's hash to its principal (or to "no such key"), so a request
with a known key needs no database round trip. Entries expire after a TTL as a safety net;
revocations, rotations and limit changes invalidate them at once in this process and, via
the change feed, in every other process within the poll interval.

UsageTracker keeps last_used_at in memory and writes it in batches, so authenticating a
request never writes to the database.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from quantumlock.auth.principal import Principal
from quantumlock.core.cache import MISS, Clock, LoadingCache

__all__ = ["MISS", "Found", "KeyCache", "UsageTracker"]

Found = tuple[bytes, Principal] | None  # (stored hash, principal); None: no such key


class KeyCache(LoadingCache[bytes, tuple[bytes, Principal]]):
    """Presented key's digest -> (stored hash, principal); unknown keys are remembered as
    absent (at most `max_negative` of them) and never refreshed. A known key in use is
    reloaded in the background before its entry expires (`quantumlock.core.cache`): without
    that, every request that arrived in the instant the entry expired waited for its own
    database lookup."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 100_000,
        max_negative: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(ttl, max_entries=max_entries, max_absent=max_negative, clock=clock)

    def invalidate_key(self, key_id: str) -> None:
        self.discard_where(lambda _digest, found: found[1].key_id == key_id)

    def invalidate_account(self, account_id: str) -> None:
        self.discard_where(lambda _digest, found: found[1].account_id == account_id)


class UsageTracker:
    def __init__(self) -> None:
        self._pending: dict[str, float] = {}
        self._lock = threading.Lock()

    def touch(self, key_id: str, when: float) -> None:
        """`when` is epoch seconds: cheaper on the hot path than building a datetime."""
        self._pending[key_id] = when

    def drain(self) -> dict[str, datetime]:
        with self._lock:
            pending, self._pending = self._pending, {}
        return {key_id: datetime.fromtimestamp(ts, UTC) for key_id, ts in pending.items()}

    def restore(self, pending: dict[str, datetime]) -> None:
        """Put back a batch whose write failed, keeping any newer value."""
        with self._lock:
            for key_id, when in pending.items():
                self._pending.setdefault(key_id, when.timestamp())
