"""A bounded, per-process map whose entries expire after a fixed TTL.

Reads take no lock (a dict lookup is atomic under the GIL); writes do. When the map is
full, expired entries are dropped, and if that frees nothing the map starts over: rarer
and cheaper than LRU bookkeeping on every hit. A TTL of 0 disables the cache.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, max_entries: int) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if not self.enabled:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, value)

    def discard(self, *keys: K) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def discard_where(self, matches: Callable[[K], bool]) -> None:
        with self._lock:
            for key in [k for k in self._entries if matches(k)]:
                del self._entries[key]
