"""A short-lived, per-process cache of the license rows online validation reads.

A shipped application validates the same license again and again (at start-up, on a
timer); serving those from memory keeps them on the event loop, with no worker thread and
no query. Lifecycle changes (revoke, suspend, reinstate, renew) remove the entry at once in
this process and, through the change feed, in every other one within the poll interval.
Every hit still re-checks the HMAC over the cached fields. A row edited directly in the
database, bypassing the service, is seen once its entry expires: the TTL (QL_VALIDATION_CACHE_TTL,
2 s by default, 0 disables the cache) bounds that window.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from quantumlock.licensing.repository import LicenseView

CacheKey = tuple[str, str, str]  # account id, mode, license key


class ValidationCache:
    def __init__(self, ttl: float, max_entries: int = 200_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[CacheKey, tuple[float, LicenseView]] = {}
        self._lock = threading.Lock()
        self._inflight: dict[CacheKey, asyncio.Future[tuple[LicenseView | None, bytes]]] = {}

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, key: CacheKey) -> LicenseView | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: CacheKey, view: LicenseView) -> None:
        if not self.enabled:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, view)

    async def load_once(
        self, key: CacheKey, load: Callable[[], Awaitable[tuple[LicenseView | None, bytes]]]
    ) -> tuple[LicenseView | None, bytes]:
        """Concurrent misses for one key share a single load instead of all querying."""
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(load())
            self._inflight[key] = pending
            pending.add_done_callback(lambda _: self._inflight.pop(key, None))
        return await asyncio.shield(pending)

    def invalidate(self, account_id: str, license_key: str) -> None:
        with self._lock:
            for mode in ("live", "test"):
                self._entries.pop((account_id, mode, license_key), None)


def change_ref(account_id: str, license_key: str) -> str:
    return f"{account_id}:{license_key}"


def parse_change_ref(ref: str) -> tuple[str, str]:
    account_id, _, license_key = ref.partition(":")
    return account_id, license_key
