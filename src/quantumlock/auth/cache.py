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
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from quantumlock.auth.principal import Principal
from quantumlock.core.ttlcache import CacheLoads, refresh_point

# Returned by KeyCache.get when the cache has nothing to say about a key.
MISS: object = object()

Found = tuple[bytes, Principal] | None  # (stored hash, principal); None: no such key


class KeyCache:
    def __init__(self, ttl: float, *, max_entries: int = 100_000, max_negative: int = 10_000):
        self._ttl = ttl
        self._max = max_entries
        self._max_negative = max_negative
        # digest -> (expires at, due for refresh at, stored hash, principal)
        self._positive: dict[bytes, tuple[float, float, bytes, Principal]] = {}
        self._negative: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()
        self.generation = 0
        self._loads: CacheLoads[bytes, Found] = CacheLoads(
            lambda: self.generation,
            lambda digest, found, generation: self.put(digest, found, generation=generation),
        )
        self.hits = 0
        self.misses = 0

    def lookup(self, digest: bytes) -> tuple[Found | object, bool]:
        """((stored hash, principal), None for a known-absent key, or MISS; due for refresh).

        A known key in use is reloaded in the background before its entry expires (see
        `quantumlock.core.ttlcache`): without that, every request that arrived in the
        instant the entry expired waited for its own database lookup.
        """
        now = time.monotonic()
        entry = self._positive.get(digest)
        if entry is not None and entry[0] > now:
            self.hits += 1
            return (entry[2], entry[3]), entry[1] <= now
        negative = self._negative.get(digest)
        if negative is not None and negative > now:
            self.hits += 1
            return None, False
        self.misses += 1
        return MISS, False

    def put(self, digest: bytes, found: Found, *, generation: int | None = None) -> None:
        """Remember a lookup; with `generation`, only if nothing was invalidated since."""
        now = time.monotonic()
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            if found is None:
                # A reload that finds the key gone must not leave the old principal served.
                self._positive.pop(digest, None)
                self._negative[digest] = now + self._ttl
                while len(self._negative) > self._max_negative:
                    self._negative.popitem(last=False)
                return
            if len(self._positive) >= self._max:
                self._positive.clear()  # rare; cheaper than LRU bookkeeping on every hit
            self._positive[digest] = (
                now + self._ttl,
                refresh_point(now, self._ttl),
                found[0],
                found[1],
            )

    async def load_once(self, digest: bytes, load: Callable[[], Awaitable[Found]]) -> Found:
        """A miss: every concurrent request with the same key shares one database lookup,
        but never one that began before the latest invalidation (a revoke in between)."""
        return await self._loads.load(digest, load)

    def refresh(self, digest: bytes, load: Callable[[], Awaitable[Found]]) -> None:
        """An entry due for refresh: reload it in the background (once), keep serving it."""
        self._loads.refresh(digest, load)

    def invalidate_key(self, key_id: str) -> None:
        with self._lock:
            self.generation += 1
            for digest in [d for d, e in self._positive.items() if e[3].key_id == key_id]:
                del self._positive[digest]

    def invalidate_account(self, account_id: str) -> None:
        with self._lock:
            self.generation += 1
            for digest in [d for d, e in self._positive.items() if e[3].account_id == account_id]:
                del self._positive[digest]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._positive.clear()
            self._negative.clear()


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
