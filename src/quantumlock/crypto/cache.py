"""Opened symmetric keys, kept in process memory for a short time.

A KMS answers encrypt/decrypt without a database read and an unseal per call (Vault
Transit keeps its keys in memory the same way). Entries expire after
QL_KEY_MATERIAL_CACHE_TTL seconds (0 disables the cache); destroying a key removes its
entry at once in this process and, through the change feed, in every other process.
Only symmetric keys are cached: signing and key-agreement keys take the database path.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

CHANGE_KIND_QUANTUM_KEY = "quantum_key"

CacheKey = tuple[str, str, str]  # account id, mode, key id


@dataclass(frozen=True, slots=True)
class CachedKey:
    id: str
    algorithm: str
    version: int
    quantum_verified: bool
    material: bytes

    def __repr__(self) -> str:  # never the material
        return f"CachedKey(id={self.id!r}, algorithm={self.algorithm!r})"


class KeyMaterialCache:
    def __init__(self, ttl: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[CacheKey, tuple[float, CachedKey]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, key: CacheKey) -> CachedKey | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: CacheKey, value: CachedKey) -> None:
        if not self.enabled:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                now = time.monotonic()
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                if len(self._entries) >= self._max:
                    self._entries.clear()
            self._entries[key] = (time.monotonic() + self._ttl, value)

    def invalidate(self, key_id: str) -> None:
        """Forget a key (key ids are unique across tenants; destroying one is rare)."""
        with self._lock:
            for cached in [k for k in self._entries if k[2] == key_id]:
                del self._entries[cached]
